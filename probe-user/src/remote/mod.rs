//! Remote access to records: a server that fans records out to readers over
//! TLS ([`server`], fed by a [`hub::Hub`]), the client that reads them
//! ([`client`]), and the relay that merges several sources ([`relay`], the
//! job of Argus's `radium`).
//!
//! Every remote connection is TLS (rustls) unless `--insecure` is given, and
//! `--insecure` is refused unless the address is loopback. Clients
//! authenticate with a certificate (mutual TLS) or a per-user token from a
//! users file ([`auth`]); an allow-list of networks and per-user filters
//! decide what they may see. Servers hold bounded queues per reader and
//! disconnect a reader that falls behind, so a slow reader never slows the
//! probe. The wire format is in FORMAT.md ("Remote access protocol").

pub mod auth;
pub mod client;
pub mod hub;
pub mod proto;
pub mod relay;
pub mod server;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Errors of remote access. Each is one line naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Config(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("refused by {peer}: {reason}")]
    Refused { peer: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error(transparent)]
    Ring(#[from] crate::ring::RingError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How a client connects to a server (`ocellus read -S`, a relay's sources).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientOptions {
    /// CA certificates (PEM) that signed the server's certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate chain and key (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Per-user token.
    pub token: Option<String>,
    /// Plain TCP (loopback only).
    pub insecure: bool,
    /// Backlog wanted: records whose last time is at or after this (ns); 0: live only.
    pub since_ns: u64,
    /// Name to check the server's certificate against (default: the host of `host:port`).
    pub server_name: Option<String>,
}

/// Whether an address is loopback (127/8, ::1, or ::ffff:127.x).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Resolves `host:port` (numeric or a name).
pub fn resolve(addr: &str) -> Result<Vec<SocketAddr>, RemoteError> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| RemoteError::Config(format!("{addr}: not a host:port ({e})")))?
        .collect();
    if addrs.is_empty() {
        return Err(RemoteError::Config(format!("{addr}: no address")));
    }
    Ok(addrs)
}

/// Parses a duration: `2s`, `500ms`, `1.5` (seconds), `1m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s}: expected a duration like 2s, 500ms or 1m"))?;
    let secs = v * mult;
    if !(secs.is_finite() && (0.0..=86400.0).contains(&secs)) {
        return Err(format!("{s}: use between 0 and 86400 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Logs one line on stderr: `ocellus <who>: <msg>`. Remote events (refusals,
/// disconnects, reconnects) go through here so they all carry the peer.
pub fn log(who: &str, msg: std::fmt::Arguments<'_>) {
    eprintln!("ocellus {who}: {msg}");
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_loopback() {
        assert_eq!(parse_duration("2s").unwrap().as_millis(), 2000);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("1.5").unwrap().as_millis(), 1500);
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.2".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}

#[cfg(test)]
mod tests_net;
