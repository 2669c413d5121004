//! `ranonymize`: prefix-preserving address anonymization (Crypto-PAn).
//!
//! Crypto-PAn (Xu, Fan, Ammar, Moon 2002): with a 32-byte key (an AES-128 key
//! and 16 bytes that, encrypted, form the pad), bit `i` of an address is
//! flipped by the first bit of AES(first `i` bits of the address, then the
//! pad's remaining bits). Two addresses sharing exactly `k` leading bits map
//! to addresses sharing exactly `k` leading bits, and the same key gives the
//! same mapping in every run and on every machine (the published test vectors
//! are in the tests below).
//!
//! What [`Anonymizer::anonymize`] does to a record, and how it differs from
//! Argus's `ranonymize` (which numbers networks sequentially, shifts ports by a
//! random per-run offset and leaves IPv6, times and ICMP ids alone):
//! - IPv4 and IPv6 addresses (ARP's too): Crypto-PAn; 0.0.0.0, ::,
//!   255.255.255.255 and the all-ones IPv6 address are kept. With
//!   `keep_private`, RFC 1918, IPv6 unique-local (fc00::/7) and link-local
//!   (fe80::/10) addresses are kept as they are.
//! - MAC addresses (the record's and non-IP keys'): Crypto-PAn over 48 bits;
//!   the broadcast and zero MACs are kept.
//! - Ports: well-known ports (below 1024) are kept, as Argus keeps them; ports
//!   from 1024 up are shifted by an offset derived from the key, wrapping
//!   within 1024..65535 (so the same key shifts the same way everywhere).
//!   `keep_ports` keeps every port. ICMP type/code and ids are not ports and are
//!   kept (as in Argus).
//! - Times move by `time_shift_s` seconds (0: unchanged, as Argus in practice).
//! - The captured payload (`suser`/`duser`) is dropped: it can hold anything.
//! - Management records are dropped (as Argus drops them).

use super::ClientError;
use crate::record::{FlowRecord, KeyClass};
use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;
use hashbrown::HashMap;

/// The Crypto-PAn mapping for one key.
#[derive(Clone)]
pub struct CryptoPan {
    cipher: Aes128,
    pad: u128,
}

impl CryptoPan {
    /// Bytes 0..16 are the AES key; bytes 16..32, encrypted, are the pad.
    pub fn new(key: &[u8; 32]) -> CryptoPan {
        let cipher = Aes128::new(GenericArray::from_slice(&key[..16]));
        let mut pad = GenericArray::clone_from_slice(&key[16..]);
        cipher.encrypt_block(&mut pad);
        let mut p = [0u8; 16];
        p.copy_from_slice(&pad);
        CryptoPan {
            cipher,
            pad: u128::from_be_bytes(p),
        }
    }

    /// Anonymizes the first `bits` bits (at most 128) of a big-endian bit
    /// string; later bits are unchanged.
    pub fn anonymize_bits(&self, addr: [u8; 16], bits: u32) -> [u8; 16] {
        let orig = u128::from_be_bytes(addr);
        let mut flips: u128 = 0;
        for pos in 0..bits.min(128) {
            let keep = if pos == 0 { 0 } else { !0u128 << (128 - pos) };
            let input = (orig & keep) | (self.pad & !keep);
            let mut block = GenericArray::from(input.to_be_bytes());
            self.cipher.encrypt_block(&mut block);
            flips |= u128::from(block[0] >> 7) << (127 - pos);
        }
        (orig ^ flips).to_be_bytes()
    }

    pub fn ipv4(&self, a: std::net::Ipv4Addr) -> std::net::Ipv4Addr {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&a.octets());
        let o = self.anonymize_bits(b, 32);
        std::net::Ipv4Addr::new(o[0], o[1], o[2], o[3])
    }

    pub fn ipv6(&self, a: std::net::Ipv6Addr) -> std::net::Ipv6Addr {
        std::net::Ipv6Addr::from(self.anonymize_bits(a.octets(), 128))
    }
}

