//! IPFIX export (RFC 7011) of flow records as RFC 5103 biflows.
//!
//! An [`Exporter`] packs records into IPFIX messages of at most
//! `max_message_bytes` and hands each message to a [`MessageSink`] (a UDP or TCP
//! socket, or anything else). Two templates describe the records, one for IPv4
//! (id 256) and one for IPv6 (id 257): the initiator's counters as IANA
//! elements, the responder's as the same elements under the reverse enterprise
//! number 29305 (RFC 5103). Over UDP the templates are sent again every
//! `template_refresh_messages` messages and every `template_refresh` interval
//! (RFC 7011 8.4); over TCP once per connection.
//!
//! Byte counts are exported as the record holds them (the probe counts frames,
//! L2 header included; a record that came from NetFlow counts IP bytes).
//! Records that are not IPv4/IPv6 flows (ARP, non-IP Ethernet, management
//! records) have no IPFIX form here and are counted as skipped.
#![deny(unsafe_code)]

use crate::netflow::ie;
use crate::record::{Cause, FlowRecord, KeyClass};
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("IPFIX destination '{0}': expected udp://HOST:PORT or tcp://HOST:PORT")]
    BadSpec(String),
    #[error("IPFIX destination '{spec}': {source}")]
    Connect { spec: String, source: io::Error },
    #[error("sending an IPFIX message failed: {0}")]
    Send(#[source] io::Error),
}

/// Where finished IPFIX messages go.
pub trait MessageSink {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Whether templates must be refreshed (unreliable transport: UDP).
    fn needs_refresh(&self) -> bool;
}

impl MessageSink for UdpSocket {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.send(msg).map(|_| ())
    }
    fn needs_refresh(&self) -> bool {
        true
    }
}

impl MessageSink for TcpStream {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.write_all(msg)
    }
    fn needs_refresh(&self) -> bool {
        false
    }
}

/// Collects messages in memory (tests, or a caller that sends them itself).
impl MessageSink for Vec<Vec<u8>> {
    fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        self.push(msg.to_vec());
        Ok(())
    }
    fn needs_refresh(&self) -> bool {
        true
    }
}

/// How an [`Exporter`] builds its messages.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// Observation domain id in every message header.
    pub domain_id: u32,
    /// Largest message (UDP: keep it under the path MTU).
    pub max_message_bytes: usize,
    /// Resend the templates after this many messages (unreliable transports).
    pub template_refresh_messages: u32,
    /// ... and after this long.
    pub template_refresh: Duration,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            domain_id: 0,
            max_message_bytes: 1400,
            template_refresh_messages: 64,
            template_refresh: Duration::from_secs(60),
        }
    }
}

/// What an exporter has sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub messages: u64,
    pub records: u64,
    pub template_sends: u64,
    /// Records with no IPFIX form (not IPv4/IPv6, or management records).
    pub skipped: u64,
    pub bytes: u64,
}

const TEMPLATE_V4: u16 = 256;
const TEMPLATE_V6: u16 = 257;
const HDR: usize = 16;

/// One field of the export templates: element id, length, reverse (RFC 5103).
type Spec = (u16, u16, bool);

