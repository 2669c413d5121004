//! Ring directories: fixed-size, preallocated segment files mapped with memmap2.
//!
//! The writer appends each record into the mapped segment and then stores the
//! new end in the segment header's commit offset (Release); readers load it
//! (Acquire) and read only below it, so they never see half a record, in this
//! process or another. Segments are never reused in place: retention unlinks
//! the oldest file, and a reader that still maps it reads it to the end
//! undisturbed, then finds the generation numbers of the files that follow
//! and counts the ones that were removed before it got to them.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::{Mmap, MmapMut};

use super::{
    check_prefix, now_ns, RecordSink, RecordSource, RingError, SinkOptions, SourceOptions,
    SourceStats, MAX_SEGMENT_BYTES,
};
use crate::record::codec::{self, file_flag, CodecError};
use crate::record::FlowRecord;

/// Bytes of a segment header; records start here.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Smallest segment size accepted.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

// Segment header field offsets (see FORMAT.md).
const OFF_GENERATION: usize = 24;
const OFF_SEGMENT_BYTES: usize = 32;
const OFF_COMMIT: usize = 40;
const OFF_STATE: usize = 48;
const OFF_CRC: usize = 52;
/// The header CRC covers the fields that never change after creation.
const CRC_COVERS: usize = OFF_COMMIT;

/// `state` bit: the writer has moved on (or a later writer found this segment
/// unfinished); no record will be added.
const STATE_SEALED: u32 = 1 << 0;

const LOCK_FILE: &str = "ring.lock";
/// Names the ring: 16 hex digits written once by the first writer, so that
/// a position (generation, offset) can be told apart from one of another
/// ring that happens to use the same generation numbers.
const ID_FILE: &str = "ring.id";

/// A place in a ring: the end of a record (or the start of a segment's
/// records) in the segment of that generation. Positions order records as
/// the writer wrote them; a reader can resume just after one
/// ([`RingReader::open_after`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RingPos {
    pub generation: u64,
    pub offset: u64,
}

/// The id of the ring in `dir` (see [`RingWriter::ring_id`]); `None` when the
/// ring has none yet or it cannot be read.
pub fn read_ring_id(dir: &Path) -> Option<u64> {
    let text = fs::read_to_string(dir.join(ID_FILE)).ok()?;
    u64::from_str_radix(text.trim(), 16)
        .ok()
        .filter(|&v| v != 0)
}

/// Reads the ring id, creating it when absent (writer side, under the lock).
fn ensure_ring_id(dir: &Path) -> Result<u64, RingError> {
    if let Some(id) = read_ring_id(dir) {
        return Ok(id);
    }
    // Distinct enough: the time, the process and the directory's inode.
    let ino = fs::metadata(dir)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap_or(0);
    let id = (now_ns() ^ (u64::from(std::process::id()) << 32) ^ ino.rotate_left(17)).max(1);
    let path = dir.join(ID_FILE);
    let tmp = dir.join("ring.id.tmp");
    fs::write(&tmp, format!("{id:016x}\n")).map_err(|e| RingError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| RingError::io(&path, e))?;
    Ok(id)
}

/// The file name of the segment with generation `generation`.
pub fn segment_file_name(generation: u64) -> String {
    format!("seg-{generation:06}.ocr")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".ocr")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first, as (generation, path).
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, RingError> {
    let mut segs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| RingError::io(dir, e))? {
        let entry = entry.map_err(|e| RingError::io(dir, e))?;
        let name = entry.file_name();
        if let Some(generation) = name.to_str().and_then(parse_segment_name) {
            segs.push((generation, entry.path()));
        }
    }
    segs.sort_unstable_by_key(|s| s.0);
    Ok(segs)
}