/// Parses a key given as 64 hex digits (spaces and colons allowed between).
pub fn parse_key_hex(s: &str) -> Result<[u8; 32], ClientError> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| !matches!(c, b' ' | b':' | b'\n' | b'\r' | b'\t'))
        .collect();
    if digits.len() != 64 {
        return Err(ClientError::AnonKey(format!(
            "expected 64 hex digits (32 bytes), got {} characters",
            digits.len()
        )));
    }
    let mut key = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (hex(pair[0]), hex(pair[1])) {
            (Some(h), Some(l)) => key[i] = (h * 16 + l) as u8,
            _ => {
                return Err(ClientError::AnonKey(format!(
                    "'{}' is not a hex byte",
                    String::from_utf8_lossy(pair)
                )))
            }
        }
    }
    Ok(key)
}

/// Reads a key file: 32 raw bytes, or 64 hex digits.
pub fn read_key_file(path: &std::path::Path) -> Result<[u8; 32], ClientError> {
    let data = std::fs::read(path)
        .map_err(|e| ClientError::AnonKey(format!("{}: {e}", path.display())))?;
    if data.len() == 32 {
        let mut k = [0u8; 32];
        k.copy_from_slice(&data);
        return Ok(k);
    }
    let text = std::str::from_utf8(&data).map_err(|_| {
        ClientError::AnonKey(format!(
            "{}: expected 32 raw bytes or 64 hex digits",
            path.display()
        ))
    })?;
    parse_key_hex(text.trim())
}

/// A fresh random key (from the system's random source).
pub fn random_key() -> Result<[u8; 32], ClientError> {
    use std::io::Read;
    let mut k = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut k))
        .map_err(|e| ClientError::AnonKey(format!("cannot read /dev/urandom: {e}")))?;
    Ok(k)
}

/// What to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnonOptions {
    /// Keep every port (default: ports from 1024 up are shifted).
    pub keep_ports: bool,
    /// Keep private (RFC 1918, fc00::/7, fe80::/10) addresses.
    pub keep_private: bool,
    /// Seconds added to every time (may be negative).
    pub time_shift_s: i64,
}

/// Anonymizes records with one key (remembering the addresses it has mapped).
pub struct Anonymizer {
    pan: CryptoPan,
    opts: AnonOptions,
    port_offset: u16,
    cache: HashMap<(u8, [u8; 16]), [u8; 16]>,
}

/// Ports from here up are shifted.
const FIRST_SHIFTED_PORT: u16 = 1024;

impl Anonymizer {
    pub fn new(key: &[u8; 32], opts: AnonOptions) -> Anonymizer {
        let pan = CryptoPan::new(key);
        // The port offset: 16 bits of AES(key, a fixed label), in 1..64511.
        let mut block = GenericArray::from(*b"ocellus-port-off");
        pan.cipher.encrypt_block(&mut block);
        let span = u32::from(u16::MAX - FIRST_SHIFTED_PORT) + 1;
        let raw = u32::from(u16::from_be_bytes([block[0], block[1]]));
        let port_offset = (raw % (span - 1) + 1) as u16;
        Anonymizer {
            pan,
            opts,
            port_offset,
            cache: HashMap::new(),
        }
    }

    /// The mapping of one address of `bits` bits (32 IPv4, 128 IPv6, 48 MAC),
    /// left-aligned in 16 bytes.
    fn map(&mut self, addr: [u8; 16], bits: u8) -> [u8; 16] {
        let used = usize::from(bits / 8);
        let all_zero = addr[..used].iter().all(|&b| b == 0);
        let all_ones = addr[..used].iter().all(|&b| b == 0xff);
        if all_zero || all_ones {
            return addr;
        }
        if self.opts.keep_private && is_private(&addr, bits) {
            return addr;
        }
        let pan = &self.pan;
        *self
            .cache
            .entry((bits, addr))
            .or_insert_with(|| pan.anonymize_bits(addr, u32::from(bits)))
    }

    fn map_mac(&mut self, mac: [u8; 6]) -> [u8; 6] {
        let mut a = [0u8; 16];
        a[..6].copy_from_slice(&mac);
        let o = self.map(a, 48);
        let mut out = [0u8; 6];
        out.copy_from_slice(&o[..6]);
        out
    }