const fn fields(v6: bool) -> [Spec; 25] {
    let (sa, da, alen, icmp) = if v6 {
        (
            ie::SOURCE_IPV6_ADDRESS,
            ie::DESTINATION_IPV6_ADDRESS,
            16,
            ie::ICMP_TYPE_CODE_IPV6,
        )
    } else {
        (
            ie::SOURCE_IPV4_ADDRESS,
            ie::DESTINATION_IPV4_ADDRESS,
            4,
            ie::ICMP_TYPE_CODE_IPV4,
        )
    };
    [
        (ie::FLOW_START_MILLISECONDS, 8, false),
        (ie::FLOW_END_MILLISECONDS, 8, false),
        (sa, alen, false),
        (da, alen, false),
        (ie::SOURCE_TRANSPORT_PORT, 2, false),
        (ie::DESTINATION_TRANSPORT_PORT, 2, false),
        (ie::PROTOCOL_IDENTIFIER, 1, false),
        (ie::IP_CLASS_OF_SERVICE, 1, false),
        (ie::TCP_CONTROL_BITS, 2, false),
        (ie::MINIMUM_TTL, 1, false),
        (ie::OCTET_DELTA_COUNT, 8, false),
        (ie::PACKET_DELTA_COUNT, 8, false),
        (icmp, 2, false),
        (ie::SOURCE_MAC_ADDRESS, 6, false),
        (ie::DESTINATION_MAC_ADDRESS, 6, false),
        (ie::VLAN_ID, 2, false),
        (ie::POST_VLAN_ID, 2, false),
        (ie::MPLS_TOP_LABEL_STACK_SECTION, 3, false),
        (ie::FLOW_END_REASON, 1, false),
        (ie::BIFLOW_DIRECTION, 1, false),
        (ie::OCTET_DELTA_COUNT, 8, true),
        (ie::PACKET_DELTA_COUNT, 8, true),
        (ie::IP_CLASS_OF_SERVICE, 1, true),
        (ie::TCP_CONTROL_BITS, 2, true),
        (ie::MINIMUM_TTL, 1, true),
    ]
}

const FIELDS_V4: [Spec; 25] = fields(false);
const FIELDS_V6: [Spec; 25] = fields(true);

const fn record_len(f: &[Spec]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < f.len() {
        n += f[i].1 as usize;
        i += 1;
    }
    n
}

/// Encodes the template set (both templates).
fn template_set(buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&2u16.to_be_bytes());
    buf.extend_from_slice(&0u16.to_be_bytes());
    for (tid, f) in [(TEMPLATE_V4, &FIELDS_V4), (TEMPLATE_V6, &FIELDS_V6)] {
        buf.extend_from_slice(&tid.to_be_bytes());
        buf.extend_from_slice(&(f.len() as u16).to_be_bytes());
        for &(id, len, reverse) in f.iter() {
            if reverse {
                buf.extend_from_slice(&(id | 0x8000).to_be_bytes());
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(&ie::REVERSE_PEN.to_be_bytes());
            } else {
                buf.extend_from_slice(&id.to_be_bytes());
                buf.extend_from_slice(&len.to_be_bytes());
            }
        }
    }
    let len = (buf.len() - start) as u16;
    buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

fn template_set_len() -> usize {
    let mut v = Vec::new();
    template_set(&mut v);
    v.len()
}

fn end_reason(c: Cause) -> u8 {
    match c {
        Cause::Timeout => 1,
        Cause::Start | Cause::Status => 2,
        Cause::Close => 3,
        Cause::Stop => 4,
    }
}

