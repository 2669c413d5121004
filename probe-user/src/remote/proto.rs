//! The remote-access handshake (see FORMAT.md, "Remote access protocol").
//!
//! The client sends one hello frame; the server answers with one reply frame,
//! and on acceptance the rest of the connection is a record stream (file
//! header, then records) with position marks between records: a mark says
//! where in the server's stream the next record sits, so that a client can
//! resume just after the last record it got (see [`Mark`]).

use super::RemoteError;
use crate::ring::RingPos;
use std::io::{Read, Write};

/// First bytes of a hello frame.
pub const HELLO_MAGIC: [u8; 8] = *b"OCHELLO\0";
/// First bytes of a reply frame.
pub const REPLY_MAGIC: [u8; 8] = *b"OCREPLY\0";
/// Protocol version this code speaks (2: position marks and resume).
pub const PROTO_VERSION: u16 = 2;
/// Fixed part of a hello frame.
pub const HELLO_FIXED_LEN: usize = 48;
/// Fixed part of a reply frame.
pub const REPLY_FIXED_LEN: usize = 30;
/// Hello flag: `resume_after` is set.
pub const HELLO_FLAG_RESUME: u16 = 1;
/// Bytes of a position mark in the record stream.
pub const MARK_LEN: usize = 24;
// A mark is told from a record by its length: no record is that short.
const _: () = assert!(MARK_LEN < crate::record::codec::MIN_RECORD_LEN);
/// The tag after a mark's length.
pub const MARK_TAG: [u8; 4] = *b"OCMK";
/// Longest token accepted.
pub const MAX_TOKEN_LEN: usize = 1024;
/// Longest filter expression accepted.
pub const MAX_FILTER_LEN: usize = 16 * 1024;
/// Longest reply message accepted.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// What a client asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hello {
    /// Backlog wanted: records whose last time is at or after this (ns since
    /// the epoch); 0: live records only.
    pub since_ns: u64,
    /// The stream the client saw last (the reply's `stream`; 0: none). When
    /// it differs from the server's, `since_ns` and `resume_after` are
    /// ignored and the whole backlog is sent (the server restarted, or
    /// writes another ring: its records are all new to the client).
    pub instance: u64,
    /// Resume: send every record after this position of stream `instance`
    /// (the position after the last record the client got), then live ones.
    pub resume_after: Option<RingPos>,
    /// Per-user token ("" when authenticating by certificate).
    pub token: String,
    /// Filter expression in the `ocellus read` language ("" for none).
    pub filter: String,
}

impl Hello {
    pub fn encode(&self) -> Result<Vec<u8>, RemoteError> {
        if self.token.len() > MAX_TOKEN_LEN {
            return Err(RemoteError::Protocol(format!(
                "token of {} bytes; at most {MAX_TOKEN_LEN}",
                self.token.len()
            )));
        }
        if self.filter.len() > MAX_FILTER_LEN {
            return Err(RemoteError::Protocol(format!(
                "filter of {} bytes; at most {MAX_FILTER_LEN}",
                self.filter.len()
            )));
        }
        let mut out = Vec::with_capacity(HELLO_FIXED_LEN + self.token.len() + self.filter.len());
        out.extend_from_slice(&HELLO_MAGIC);
        out.extend_from_slice(&PROTO_VERSION.to_le_bytes());
        let flags = if self.resume_after.is_some() {
            HELLO_FLAG_RESUME
        } else {
            0
        };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&self.since_ns.to_le_bytes());
        out.extend_from_slice(&self.instance.to_le_bytes());
        let after = self.resume_after.unwrap_or_default();
        out.extend_from_slice(&after.generation.to_le_bytes());
        out.extend_from_slice(&after.offset.to_le_bytes());
        out.extend_from_slice(&(self.token.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.filter.len() as u16).to_le_bytes());
        out.extend_from_slice(self.token.as_bytes());
        out.extend_from_slice(self.filter.as_bytes());
        Ok(out)
    }

    /// Reads one hello frame, checking every length before reading on.
    pub fn read_from(r: &mut impl Read) -> Result<Hello, RemoteError> {
        let mut fixed = [0u8; HELLO_FIXED_LEN];
        read_exact(r, &mut fixed, "hello")?;
        if fixed[..8] != HELLO_MAGIC {
            return Err(RemoteError::Protocol(
                "not an ocellus hello (bad magic)".into(),
            ));
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != PROTO_VERSION {
            return Err(RemoteError::Protocol(format!(
                "protocol version {version}; this server speaks {PROTO_VERSION}"
            )));
        }
        let flags = u16::from_le_bytes([fixed[10], fixed[11]]);
        let since_ns = u64_at(&fixed, 12);
        let instance = u64_at(&fixed, 20);
        let resume_after = (flags & HELLO_FLAG_RESUME != 0).then(|| RingPos {
            generation: u64_at(&fixed, 28),
            offset: u64_at(&fixed, 36),
        });
        let token_len = u16::from_le_bytes([fixed[44], fixed[45]]) as usize;
        let filter_len = u16::from_le_bytes([fixed[46], fixed[47]]) as usize;
        if token_len > MAX_TOKEN_LEN || filter_len > MAX_FILTER_LEN {
            return Err(RemoteError::Protocol(format!(
                "hello lengths too large (token {token_len}, filter {filter_len})"
            )));
        }
        let mut var = vec![0u8; token_len + filter_len];
        read_exact(r, &mut var, "hello")?;
        let text = |b: &[u8], what: &str| {
            String::from_utf8(b.to_vec())
                .map_err(|_| RemoteError::Protocol(format!("hello {what} is not UTF-8")))
        };
        Ok(Hello {
            since_ns,
            instance,
            resume_after,
            token: text(&var[..token_len], "token")?,
            filter: text(&var[token_len..], "filter")?,
        })
    }
}

