//! Test support: crafted captures (frame builder and pcap writer) shared by the integration tests and the benchmarks.