fn encode_segment_header(generation: u64, segment_bytes: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&codec::MAGIC);
    h[8..10].copy_from_slice(&codec::FORMAT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(SEGMENT_HEADER_LEN as u16).to_le_bytes());
    h[12..16].copy_from_slice(&file_flag::SEGMENT.to_le_bytes());
    h[16..24].copy_from_slice(&now_ns().to_le_bytes());
    h[OFF_GENERATION..OFF_GENERATION + 8].copy_from_slice(&generation.to_le_bytes());
    h[OFF_SEGMENT_BYTES..OFF_SEGMENT_BYTES + 8].copy_from_slice(&segment_bytes.to_le_bytes());
    h[OFF_COMMIT..OFF_COMMIT + 8].copy_from_slice(&(SEGMENT_HEADER_LEN as u64).to_le_bytes());
    let crc = codec::crc32c(&h[..CRC_COVERS]);
    h[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The immutable part of a segment header.
#[derive(Clone, Copy, Debug)]
struct SegmentHeader {
    header_len: usize,
    generation: u64,
}

/// Checks a segment header against the file it came from (`file_len`).
fn decode_segment_header(
    path: &Path,
    buf: &[u8],
    file_len: u64,
) -> Result<SegmentHeader, RingError> {
    let bad = |reason| RingError::BadHeader {
        path: path.to_path_buf(),
        source: CodecError::BadHeader { reason },
    };
    let (_, header_len, flags) = check_prefix(path, buf)?;
    if flags & file_flag::SEGMENT == 0 {
        return Err(bad(
            "not a ring segment (a record file in a ring directory?)",
        ));
    }
    if header_len < SEGMENT_HEADER_LEN || buf.len() < SEGMENT_HEADER_LEN {
        return Err(bad("segment header shorter than 64 bytes"));
    }
    let le64 = |off: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[off..off + 8]);
        u64::from_le_bytes(a)
    };
    let stored = u32::from_le_bytes([
        buf[OFF_CRC],
        buf[OFF_CRC + 1],
        buf[OFF_CRC + 2],
        buf[OFF_CRC + 3],
    ]);
    let computed = codec::crc32c(&buf[..CRC_COVERS]);
    if stored != computed {
        return Err(RingError::BadHeader {
            path: path.to_path_buf(),
            source: CodecError::BadCheck { stored, computed },
        });
    }
    let segment_bytes = le64(OFF_SEGMENT_BYTES);
    if segment_bytes != file_len || segment_bytes < header_len as u64 {
        return Err(bad(
            "segment size in the header does not match the file size",
        ));
    }
    Ok(SegmentHeader {
        header_len,
        generation: le64(OFF_GENERATION),
    })
}

/// Reserves real blocks for the whole file, so that stores into the mapping
/// cannot hit a hole on a full disk (SIGBUS); a full disk is an error here.
fn preallocate(file: &File, path: &Path, bytes: u64) -> Result<(), RingError> {
    let err = |source| RingError::Preallocate {
        path: path.to_path_buf(),
        bytes,
        source,
    };
    let len = libc::off_t::try_from(bytes)
        .map_err(|_| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // Some filesystems (ext4) keep the blocks a failed fallocate got before it
    // ran out, so asking for more than is free would fill the disk for every
    // other program until we remove the file. Check first.
    if free_bytes(file).is_some_and(|free| free < bytes) {
        return Err(err(io::Error::from_raw_os_error(libc::ENOSPC)));
    }
    // SAFETY: plain syscall on an open descriptor we own; no memory is passed.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        libc::EINVAL | libc::EOPNOTSUPP => {
            // A filesystem without fallocate: write zeros so every block exists.
            file.set_len(0).map_err(err)?;
            let zeros = vec![0u8; 1 << 20];
            let mut left = bytes;
            let mut f = file;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                io::Write::write_all(&mut f, &zeros[..n]).map_err(err)?;
                left -= n as u64;
            }
            Ok(())
        }
        errno => Err(err(io::Error::from_raw_os_error(errno))),
    }
}

/// Bytes available to unprivileged writers on the filesystem holding `file`.
pub(crate) fn free_bytes(file: &File) -> Option<u64> {
    // SAFETY: `statvfs` is plain old data; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a pointer to a live, writable statvfs.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) };
    if rc != 0 {
        return None;
    }
    (st.f_bavail as u64).checked_mul(st.f_frsize as u64)
}