/// Appends one data record for `rec` laid out as `f`.
fn encode(rec: &FlowRecord, f: &[Spec], buf: &mut Vec<u8>) {
    let icmp = rec.key.proto == 1 || rec.key.proto == 58;
    let v6 = rec.key.class == KeyClass::Ipv6 as u8;
    for &(id, _, reverse) in f {
        let d = if reverse { &rec.dst } else { &rec.src };
        match id {
            ie::FLOW_START_MILLISECONDS => {
                buf.extend_from_slice(&(rec.stime_ns / 1_000_000).to_be_bytes())
            }
            ie::FLOW_END_MILLISECONDS => {
                buf.extend_from_slice(&(rec.ltime_ns / 1_000_000).to_be_bytes())
            }
            ie::SOURCE_IPV4_ADDRESS => buf.extend_from_slice(&rec.key.src[..4]),
            ie::DESTINATION_IPV4_ADDRESS => buf.extend_from_slice(&rec.key.dst[..4]),
            ie::SOURCE_IPV6_ADDRESS => buf.extend_from_slice(&rec.key.src),
            ie::DESTINATION_IPV6_ADDRESS => buf.extend_from_slice(&rec.key.dst),
            // ICMP: no ports; type and code go in the destination port as
            // NetFlow collectors expect, and in icmpTypeCode.
            ie::SOURCE_TRANSPORT_PORT => {
                let p = if icmp { 0 } else { rec.key.sport };
                buf.extend_from_slice(&p.to_be_bytes())
            }
            ie::DESTINATION_TRANSPORT_PORT => {
                let p = if icmp { rec.key.sport } else { rec.key.dport };
                buf.extend_from_slice(&p.to_be_bytes())
            }
            ie::ICMP_TYPE_CODE_IPV4 | ie::ICMP_TYPE_CODE_IPV6 => {
                let tc = if icmp && (rec.key.proto == 58) == v6 {
                    rec.key.sport
                } else {
                    0
                };
                buf.extend_from_slice(&tc.to_be_bytes())
            }
            ie::PROTOCOL_IDENTIFIER => buf.push(rec.key.proto),
            ie::IP_CLASS_OF_SERVICE => buf.push(d.tos),
            ie::TCP_CONTROL_BITS => {
                let fl = rec
                    .tcp
                    .map(|t| if reverse { t.dst_flags } else { t.src_flags })
                    .unwrap_or(0);
                buf.extend_from_slice(&u16::from(fl).to_be_bytes())
            }
            ie::MINIMUM_TTL => buf.push(d.ttl),
            ie::OCTET_DELTA_COUNT => buf.extend_from_slice(&d.bytes.to_be_bytes()),
            ie::PACKET_DELTA_COUNT => buf.extend_from_slice(&d.pkts.to_be_bytes()),
            ie::SOURCE_MAC_ADDRESS => buf.extend_from_slice(&rec.smac),
            ie::DESTINATION_MAC_ADDRESS => buf.extend_from_slice(&rec.dmac),
            ie::VLAN_ID => buf.extend_from_slice(&(rec.svlan & 0x0fff).to_be_bytes()),
            ie::POST_VLAN_ID => buf.extend_from_slice(&(rec.dvlan & 0x0fff).to_be_bytes()),
            ie::MPLS_TOP_LABEL_STACK_SECTION => {
                let v = if rec.flags & crate::record::flag::HAS_SMPLS != 0 {
                    (rec.smpls & 0xfffff) << 4 | 1
                } else {
                    0
                };
                buf.extend_from_slice(&v.to_be_bytes()[1..]);
            }
            ie::FLOW_END_REASON => buf.push(end_reason(rec.cause)),
            // 1: initiator (the record's source is the initiator).
            ie::BIFLOW_DIRECTION => buf.push(1),
            _ => {}
        }
    }
}

/// Packs records into IPFIX messages and sends them.
pub struct Exporter {
    sink: Box<dyn MessageSink + Send>,
    cfg: ExporterConfig,
    buf: Vec<u8>,
    /// Template of the open data set and where its header is, if one is open.
    open_set: Option<(u16, usize)>,
    records_in_msg: u32,
    /// Data records sent before the current message (the header's sequence).
    sequence: u32,
    messages_since_templates: u32,
    templates_sent_at: Option<Instant>,
    stats: ExportStats,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Exporter {
    /// An exporter that sends to `sink`.
    pub fn new(sink: Box<dyn MessageSink + Send>, mut cfg: ExporterConfig) -> Exporter {
        // A message must hold the templates and at least one record.
        let least = HDR + template_set_len() + 4 + record_len(&FIELDS_V6);
        cfg.max_message_bytes = cfg.max_message_bytes.clamp(least, 65_535);
        Exporter {
            sink,
            buf: Vec::with_capacity(cfg.max_message_bytes),
            cfg,
            open_set: None,
            records_in_msg: 0,
            sequence: 0,
            messages_since_templates: 0,
            templates_sent_at: None,
            stats: ExportStats::default(),
        }
    }

    /// Opens `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub fn connect(spec: &str, cfg: ExporterConfig) -> Result<Exporter, ExportError> {
        let conn = |source| ExportError::Connect {
            spec: spec.to_string(),
            source,
        };
        if let Some(addr) = spec.strip_prefix("udp://") {
            let target = addr
                .to_socket_addrs()
                .map_err(conn)?
                .next()
                .ok_or_else(|| ExportError::BadSpec(spec.into()))?;
            let bind = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(bind).map_err(conn)?;
            sock.connect(target).map_err(conn)?;
            Ok(Exporter::new(Box::new(sock), cfg))
        } else if let Some(addr) = spec.strip_prefix("tcp://") {
            let stream = TcpStream::connect(addr).map_err(conn)?;
            let cfg = ExporterConfig {
                max_message_bytes: cfg.max_message_bytes.max(16_384),
                ..cfg
            };
            Ok(Exporter::new(Box::new(stream), cfg))
        } else {
            Err(ExportError::BadSpec(spec.into()))
        }
    }

    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    fn templates_due(&self) -> bool {
        match self.templates_sent_at {
            None => true,
            Some(at) => {
                self.sink.needs_refresh()
                    && (self.messages_since_templates >= self.cfg.template_refresh_messages
                        || at.elapsed() >= self.cfg.template_refresh)
            }
        }
    }

