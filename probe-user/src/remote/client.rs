//! The reading side: connects to a probe or relay (`ocellus read -S`, a
//! relay's sources), says hello, and reads the record stream that follows.

use super::proto::{Hello, Reply};
use super::{is_loopback, resolve, ClientOptions, RemoteError};
use crate::record::FlowRecord;
use crate::ring::StreamReader;
use crate::ring::{RecordSource, RingError, SourceOptions, SourceStats};
use std::io::{Read, Write};
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

/// Records from a server, as a [`RecordSource`].
pub struct RemoteSource {
    reader: StreamReader<ClientConn>,
    handle: TcpStream,
    /// The server instance (changes when it restarts).
    pub instance: u64,
    /// The server's greeting.
    pub greeting: String,
}

impl RemoteSource {
    /// Closes the connection from another thread's handle (see [`RemoteSource::closer`]).
    pub fn closer(&self) -> Option<TcpStream> {
        self.handle.try_clone().ok()
    }
}

impl RecordSource for RemoteSource {
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, RingError> {
        self.reader.next_into(rec)
    }
    fn stats(&self) -> SourceStats {
        self.reader.stats()
    }
}

impl Drop for RemoteSource {
    fn drop(&mut self) {
        let _ = self.handle.shutdown(Shutdown::Both);
    }
}

/// Connects to `addr` (`host:port`), asks for the records matching `filter`
/// (the `ocellus read` filter language; "" for all), and returns the stream.
/// `instance` is the server instance seen before (0: none), for resuming
/// with `opts.since_ns`.
pub fn connect(
    addr: &str,
    opts: &ClientOptions,
    filter: &str,
    instance: u64,
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
        instance,
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
    let reader = StreamReader::new(conn, PathBuf::from(addr), SourceOptions::default())?;
    Ok(RemoteSource {
        reader,
        handle,
        instance: reply.instance,
        greeting: reply.message,
    })
}