/// Atomics in the header of a mapped segment.
///
/// SAFETY (for callers of `commit`/`state`): `base` is the start of a live
/// mapping of at least `SEGMENT_HEADER_LEN` bytes; mappings are page aligned,
/// so the u64 at offset 40 and the u32 at offset 48 are naturally aligned.
/// Other processes touch these words only atomically.
unsafe fn commit_word<'a>(base: *const u8) -> &'a AtomicU64 {
    // SAFETY: see the function comment.
    unsafe { &*(base.add(OFF_COMMIT) as *const AtomicU64) }
}

unsafe fn state_word<'a>(base: *const u8) -> &'a AtomicU32 {
    // SAFETY: see `commit_word`.
    unsafe { &*(base.add(OFF_STATE) as *const AtomicU32) }
}

// ---------------------------------------------------------------------------
// Writer.

struct WriterSegment {
    map: MmapMut,
    path: PathBuf,
    generation: u64,
    /// Next write position; equal to the published commit offset between calls.
    pos: usize,
}

impl WriterSegment {
    fn commit(&self) -> &AtomicU64 {
        // SAFETY: `map` is a live mapping of a whole segment (>= MIN_SEGMENT_BYTES).
        unsafe { commit_word(self.map.as_ptr()) }
    }
    fn seal(&self) {
        // SAFETY: as in `commit`.
        unsafe { state_word(self.map.as_ptr()) }.fetch_or(STATE_SEALED, Ordering::Release);
    }
}

/// Writes records into a ring directory. One writer per directory (a lock
/// file enforces it); any number of readers.
pub struct RingWriter {
    dir: PathBuf,
    segment_bytes: u64,
    max_segments: Option<u32>,
    max_bytes: Option<u64>,
    /// Segment files present, oldest first: (generation, path, bytes).
    segments: VecDeque<(u64, PathBuf, u64)>,
    current: Option<WriterSegment>,
    next_generation: u64,
    scratch: Vec<u8>,
    /// See [`RingWriter::ring_id`].
    ring_id: u64,
    /// Holds the directory lock for the writer's life.
    _lock: File,
}

