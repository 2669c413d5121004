//! pcap and pcapng file reading (gzip too).
