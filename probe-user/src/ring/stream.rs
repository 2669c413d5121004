//! Single record files and streams: a file header, then records back to back.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{
    check_prefix, now_ns, RecordSink, RecordSource, RingError, SourceOptions, SourceStats,
};
use crate::record::codec::{self, CodecError};
use crate::record::FlowRecord;

/// Bytes buffered before a write to the file or stream. Records are never
/// split across two writes (unless the OS writes short), so a killed writer
/// leaves whole records plus at most one torn one.
const WRITE_BUFFER: usize = 256 << 10;
/// Initial read buffer; it grows up to the largest record.
const READ_BUFFER: usize = 256 << 10;

/// Writes a file header and then records to any `Write`: a file (`-w x.ocr`)
/// or standard output (`-w -`).
pub struct StreamSink<W: Write> {
    out: BufWriter<W>,
    path: PathBuf,
    scratch: Vec<u8>,
}

impl<W: Write> StreamSink<W> {
    /// Starts a stream on `out`, writing the file header now. `path` names the
    /// destination in errors.
    pub fn new(out: W, path: PathBuf) -> Result<StreamSink<W>, RingError> {
        let mut sink = StreamSink::without_header(out, path);
        codec::encode_file_header(now_ns(), 0, &mut sink.scratch);
        sink.out
            .write_all(&sink.scratch)
            .map_err(|e| RingError::io(&sink.path, e))?;
        Ok(sink)
    }