/// The server's answer to a hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub accepted: bool,
    /// The server instance (its start time in ns; changes when it restarts).
    pub instance: u64,
    /// The stream positions refer to: the id of the ring the server writes
    /// (the same across its restarts), or its instance when it keeps no ring.
    pub stream: u64,
    /// Why the connection was refused, or a greeting.
    pub message: String,
}

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        let msg = &self.message.as_bytes()[..self.message.len().min(MAX_MESSAGE_LEN)];
        let mut out = Vec::with_capacity(REPLY_FIXED_LEN + msg.len());
        out.extend_from_slice(&REPLY_MAGIC);
        out.extend_from_slice(&PROTO_VERSION.to_le_bytes());
        out.push(u8::from(!self.accepted));
        out.push(0);
        out.extend_from_slice(&self.instance.to_le_bytes());
        out.extend_from_slice(&self.stream.to_le_bytes());
        out.extend_from_slice(&(msg.len() as u16).to_le_bytes());
        out.extend_from_slice(msg);
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&self.encode())?;
        w.flush()
    }

    pub fn read_from(r: &mut impl Read) -> Result<Reply, RemoteError> {
        let mut fixed = [0u8; REPLY_FIXED_LEN];
        read_exact(r, &mut fixed, "reply")?;
        if fixed[..8] != REPLY_MAGIC {
            return Err(RemoteError::Protocol(
                "the server did not answer with an ocellus reply (bad magic)".into(),
            ));
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != PROTO_VERSION {
            return Err(RemoteError::Protocol(format!(
                "server speaks protocol version {version}; this client {PROTO_VERSION}"
            )));
        }
        let status = fixed[10];
        let instance = u64_at(&fixed, 12);
        let stream = u64_at(&fixed, 20);
        let len = u16::from_le_bytes([fixed[28], fixed[29]]) as usize;
        if len > MAX_MESSAGE_LEN {
            return Err(RemoteError::Protocol(format!(
                "reply message of {len} bytes"
            )));
        }
        let mut msg = vec![0u8; len];
        read_exact(r, &mut msg, "reply")?;
        Ok(Reply {
            accepted: status == 0,
            instance,
            stream,
            message: String::from_utf8_lossy(&msg).into_owned(),
        })
    }
}

/// A position mark in the record stream: `[u32 len = 24][OCMK][u64
/// generation][u64 offset]`. Its length is below any record's, so it cannot
/// be taken for one. It gives the position just before the next record;
/// the client's position after a record of `n` bytes is the mark's offset
/// plus `n` (the server sends a mark whenever that would not hold).
pub struct Mark;

impl Mark {
    pub fn encode(before: RingPos) -> [u8; MARK_LEN] {
        let mut b = [0u8; MARK_LEN];
        b[..4].copy_from_slice(&(MARK_LEN as u32).to_le_bytes());
        b[4..8].copy_from_slice(&MARK_TAG);
        b[8..16].copy_from_slice(&before.generation.to_le_bytes());
        b[16..24].copy_from_slice(&before.offset.to_le_bytes());
        b
    }

    /// Decodes a whole mark frame.
    pub fn decode(b: &[u8]) -> Result<RingPos, RemoteError> {
        if b.len() != MARK_LEN || b[..4] != (MARK_LEN as u32).to_le_bytes() || b[4..8] != MARK_TAG {
            return Err(RemoteError::Protocol("bad position mark".into()));
        }
        Ok(RingPos {
            generation: u64_at(b, 8),
            offset: u64_at(b, 16),
        })
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), RemoteError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            RemoteError::Protocol(format!("connection closed inside the {what}"))
        }
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            RemoteError::Protocol(format!("timed out waiting for the {what}"))
        }
        _ => RemoteError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_and_reply_round_trip() {
        let h = Hello {
            since_ns: 7,
            instance: 9,
            resume_after: Some(RingPos {
                generation: 3,
                offset: 4096,
            }),
            token: "s3cret".into(),
            filter: "tcp and port 80".into(),
        };
        let b = h.encode().unwrap();
        assert_eq!(Hello::read_from(&mut &b[..]).unwrap(), h);
        assert_eq!(
            Hello::read_from(
                &mut &Hello {
                    resume_after: None,
                    ..h.clone()
                }
                .encode()
                .unwrap()[..]
            )
            .unwrap()
            .resume_after,
            None
        );
        let r = Reply {
            accepted: false,
            instance: 42,
            stream: 43,
            message: "no".into(),
        };
        assert_eq!(Reply::read_from(&mut &r.encode()[..]).unwrap(), r);
        let p = RingPos {
            generation: 7,
            offset: 64,
        };
        assert_eq!(Mark::decode(&Mark::encode(p)).unwrap(), p);
        let mut bad = Mark::encode(p);
        bad[5] = b'x';
        assert!(Mark::decode(&bad).is_err());
        assert!(Mark::decode(&bad[..10]).is_err());
    }

    #[test]
    fn garbage_and_truncated_hellos_are_errors() {
        let good = Hello {
            token: "t".into(),
            ..Hello::default()
        }
        .encode()
        .unwrap();
        for n in 0..good.len() {
            assert!(Hello::read_from(&mut &good[..n]).is_err(), "{n}");
        }
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(Hello::read_from(&mut &bad[..]).is_err());
        let mut huge = good.clone();
        huge[46..48].copy_from_slice(&u16::MAX.to_le_bytes());
        let e = Hello::read_from(&mut &huge[..]).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let mut bad_utf8 = good;
        bad_utf8[HELLO_FIXED_LEN] = 0xff;
        assert!(Hello::read_from(&mut &bad_utf8[..]).is_err());
    }
}