    /// A port as anonymized (well-known ports and `keep_ports` keep theirs).
    pub fn port(&self, p: u16) -> u16 {
        if self.opts.keep_ports || p < FIRST_SHIFTED_PORT {
            return p;
        }
        let span = u32::from(u16::MAX - FIRST_SHIFTED_PORT) + 1;
        let off = u32::from(p - FIRST_SHIFTED_PORT) + u32::from(self.port_offset);
        (u32::from(FIRST_SHIFTED_PORT) + off % span) as u16
    }

    /// Anonymizes a flow record in place; returns `false` for a record that
    /// should be dropped (management records).
    pub fn anonymize(&mut self, r: &mut FlowRecord) -> bool {
        if r.kind.is_man() {
            return false;
        }
        let class = r.key.class();
        match class {
            KeyClass::Ipv4 | KeyClass::Arp => {
                r.key.src = self.map(r.key.src, 32);
                r.key.dst = self.map(r.key.dst, 32);
            }
            KeyClass::Ipv6 => {
                r.key.src = self.map(r.key.src, 128);
                r.key.dst = self.map(r.key.dst, 128);
            }
            KeyClass::Rarp | KeyClass::Ether | KeyClass::Llc => {
                r.key.src = self.map(r.key.src, 48);
                r.key.dst = self.map(r.key.dst, 48);
            }
            KeyClass::None => {}
        }
        if class.is_ip() && r.key.ports_are_per_endpoint() {
            r.key.sport = self.port(r.key.sport);
            r.key.dport = self.port(r.key.dport);
        }
        r.smac = self.map_mac(r.smac);
        r.dmac = self.map_mac(r.dmac);
        if self.opts.time_shift_s != 0 {
            let shift = |t: &mut u64, s: i64| {
                if *t != 0 {
                    let ns = s.saturating_mul(1_000_000_000);
                    *t = t.saturating_add_signed(ns);
                }
            };
            let s = self.opts.time_shift_s;
            shift(&mut r.stime_ns, s);
            shift(&mut r.ltime_ns, s);
            for d in [&mut r.src, &mut r.dst] {
                shift(&mut d.stime_ns, s);
                shift(&mut d.ltime_ns, s);
            }
        }
        r.suser.clear();
        r.duser.clear();
        true
    }
}

