//! Who may connect and what they may see: the users file (tokens and
//! certificate fingerprints, each with an optional filter) and the network
//! allow-list (the tcp_wrappers role in Argus).
//!
//! Users file, one user a line (`#` starts a comment):
//!
//! ```text
//! # name   credential              filter (optional, the rest of the line)
//! alice    token:0f3c9a77e1        tcp and net 10.1.0.0/16
//! bob      cert-sha256:9a0b...e4   not port 22
//! carol    token:77aa01
//! ```

use super::RemoteError;
use crate::filter::Filter;
use std::net::IpAddr;
use std::path::Path;

/// One user of the users file.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    /// What every record this user sees must also match.
    pub filter: Option<Filter>,
    cred: Credential,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Credential {
    Token(String),
    CertSha256(String),
}

/// The users file, loaded.
#[derive(Clone, Debug, Default)]
pub struct Users {
    users: Vec<User>,
}

impl Users {
    /// Loads a users file; errors name the line.
    pub fn load(path: &Path) -> Result<Users, RemoteError> {
        let text = std::fs::read_to_string(path).map_err(|e| RemoteError::File {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        Users::parse(&text).map_err(|why| RemoteError::File {
            path: path.to_path_buf(),
            why,
        })
    }

    /// Parses the text of a users file.
    pub fn parse(text: &str) -> Result<Users, String> {
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(name), Some(cred)) = (words.next(), words.next()) else {
                return Err(format!(
                    "line {}: expected NAME token:TOKEN|cert-sha256:HEX [FILTER]",
                    n + 1
                ));
            };
            let cred = if let Some(t) = cred.strip_prefix("token:") {
                if t.len() < 8 {
                    return Err(format!(
                        "line {}: the token of {name} is shorter than 8 characters",
                        n + 1
                    ));
                }
                Credential::Token(t.to_string())
            } else if let Some(h) = cred.strip_prefix("cert-sha256:") {
                let h = h.to_ascii_lowercase().replace(':', "");
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "line {}: cert-sha256 wants 64 hex digits (the SHA-256 of the DER certificate)",
                        n + 1
                    ));
                }
                Credential::CertSha256(h)
            } else {
                return Err(format!(
                    "line {}: credential '{cred}' is neither token:TOKEN nor cert-sha256:HEX",
                    n + 1
                ));
            };
            let rest: Vec<&str> = words.collect();
            let filter = if rest.is_empty() || rest == ["-"] {
                None
            } else {
                Some(
                    Filter::parse(&rest.join(" "))
                        .map_err(|e| format!("line {}: filter of {name}: {e}", n + 1))?,
                )
            };
            users.push(User {
                name: name.to_string(),
                filter,
                cred,
            });
        }
        Ok(Users { users })
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user holding this token (compared in constant time per user).
    pub fn by_token(&self, token: &str) -> Option<&User> {
        self.users.iter().find(|u| match &u.cred {
            Credential::Token(t) => constant_time_eq(t.as_bytes(), token.as_bytes()),
            Credential::CertSha256(_) => false,
        })
    }

    /// The user of a certificate, by its SHA-256 fingerprint (hex).
    pub fn by_cert(&self, fingerprint: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| matches!(&u.cred, Credential::CertSha256(h) if h == fingerprint))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Networks clients may connect from. Empty: everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Parses `ADDR/LEN` or `ADDR` entries (IPv4 or IPv6).
    pub fn parse(entries: &[String]) -> Result<AllowList, RemoteError> {
        let mut nets = Vec::with_capacity(entries.len());
        for e in entries.iter().flat_map(|e| e.split(',')) {
            let e = e.trim();
            if e.is_empty() {
                continue;
            }
            let bad = || RemoteError::Config(format!("--allow {e}: expected ADDR or ADDR/LEN"));
            let (addr, len) = match e.split_once('/') {
                Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
                None => (e, None),
            };
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = len.unwrap_or(max);
            if len > max {
                return Err(bad());
            }
            nets.push((ip, len));
        }
        Ok(AllowList { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether a peer address may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.nets.is_empty() {
            return true;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets
            .iter()
            .any(|&(net, len)| prefix_match(net, ip, len))
    }
}

fn prefix_match(net: IpAddr, ip: IpAddr, len: u8) -> bool {
    let (a, b): (Vec<u8>, Vec<u8>) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (n.octets().to_vec(), i.octets().to_vec()),
        (IpAddr::V6(n), IpAddr::V6(i)) => (n.octets().to_vec(), i.octets().to_vec()),
        _ => return false,
    };
    let full = (len / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = len % 8;
    rest == 0 || (a[full] ^ b[full]) & (0xffu8 << (8 - rest)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_lines() {
        let u = Users::parse(
            "# users\nalice token:abcdefgh12 tcp and port 80\n\nbob cert-sha256:AB:cd"
                .to_string()
                .as_str(),
        );
        assert!(u.unwrap_err().contains("line 4"));
        let fp = "ab".repeat(32);
        let u = Users::parse(&format!(
            "alice token:abcdefgh12 tcp\nbob cert-sha256:{} # comment\ncarol token:zzzzzzzz -",
            fp.to_uppercase()
        ))
        .unwrap();
        assert_eq!(u.by_token("abcdefgh12").unwrap().name, "alice");
        assert!(u.by_token("abcdefgh1").is_none());
        assert!(u.by_token("").is_none());
        assert_eq!(u.by_cert(&fp).unwrap().name, "bob");
        assert!(u.by_token("zzzzzzzz").unwrap().filter.is_none());
        assert!(u.by_token("abcdefgh12").unwrap().filter.is_some());
        for bad in [
            "x",
            "x pw:1",
            "x token:short",
            "x token:abcdefgh12 port port",
        ] {
            assert!(Users::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_list_prefixes() {
        let a = AllowList::parse(&["127.0.0.0/8".into(), "10.1.2.3,2001:db8::/32".into()]).unwrap();
        assert!(a.allows("127.9.9.9".parse().unwrap()));
        assert!(a.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(a.allows("10.1.2.3".parse().unwrap()));
        assert!(!a.allows("10.1.2.4".parse().unwrap()));
        assert!(a.allows("2001:db8::1".parse().unwrap()));
        assert!(!a.allows("2001:db9::1".parse().unwrap()));
        let a = AllowList::parse(&["192.168.0.0/20".into()]).unwrap();
        assert!(a.allows("192.168.15.1".parse().unwrap()));
        assert!(!a.allows("192.168.16.1".parse().unwrap()));
        assert!(AllowList::default().allows("8.8.8.8".parse().unwrap()));
        for bad in ["1.2.3.4/33", "x", "1.2.3.4/x"] {
            assert!(AllowList::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