    fn without_header(out: W, path: PathBuf) -> StreamSink<W> {
        StreamSink {
            out: BufWriter::with_capacity(WRITE_BUFFER, out),
            path,
            scratch: Vec::with_capacity(4096),
        }
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(self) -> Result<W, RingError> {
        let path = self.path;
        self.out
            .into_inner()
            .map_err(|e| RingError::io(&path, e.into_error()))
    }
}

impl StreamSink<File> {
    /// Creates (or replaces) the record file `path`; with `append`, an
    /// existing ocellus file is kept and records go after its last complete
    /// one (a torn tail is cut off first). Refuses to overwrite a file that is
    /// not an ocellus file, so `-w capture.pcap` cannot destroy a capture.
    pub fn create_file(path: &Path, append: bool) -> Result<StreamSink<File>, RingError> {
        let io_err = |e| RingError::io(path, e);
        match File::open(path) {
            Ok(mut f) => {
                let mut prefix = [0u8; codec::HEADER_PREFIX_LEN];
                let n = super::read_up_to(&mut f, &mut prefix).map_err(io_err)?;
                if n > 0 {
                    check_prefix(path, &prefix[..n])?;
                    if append {
                        return StreamSink::append_file(path);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let f = File::create(path).map_err(io_err)?;
        StreamSink::new(f, path.to_path_buf())
    }

    fn append_file(path: &Path) -> Result<StreamSink<File>, RingError> {
        let io_err = |e| RingError::io(path, e);
        // Find the end of the last complete record; corruption in the middle
        // is an error here too, so appending never buries it.
        let f = File::open(path).map_err(io_err)?;
        let mut reader = StreamReader::new(f, path.to_path_buf(), SourceOptions::default())?;
        let mut rec = FlowRecord::default();
        while reader.next_into(&mut rec)? {}
        let end = reader.offset();
        let mut f = OpenOptions::new().write(true).open(path).map_err(io_err)?;
        f.set_len(end).map_err(io_err)?;
        f.seek(SeekFrom::Start(end)).map_err(io_err)?;
        Ok(StreamSink::without_header(f, path.to_path_buf()))
    }
}

impl<W: Write> RecordSink for StreamSink<W> {
    fn write(&mut self, rec: &FlowRecord) -> Result<(), RingError> {
        self.scratch.clear();
        codec::encode(rec, &mut self.scratch);
        self.out
            .write_all(&self.scratch)
            .map_err(|e| RingError::io(&self.path, e))
    }

    fn write_encoded(&mut self, rec: &[u8]) -> Result<(), RingError> {
        self.out
            .write_all(rec)
            .map_err(|e| RingError::io(&self.path, e))
    }

    fn flush(&mut self) -> Result<(), RingError> {
        self.out.flush().map_err(|e| RingError::io(&self.path, e))
    }
}

/// Reads a record file or stream: checks the header, then returns records
/// until the end. An incomplete record at the end (a writer killed
/// mid-record) ends the stream cleanly and is reported in
/// `SourceStats::torn_tail_bytes`; a bad record before the end is an error.
pub struct StreamReader<R: Read> {
    src: R,
    path: PathBuf,
    opts: SourceOptions,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    stats: SourceStats,
}

impl<R: Read> StreamReader<R> {
    /// Reads and checks the file header. `path` names the source in errors.
    pub fn new(src: R, path: PathBuf, opts: SourceOptions) -> Result<StreamReader<R>, RingError> {
        let mut r = StreamReader {
            src,
            path,
            opts,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            offset: 0,
            stats: SourceStats::default(),
        };
        r.fill_to(codec::HEADER_PREFIX_LEN)?;
        let (_, header_len, flags) = check_prefix(&r.path, &r.buf[..r.end])?;
        if flags & codec::file_flag::SEGMENT != 0 {
            return Err(RingError::BadHeader {
                path: r.path.clone(),
                source: CodecError::BadHeader {
                    reason: "a ring segment cannot be read as a stream; open it by path or open its directory",
                },
            });
        }
        let have = r.fill_to(header_len)?;
        if have < header_len {
            return Err(RingError::BadHeader {
                path: r.path.clone(),
                source: CodecError::Truncated {
                    needed: header_len,
                    have,
                },
            });
        }
        codec::decode_file_header(&r.buf[..r.end]).map_err(|source| RingError::BadHeader {
            path: r.path.clone(),
            source,
        })?;
        r.start = header_len;
        r.offset = header_len as u64;
        Ok(r)
    }

    /// Stream offset just past the last record returned (or the header).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The source, read ahead of [`StreamReader::offset`] by what is buffered.
    pub fn into_source(self) -> R {
        self.src
    }

    /// Reads until at least `want` bytes are buffered from `start`, or the
    /// end of input; returns the bytes buffered. Blocks in `read` only.
    fn fill_to(&mut self, want: usize) -> Result<usize, RingError> {
        if self.start + want > self.buf.len() {
            // Move the pending bytes to the front, growing if one record needs it.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if want > self.buf.len() {
                self.buf.resize(want, 0);
            }
        }
        while self.end - self.start < want {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RingError::io(&self.path, e)),
            }
        }
        Ok(self.end - self.start)
    }

    fn corrupt(&self, source: CodecError) -> RingError {
        RingError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            source,
        }
    }
}

impl<R: Read> RecordSource for StreamReader<R> {
    fn next_into(&mut self, rec: &mut FlowRecord) -> Result<bool, RingError> {
        self.next_kept_into(rec, &mut |_: &FlowRecord| true)
    }

    fn next_kept_into(
        &mut self,
        rec: &mut FlowRecord,
        keep: &mut dyn crate::record::codec::Keep,
    ) -> Result<bool, RingError> {
        loop {
            let avail = self.end - self.start;
            let want = if avail >= 4 {
                let len = codec::peek_len(&self.buf[self.start..self.end])
                    .map_err(|e| self.corrupt(e))?;
                if avail >= len {
                    let bytes = &self.buf[self.start..self.start + len];
                    match codec::decode_kept_into(bytes, rec, keep) {
                        Ok((n, kept)) => {
                            self.start += n;
                            self.offset += n as u64;
                            self.stats.records += 1;
                            if kept {
                                return Ok(true);
                            }
                            continue;
                        }
                        Err(CodecError::UnknownKind { len, .. }) => {
                            self.start += len;
                            self.offset += len as u64;
                            self.stats.unknown_skipped += 1;
                            continue;
                        }
                        Err(e) => return Err(self.corrupt(e)),
                    }
                }
                len
            } else {
                4
            };
            if self.fill_to(want)? >= want {
                continue;
            }
            // End of input with less than a record buffered.
            if self.opts.follow && !self.opts.stopped() {
                std::thread::sleep(self.opts.poll());
                continue;
            }
            self.stats.torn_tail_bytes = (self.end - self.start) as u64;
            return Ok(false);
        }
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }
}
