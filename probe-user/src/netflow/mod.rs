//! NetFlow v5, v9 and IPFIX (RFC 7011) collection: export datagrams in,
//! ocellus [`FlowRecord`]s out.
//!
//! A [`Collector`] keeps the templates of every exporter and observation domain
//! (NetFlow v9 source id), keyed by (exporter address, domain, version) as RFC
//! 7011 section 8 asks, and turns each data record into one record flagged
//! [`flag::NETFLOW`] (Argus prints `N` in the first flags column).
//!
//! What a NetFlow-derived record says, and how it differs from a probe record:
//! - Byte counts are the exporter's: IP bytes (IP header and payload), no
//!   link-layer header and no FCS, where the probe (and Argus on packets)
//!   counts whole frames. `appbytes`, sizes, intervals and TTL ranges are unknown
//!   and left 0.
//! - Counters are scaled by the exporter's sampling rate (1 in N), as nfdump's
//!   nfcapd does by default: the NetFlow v5 header's sampling interval, a
//!   data record's own samplingInterval / samplerRandomInterval, or the rate
//!   the exporter's options data announce for the domain (samplingInterval,
//!   samplerRandomInterval, samplingPacketInterval/Space;
//!   [`Collector::sampling_interval`]). Scaled records carry
//!   [`flag::SAMPLED`]; `CollectorConfig::scale_sampling = false` keeps the
//!   counters as exported.
//! - RFC 5103 biflows (reverse elements, enterprise 29305) become one
//!   bidirectional record; a uniflow record has an empty destination side.
//! - ICMP type and code come from icmpTypeCode elements, or from the
//!   destination port as NetFlow v5/v9 exporters put them there.
//! - Times come from the export: v5 and v9 `sysUptime` arithmetic modulo 2^32
//!   (a router whose uptime wrapped still gives the right times), IPFIX
//!   absolute times, deltas, or `systemInitTimeMilliseconds` from options data.
//!
//! Bad input never panics and never grows memory without bound: malformed
//! datagrams and sets are counted and dropped, templates are capped per domain
//! and in total, data sets that arrive before their template are held briefly
//! in a bounded queue and replayed when the template comes (or dropped with a
//! counter).
#![deny(unsafe_code)]

pub mod ie;
pub mod tcp;

use crate::capture::{CaptureError, MergedReader};
use crate::packet::{encaps, tcpflag, Net, PacketInfo};
use crate::record::{flag, tcpstate, Cause, DirStats, FlowRecord, KeyClass, TcpPerf};
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Why a whole datagram was dropped. Problems inside one set are counted in
/// [`CollectorStats`] and do not fail the datagram.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("datagram of {len} bytes is too short for a NetFlow/IPFIX header")]
    TooShort { len: usize },
    #[error("unknown export version {0} (expected 5, 9 or 10)")]
    UnknownVersion(u16),
    #[error("NetFlow v5 datagram claims {count} records but holds {len} bytes")]
    BadV5Count { count: u16, len: usize },
    #[error("IPFIX message length {claimed} does not fit the {len}-byte datagram")]
    BadMessageLength { claimed: u16, len: usize },
}

/// What the collector has met. Every drop has its own counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectorStats {
    pub datagrams: u64,
    pub v5_datagrams: u64,
    pub v9_datagrams: u64,
    pub ipfix_messages: u64,
    /// Flow records produced.
    pub records: u64,
    /// Biflow records (with reverse counters) among them.
    pub biflow_records: u64,
    pub templates_learned: u64,
    pub options_templates_learned: u64,
    pub template_withdrawals: u64,
    pub templates_expired: u64,
    /// Templates dropped because their TCP session closed.
    pub templates_session_closed: u64,
    /// Template definitions refused because a cap was reached.
    pub templates_over_limit: u64,
    /// Template records that were malformed (zero-length fields, impossible counts).
    pub templates_malformed: u64,
    pub options_records: u64,
    /// Data sets whose template was unknown when they arrived.
    pub unknown_template_sets: u64,
    /// ... of which were decoded later, when the template came.
    pub held_sets_replayed: u64,
    /// ... of which were dropped (queue full, or the template never came in time).
    pub held_sets_dropped: u64,
    /// Datagrams dropped whole ([`DecodeError`]).
    pub malformed_datagrams: u64,
    /// Sets cut short or with a length that does not fit, dropped from that point.
    pub malformed_sets: u64,
    /// Data records whose fields ran past the end of their set.
    pub malformed_records: u64,
    /// Data records without IPv4 or IPv6 addresses (not turned into flows).
    pub records_without_address: u64,
    /// Fields of other enterprises than RFC 5103's reverse elements, skipped.
    pub enterprise_fields_skipped: u64,
    /// Field values of standard elements ocellus has no place for (skipped;
    /// the rest of the record is kept).
    pub fields_unmapped: u64,
    /// Datagrams that are not NetFlow/IPFIX at all (unknown version).
    pub unknown_version: u64,
    /// Records whose counters were scaled by a sampling rate.
    pub scaled_records: u64,
}

