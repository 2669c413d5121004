//! The reading side: connects to a probe or relay (`ocellus read -S`, a
//! relay's sources), says hello, and reads the record stream that follows.

use super::proto::{Hello, Mark, Reply, MARK_LEN};
use super::{is_loopback, resolve, ClientOptions, RemoteError};
use crate::record::codec::{self, CodecError};
use crate::record::FlowRecord;
use crate::ring::{RecordSource, RingError, RingPos, SourceStats};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long connecting and the handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's connection, TLS or plain.
pub(crate) enum ClientConn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for ClientConn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = match self {
            ClientConn::Plain(s) => s.read(buf),
            ClientConn::Tls(s) => s.read(buf),
        };
        match r {
            // A server that went away without a TLS close_notify (killed,
            // or it cut this reader off) ends the stream like a close.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(0),
            r => r,
        }
    }
}

impl Write for ClientConn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ClientConn::Plain(s) => s.write(buf),
            ClientConn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ClientConn::Plain(s) => s.flush(),
            ClientConn::Tls(s) => s.flush(),
        }
    }
}

/// Records from a server, as a [`RecordSource`]. Besides records it knows
/// the server's position of the last record read ([`RemoteSource::position`]),
/// to resume after it on another connection.
pub struct RemoteSource {
    conn: BufReader<ClientConn>,
    handle: TcpStream,
    path: PathBuf,
    buf: Vec<u8>,
    /// Bytes of the stream read (for error messages).
    offset: u64,
    /// The position before the next record (from marks and record lengths).
    cursor: Option<RingPos>,
    /// The position after the last record returned.
    last: Option<RingPos>,
    stats: SourceStats,
    /// The server instance (changes when it restarts).
    pub instance: u64,
    /// The stream positions refer to (see `proto::Reply::stream`).
    pub stream: u64,
    /// The server's greeting.
    pub greeting: String,
}

impl RemoteSource {
    /// Closes the connection from another thread's handle (see [`RemoteSource::closer`]).
    pub fn closer(&self) -> Option<TcpStream> {
        self.handle.try_clone().ok()
    }

    /// The server's position of the last record returned: give it with
    /// [`RemoteSource::stream`] to [`connect_after`] to go on after it.
    pub fn position(&self) -> Option<RingPos> {
        self.last
    }

    fn io(&self, e: std::io::Error) -> RingError {
        RingError::Io {
            path: self.path.clone(),
            source: e,
        }
    }

