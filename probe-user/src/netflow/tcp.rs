//! IPFIX over TCP (RFC 7011 section 10.4): each exporter connection is a
//! stream of IPFIX messages, framed by the length field of the message
//! header. One thread serves every connection (`poll`), so the collector's
//! templates need no lock.
//!
//! Bounds: at most `max_exporters` connections (more are closed at accept,
//! with the reason logged); one message buffer of 64 KiB per connection (an
//! IPFIX message is at most 65535 bytes); a connection that sends nothing for
//! `idle_timeout` is closed. A stream that is not IPFIX (another version, a
//! length shorter than the header) cannot be framed again and is closed with
//! the reason logged; a message that frames correctly but does not decode is
//! counted by the collector and the connection goes on.

use super::Collector;
use crate::record::FlowRecord;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// IPFIX message header length.
pub const MESSAGE_HEADER_LEN: usize = 16;
/// Largest IPFIX message (its length is a u16).
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Why a connection's byte stream cannot be cut into messages.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    #[error("not an IPFIX stream (version {0}; only IPFIX, version 10, is taken over TCP: NetFlow v5 and v9 have no message length)")]
    Version(u16),
    #[error("message length {0} is shorter than the 16-byte IPFIX header")]
    Length(u16),
}

/// Cuts a TCP byte stream into IPFIX messages, holding at most one message.
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    pub fn new() -> Framer {
        Framer {
            buf: vec![0; MAX_MESSAGE_LEN + 1],
            start: 0,
            end: 0,
        }
    }

    /// Where to read the next bytes into (never empty: a whole message
    /// always fits once the bytes before it are consumed).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 && (self.start == self.end || self.end == self.buf.len()) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into `spare()`.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Bytes held of a message not complete yet.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// The next complete message, if there is one.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let avail = &self.buf[self.start..self.end];
        if avail.len() < 4 {
            return Ok(None);
        }
        let version = u16::from_be_bytes([avail[0], avail[1]]);
        if version != 10 {
            return Err(FrameError::Version(version));
        }
        let len = u16::from_be_bytes([avail[2], avail[3]]);
        if usize::from(len) < MESSAGE_HEADER_LEN {
            return Err(FrameError::Length(len));
        }
        let len = usize::from(len);
        if avail.len() < len {
            if self.start + len > self.buf.len() {
                // Make room for the rest of it.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            return Ok(None);
        }
        let at = self.start;
        self.start += len;
        Ok(Some(&self.buf[at..at + len]))
    }
}

/// Limits of the TCP listener.
#[derive(Clone, Copy, Debug)]
pub struct TcpConfig {
    /// Most exporter connections at once.
    pub max_exporters: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_exporters: 64,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// Counters of the TCP listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub accepted: u64,
    /// Closed at accept: too many exporters.
    pub refused: u64,
    pub messages: u64,
    /// Closed: the stream is not IPFIX or a length is impossible.
    pub closed_bad_stream: u64,
    /// Closed by the exporter in the middle of a message.
    pub closed_mid_message: u64,
    pub closed_idle: u64,
    pub closed_normally: u64,
}

