//! Packet sources. Every source, file or live, yields [`RawPacket`]s that go
//! through the same parser and flow engine.

mod error;
pub mod merge;
pub mod pcap;
mod source;

pub use error::CaptureError;
pub use merge::MergedReader;
pub use pcap::{FileReader, Format, MAX_CAPLEN};

pub use crate::packet::LinkType;

/// One captured frame, borrowed from the source's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Frame length on the wire (pcap orig_len).
    pub wire_len: u32,
    pub link: LinkType,
    /// Captured bytes (caplen of them).
    pub data: &'a [u8],
}

/// A source of packets in capture order. A damaged file ends its stream with
/// one `Err`; the caller keeps what came before.
pub trait PacketSource {
    type Error: std::error::Error + Send + Sync + 'static;
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Self::Error>;
}