impl CollectorStats {
    /// The counters as (name, value) pairs, for `--stats`.
    pub fn fields(&self) -> [(&'static str, u64); 25] {
        [
            ("datagrams", self.datagrams),
            ("v5_datagrams", self.v5_datagrams),
            ("v9_datagrams", self.v9_datagrams),
            ("ipfix_messages", self.ipfix_messages),
            ("records", self.records),
            ("biflow_records", self.biflow_records),
            ("templates_learned", self.templates_learned),
            ("options_templates_learned", self.options_templates_learned),
            ("template_withdrawals", self.template_withdrawals),
            ("templates_expired", self.templates_expired),
            ("templates_session_closed", self.templates_session_closed),
            ("templates_over_limit", self.templates_over_limit),
            ("templates_malformed", self.templates_malformed),
            ("options_records", self.options_records),
            ("unknown_template_sets", self.unknown_template_sets),
            ("held_sets_replayed", self.held_sets_replayed),
            ("held_sets_dropped", self.held_sets_dropped),
            ("malformed_datagrams", self.malformed_datagrams),
            ("malformed_sets", self.malformed_sets),
            ("malformed_records", self.malformed_records),
            ("records_without_address", self.records_without_address),
            ("enterprise_fields_skipped", self.enterprise_fields_skipped),
            ("fields_unmapped", self.fields_unmapped),
            ("unknown_version", self.unknown_version),
            ("scaled_records", self.scaled_records),
        ]
    }
}

/// Limits and timeouts of a [`Collector`].
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// Templates kept per (exporter, domain); more are refused and counted.
    pub max_templates_per_domain: usize,
    /// Templates kept in total.
    pub max_templates_total: usize,
    /// (exporter, domain) pairs tracked.
    pub max_domains: usize,
    /// A template not refreshed for this long is forgotten (RFC 7011 8.4: UDP
    /// templates have a lifetime). Measured on the clock the caller passes.
    pub template_timeout_ns: u64,
    /// Data sets held while waiting for their template: how many, how many
    /// bytes in all, and for how long.
    pub max_held_sets: usize,
    pub max_held_bytes: usize,
    pub held_timeout_ns: u64,
    /// Multiply packet and byte counters by the sampling rate the exporter
    /// announces (and flag the record [`flag::SAMPLED`]); nfcapd's default.
    pub scale_sampling: bool,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            max_templates_per_domain: 1024,
            max_templates_total: 16_384,
            max_domains: 4096,
            template_timeout_ns: 1800 * 1_000_000_000,
            max_held_sets: 256,
            max_held_bytes: 1 << 20,
            held_timeout_ns: 10 * 1_000_000_000,
            scale_sampling: true,
        }
    }
}

/// One field specifier of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldSpec {
    id: u16,
    /// Length in bytes, or [`ie::VARLEN`].
    len: u16,
    /// Enterprise number, 0 for IANA elements.
    pen: u32,
}

