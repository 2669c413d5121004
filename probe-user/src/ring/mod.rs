//! Record files, ring directories and streams.
//!
//! Where records go ([`RecordSink`]) and where they come from
//! ([`RecordSource`]):
//! - a single file (`-w flows.ocr`): a file header, then records appended
//!   through a buffer; a killed writer leaves every complete record readable
//!   and readers stop cleanly at a torn tail;
//! - a stream (`-w -`, stdin): the same bytes on any `Write` / `Read`;
//! - a ring directory (`-w dir/`): fixed-size, preallocated segment files
//!   mapped with memmap2; the writer publishes a commit offset after each
//!   record, so readers (in this or another process) never see half a record,
//!   and retention removes the oldest segments.
//!
//! The byte layout of all three is in FORMAT.md.

mod segment;
mod stream;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::record::codec::{self, CodecError};
use crate::record::FlowRecord;

pub use segment::{
    read_ring_id, segment_file_name, RingPos, RingReader, RingWriter, SegmentReader,
    MIN_SEGMENT_BYTES, SEGMENT_HEADER_LEN,
};
pub use stream::{StreamReader, StreamSink};

/// Default ring segment size (64 MiB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Largest ring segment size accepted (1 TiB).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 40;
/// Default number of segments a ring keeps (1 GiB at the default size).
pub const DEFAULT_MAX_SEGMENTS: u32 = 16;
/// How often a following reader looks for new records.
pub const DEFAULT_POLL: Duration = Duration::from_millis(50);

/// Errors of record files, rings and streams. Each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: not an ocellus record file (magic {magic}); ocellus read takes records written by ocellus probe -w",
        path.display()
    )]
    NotOcellus { path: PathBuf, magic: String },
    #[error("{}: {source}", path.display())]
    BadHeader { path: PathBuf, source: CodecError },
    #[error("{}: corrupt record at byte {offset}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        source: CodecError,
    },
    #[error(
        "cannot preallocate {bytes} bytes for {}: {source}; free disk space, or lower the segment size or the number of segments kept",
        path.display()
    )]
    Preallocate {
        path: PathBuf,
        bytes: u64,
        source: io::Error,
    },
    #[error(
        "{}: not an ocellus ring directory (no seg-*.ocr files); ocellus read takes rings written by ocellus probe -w DIR/",
        path.display()
    )]
    NotRing { path: PathBuf },
    #[error("{}: another ocellus writer holds this ring directory", path.display())]
    Locked { path: PathBuf },
    #[error(
        "a record of {len} bytes does not fit in a {segment_bytes}-byte ring segment; raise the segment size"
    )]
    RecordTooLarge { len: usize, segment_bytes: u64 },
    #[error("{0}")]
    BadOption(String),
}

impl RingError {
    pub(crate) fn io(path: &Path, source: io::Error) -> RingError {
        RingError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The reader at the other end of a pipe went away (`ocellus read | head`);
    /// callers treat this as a normal end, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, RingError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Where records go.
pub trait RecordSink {
    /// Appends one record. For a ring it is visible to readers on return.
    fn write(&mut self, rec: &FlowRecord) -> Result<(), RingError>;
    /// Appends one record given as its sealed encoding (what
    /// [`codec::encode`](crate::record::codec::encode) writes).
    fn write_encoded(&mut self, rec: &[u8]) -> Result<(), RingError>;
    /// Hands buffered records to the operating system (files, streams) or
    /// schedules write-back of the mapped segment (rings).
    fn flush(&mut self) -> Result<(), RingError>;

    /// A ring: the end of the last record written (see [`RingPos`]).
    fn ring_position(&self) -> Option<RingPos> {
        None
    }

    /// A ring: its directory and id (see [`RingWriter::ring_id`]).
    fn ring_info(&self) -> Option<(PathBuf, u64)> {
        None
    }
}

/// What a reader met besides records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Records returned.
    pub records: u64,
    /// Bytes of an incomplete record at the end of a file or stream (a writer
    /// killed mid-record); they are not an error.
    pub torn_tail_bytes: u64,
    /// Ring segments removed by retention before this reader got to them.
    pub segments_lost: u64,
    /// Records of a kind this reader does not know, skipped.
    pub unknown_skipped: u64,
}

/// Where records come from.
pub trait RecordSource {
    /// Reads the next record into `rec` (reusing its buffers); `Ok(false)` at
    /// the end (never, while following, unless stopped).
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, RingError>;

    /// Like [`RecordSource::next_into`], but only records that `keep`
    /// accepts. `keep` must look at nothing but the core fields
    /// ([`codec::decode_core_into`]): readers of encoded records call it
    /// before decoding the extension blocks, and skip those of a record it
    /// rejects (most of the cost of a filtered read).
    fn next_kept_into(
        &mut self,
        rec: &mut FlowRecord,
        keep: &mut dyn crate::record::codec::Keep,
    ) -> Result<bool, RingError> {
        while self.next_into(rec)? {
            if keep.key(rec) && keep.core(rec) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What the reader has met so far.
    fn stats(&self) -> SourceStats;

    /// The next record, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<FlowRecord>, RingError> {
        let mut rec = FlowRecord::default();
        Ok(self.next_into(&mut rec)?.then_some(rec))
    }
}

/// How `open_sink` writes.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Size of each ring segment file.
    pub segment_bytes: u64,
    /// Ring retention: keep at most this many segments (`None`: no limit).
    pub max_segments: Option<u32>,
    /// Ring retention: keep at most this many bytes of segments (`None`: no limit).
    pub max_bytes: Option<u64>,
    /// Single file: append to an existing ocellus file (after cutting a torn
    /// tail) instead of replacing it.
    pub append: bool,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_segments: Some(DEFAULT_MAX_SEGMENTS),
            max_bytes: None,
            append: false,
        }
    }
}

