//! The parser proper. See the module docs in `mod.rs`.
use super::*;

/// Parses one frame. `data` is the captured bytes, `wire_len` the frame's length
/// on the wire, `ts_ns` its timestamp. Always returns; problems are reported in
/// `out.malformed`.
pub fn parse(link: LinkType, data: &[u8], wire_len: u32, ts_ns: u64, out: &mut PacketInfo) {
    *out = PacketInfo::default();
    out.ts_ns = ts_ns;
    out.wire_len = wire_len;
    out.cap_len = data.len() as u32;
    let _ = link;
    out.malformed = Malformed::UnknownLinkType;
}