impl RingWriter {
    /// Opens (creating it if needed) the ring directory `dir`. Existing
    /// segments are kept and sealed; writing continues in a new segment whose
    /// generation follows the newest one.
    pub fn open(dir: &Path, opts: &SinkOptions) -> Result<RingWriter, RingError> {
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&opts.segment_bytes) {
            return Err(RingError::BadOption(format!(
                "segment size {} is out of range ({MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES} bytes)",
                opts.segment_bytes
            )));
        }
        if opts.max_segments == Some(0) {
            return Err(RingError::BadOption(
                "a ring must keep at least 1 segment".into(),
            ));
        }
        if opts.max_bytes.is_some_and(|b| b < opts.segment_bytes) {
            return Err(RingError::BadOption(format!(
                "the ring byte limit {} is smaller than one segment ({} bytes)",
                opts.max_bytes.unwrap_or(0),
                opts.segment_bytes
            )));
        }
        fs::create_dir_all(dir).map_err(|e| RingError::io(dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| RingError::io(&lock_path, e))?;
        // SAFETY: plain syscall on an open descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Err(RingError::Locked {
                    path: dir.to_path_buf(),
                });
            }
            return Err(RingError::io(&lock_path, e));
        }

        // Leftovers of a writer killed while creating a segment.
        for entry in fs::read_dir(dir).map_err(|e| RingError::io(dir, e))? {
            let entry = entry.map_err(|e| RingError::io(dir, e))?;
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".ocr.tmp"))
            {
                let p = entry.path();
                fs::remove_file(&p).map_err(|e| RingError::io(&p, e))?;
            }
        }

        let ring_id = ensure_ring_id(dir)?;
        let mut segments = VecDeque::new();
        let mut next_generation = 0;
        for (generation, path) in list_segments(dir)? {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| RingError::io(&path, e))?;
            let len = file.metadata().map_err(|e| RingError::io(&path, e))?.len();
            if len < SEGMENT_HEADER_LEN as u64 {
                return Err(RingError::BadHeader {
                    path,
                    source: CodecError::Truncated {
                        needed: SEGMENT_HEADER_LEN,
                        have: len as usize,
                    },
                });
            }
            // SAFETY: the file stays open and is never truncated while mapped
            // (only this locked writer changes segment files).
            let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| RingError::io(&path, e))?;
            let hdr = decode_segment_header(&path, &map[..SEGMENT_HEADER_LEN], len)?;
            if hdr.generation != generation {
                return Err(RingError::BadHeader {
                    path,
                    source: CodecError::BadHeader {
                        reason: "generation in the header does not match the file name",
                    },
                });
            }
            // A previous writer that died left its last segment open: seal it
            // so followers move on to ours.
            // SAFETY: `map` covers the whole header.
            unsafe { state_word(map.as_ptr()) }.fetch_or(STATE_SEALED, Ordering::Release);
            next_generation = generation + 1;
            segments.push_back((generation, path, len));
        }

        let mut w = RingWriter {
            dir: dir.to_path_buf(),
            segment_bytes: opts.segment_bytes,
            max_segments: opts.max_segments,
            max_bytes: opts.max_bytes,
            segments,
            current: None,
            next_generation,
            scratch: Vec::with_capacity(4096),
            ring_id,
            _lock: lock,
        };
        w.rotate()?;
        Ok(w)
    }

    /// The directory this writer fills.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Generation of the segment being written.
    pub fn generation(&self) -> Option<u64> {
        self.current.as_ref().map(|s| s.generation)
    }

    /// The end of the last record written (committed), or the start of the
    /// current segment before any.
    pub fn position(&self) -> Option<RingPos> {
        self.current.as_ref().map(|s| RingPos {
            generation: s.generation,
            offset: s.pos as u64,
        })
    }

    /// The ring's id (the `ring.id` file, made by the first writer and kept
    /// by later ones).
    pub fn ring_id(&self) -> u64 {
        self.ring_id
    }

    /// Removes the oldest segments until one more fits the retention limits.
    fn apply_retention(&mut self) -> Result<(), RingError> {
        loop {
            let count = self.segments.len() as u64;
            let bytes: u64 = self.segments.iter().map(|s| s.2).sum();
            let over_count = self.max_segments.is_some_and(|m| count + 1 > m as u64);
            let over_bytes = self
                .max_bytes
                .is_some_and(|m| bytes + self.segment_bytes > m);
            if !(over_count || over_bytes) {
                return Ok(());
            }
            let Some((_, path, _)) = self.segments.pop_front() else {
                return Ok(());
            };
            // Readers that map it keep reading it; the space comes back when they let go.
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(RingError::io(&path, e)),
            }
        }
    }

    /// Starts the next segment: retention, preallocate under a temporary
    /// name, write the header, rename into place, then seal the old one (so a
    /// reader that sees the seal always finds the successor).
    fn rotate(&mut self) -> Result<(), RingError> {
        self.apply_retention()?;
        let generation = self.next_generation;
        let path = self.dir.join(segment_file_name(generation));
        let tmp = path.with_extension("ocr.tmp");
        let made = (|| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| RingError::io(&tmp, e))?;
            preallocate(&file, &tmp, self.segment_bytes)?;
            // SAFETY: the file was just created by this writer, is preallocated
            // to its full size and is never truncated while mapped.
            let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| RingError::io(&tmp, e))?;
            map[..SEGMENT_HEADER_LEN]
                .copy_from_slice(&encode_segment_header(generation, self.segment_bytes));
            fs::rename(&tmp, &path).map_err(|e| RingError::io(&path, e))?;
            Ok::<_, RingError>(map)
        })();
        let map = match made {
            Ok(map) => map,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Some(old) = self.current.take() {
            old.seal();
            // Write-back of the finished segment; errors resurface on the next msync.
            let _ = old.map.flush_async();
        }
        self.next_generation += 1;
        self.segments
            .push_back((generation, path.clone(), self.segment_bytes));
        self.current = Some(WriterSegment {
            map,
            path,
            generation,
            pos: SEGMENT_HEADER_LEN,
        });
        Ok(())
    }
}