fn is_private(a: &[u8; 16], bits: u8) -> bool {
    match bits {
        32 => a[0] == 10 || (a[0] == 172 && a[1] & 0xf0 == 16) || (a[0] == 192 && a[1] == 168),
        128 => a[0] & 0xfe == 0xfc || (a[0] == 0xfe && a[1] & 0xc0 == 0x80),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The key of the Crypto-PAn reference distribution's sample trace.
    const KEY: [u8; 32] = [
        21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143, 131,
        121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
    ];

    #[test]
    fn published_ipv4_vectors() {
        // sample_trace_raw.txt / sample_trace_sanitized.txt of Xu et al.'s
        // Crypto-PAn 1.0 distribution.
        let pan = CryptoPan::new(&KEY);
        for (raw, sanitized) in [
            ("128.11.68.132", "135.242.180.132"),
            ("129.118.74.4", "134.136.186.123"),
            ("130.132.252.244", "133.68.164.234"),
            ("141.223.7.43", "141.167.8.160"),
            ("141.233.145.108", "141.129.237.235"),
            ("152.163.225.39", "151.140.114.167"),
            ("156.29.3.236", "147.225.12.42"),
            ("165.247.96.84", "162.9.99.234"),
            ("166.107.77.190", "160.132.178.185"),
            ("192.102.249.13", "252.138.62.131"),
            ("192.215.32.125", "252.43.47.189"),
            ("192.233.80.103", "252.25.108.8"),
            ("192.41.57.43", "252.222.221.184"),
            ("193.150.244.223", "253.169.52.216"),
            ("195.205.63.100", "255.186.223.5"),
            ("10.185.25.118", "117.161.29.118"),
        ] {
            let got = pan.ipv4(raw.parse().unwrap());
            assert_eq!(got, sanitized.parse::<Ipv4Addr>().unwrap(), "{raw}");
        }
    }

    #[test]
    fn ipv6_vectors_of_the_go_implementation() {
        // github.com/Yawning/cryptopan's IPv6 vectors, same key.
        let pan = CryptoPan::new(&KEY);
        for (raw, anon) in [
            ("::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"),
            ("::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"),
            ("::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"),
            ("2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"),
            ("2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"),
        ] {
            let got = pan.ipv6(raw.parse().unwrap());
            assert_eq!(got, anon.parse::<Ipv6Addr>().unwrap(), "{raw}");
        }
    }

    fn common_prefix(a: u128, b: u128) -> u32 {
        (a ^ b).leading_zeros()
    }

    proptest! {
        #[test]
        fn ipv4_prefixes_are_preserved_exactly(a in any::<u32>(), k in 0u32..32, low in any::<u32>()) {
            // b shares exactly k leading bits with a.
            let flip = 1u32 << (31 - k);
            let below = if k == 31 { 0 } else { flip - 1 };
            let b = ((a ^ flip) & !below) | (low & below);
            let pan = CryptoPan::new(&KEY);
            let (x, y) = (pan.ipv4(Ipv4Addr::from(a)), pan.ipv4(Ipv4Addr::from(b)));
            prop_assert_eq!((u32::from(x) ^ u32::from(y)).leading_zeros(), k);
        }

        #[test]
        fn ipv6_prefixes_are_preserved_exactly(a in any::<u128>(), k in 0u32..128, low in any::<u128>()) {
            let flip = 1u128 << (127 - k);
            let below = if k == 127 { 0 } else { flip - 1 };
            let b = ((a ^ flip) & !below) | (low & below);
            let pan = CryptoPan::new(&KEY);
            let x = u128::from(pan.ipv6(Ipv6Addr::from(a)));
            let y = u128::from(pan.ipv6(Ipv6Addr::from(b)));
            prop_assert_eq!(common_prefix(x, y), k);
        }

        #[test]
        fn shifted_ports_stay_unprivileged_and_distinct(p in 1024u16.., q in 1024u16..) {
            let an = Anonymizer::new(&KEY, AnonOptions::default());
            let (x, y) = (an.port(p), an.port(q));
            prop_assert!(x >= 1024 && y >= 1024);
            prop_assert_eq!(x == y, p == q);
        }
    }

    #[test]
    fn records_keep_well_known_ports_and_private_nets_on_request() {
        let mut r = FlowRecord::default();
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 6;
        r.key.src[..4].copy_from_slice(&[10, 1, 2, 3]);
        r.key.dst[..4].copy_from_slice(&[128, 11, 68, 132]);
        r.key.sport = 40000;
        r.key.dport = 80;
        r.stime_ns = 5_000_000_000;
        r.suser = b"secret".to_vec();
        let mut a = Anonymizer::new(&KEY, AnonOptions::default());
        let mut x = r.clone();
        assert!(a.anonymize(&mut x));
        assert_eq!(x.key.dst[..4], [135, 242, 180, 132]);
        assert_ne!(x.key.src[..4], [10, 1, 2, 3]);
        assert_eq!(x.key.dport, 80);
        assert_ne!(x.key.sport, 40000);
        assert!(x.suser.is_empty());
        let mut a = Anonymizer::new(
            &KEY,
            AnonOptions {
                keep_private: true,
                keep_ports: true,
                time_shift_s: -2,
            },
        );
        let mut y = r.clone();
        a.anonymize(&mut y);
        assert_eq!(y.key.src[..4], [10, 1, 2, 3]);
        assert_eq!(y.key.sport, 40000);
        assert_eq!(y.stime_ns, 3_000_000_000);
        assert_eq!(y.ltime_ns, 0, "an unset time stays unset");
    }

    #[test]
    fn keys_parse_from_hex() {
        let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_key_hex(&hex).unwrap(), KEY);
        assert!(parse_key_hex("00ff").is_err());
        assert!(parse_key_hex(&"zz".repeat(32)).is_err());
    }
}
