//! Errors of the capture-file readers.

use std::io;

/// What went wrong reading a capture file. Every variant names the file and,
/// where it applies, the byte offset (in the uncompressed capture stream) of the
/// header or record at fault.
///
/// Two families: [`CaptureError::Open`], [`CaptureError::Unusable`] (and a
/// [`CaptureError::Read`] or [`CaptureError::Truncated`] during `open`) mean the
/// file as a whole cannot be read. Once packets are flowing, any error means the
/// rest of the file is damaged: the reader reports it once and then ends; the
/// packets read before it are good.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{file}: cannot open: {source}")]
    Open {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: offset {offset}: read error: {source}")]
    Read {
        file: String,
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("{file}: offset {offset}: {reason}; not a capture file ocellus can read (pcap, pcapng, or either gzip-compressed)")]
    Unusable {
        file: String,
        offset: u64,
        reason: String,
    },
    #[error("{file}: offset {offset}: {reason}; file is corrupt")]
    Corrupt {
        file: String,
        offset: u64,
        reason: String,
    },
    #[error("{file}: offset {offset}: file ends inside a {what} ({got} of {needed} bytes); it was cut short")]
    Truncated {
        file: String,
        offset: u64,
        what: &'static str,
        needed: u64,
        got: u64,
    },
}

impl CaptureError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            CaptureError::Open { file, .. }
            | CaptureError::Read { file, .. }
            | CaptureError::Unusable { file, .. }
            | CaptureError::Corrupt { file, .. }
            | CaptureError::Truncated { file, .. } => file,
        }
    }

    /// Byte offset in the (uncompressed) capture stream, when known.
    pub fn offset(&self) -> Option<u64> {
        match self {
            CaptureError::Open { .. } => None,
            CaptureError::Read { offset, .. }
            | CaptureError::Unusable { offset, .. }
            | CaptureError::Corrupt { offset, .. }
            | CaptureError::Truncated { offset, .. } => Some(*offset),
        }
    }
}