impl RecordSink for RingWriter {
    fn write(&mut self, rec: &FlowRecord) -> Result<(), RingError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        codec::encode(rec, &mut scratch);
        let r = self.write_encoded(&scratch);
        self.scratch = scratch;
        r
    }

    fn write_encoded(&mut self, rec: &[u8]) -> Result<(), RingError> {
        let len = rec.len();
        if len as u64 > self.segment_bytes - SEGMENT_HEADER_LEN as u64 {
            return Err(RingError::RecordTooLarge {
                len,
                segment_bytes: self.segment_bytes,
            });
        }
        let fits = self
            .current
            .as_ref()
            .is_some_and(|s| (s.pos + len) as u64 <= self.segment_bytes);
        if !fits {
            self.rotate()?;
        }
        let Some(seg) = self.current.as_mut() else {
            // rotate() either sets a segment or returns an error.
            return Err(RingError::BadOption("ring writer has no segment".into()));
        };
        // Write through a raw pointer: the header's atomic words share this
        // mapping, so no `&mut [u8]` over it may exist while they are in use.
        // SAFETY: `pos + len <= segment_bytes` (checked above, or a fresh
        // segment with room for any record that passed the size check); the
        // bytes at and above `pos` are not yet published, so no reader looks
        // at them.
        unsafe {
            std::ptr::copy_nonoverlapping(rec.as_ptr(), seg.map.as_mut_ptr().add(seg.pos), len);
        }
        seg.pos += len;
        seg.commit().store(seg.pos as u64, Ordering::Release);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RingError> {
        if let Some(seg) = &self.current {
            seg.map
                .flush_async()
                .map_err(|e| RingError::io(&seg.path, e))?;
        }
        Ok(())
    }

    fn ring_position(&self) -> Option<RingPos> {
        self.position()
    }

    fn ring_info(&self) -> Option<(PathBuf, u64)> {
        Some((self.dir.clone(), self.ring_id))
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        // A clean close: followers finish this segment and wait for the next writer.
        if let Some(seg) = &self.current {
            seg.seal();
            let _ = seg.map.flush_async();
        }
    }
}

// ---------------------------------------------------------------------------
// Readers.

struct ReaderSegment {
    map: Mmap,
    path: PathBuf,
    generation: u64,
    /// Read position (absolute offset in the file).
    pos: usize,
}

impl ReaderSegment {
    fn open(path: &Path) -> Result<ReaderSegment, RingError> {
        let file = File::open(path).map_err(|e| RingError::io(path, e))?;
        let len = file.metadata().map_err(|e| RingError::io(path, e))?.len();
        if len < SEGMENT_HEADER_LEN as u64 {
            return Err(RingError::BadHeader {
                path: path.to_path_buf(),
                source: CodecError::Truncated {
                    needed: SEGMENT_HEADER_LEN,
                    have: len as usize,
                },
            });
        }
        // SAFETY: segment files are created at full size and never truncated;
        // the writer only appends above the commit offset, which this reader
        // never reads (see `committed`).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| RingError::io(path, e))?;
        // SAFETY: the first 40 bytes never change after the segment is published.
        let head = unsafe { std::slice::from_raw_parts(map.as_ptr(), CRC_COVERS) };
        let mut buf = [0u8; SEGMENT_HEADER_LEN];
        buf[..CRC_COVERS].copy_from_slice(head);
        // The CRC word is immutable too.
        // SAFETY: offset 52..56 is within the mapping (len >= 64) and immutable.
        let crc = unsafe { std::slice::from_raw_parts(map.as_ptr().add(OFF_CRC), 4) };
        buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(crc);
        let hdr = decode_segment_header(path, &buf, len)?;
        Ok(ReaderSegment {
            map,
            path: path.to_path_buf(),
            generation: hdr.generation,
            pos: hdr.header_len,
        })
    }

    fn sealed(&self) -> bool {
        // SAFETY: `map` covers the whole header (checked in `open`).
        unsafe { state_word(self.map.as_ptr()) }.load(Ordering::Acquire) & STATE_SEALED != 0
    }