    fn start_message(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; HDR]);
        self.open_set = None;
        self.records_in_msg = 0;
        if self.templates_due() {
            template_set(&mut self.buf);
            self.templates_sent_at = Some(Instant::now());
            self.messages_since_templates = 0;
            self.stats.template_sends += 1;
        }
    }

    fn close_set(&mut self) {
        if let Some((_, at)) = self.open_set.take() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }

    /// Adds one record; a full message is sent first.
    pub fn export(&mut self, rec: &FlowRecord) -> Result<(), ExportError> {
        let (tid, f): (u16, &[Spec]) = match KeyClass::from_u8(rec.key.class) {
            _ if rec.kind.is_man() => {
                self.stats.skipped += 1;
                return Ok(());
            }
            KeyClass::Ipv4 => (TEMPLATE_V4, &FIELDS_V4),
            KeyClass::Ipv6 => (TEMPLATE_V6, &FIELDS_V6),
            _ => {
                self.stats.skipped += 1;
                return Ok(());
            }
        };
        let need = record_len(f)
            + if self.open_set.map(|s| s.0) == Some(tid) {
                0
            } else {
                4
            };
        if self.buf.is_empty() {
            self.start_message();
        } else if self.buf.len() + need > self.cfg.max_message_bytes {
            self.flush()?;
            self.start_message();
        }
        if self.open_set.map(|s| s.0) != Some(tid) {
            self.close_set();
            self.open_set = Some((tid, self.buf.len()));
            self.buf.extend_from_slice(&tid.to_be_bytes());
            self.buf.extend_from_slice(&0u16.to_be_bytes());
        }
        encode(rec, f, &mut self.buf);
        self.records_in_msg += 1;
        Ok(())
    }

    /// Sends the message being built, if it holds anything.
    pub fn flush(&mut self) -> Result<(), ExportError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.close_set();
        let export_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        let len = self.buf.len() as u16;
        self.buf[0..2].copy_from_slice(&10u16.to_be_bytes());
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
        self.buf[4..8].copy_from_slice(&export_s.to_be_bytes());
        self.buf[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        self.buf[12..16].copy_from_slice(&self.cfg.domain_id.to_be_bytes());
        self.sink
            .send_message(&self.buf)
            .map_err(ExportError::Send)?;
        self.sequence = self.sequence.wrapping_add(self.records_in_msg);
        self.stats.messages += 1;
        self.stats.records += u64::from(self.records_in_msg);
        self.stats.bytes += self.buf.len() as u64;
        self.messages_since_templates += 1;
        self.buf.clear();
        self.open_set = None;
        self.records_in_msg = 0;
        Ok(())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // Best effort: a caller that wants the error calls flush() itself.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests;