#[derive(Clone, Debug)]
struct Template {
    fields: Vec<FieldSpec>,
    options: bool,
    /// Smallest encoded record (variable-length fields count one byte); >= 1.
    min_len: usize,
    refreshed_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct DomainKey {
    exporter: IpAddr,
    domain: u32,
    version: u16,
    /// The transport session templates were learned in: 0 for UDP and files
    /// (scoped by exporter address, as nfcapd does), a connection id for TCP
    /// (RFC 7011 8: a session's templates end with it).
    session: u64,
}

#[derive(Debug, Default)]
struct Domain {
    templates: HashMap<u16, Template>,
    sampling_interval: u32,
    system_init_ms: Option<u64>,
}

/// Header facts a data set needs.
#[derive(Clone, Copy, Debug)]
struct MsgCtx {
    export_ns: u64,
    /// v5/v9 `sysUptime` in milliseconds at `export_ns`.
    uptime_ms: Option<u32>,
}

#[derive(Debug)]
struct HeldSet {
    key: DomainKey,
    template_id: u16,
    ctx: MsgCtx,
    body: Vec<u8>,
    held_ns: u64,
}

/// Decodes NetFlow v5/v9 and IPFIX datagrams into flow records.
#[derive(Debug)]
pub struct Collector {
    cfg: CollectorConfig,
    domains: HashMap<DomainKey, Domain>,
    template_count: usize,
    held: VecDeque<HeldSet>,
    held_bytes: usize,
    stats: CollectorStats,
    seq: u64,
    /// The transport session of the message being decoded (see `DomainKey`).
    session: u64,
}

impl Default for Collector {
    fn default() -> Self {
        Collector::new(CollectorConfig::default())
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// An unsigned big-endian value of 1 to 8 bytes (reduced-size encoding, RFC
/// 7011 6.2); longer fields keep their last 8 bytes.
fn be_uint(b: &[u8]) -> u64 {
    let start = b.len().saturating_sub(8);
    b[start..]
        .iter()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// NTP 64-bit timestamp (dateTimeMicroseconds/Nanoseconds) to Unix ns.
fn ntp_to_unix_ns(v: u64) -> u64 {
    const NTP_TO_UNIX_S: u64 = 2_208_988_800;
    let secs = (v >> 32).saturating_sub(NTP_TO_UNIX_S);
    let frac_ns = ((v & 0xffff_ffff) * 1_000_000_000) >> 32;
    secs.saturating_mul(1_000_000_000).saturating_add(frac_ns)
}

/// Absolute time of uptime `t_ms` given that uptime was `uptime_ms` at
/// `export_ns`. The difference is taken modulo 2^32 and read as signed, so a
/// flow that started before the uptime counter wrapped still lands before the
/// export, and a timestamp slightly after the export (clock skew) stays after.
fn uptime_to_ns(export_ns: u64, uptime_ms: u32, t_ms: u32) -> u64 {
    let back_ms = i64::from(uptime_ms.wrapping_sub(t_ms) as i32);
    let ns = i128::from(export_ns) - i128::from(back_ms) * 1_000_000;
    u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
}

/// Fields of one data record, gathered before they become a [`FlowRecord`].
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    src4: Option<[u8; 4]>,
    dst4: Option<[u8; 4]>,
    src6: Option<[u8; 16]>,
    dst6: Option<[u8; 16]>,
    sport: u16,
    dport: u16,
    proto: u8,
    tos: u8,
    rtos: u8,
    tcp_flags: u8,
    rtcp_flags: u8,
    ttl: u8,
    rttl: u8,
    octets: u64,
    pkts: u64,
    roctets: u64,
    rpkts: u64,
    has_reverse: bool,
    start_ns: Option<u64>,
    end_ns: Option<u64>,
    start_up_ms: Option<u32>,
    end_up_ms: Option<u32>,
    start_delta_us: Option<u64>,
    end_delta_us: Option<u64>,
    icmp_type_code: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    smac: Option<[u8; 6]>,
    dmac: Option<[u8; 6]>,
    vlan: Option<u16>,
    post_vlan: Option<u16>,
    mpls_label: Option<u32>,
    end_reason: Option<u8>,
    // Options data.
    sampling_interval: Option<u32>,
    sampling_packet_interval: Option<u32>,
    sampling_packet_space: Option<u32>,
    system_init_ms: Option<u64>,
}

impl Acc {
    /// Takes one field; returns false for an element ocellus does not map
    /// (its value is skipped and counted by the caller).
    fn set(&mut self, id: u16, reverse: bool, v: &[u8]) -> bool {
        let n = be_uint(v);
        let arr4 = || <[u8; 4]>::try_from(v).ok();
        let arr6 = || <[u8; 6]>::try_from(v).ok();
        let arr16 = || <[u8; 16]>::try_from(v).ok();
        if reverse {
            self.has_reverse = true;
            match id {
                ie::OCTET_DELTA_COUNT | ie::OCTET_TOTAL_COUNT => self.roctets = n,
                ie::PACKET_DELTA_COUNT | ie::PACKET_TOTAL_COUNT => self.rpkts = n,
                ie::IP_CLASS_OF_SERVICE => self.rtos = n as u8,
                ie::TCP_CONTROL_BITS => self.rtcp_flags = n as u8,
                ie::IP_TTL | ie::MINIMUM_TTL => self.rttl = n as u8,
                _ => return false,
            }
            return true;
        }
        match id {
            ie::OCTET_DELTA_COUNT | ie::OCTET_TOTAL_COUNT | ie::INITIATOR_OCTETS => self.octets = n,
            ie::PACKET_DELTA_COUNT | ie::PACKET_TOTAL_COUNT | ie::INITIATOR_PACKETS => {
                self.pkts = n
            }
            ie::RESPONDER_OCTETS => {
                self.roctets = n;
                self.has_reverse = true;
            }
            ie::RESPONDER_PACKETS => {
                self.rpkts = n;
                self.has_reverse = true;
            }
            ie::PROTOCOL_IDENTIFIER => self.proto = n as u8,
            ie::IP_CLASS_OF_SERVICE => self.tos = n as u8,
            // tcpControlBits is 16 bits since RFC 7125; the low 8 are the classic flags.
            ie::TCP_CONTROL_BITS => self.tcp_flags = n as u8,
            ie::SOURCE_TRANSPORT_PORT => self.sport = n as u16,
            ie::DESTINATION_TRANSPORT_PORT => self.dport = n as u16,
            ie::SOURCE_IPV4_ADDRESS => self.src4 = arr4(),
            ie::DESTINATION_IPV4_ADDRESS => self.dst4 = arr4(),
            ie::SOURCE_IPV6_ADDRESS => self.src6 = arr16(),
            ie::DESTINATION_IPV6_ADDRESS => self.dst6 = arr16(),
            ie::FLOW_START_SYS_UP_TIME => self.start_up_ms = Some(n as u32),
            ie::FLOW_END_SYS_UP_TIME => self.end_up_ms = Some(n as u32),
            ie::FLOW_START_SECONDS => self.start_ns = Some(n.saturating_mul(1_000_000_000)),
            ie::FLOW_END_SECONDS => self.end_ns = Some(n.saturating_mul(1_000_000_000)),
            ie::FLOW_START_MILLISECONDS => self.start_ns = Some(n.saturating_mul(1_000_000)),
            ie::FLOW_END_MILLISECONDS => self.end_ns = Some(n.saturating_mul(1_000_000)),
            ie::FLOW_START_MICROSECONDS | ie::FLOW_START_NANOSECONDS => {
                self.start_ns = Some(ntp_to_unix_ns(n))
            }
            ie::FLOW_END_MICROSECONDS | ie::FLOW_END_NANOSECONDS => {
                self.end_ns = Some(ntp_to_unix_ns(n))
            }
            ie::FLOW_START_DELTA_MICROSECONDS => self.start_delta_us = Some(n),
            ie::FLOW_END_DELTA_MICROSECONDS => self.end_delta_us = Some(n),
            ie::ICMP_TYPE_CODE_IPV4 | ie::ICMP_TYPE_CODE_IPV6 => {
                self.icmp_type_code = Some(n as u16)
            }
            ie::ICMP_TYPE_IPV4 | ie::ICMP_TYPE_IPV6 => self.icmp_type = Some(n as u8),
            ie::ICMP_CODE_IPV4 | ie::ICMP_CODE_IPV6 => self.icmp_code = Some(n as u8),
            ie::IP_TTL => self.ttl = n as u8,
            ie::MINIMUM_TTL if self.ttl == 0 => self.ttl = n as u8,
            ie::SOURCE_MAC_ADDRESS => self.smac = arr6(),
            ie::DESTINATION_MAC_ADDRESS => self.dmac = arr6(),
            ie::VLAN_ID | ie::DOT1Q_VLAN_ID => self.vlan = Some(n as u16),
            ie::POST_VLAN_ID => self.post_vlan = Some(n as u16),
            ie::MPLS_TOP_LABEL_STACK_SECTION if !v.is_empty() => {
                // Label (20 bits), EXP (3), bottom of stack (1) in the first 3 bytes.
                let top = v.iter().take(3).fold(0u32, |a, &b| (a << 8) | u32::from(b));
                self.mpls_label = Some(top >> 4);
            }
            ie::FLOW_END_REASON => self.end_reason = Some(n as u8),
            ie::SAMPLING_INTERVAL | ie::SAMPLER_RANDOM_INTERVAL => {
                self.sampling_interval = Some(n as u32)
            }
            ie::SAMPLING_PACKET_INTERVAL => self.sampling_packet_interval = Some(n as u32),
            ie::SAMPLING_PACKET_SPACE => self.sampling_packet_space = Some(n as u32),
            ie::SYSTEM_INIT_TIME_MILLISECONDS => self.system_init_ms = Some(n),
            _ => return false,
        }
        true
    }

    /// The sampling interval (1 in N) an options record announces, if any.
    fn sampling(&self) -> Option<u32> {
        if let Some(i) = self.sampling_interval.filter(|&i| i > 0) {
            return Some(i);
        }
        let interval = self.sampling_packet_interval.filter(|&i| i > 0)?;
        let space = self.sampling_packet_space.unwrap_or(0);
        Some(interval.saturating_add(space) / interval)
    }
}

fn tcp_state(src: u8, dst: u8) -> u32 {
    let mut s = 0;
    if src & tcpflag::SYN != 0 {
        s |= tcpstate::SAW_SYN;
    }
    if dst & tcpflag::SYN != 0 && dst & tcpflag::ACK != 0 {
        s |= tcpstate::SAW_SYNACK;
    }
    if s == 0 {
        s |= tcpstate::MIDSTREAM;
    }
    if src & tcpflag::ACK != 0 && (dst == 0 || dst & tcpflag::ACK != 0) {
        s |= tcpstate::ESTABLISHED;
    }
    if src & tcpflag::FIN != 0 {
        s |= tcpstate::FIN_SRC;
    }
    if dst & tcpflag::FIN != 0 {
        s |= tcpstate::FIN_DST;
    }
    if (src | dst) & tcpflag::RST != 0 {
        s |= tcpstate::RESET;
    }
    if s & (tcpstate::FIN_SRC | tcpstate::FIN_DST) == tcpstate::FIN_SRC | tcpstate::FIN_DST
        || s & tcpstate::RESET != 0
    {
        s |= tcpstate::CLOSED;
    }
    s
}

/// The `srcid` of records from `exporter`: its IPv4 address (as Argus uses the
/// exporter's address), or the last 32 bits of an IPv6 address.
pub fn exporter_srcid(exporter: IpAddr) -> u32 {
    match exporter {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            u32::from_be_bytes([o[12], o[13], o[14], o[15]])
        }
    }
}

impl Collector {
    pub fn new(cfg: CollectorConfig) -> Collector {
        Collector {
            cfg,
            domains: HashMap::new(),
            template_count: 0,
            held: VecDeque::new(),
            held_bytes: 0,
            stats: CollectorStats::default(),
            seq: 0,
            session: 0,
        }
    }