    /// The published end of the records, checked against the file.
    fn committed(&self) -> Result<usize, RingError> {
        // SAFETY: as in `sealed`.
        let c = unsafe { commit_word(self.map.as_ptr()) }.load(Ordering::Acquire);
        if c < self.pos as u64 || c > self.map.len() as u64 {
            return Err(RingError::Corrupt {
                path: self.path.clone(),
                offset: OFF_COMMIT as u64,
                source: CodecError::BadValue {
                    field: "segment commit offset",
                    value: c,
                },
            });
        }
        Ok(c as usize)
    }

    /// Decodes the next committed record into `rec`. `Ok(None)`: nothing more
    /// committed yet.
    fn next(
        &mut self,
        rec: &mut FlowRecord,
        stats: &mut SourceStats,
        keep: &mut dyn crate::record::codec::Keep,
    ) -> Result<Option<()>, RingError> {
        loop {
            let commit = self.committed()?;
            if self.pos >= commit {
                return Ok(None);
            }
            // SAFETY: [pos, commit) lies in the mapping (checked in
            // `committed`) and was published by the Release store that the
            // Acquire load observed; the writer never changes it again.
            let bytes = unsafe {
                std::slice::from_raw_parts(self.map.as_ptr().add(self.pos), commit - self.pos)
            };
            match codec::decode_kept_into(bytes, rec, keep) {
                Ok((n, kept)) => {
                    self.pos += n;
                    stats.records += 1;
                    if kept {
                        return Ok(Some(()));
                    }
                }
                Err(CodecError::UnknownKind { len, .. }) => {
                    self.pos += len;
                    stats.unknown_skipped += 1;
                }
                Err(source) => {
                    return Err(RingError::Corrupt {
                        path: self.path.clone(),
                        offset: self.pos as u64,
                        source,
                    })
                }
            }
        }
    }
}

/// Reads a ring directory from its oldest segment, in generation order. With
/// `follow` it waits for new records and segments, like `tail -f`; segments
/// removed by retention before the reader got to them are counted in
/// `SourceStats::segments_lost`.
pub struct RingReader {
    dir: PathBuf,
    opts: SourceOptions,
    current: Option<ReaderSegment>,
    /// Generation of the last segment finished.
    last_generation: Option<u64>,
    /// Where to start in the first segment opened (`open_after`).
    start: Option<RingPos>,
    /// The end of the last record returned.
    last_pos: Option<RingPos>,
    stats: SourceStats,
}

impl RingReader {
    pub fn open(dir: &Path, opts: SourceOptions) -> Result<RingReader, RingError> {
        let segs = list_segments(dir)?;
        if segs.is_empty() && !opts.follow {
            return Err(RingError::NotRing {
                path: dir.to_path_buf(),
            });
        }
        Ok(RingReader {
            dir: dir.to_path_buf(),
            opts,
            current: None,
            last_generation: None,
            start: None,
            last_pos: None,
            stats: SourceStats::default(),
        })
    }

    /// Opens the ring to read the records after `after` (a position a reader
    /// of this ring returned): the rest of that segment, then the newer ones.
    /// When that segment is gone (retention), reading starts at the oldest
    /// newer one and the segments missed count as lost. An `after` that is
    /// not the end of a record shows as a corrupt record, never as a crash.
    pub fn open_after(
        dir: &Path,
        opts: SourceOptions,
        after: RingPos,
    ) -> Result<RingReader, RingError> {
        let mut r = RingReader::open(dir, opts)?;
        r.start = Some(after);
        r.last_pos = Some(after);
        Ok(r)
    }

    /// The end of the last record returned (after `open_after`, the start
    /// position until a record is read).
    pub fn position(&self) -> Option<RingPos> {
        self.last_pos
    }

    /// Generation of the segment being read.
    pub fn generation(&self) -> Option<u64> {
        self.current.as_ref().map(|s| s.generation)
    }