impl TcpStats {
    pub fn fields(&self) -> [(&'static str, u64); 7] {
        [
            ("tcp_accepted", self.accepted),
            ("tcp_refused", self.refused),
            ("tcp_messages", self.messages),
            ("tcp_closed_bad_stream", self.closed_bad_stream),
            ("tcp_closed_mid_message", self.closed_mid_message),
            ("tcp_closed_idle", self.closed_idle),
            ("tcp_closed", self.closed_normally),
        ]
    }
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    framer: Framer,
    last: Instant,
    /// Transport session id: the templates this connection sends are its own.
    session: u64,
}

/// Accepts exporters on a TCP port and decodes their messages.
pub struct TcpIngest {
    listener: TcpListener,
    conns: Vec<Conn>,
    cfg: TcpConfig,
    stats: TcpStats,
    fds: Vec<libc::pollfd>,
    /// Last session id given to a connection.
    sessions: u64,
}

/// Reads at most this many chunks from one connection per poll, so that
/// one busy exporter cannot starve the others.
const READS_PER_POLL: usize = 16;

fn log(msg: std::fmt::Arguments<'_>) {
    crate::remote::log("collect", msg);
}

impl TcpIngest {
    pub fn bind(addr: &str, cfg: TcpConfig) -> io::Result<TcpIngest> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(TcpIngest {
            listener,
            conns: Vec::new(),
            cfg: TcpConfig {
                max_exporters: cfg.max_exporters.max(1),
                ..cfg
            },
            stats: TcpStats::default(),
            fds: Vec::new(),
            sessions: 0,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn stats(&self) -> TcpStats {
        self.stats
    }

    /// Connections open now.
    pub fn exporters(&self) -> usize {
        self.conns.len()
    }

    /// Waits up to `timeout` for something to do, then accepts new
    /// exporters, reads what has come, and decodes every complete message
    /// into `out`. Returns the messages decoded.
    pub fn poll(
        &mut self,
        timeout: Duration,
        collector: &mut Collector,
        now_ns: u64,
        out: &mut Vec<FlowRecord>,
    ) -> io::Result<u64> {
        self.wait(timeout)?;
        self.accept();
        let mut messages = 0;
        let mut i = 0;
        while i < self.conns.len() {
            match self.serve(i, collector, now_ns, out, &mut messages) {
                Some(()) => i += 1,
                None => {
                    let c = self.conns.swap_remove(i);
                    collector.end_session(c.session);
                }
            }
        }
        let idle = self.cfg.idle_timeout;
        let stats = &mut self.stats;
        self.conns.retain(|c| {
            if c.last.elapsed() < idle {
                return true;
            }
            stats.closed_idle += 1;
            log(format_args!(
                "exporter {}: closed: sent nothing for {idle:?}",
                c.peer
            ));
            collector.end_session(c.session);
            false
        });
        self.stats.messages += messages;
        Ok(messages)
    }

    /// Blocks in poll(2) until the listener or a connection is readable.
    #[allow(unsafe_code)]
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        self.fds.clear();
        let ev = libc::POLLIN;
        self.fds.push(libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: ev,
            revents: 0,
        });
        for c in &self.conns {
            self.fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: ev,
                revents: 0,
            });
        }
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a live, initialised array of `fds.len()` pollfd
        // structs whose descriptors stay open for the call.
        let rc = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if self.conns.len() >= self.cfg.max_exporters {
                        self.stats.refused += 1;
                        log(format_args!(
                            "exporter {peer}: refused: too many exporters (at most {})",
                            self.cfg.max_exporters
                        ));
                        continue;
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        log(format_args!("exporter {peer}: refused: socket: {e}"));
                        continue;
                    }
                    self.stats.accepted += 1;
                    log(format_args!("exporter {peer}: connected"));
                    self.conns.push(Conn {
                        stream,
                        peer,
                        framer: Framer::new(),
                        last: Instant::now(),
                        session: {
                            self.sessions += 1;
                            self.sessions
                        },
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors and the like: try again at the next poll.
                    log(format_args!("accept failed: {e}"));
                    return;
                }
            }
        }
    }

    /// Reads and decodes what connection `i` has sent; `None` when it is to
    /// be closed (the reason is logged).
    fn serve(
        &mut self,
        i: usize,
        collector: &mut Collector,
        now_ns: u64,
        out: &mut Vec<FlowRecord>,
        messages: &mut u64,
    ) -> Option<()> {
        let stats = &mut self.stats;
        let c = self.conns.get_mut(i)?;
        let exporter: IpAddr = c.peer.ip();
        for _ in 0..READS_PER_POLL {
            let got = c.stream.read(c.framer.spare());
            match got {
                Ok(0) => {
                    let pending = c.framer.pending();
                    if pending > 0 {
                        stats.closed_mid_message += 1;
                        log(format_args!(
                            "exporter {}: closed in the middle of a message ({pending} bytes dropped)",
                            c.peer
                        ));
                    } else {
                        stats.closed_normally += 1;
                        log(format_args!("exporter {}: closed", c.peer));
                    }
                    return None;
                }
                Ok(n) => {
                    c.last = Instant::now();
                    c.framer.filled(n);
                    loop {
                        match c.framer.next_message() {
                            Ok(Some(msg)) => {
                                *messages += 1;
                                // Messages that do not decode are counted there.
                                let _ = collector
                                    .decode_in_session(exporter, c.session, now_ns, msg, out);
                            }
                            Ok(None) => break,
                            Err(e) => {
                                stats.closed_bad_stream += 1;
                                log(format_args!("exporter {}: closed: {e}", c.peer));
                                return None;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    stats.closed_normally += 1;
                    log(format_args!("exporter {}: closed: {e}", c.peer));
                    return None;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: u16, fill: u8) -> Vec<u8> {
        let mut m = vec![fill; usize::from(len)];
        m[..2].copy_from_slice(&10u16.to_be_bytes());
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    fn feed(f: &mut Framer, mut data: &[u8], chunk: usize) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let spare = f.spare();
            let n = spare.len().min(chunk).min(data.len());
            spare[..n].copy_from_slice(&data[..n]);
            f.filled(n);
            data = &data[n..];
            while let Some(m) = f.next_message()? {
                out.push(m.to_vec());
            }
        }
        Ok(out)
    }

    #[test]
    fn messages_are_cut_by_their_length_whatever_the_reads() {
        let msgs = [
            msg(16, 1),
            msg(1400, 2),
            msg(65535, 3),
            msg(65535, 4),
            msg(17, 5),
        ];
        let stream: Vec<u8> = msgs.concat();
        for chunk in [1, 3, 16, 1000, 70_000] {
            let mut f = Framer::new();
            let got = feed(&mut f, &stream, chunk).unwrap();
            assert_eq!(got, msgs.to_vec(), "reads of {chunk}");
            assert_eq!(f.pending(), 0);
        }
        // A truncated last message stays pending.
        let mut f = Framer::new();
        let got = feed(&mut f, &stream[..stream.len() - 5], 4096).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(f.pending(), 12);
    }

    #[test]
    fn garbage_and_impossible_lengths_are_errors() {
        let mut f = Framer::new();
        assert_eq!(
            feed(&mut f, b"GET / HTTP/1.1\r\n", 100),
            Err(FrameError::Version(u16::from_be_bytes(*b"GE")))
        );
        let mut f = Framer::new();
        assert_eq!(
            feed(&mut f, &[0, 9, 0, 20, 0, 0, 0, 0], 100),
            Err(FrameError::Version(9))
        );
        for len in [0u16, 1, 15] {
            let mut f = Framer::new();
            assert_eq!(
                feed(&mut f, &[0, 10, (len >> 8) as u8, len as u8], 100),
                Err(FrameError::Length(len))
            );
        }
    }
}