    pub fn stats(&self) -> CollectorStats {
        self.stats
    }

    /// Templates currently known, over all exporters and domains.
    pub fn template_count(&self) -> usize {
        self.template_count
    }

    /// Data sets held waiting for their template.
    pub fn held_sets(&self) -> usize {
        self.held.len()
    }

    /// The sampling interval (1 in N) the options data of `exporter`'s domain
    /// announced, for NetFlow v9 (`version` 9) or IPFIX (10).
    pub fn sampling_interval(&self, exporter: IpAddr, domain: u32, version: u16) -> Option<u32> {
        let d = self.domains.get(&DomainKey {
            exporter,
            domain,
            version,
            session: 0,
        })?;
        (d.sampling_interval > 0).then_some(d.sampling_interval)
    }

    /// Decodes one datagram from `exporter` received at `now_ns` (the clock
    /// that template and held-set timeouts run on: wall time when listening,
    /// capture time when reading a file). Records are appended to `out`; the
    /// count appended is returned. A set that is malformed is dropped from
    /// that point and counted; the records before it are kept.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        now_ns: u64,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<usize, DecodeError> {
        self.stats.datagrams += 1;
        self.expire_held(now_ns);
        let before = out.len();
        let r = match u16_at(datagram, 0) {
            None => Err(DecodeError::TooShort {
                len: datagram.len(),
            }),
            Some(5) => self.decode_v5(exporter, datagram, out),
            Some(9) => self.decode_v9(exporter, now_ns, datagram, out),
            Some(10) => self.decode_ipfix(exporter, now_ns, datagram, out),
            Some(v) => {
                self.stats.unknown_version += 1;
                Err(DecodeError::UnknownVersion(v))
            }
        };
        match r {
            Ok(()) => Ok(out.len() - before),
            Err(e) => {
                if !matches!(e, DecodeError::UnknownVersion(_)) {
                    self.stats.malformed_datagrams += 1;
                }
                Err(e)
            }
        }
    }