    /// Opens the oldest segment after the last one finished; `false` if there
    /// is none yet.
    fn advance(&mut self) -> Result<bool, RingError> {
        loop {
            let segs = list_segments(&self.dir)?;
            let first = self.start.map(|s| s.generation);
            let next = segs.into_iter().find(|s| {
                self.last_generation.is_none_or(|l| s.0 > l) && first.is_none_or(|f| s.0 >= f)
            });
            let Some((generation, path)) = next else {
                return Ok(false);
            };
            match ReaderSegment::open(&path) {
                Ok(mut seg) => {
                    if let Some(last) = self.last_generation {
                        self.stats.segments_lost += generation - last - 1;
                    }
                    if let Some(start) = self.start.take() {
                        // The rest of the start segment and any after it are gone.
                        self.stats.segments_lost += generation - start.generation;
                        if start.generation == generation {
                            // Never before the records; past the commit
                            // offset shows as corrupt in `committed`.
                            seg.pos = seg
                                .pos
                                .max(usize::try_from(start.offset).unwrap_or(usize::MAX));
                        }
                    }
                    self.current = Some(seg);
                    return Ok(true);
                }
                // Removed by retention between the listing and the open: look again.
                Err(RingError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn newer_segment_exists(&self, generation: u64) -> Result<bool, RingError> {
        Ok(list_segments(&self.dir)?
            .last()
            .is_some_and(|s| s.0 > generation))
    }
}

impl RecordSource for RingReader {
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, RingError> {
        self.next_kept_into(rec, &mut |_: &FlowRecord| true)
    }

    fn next_kept_into(
        &mut self,
        rec: &mut FlowRecord,
        keep: &mut dyn crate::record::codec::Keep,
    ) -> Result<bool, RingError> {
        loop {
            if self.opts.stopped() {
                return Ok(false);
            }
            let Some(seg) = self.current.as_mut() else {
                if self.advance()? {
                    continue;
                }
                if !self.opts.follow {
                    return Ok(false);
                }
                std::thread::sleep(self.opts.poll());
                continue;
            };
            if seg.next(rec, &mut self.stats, keep)?.is_some() {
                self.last_pos = Some(RingPos {
                    generation: seg.generation,
                    offset: seg.pos as u64,
                });
                return Ok(true);
            }
            // Nothing committed beyond our position. The writer commits before
            // it seals, so after seeing the seal one more look finds the rest.
            let generation = seg.generation;
            let finished = if seg.sealed() {
                if seg.next(rec, &mut self.stats, keep)?.is_some() {
                    self.last_pos = Some(RingPos {
                        generation: seg.generation,
                        offset: seg.pos as u64,
                    });
                    return Ok(true);
                }
                true
            } else {
                // Unsealed with a newer segment: its writer died and no writer
                // has opened the ring since. Without one, it is the live end.
                !self.opts.follow && self.newer_segment_exists(generation)?
            };
            if finished {
                self.current = None;
                self.last_generation = Some(generation);
                continue;
            }
            if !self.opts.follow {
                return Ok(false);
            }
            std::thread::sleep(self.opts.poll());
        }
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }
}

/// Reads one ring segment file given by path (`ocellus read -r seg-000003.ocr`).
pub struct SegmentReader {
    seg: ReaderSegment,
    opts: SourceOptions,
    stats: SourceStats,
}

impl SegmentReader {
    pub fn open(path: &Path, opts: SourceOptions) -> Result<SegmentReader, RingError> {
        Ok(SegmentReader {
            seg: ReaderSegment::open(path)?,
            opts,
            stats: SourceStats::default(),
        })
    }
}

impl RecordSource for SegmentReader {
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, RingError> {
        self.next_kept_into(rec, &mut |_: &FlowRecord| true)
    }

    fn next_kept_into(
        &mut self,
        rec: &mut FlowRecord,
        keep: &mut dyn crate::record::codec::Keep,
    ) -> Result<bool, RingError> {
        loop {
            if self.seg.next(rec, &mut self.stats, keep)?.is_some() {
                return Ok(true);
            }
            if self.seg.sealed() {
                return Ok(self.seg.next(rec, &mut self.stats, keep)?.is_some());
            }
            if !self.opts.follow || self.opts.stopped() {
                return Ok(false);
            }
            std::thread::sleep(self.opts.poll());
        }
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }
}