/// How `open_source_with` reads.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// Wait for new records at the end, like `tail -f` (files and rings).
    pub follow: bool,
    /// How often to look for new records while following (default 50 ms).
    pub poll: Option<Duration>,
    /// When set, a following reader returns the end (`Ok(false)`) at its next poll.
    pub stop: Option<Arc<AtomicBool>>,
}

impl SourceOptions {
    pub(crate) fn poll(&self) -> Duration {
        self.poll.unwrap_or(DEFAULT_POLL)
    }
    pub(crate) fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Whether `-w SPEC` names a ring directory: an existing directory, or a path
/// ending in '/'.
pub fn is_ring_spec(spec: &str) -> bool {
    spec.ends_with('/') || Path::new(spec).is_dir()
}

/// Opens `-w SPEC`: `-` is standard output, a directory (existing, or a path
/// ending in '/') is a ring, anything else a single file.
pub fn open_sink(spec: &str, opts: &SinkOptions) -> Result<Box<dyn RecordSink + Send>, RingError> {
    if spec.is_empty() {
        return Err(RingError::BadOption(
            "empty output path; use -w FILE, -w DIR/ or -w -".into(),
        ));
    }
    if spec == "-" {
        return Ok(Box::new(StreamSink::new(
            io::stdout(),
            PathBuf::from("<stdout>"),
        )?));
    }
    if is_ring_spec(spec) {
        return Ok(Box::new(RingWriter::open(Path::new(spec), opts)?));
    }
    Ok(Box::new(StreamSink::create_file(
        Path::new(spec),
        opts.append,
    )?))
}

/// Opens a record source: `-` is standard input, a directory is a ring, a file
/// is a record file (or a single ring segment). `follow` waits for more at the
/// end, like `tail -f`.
pub fn open_source(path: &Path, follow: bool) -> Result<Box<dyn RecordSource + Send>, RingError> {
    open_source_with(
        path,
        &SourceOptions {
            follow,
            ..SourceOptions::default()
        },
    )
}

/// `open_source` with all the options.
pub fn open_source_with(
    path: &Path,
    opts: &SourceOptions,
) -> Result<Box<dyn RecordSource + Send>, RingError> {
    if path.as_os_str() == "-" {
        // The end of a pipe is final: nothing to follow.
        let opts = SourceOptions {
            follow: false,
            ..opts.clone()
        };
        return Ok(Box::new(StreamReader::new(
            io::stdin(),
            PathBuf::from("<stdin>"),
            opts,
        )?));
    }
    let meta = std::fs::metadata(path).map_err(|e| RingError::io(path, e))?;
    if meta.is_dir() {
        return Ok(Box::new(RingReader::open(path, opts.clone())?));
    }
    let mut file = std::fs::File::open(path).map_err(|e| RingError::io(path, e))?;
    let mut prefix = [0u8; codec::HEADER_PREFIX_LEN];
    let n = read_up_to(&mut file, &mut prefix).map_err(|e| RingError::io(path, e))?;
    let (_, _, flags) = check_prefix(path, &prefix[..n])?;
    if flags & codec::file_flag::SEGMENT != 0 {
        return Ok(Box::new(SegmentReader::open(path, opts.clone())?));
    }
    use std::io::Seek;
    file.rewind().map_err(|e| RingError::io(path, e))?;
    Ok(Box::new(StreamReader::new(
        file,
        path.to_path_buf(),
        opts.clone(),
    )?))
}

/// Reads until `buf` is full or the end; returns the bytes read.
/// A single record file (not standard input, a ring directory or a ring
/// segment), opened for reading in pieces: the file, the offset where its
/// records start (after the checked file header), and its length now.
/// `None` for the inputs that are read only as a stream.
pub fn open_plain_file(path: &Path) -> Result<Option<(std::fs::File, u64, u64)>, RingError> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let meta = std::fs::metadata(path).map_err(|e| RingError::io(path, e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut file = std::fs::File::open(path).map_err(|e| RingError::io(path, e))?;
    let mut prefix = [0u8; codec::HEADER_PREFIX_LEN];
    let n = read_up_to(&mut file, &mut prefix).map_err(|e| RingError::io(path, e))?;
    let (_, _, flags) = check_prefix(path, &prefix[..n])?;
    if flags & codec::file_flag::SEGMENT != 0 {
        return Ok(None);
    }
    use std::io::Seek;
    file.rewind().map_err(|e| RingError::io(path, e))?;
    // The stream reader checks the whole header, with the errors it gives.
    let reader = StreamReader::new(file, path.to_path_buf(), SourceOptions::default())?;
    let start = reader.offset();
    let file = reader.into_source();
    let len = file.metadata().map_err(|e| RingError::io(path, e))?.len();
    Ok(Some((file, start, len)))
}

pub(crate) fn read_up_to(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Checks the header prefix, turning a foreign file into the error users see.
pub(crate) fn check_prefix(path: &Path, buf: &[u8]) -> Result<(u16, usize, u32), RingError> {
    codec::decode_header_prefix(buf).map_err(|e| match e {
        CodecError::BadMagic { .. } => RingError::NotOcellus {
            path: path.to_path_buf(),
            magic: buf.iter().take(4).map(|b| format!("{b:02x}")).collect(),
        },
        CodecError::Truncated { .. } if buf.is_empty() => RingError::NotOcellus {
            path: path.to_path_buf(),
            magic: "none: the file is empty".into(),
        },
        source => RingError::BadHeader {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Nanoseconds since the epoch, for file and segment headers.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