    /// Decodes one message that came over transport session `session` (a
    /// TCP connection; not 0): its templates belong to that session.
    pub fn decode_in_session(
        &mut self,
        exporter: IpAddr,
        session: u64,
        now_ns: u64,
        message: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<usize, DecodeError> {
        self.session = session;
        let r = self.decode(exporter, now_ns, message, out);
        self.session = 0;
        r
    }

    /// Transport session `session` ended: its templates, options data and
    /// held sets go with it (RFC 7011 8).
    pub fn end_session(&mut self, session: u64) {
        if session == 0 {
            return;
        }
        let mut dropped = 0usize;
        self.domains.retain(|k, d| {
            if k.session != session {
                return true;
            }
            dropped += d.templates.len();
            false
        });
        self.template_count -= dropped;
        self.stats.templates_session_closed += dropped as u64;
        let before = self.held.len();
        self.held.retain(|h| h.key.session != session);
        if self.held.len() != before {
            self.held_bytes = self.held.iter().map(|h| h.body.len()).sum();
        }
    }

    /// Forgets templates not refreshed within the timeout (call now and then;
    /// `decode` also checks each template it uses).
    pub fn expire_templates(&mut self, now_ns: u64) {
        let timeout = self.cfg.template_timeout_ns;
        let mut expired = 0usize;
        for d in self.domains.values_mut() {
            let n = d.templates.len();
            d.templates
                .retain(|_, t| now_ns.saturating_sub(t.refreshed_ns) <= timeout);
            expired += n - d.templates.len();
        }
        self.template_count -= expired;
        self.stats.templates_expired += expired as u64;
        self.domains
            .retain(|_, d| !d.templates.is_empty() || d.sampling_interval > 0);
    }

    fn decode_v5(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        const HDR: usize = 24;
        const REC: usize = 48;
        if d.len() < HDR {
            return Err(DecodeError::TooShort { len: d.len() });
        }
        let count = u16_at(d, 2).unwrap_or(0);
        // The v5 format allows at most 30 records in a datagram.
        if count > 30 || d.len() < HDR + usize::from(count) * REC {
            return Err(DecodeError::BadV5Count {
                count,
                len: d.len(),
            });
        }
        self.stats.v5_datagrams += 1;
        let uptime_ms = u32_at(d, 4).unwrap_or(0);
        let secs = u64::from(u32_at(d, 8).unwrap_or(0));
        let nsecs = u64::from(u32_at(d, 12).unwrap_or(0)).min(999_999_999);
        let ctx = MsgCtx {
            export_ns: secs * 1_000_000_000 + nsecs,
            uptime_ms: Some(uptime_ms),
        };
        // Bytes 22-23: sampling mode (2 bits) and interval (14 bits).
        let rate = u32::from(u16_at(d, 22).unwrap_or(0) & 0x3fff);
        for i in 0..usize::from(count) {
            let r = &d[HDR + i * REC..HDR + (i + 1) * REC];
            let mut a = Acc {
                src4: <[u8; 4]>::try_from(&r[0..4]).ok(),
                dst4: <[u8; 4]>::try_from(&r[4..8]).ok(),
                pkts: u64::from(u32_at(r, 16).unwrap_or(0)),
                octets: u64::from(u32_at(r, 20).unwrap_or(0)),
                start_up_ms: u32_at(r, 24),
                end_up_ms: u32_at(r, 28),
                sport: u16_at(r, 32).unwrap_or(0),
                dport: u16_at(r, 34).unwrap_or(0),
                tcp_flags: r[37],
                proto: r[38],
                tos: r[39],
                ..Acc::default()
            };
            a.has_reverse = false;
            if let Some(mut rec) = self.make_record(&a, &ctx, exporter, None) {
                self.scale(&mut rec, rate);
                out.push(rec);
            }
        }
        Ok(())
    }

    fn decode_v9(
        &mut self,
        exporter: IpAddr,
        now_ns: u64,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        const HDR: usize = 20;
        if d.len() < HDR {
            return Err(DecodeError::TooShort { len: d.len() });
        }
        self.stats.v9_datagrams += 1;
        let ctx = MsgCtx {
            export_ns: u64::from(u32_at(d, 8).unwrap_or(0)) * 1_000_000_000,
            uptime_ms: u32_at(d, 4),
        };
        let key = DomainKey {
            exporter,
            domain: u32_at(d, 16).unwrap_or(0),
            version: 9,
            session: self.session,
        };
        self.decode_sets(key, ctx, now_ns, &d[HDR..], out);
        Ok(())
    }

    fn decode_ipfix(
        &mut self,
        exporter: IpAddr,
        now_ns: u64,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), DecodeError> {
        const HDR: usize = 16;
        if d.len() < HDR {
            return Err(DecodeError::TooShort { len: d.len() });
        }
        let claimed = u16_at(d, 2).unwrap_or(0);
        if usize::from(claimed) < HDR || usize::from(claimed) > d.len() {
            return Err(DecodeError::BadMessageLength {
                claimed,
                len: d.len(),
            });
        }
        self.stats.ipfix_messages += 1;
        let ctx = MsgCtx {
            export_ns: u64::from(u32_at(d, 4).unwrap_or(0)) * 1_000_000_000,
            uptime_ms: None,
        };
        let key = DomainKey {
            exporter,
            domain: u32_at(d, 12).unwrap_or(0),
            version: 10,
            session: self.session,
        };
        self.decode_sets(key, ctx, now_ns, &d[HDR..usize::from(claimed)], out);
        Ok(())
    }

    /// Walks the sets (v9 FlowSets) of one message.
    fn decode_sets(
        &mut self,
        key: DomainKey,
        ctx: MsgCtx,
        now_ns: u64,
        mut body: &[u8],
        out: &mut Vec<FlowRecord>,
    ) {
        let v9 = key.version == 9;
        while body.len() >= 4 {
            let set_id = u16_at(body, 0).unwrap_or(0);
            let set_len = usize::from(u16_at(body, 2).unwrap_or(0));
            if set_len < 4 || set_len > body.len() {
                // A zero or short length would loop forever; one past the end
                // is a cut datagram. Either way the rest is unusable.
                self.stats.malformed_sets += 1;
                return;
            }
            let set = &body[4..set_len];
            body = &body[set_len..];
            match (v9, set_id) {
                (true, 0) | (false, 2) => self.template_set(key, now_ns, set, false, v9, out),
                (true, 1) | (false, 3) => self.template_set(key, now_ns, set, true, v9, out),
                (_, id) if id >= 256 => self.data_set(key, ctx, now_ns, id, set, out, true),
                // Reserved set ids: skip.
                _ => {}
            }
        }
        // Fewer than 4 bytes left: padding (v9 allows it), nothing to count.
    }

    fn template_set(
        &mut self,
        key: DomainKey,
        now_ns: u64,
        mut s: &[u8],
        options: bool,
        v9: bool,
        out: &mut Vec<FlowRecord>,
    ) {
        loop {
            // v9 pads template FlowSets to 4 bytes; IPFIX pads with zeros.
            if s.len() < 4 {
                return;
            }
            let tid = u16_at(s, 0).unwrap_or(0);
            let (field_count, scope_count, mut off) = if !options {
                (usize::from(u16_at(s, 2).unwrap_or(0)), 0, 4)
            } else if v9 {
                // v9 options template: scope and option lengths in bytes.
                let Some(opt_len) = u16_at(s, 4) else {
                    self.stats.templates_malformed += 1;
                    return;
                };
                let scope_len = usize::from(u16_at(s, 2).unwrap_or(0));
                let opt_len = usize::from(opt_len);
                if scope_len % 4 != 0 || opt_len % 4 != 0 {
                    self.stats.templates_malformed += 1;
                    return;
                }
                ((scope_len + opt_len) / 4, scope_len / 4, 6)
            } else {
                let fc = usize::from(u16_at(s, 2).unwrap_or(0));
                if fc == 0 {
                    (0, 0, 4)
                } else {
                    let Some(sc) = u16_at(s, 4) else {
                        self.stats.templates_malformed += 1;
                        return;
                    };
                    (fc, usize::from(sc), 6)
                }
            };
            if tid == 0 && field_count == 0 {
                // Padding at the end of the set.
                return;
            }
            if !v9 && field_count == 0 {
                // RFC 7011 8.1: a withdrawal; the set id as template id withdraws all.
                self.withdraw(key, tid, options);
                s = &s[off.min(s.len())..];
                continue;
            }
            if tid < 256
                || field_count == 0
                || scope_count > field_count
                || (options && !v9 && scope_count == 0)
            {
                self.stats.templates_malformed += 1;
                return;
            }
            let mut fields = Vec::with_capacity(field_count.min(s.len() / 4));
            let mut min_len = 0usize;
            let mut bad = false;
            for _ in 0..field_count {
                let (Some(id), Some(len)) = (u16_at(s, off), u16_at(s, off + 2)) else {
                    bad = true;
                    break;
                };
                off += 4;
                let mut spec = FieldSpec { id, len, pen: 0 };
                if !v9 && id & 0x8000 != 0 {
                    let Some(pen) = u32_at(s, off) else {
                        bad = true;
                        break;
                    };
                    off += 4;
                    spec.id = id & 0x7fff;
                    spec.pen = pen;
                }
                // Zero-length fields are legal (Cisco sends a zero-length
                // System scope); a template of nothing but them is refused below,
                // since its records would take no room and never end.
                if v9 && len == ie::VARLEN {
                    bad = true;
                    break;
                }
                min_len += if len == ie::VARLEN {
                    1
                } else {
                    usize::from(len)
                };
                fields.push(spec);
            }
            if bad || min_len == 0 || min_len > 65_535 {
                self.stats.templates_malformed += 1;
                return;
            }
            s = &s[off..];
            self.add_template(
                key,
                tid,
                Template {
                    fields,
                    options,
                    min_len,
                    refreshed_ns: now_ns,
                },
                out,
            );
        }
    }

    fn withdraw(&mut self, key: DomainKey, tid: u16, options: bool) {
        let Some(d) = self.domains.get_mut(&key) else {
            return;
        };
        let n = d.templates.len();
        if tid == 2 || tid == 3 {
            d.templates.retain(|_, t| t.options != options);
        } else {
            d.templates.remove(&tid);
        }
        let removed = n - d.templates.len();
        self.template_count -= removed;
        self.stats.template_withdrawals += removed as u64;
    }

    fn add_template(&mut self, key: DomainKey, tid: u16, t: Template, out: &mut Vec<FlowRecord>) {
        let options = t.options;
        if !self.domains.contains_key(&key) && self.domains.len() >= self.cfg.max_domains {
            self.stats.templates_over_limit += 1;
            return;
        }
        let d = self.domains.entry(key).or_default();
        let is_new = !d.templates.contains_key(&tid);
        if is_new
            && (d.templates.len() >= self.cfg.max_templates_per_domain
                || self.template_count >= self.cfg.max_templates_total)
        {
            self.stats.templates_over_limit += 1;
            return;
        }
        d.templates.insert(tid, t);
        if is_new {
            self.template_count += 1;
        }
        if options {
            self.stats.options_templates_learned += 1;
        } else {
            self.stats.templates_learned += 1;
        }
        self.replay_held(key, tid, out);
    }

    /// Decodes the held data sets that waited for template `tid`.
    fn replay_held(&mut self, key: DomainKey, tid: u16, out: &mut Vec<FlowRecord>) {
        if !self
            .held
            .iter()
            .any(|h| h.key == key && h.template_id == tid)
        {
            return;
        }
        let mut keep = VecDeque::with_capacity(self.held.len());
        let mut replay = Vec::new();
        for h in self.held.drain(..) {
            if h.key == key && h.template_id == tid {
                replay.push(h);
            } else {
                keep.push_back(h);
            }
        }
        self.held = keep;
        for h in replay {
            self.held_bytes -= h.body.len();
            self.stats.held_sets_replayed += 1;
            self.data_set(h.key, h.ctx, h.held_ns, tid, &h.body, out, false);
        }
    }

    fn expire_held(&mut self, now_ns: u64) {
        while let Some(h) = self.held.front() {
            if now_ns.saturating_sub(h.held_ns) <= self.cfg.held_timeout_ns {
                break;
            }
            self.held_bytes -= h.body.len();
            self.held.pop_front();
            self.stats.held_sets_dropped += 1;
        }
    }

    fn hold(&mut self, key: DomainKey, ctx: MsgCtx, now_ns: u64, tid: u16, body: &[u8]) {
        if body.len() > self.cfg.max_held_bytes {
            self.stats.held_sets_dropped += 1;
            return;
        }
        while self.held.len() >= self.cfg.max_held_sets
            || self.held_bytes + body.len() > self.cfg.max_held_bytes
        {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= old.body.len();
            self.stats.held_sets_dropped += 1;
        }
        if self.cfg.max_held_sets == 0 {
            self.stats.held_sets_dropped += 1;
            return;
        }
        self.held_bytes += body.len();
        self.held.push_back(HeldSet {
            key,
            template_id: tid,
            ctx,
            body: body.to_vec(),
            held_ns: now_ns,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn data_set(
        &mut self,
        key: DomainKey,
        ctx: MsgCtx,
        now_ns: u64,
        tid: u16,
        s: &[u8],
        out: &mut Vec<FlowRecord>,
        may_hold: bool,
    ) {
        let timeout = self.cfg.template_timeout_ns;
        let mut expired = false;
        let Some(domain) = self.domains.get_mut(&key) else {
            if may_hold {
                self.stats.unknown_template_sets += 1;
                self.hold(key, ctx, now_ns, tid, s);
            }
            return;
        };
        let found = match domain.templates.get(&tid) {
            Some(t) if now_ns.saturating_sub(t.refreshed_ns) > timeout => {
                expired = true;
                None
            }
            other => other.cloned(),
        };
        if expired {
            domain.templates.remove(&tid);
            self.template_count -= 1;
            self.stats.templates_expired += 1;
        }
        let Some(t) = found else {
            if may_hold {
                self.stats.unknown_template_sets += 1;
                self.hold(key, ctx, now_ns, tid, s);
            }
            return;
        };
        let system_init_ms = domain.system_init_ms;
        let domain_rate = domain.sampling_interval;
        let mut off = 0usize;
        while s.len() - off >= t.min_len {
            let mut a = Acc::default();
            let mut ok = true;
            for f in &t.fields {
                let len = if f.len == ie::VARLEN {
                    let Some(&l1) = s.get(off) else {
                        ok = false;
                        break;
                    };
                    off += 1;
                    if l1 < 255 {
                        usize::from(l1)
                    } else {
                        let Some(l2) = u16_at(s, off) else {
                            ok = false;
                            break;
                        };
                        off += 2;
                        usize::from(l2)
                    }
                } else {
                    usize::from(f.len)
                };
                let Some(v) = s.get(off..off + len) else {
                    ok = false;
                    break;
                };
                off += len;
                let mapped = match f.pen {
                    0 => a.set(f.id, false, v),
                    ie::REVERSE_PEN => a.set(f.id, true, v),
                    _ => {
                        self.stats.enterprise_fields_skipped += 1;
                        true
                    }
                };
                if !mapped {
                    self.stats.fields_unmapped += 1;
                }
            }
            if !ok {
                self.stats.malformed_records += 1;
                return;
            }
            if t.options {
                self.stats.options_records += 1;
                if let Some(d) = self.domains.get_mut(&key) {
                    if let Some(rate) = a.sampling() {
                        d.sampling_interval = rate;
                    }
                    if let Some(init) = a.system_init_ms {
                        d.system_init_ms = Some(init);
                    }
                }
                continue;
            }
            if let Some(mut rec) = self.make_record(&a, &ctx, key.exporter, system_init_ms) {
                self.scale(&mut rec, a.sampling().unwrap_or(domain_rate));
                out.push(rec);
            }
        }
    }

    /// Multiplies the counters by `rate` (1 in N) when it is above 1 and
    /// scaling is on.
    fn scale(&mut self, rec: &mut FlowRecord, rate: u32) {
        if rate <= 1 || !self.cfg.scale_sampling {
            return;
        }
        let n = u64::from(rate);
        for d in [&mut rec.src, &mut rec.dst] {
            d.pkts = d.pkts.saturating_mul(n);
            d.bytes = d.bytes.saturating_mul(n);
            d.appbytes = d.appbytes.saturating_mul(n);
        }
        rec.flags |= flag::SAMPLED;
        self.stats.scaled_records += 1;
    }

    fn make_record(
        &mut self,
        a: &Acc,
        ctx: &MsgCtx,
        exporter: IpAddr,
        system_init_ms: Option<u64>,
    ) -> Option<FlowRecord> {
        let mut rec = FlowRecord::default();
        if a.src4.is_some() || a.dst4.is_some() {
            rec.key.class = KeyClass::Ipv4 as u8;
            rec.key.src[..4].copy_from_slice(&a.src4.unwrap_or_default());
            rec.key.dst[..4].copy_from_slice(&a.dst4.unwrap_or_default());
        } else if a.src6.is_some() || a.dst6.is_some() {
            rec.key.class = KeyClass::Ipv6 as u8;
            rec.key.src = a.src6.unwrap_or_default();
            rec.key.dst = a.dst6.unwrap_or_default();
        } else {
            self.stats.records_without_address += 1;
            return None;
        }
        rec.key.proto = a.proto;
        let icmp = a.proto == 1 || a.proto == 58;
        if icmp {
            let tc = a
                .icmp_type_code
                .or_else(|| {
                    a.icmp_type
                        .map(|t| u16::from(t) << 8 | u16::from(a.icmp_code.unwrap_or(0)))
                })
                .unwrap_or(a.dport);
            rec.key.sport = tc;
            rec.key.dport = 0;
        } else {
            rec.key.sport = a.sport;
            rec.key.dport = a.dport;
        }
        let resolve = |abs: Option<u64>, up: Option<u32>, delta_us: Option<u64>| -> Option<u64> {
            if abs.is_some() {
                return abs;
            }
            if let Some(t) = up {
                if let Some(u) = ctx.uptime_ms {
                    return Some(uptime_to_ns(ctx.export_ns, u, t));
                }
                if let Some(init) = system_init_ms {
                    return Some(init.saturating_add(u64::from(t)).saturating_mul(1_000_000));
                }
            }
            delta_us.map(|d| ctx.export_ns.saturating_sub(d.saturating_mul(1000)))
        };
        let start = resolve(a.start_ns, a.start_up_ms, a.start_delta_us);
        let end = resolve(a.end_ns, a.end_up_ms, a.end_delta_us);
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (s.min(e), s.max(e)),
            (Some(s), None) => (s, s),
            (None, Some(e)) => (e, e),
            (None, None) => (ctx.export_ns, ctx.export_ns),
        };
        rec.stime_ns = start;
        rec.ltime_ns = end;
        rec.src = DirStats {
            pkts: a.pkts,
            bytes: a.octets,
            tos: a.tos,
            ttl: a.ttl,
            ..DirStats::default()
        };
        if a.pkts > 0 || a.octets > 0 {
            rec.src.stime_ns = start;
            rec.src.ltime_ns = end;
        }
        if a.has_reverse {
            rec.dst = DirStats {
                pkts: a.rpkts,
                bytes: a.roctets,
                tos: a.rtos,
                ttl: a.rttl,
                ..DirStats::default()
            };
            if a.rpkts > 0 || a.roctets > 0 {
                rec.dst.stime_ns = start;
                rec.dst.ltime_ns = end;
                self.stats.biflow_records += 1;
            }
        }
        if a.proto == 6 {
            rec.tcp = Some(TcpPerf {
                state: tcp_state(a.tcp_flags, a.rtcp_flags),
                src_flags: a.tcp_flags,
                dst_flags: a.rtcp_flags,
                ..TcpPerf::default()
            });
        }
        rec.flags = flag::NETFLOW | flag::FIRST;
        if let (Some(s), Some(d)) = (a.smac, a.dmac) {
            rec.smac = s;
            rec.dmac = d;
            rec.flags |= flag::HAS_MAC;
            rec.encaps |= encaps::ETHER;
        } else if let Some(s) = a.smac.or(a.dmac) {
            if a.smac.is_some() {
                rec.smac = s;
            } else {
                rec.dmac = s;
            }
            rec.flags |= flag::HAS_MAC;
            rec.encaps |= encaps::ETHER;
        }
        if let Some(v) = a.vlan.filter(|&v| v != 0) {
            rec.svlan = v;
            rec.flags |= flag::HAS_SVLAN;
            rec.encaps |= encaps::VLAN;
        }
        if let Some(v) = a.post_vlan.filter(|&v| v != 0) {
            rec.dvlan = v;
            rec.flags |= flag::HAS_DVLAN;
            rec.encaps |= encaps::VLAN;
        }
        if let Some(l) = a.mpls_label {
            rec.smpls = l;
            rec.flags |= flag::HAS_SMPLS;
            rec.encaps |= encaps::MPLS;
        }
        rec.cause = match a.end_reason {
            Some(1) => Cause::Timeout,
            Some(2) => Cause::Status,
            Some(3) => Cause::Close,
            Some(4 | 5) => Cause::Stop,
            _ => match rec.tcp {
                Some(t) if t.state & tcpstate::CLOSED != 0 => Cause::Close,
                _ => Cause::Timeout,
            },
        };
        rec.srcid = exporter_srcid(exporter);
        self.seq += 1;
        rec.seq = self.seq;
        self.stats.records += 1;
        Some(rec)
    }
}

/// The exporter address and UDP payload of a parsed frame, if it is a UDP
/// datagram over IPv4/IPv6 with its transport header captured.
pub fn udp_payload<'a>(data: &'a [u8], info: &PacketInfo) -> Option<(IpAddr, &'a [u8])> {
    if !info.is_ip() || !info.has_l4 || info.proto != 17 || info.frag.is_fragment {
        return None;
    }
    let off = usize::try_from(info.payload_off).ok()?;
    let len = usize::try_from(info.payload_caplen).ok()?;
    let payload = data.get(off..off.checked_add(len)?)?;
    let exporter = match info.net {
        Net::Ipv4 => IpAddr::from(<[u8; 4]>::try_from(&info.src_ip[..4]).ok()?),
        _ => IpAddr::from(info.src_ip),
    };
    Some((exporter, payload))
}

/// What [`decode_capture`] met besides records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    pub packets: u64,
    /// UDP datagrams handed to the collector.
    pub udp_datagrams: u64,
    /// Frames that were not UDP (or were fragments), skipped.
    pub not_udp: u64,
    /// UDP datagrams the collector refused whole (see [`CollectorStats`]).
    pub refused_datagrams: u64,
}

/// Errors of [`decode_capture`]: the capture, or the record consumer.
#[derive(Debug, thiserror::Error)]
pub enum CaptureDecodeError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Consumer(E),
}

/// Reads export datagrams from capture files (merged in time order) and
/// hands each decoded record to `on_record`. Template and held-set timeouts
/// run on the capture's clock.
pub fn decode_capture<E: std::error::Error + 'static>(
    paths: &[std::path::PathBuf],
    collector: &mut Collector,
    mut on_record: impl FnMut(&FlowRecord) -> Result<(), E>,
) -> Result<CaptureSummary, CaptureDecodeError<E>> {
    let mut reader = MergedReader::open(paths)?;
    let mut info = PacketInfo::default();
    let mut recs = Vec::with_capacity(64);
    let mut sum = CaptureSummary::default();
    while let Some(pkt) = reader.next_packet() {
        sum.packets += 1;
        crate::packet::parse(pkt.link, pkt.data, pkt.wire_len, pkt.ts_ns, &mut info);
        let Some((exporter, payload)) = udp_payload(pkt.data, &info) else {
            sum.not_udp += 1;
            continue;
        };
        sum.udp_datagrams += 1;
        recs.clear();
        if collector
            .decode(exporter, pkt.ts_ns, payload, &mut recs)
            .is_err()
        {
            sum.refused_datagrams += 1;
        }
        for r in &recs {
            on_record(r).map_err(CaptureDecodeError::Consumer)?;
        }
    }
    if let Some(w) = reader.take_warnings().into_iter().next() {
        return Err(CaptureDecodeError::Capture(w));
    }
    Ok(sum)
}

#[cfg(test)]
mod tests;