    fn corrupt(&self, source: CodecError) -> RingError {
        RingError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            source,
        }
    }

    /// Reads exactly `n` bytes into `buf[at..at + n]`; `false` at the end
    /// of the stream (a torn tail when some bytes came).
    fn fill(&mut self, at: usize, n: usize) -> Result<bool, RingError> {
        if self.buf.len() < at + n {
            self.buf.resize(at + n, 0);
        }
        let mut got = 0;
        while got < n {
            match self.conn.read(&mut self.buf[at + got..at + n]) {
                Ok(0) => {
                    self.stats.torn_tail_bytes = (at + got) as u64;
                    return Ok(false);
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(true)
    }

    fn read_header(&mut self) -> Result<(), RingError> {
        if !self.fill(0, codec::HEADER_PREFIX_LEN)? {
            return Err(self.corrupt(CodecError::Truncated {
                needed: codec::HEADER_PREFIX_LEN,
                have: self.stats.torn_tail_bytes as usize,
            }));
        }
        let (_, header_len, _) =
            crate::ring::check_prefix(&self.path, &self.buf[..codec::HEADER_PREFIX_LEN])?;
        let rest = header_len.saturating_sub(codec::HEADER_PREFIX_LEN);
        if !self.fill(codec::HEADER_PREFIX_LEN, rest)? {
            return Err(self.corrupt(CodecError::Truncated {
                needed: header_len,
                have: self.stats.torn_tail_bytes as usize,
            }));
        }
        self.stats.torn_tail_bytes = 0;
        codec::decode_file_header(&self.buf[..header_len]).map_err(|source| {
            RingError::BadHeader {
                path: self.path.clone(),
                source,
            }
        })?;
        self.offset = header_len as u64;
        Ok(())
    }
}

impl RecordSource for RemoteSource {
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, RingError> {
        loop {
            if !self.fill(0, 4)? {
                return Ok(false);
            }
            let len =
                u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if len == MARK_LEN {
                if !self.fill(4, MARK_LEN - 4)? {
                    return Ok(false);
                }
                let p = Mark::decode(&self.buf[..MARK_LEN]).map_err(|_| {
                    self.corrupt(CodecError::BadValue {
                        field: "position mark",
                        value: MARK_LEN as u64,
                    })
                })?;
                self.cursor = Some(p);
                self.offset += MARK_LEN as u64;
                continue;
            }
            let len = codec::peek_len(&self.buf[..4]).map_err(|e| self.corrupt(e))?;
            if !self.fill(4, len - 4)? {
                return Ok(false);
            }
            let after = self.cursor.map(|c| RingPos {
                generation: c.generation,
                offset: c.offset.saturating_add(len as u64),
            });
            match codec::decode_into(&self.buf[..len], rec) {
                Ok(_) => {
                    self.offset += len as u64;
                    self.cursor = after;
                    self.last = after;
                    self.stats.records += 1;
                    return Ok(true);
                }
                Err(CodecError::UnknownKind { .. }) => {
                    self.offset += len as u64;
                    self.cursor = after;
                    self.last = after;
                    self.stats.unknown_skipped += 1;
                }
                Err(e) => return Err(self.corrupt(e)),
            }
        }
    }
    fn stats(&self) -> SourceStats {
        self.stats
    }
}

impl Drop for RemoteSource {
    fn drop(&mut self) {
        let _ = self.handle.shutdown(Shutdown::Both);
    }
}

/// Connects to `addr` (`host:port`), asks for the records matching `filter`
/// (the `ocellus read` filter language; "" for all), and returns the stream.
/// `instance` is the stream seen before (0: none), for resuming with
/// `opts.since_ns`.
pub fn connect(
    addr: &str,
    opts: &ClientOptions,
    filter: &str,
    instance: u64,
) -> Result<RemoteSource, RemoteError> {
    connect_after(addr, opts, filter, instance, None)
}

/// `connect`, resuming after position `after` of stream `stream` (both
/// from an earlier [`RemoteSource`]): the server sends every record after
/// it, then live ones, or everything it has when its stream is another.
pub fn connect_after(
    addr: &str,
    opts: &ClientOptions,
    filter: &str,
    stream: u64,
    after: Option<RingPos>,
) -> Result<RemoteSource, RemoteError> {
    let addrs = resolve(addr)?;
    let tls = if opts.insecure {
        if let Some(a) = addrs.iter().find(|a| !is_loopback(a.ip())) {
            return Err(RemoteError::Config(format!(
                "--insecure (plain TCP) is only allowed to loopback addresses; {addr} is {}",
                a.ip()
            )));
        }
        None
    } else {
        let Some(ca) = &opts.ca else {
            return Err(RemoteError::Config(format!(
                "{addr}: remote records are read over TLS: give --ca FILE (the CA of the server's certificate), or --insecure for plain TCP on loopback"
            )));
        };
        let cfg = super::tls::client_config(ca, opts.cert.as_deref(), opts.key.as_deref())?;
        let host = match &opts.server_name {
            Some(n) => n.clone(),
            None => addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string(),
        };
        Some((cfg, super::tls::server_name(&host)?))
    };
    let mut last = None;
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(t) => {
                tcp = Some(t);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| RemoteError::Connect {
        addr: addr.to_string(),
        source: last.unwrap_or_else(|| std::io::Error::other("no address")),
    })?;
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    tcp.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    let handle = tcp.try_clone()?;
    let mut conn = match tls {
        Some((cfg, name)) => {
            let mut cc = rustls::ClientConnection::new(Arc::clone(&cfg), name)?;
            let mut tcp = tcp;
            while cc.is_handshaking() {
                cc.complete_io(&mut tcp).map_err(|e| RemoteError::Refused {
                    peer: addr.to_string(),
                    reason: format!("TLS handshake failed: {e}"),
                })?;
            }
            ClientConn::Tls(Box::new(rustls::StreamOwned::new(cc, tcp)))
        }
        None => ClientConn::Plain(tcp),
    };
    let hello = Hello {
        since_ns: opts.since_ns,
        instance: stream,
        resume_after: after.filter(|_| stream != 0),
        token: opts.token.clone().unwrap_or_default(),
        filter: filter.to_string(),
    };
    conn.write_all(&hello.encode()?)?;
    conn.flush()?;
    let reply = Reply::read_from(&mut conn).map_err(|e| RemoteError::Refused {
        peer: addr.to_string(),
        reason: format!("no reply ({e}); a TLS alert here usually means the server refused this client's certificate"),
    })?;
    if !reply.accepted {
        return Err(RemoteError::Refused {
            peer: addr.to_string(),
            reason: reply.message,
        });
    }
    // Records may be a long time coming on a quiet network.
    handle.set_read_timeout(None)?;
    let mut src = RemoteSource {
        conn: BufReader::with_capacity(256 << 10, conn),
        handle,
        path: PathBuf::from(addr),
        buf: vec![0; 4096],
        offset: 0,
        cursor: None,
        last: after.filter(|_| stream == reply.stream),
        stats: SourceStats::default(),
        instance: reply.instance,
        stream: reply.stream,
        greeting: reply.message,
    };
    src.read_header()?;
    Ok(src)
}
