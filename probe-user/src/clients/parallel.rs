//! Reading a record file on several threads, in file order.
//!
//! A record file has no index (FORMAT.md §1), so where records start is known
//! only by walking their lengths from the first. The file is cut into chunks of
//! about [`Parallel::chunk_bytes`]; each worker takes the next chunk, reads it
//! with `pread` (so the copy out of the page cache runs on every thread), waits
//! for the previous chunk to say where its last record ends, walks the lengths
//! of its own records (a few microseconds: the walk is the only step that runs
//! one chunk after another), says where they end, and then decodes, filters
//! and formats them. The caller's thread takes the results in chunk order, so
//! output is what one thread would print.
//!
//! At most `threads + 4` chunks are in flight, so memory stays bounded however
//! far one worker falls behind. A corrupt length or record ends the run with
//! the same error, after the same records, as reading on one thread; an
//! incomplete record at the end (a torn tail) ends it cleanly. Standard input,
//! ring directories and segments are read on one thread, as before.

use super::ClientError;
use crate::record::codec::{self, CodecError};
use crate::record::FlowRecord;
use crate::ring::{self, RingError};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Condvar, Mutex};

/// Chunks of 1 MiB (about 8000 records): few enough that handing them out
/// costs nothing next to decoding them, small enough that the chunks in
/// flight on 16 threads hold little memory once decoded. A record larger
/// than a chunk (up to 1 MiB) is read whole by the chunk it starts in.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;
/// Threads used when not told (`--threads`): the machine's cores, at most 16.
pub const MAX_AUTO_THREADS: usize = 16;

/// How a client reads a file on several threads.
#[derive(Clone, Copy, Debug)]
pub struct Parallel {
    pub threads: usize,
    pub chunk_bytes: usize,
}

#[cfg(test)]
thread_local! {
    /// Chunk size for tests of the clients, so that small files take many
    /// chunks.
    pub(crate) static TEST_CHUNK_BYTES: std::cell::Cell<Option<usize>> =
        const { std::cell::Cell::new(None) };
}

impl Parallel {
    /// `threads` workers (0: one per core, at most [`MAX_AUTO_THREADS`]).
    pub fn new(threads: usize) -> Parallel {
        #[cfg(test)]
        if let Some(chunk_bytes) = TEST_CHUNK_BYTES.with(|c| c.get()) {
            return Parallel {
                threads: threads.max(1),
                chunk_bytes,
            };
        }
        let threads = match threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_AUTO_THREADS),
            n => n,
        };
        Parallel {
            threads,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }
}

/// Lines formatted by a worker thread, and how many records they hold.
#[derive(Default)]
pub struct Printed {
    pub bytes: Vec<u8>,
    pub records: u64,
}

/// The whole records of one chunk, undecoded.
pub struct Chunk<'a> {
    bytes: &'a [u8],
    /// File offset of `bytes[0]`.
    offset: u64,
    path: &'a Path,
}

impl Chunk<'_> {
    /// Decodes the records one by one into `rec`, and calls `f` with each that
    /// `keep` (a test on core fields) and then `late` (the whole filter) pass.
    /// Records of unknown kinds are skipped, as on one thread.
    pub fn for_each_kept(
        &self,
        rec: &mut FlowRecord,
        keep: &mut dyn crate::record::codec::Keep,
        late: Option<&crate::filter::Filter>,
        mut f: impl FnMut(&mut FlowRecord) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        self.for_each_kept_raw(rec, keep, late, |rec, _| f(rec))
    }

    /// [`Chunk::for_each_kept`], also giving each record's encoded bytes.
    pub fn for_each_kept_raw(
        &self,
        rec: &mut FlowRecord,
        keep: &mut dyn crate::record::codec::Keep,
        late: Option<&crate::filter::Filter>,
        mut f: impl FnMut(&mut FlowRecord, &[u8]) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        let mut pos = 0;
        let protos = keep.protocols();
        while pos < self.bytes.len() {
            if let Some(p) = &protos {
                pos += codec::skip_by_proto(&self.bytes[pos..], p);
                if pos == self.bytes.len() {
                    break;
                }
            }
            match codec::decode_kept_into(&self.bytes[pos..], rec, keep) {
                Ok((n, kept)) => {
                    if kept && late.is_none_or(|l| l.matches(rec)) {
                        f(rec, &self.bytes[pos..pos + n])?;
                    }
                    pos += n;
                }
                Err(CodecError::UnknownKind { len, .. }) => pos += len,
                Err(source) => {
                    return Err(RingError::Corrupt {
                        path: self.path.to_path_buf(),
                        offset: self.offset + pos as u64,
                        source,
                    }
                    .into())
                }
            }
        }
        Ok(())
    }
}

/// Where the records of a chunk start, as the chunk before it found.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bound {
    At(u64),
    /// No more records: the end of the file, or a torn tail.
    End,
    /// The chunk before failed (a corrupt length, a read error, a panic); it
    /// reports why.
    Failed,
}

/// The chunk boundaries of a file, each published once by the worker that
/// walked the chunk before.
struct Bounds {
    v: Mutex<Vec<Option<Bound>>>,
    wake: Condvar,
}

impl Bounds {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Bound>>> {
        self.v.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until chunk `k`'s start is known. Every taken chunk publishes
    /// the next one's (on every path, and on a panic), and chunks are taken
    /// in order, so this ends.
    fn wait(&self, k: usize) -> Bound {
        let mut v = self.lock();
        loop {
            if let Some(b) = v[k] {
                return b;
            }
            v = self.wake.wait(v).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn publish(&self, k: usize, b: Bound) {
        let mut v = self.lock();
        if v[k].is_none() {
            v[k] = Some(b);
        }
        drop(v);
        self.wake.notify_all();
    }
}

/// Publishes `Failed` for the next chunk if a worker unwinds while it holds
/// a chunk, so that the chunks after it do not wait forever.
struct FailOnPanic<'a>(&'a Bounds, usize);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.publish(self.1 + 1, Bound::Failed);
        }
    }
}

/// Reads the plain record file `path` on `par.threads` threads. Each worker
/// makes its state with `init` and fills an output (a `T`, reused) from each
/// chunk with `work`; `consume` gets the outputs in file order and returns
/// `false` to stop. Returns `Ok(None)` when `path` is not a plain file (the
/// caller reads it on one thread), else whether to go on with other inputs.
pub fn for_each_chunk<S, T: Default + Send>(
    path: &Path,
    par: Parallel,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &Chunk<'_>, &mut T) -> Result<(), ClientError> + Sync,
    mut consume: impl FnMut(&mut T) -> Result<bool, ClientError>,
) -> Result<Option<bool>, ClientError> {
    let Some((file, start, len)) = ring::open_plain_file(path)? else {
        return Ok(None);
    };
    let chunk = par.chunk_bytes.max(64);
    let chunks = len.saturating_sub(start).div_ceil(chunk as u64) as usize;
    let mut v = vec![None; chunks + 1];
    v[0] = Some(Bound::At(start));
    let bounds = Bounds {
        v: Mutex::new(v),
        wake: Condvar::new(),
    };
    let geometry = Geometry {
        file: &file,
        path,
        start,
        len,
        chunk: chunk as u64,
    };
    run_ordered(
        chunks,
        par.threads,
        || (init(), ChunkBuf::default()),
        |(state, buf), k, out| {
            let _guard = FailOnPanic(&bounds, k);
            geometry.run_chunk(k, &bounds, buf, |c| work(state, c, out))
        },
        |_, out| consume(out),
    )
    .map(Some)
}

/// The shared state of [`run_ordered`].
struct Schedule {
    state: Mutex<Turns>,
    wake: Condvar,
}

struct Turns {
    /// The next task to hand out.
    next: usize,
    /// Tasks whose outputs the caller has taken, in order.
    consumed: usize,
    stop: bool,
}

impl Schedule {
    fn lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        // A worker that panicked holds no invariant the others need.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// The next task for a worker, once it is inside the window of tasks in
    /// flight; `None` when all are taken or the run stops.
    fn take(&self, tasks: usize, window: usize) -> Option<usize> {
        let mut st = self.lock();
        loop {
            if st.stop || st.next >= tasks {
                return None;
            }
            if st.next < st.consumed + window {
                st.next += 1;
                return Some(st.next - 1);
            }
            st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Sets `stop` if a worker unwinds, so that the others and the caller do not
/// wait for it forever.
struct StopOnPanic<'a>(&'a Schedule);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Runs tasks `0..tasks` on `threads` threads and hands their outputs to
/// `consume` on the caller's thread in task order. Each worker makes its
/// state with `init`; `work` fills a (reused) output for one task. At most
/// `threads + 4` tasks are in flight. The first error, in task order, ends the
/// run after the outputs before it (and its own partial output) are consumed;
/// `consume` returns `false` to stop early. Returns whether it went to the end.
pub fn run_ordered<S, T: Default + Send>(
    tasks: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize, &mut T) -> Result<(), ClientError> + Sync,
    mut consume: impl FnMut(usize, &mut T) -> Result<bool, ClientError>,
) -> Result<bool, ClientError> {
    if tasks == 0 {
        return Ok(true);
    }
    let threads = threads.clamp(1, tasks);
    let window = threads + 4;
    let schedule = Schedule {
        state: Mutex::new(Turns {
            next: 0,
            consumed: 0,
            stop: false,
        }),
        wake: Condvar::new(),
    };
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, T, Result<(), ClientError>)>();
    let (pool_tx, pool_rx) = crossbeam_channel::unbounded::<T>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (schedule, pool_rx, init, work) = (&schedule, &pool_rx, &init, &work);
            s.spawn(move || {
                let _guard = StopOnPanic(schedule);
                let mut state = init();
                while let Some(k) = schedule.take(tasks, window) {
                    let mut out = pool_rx.try_recv().unwrap_or_default();
                    let r = work(&mut state, k, &mut out);
                    if done_tx.send((k, out, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let r = take_in_order(tasks, &done_rx, &schedule, &pool_tx, &mut consume);
        // Whatever happened, let the workers go before the scope joins them.
        schedule.stop();
        drop(done_rx);
        r
    })
}

/// Hands the workers' outputs to `consume` in task order.
fn take_in_order<T>(
    tasks: usize,
    done_rx: &crossbeam_channel::Receiver<(usize, T, Result<(), ClientError>)>,
    schedule: &Schedule,
    pool_tx: &crossbeam_channel::Sender<T>,
    consume: &mut impl FnMut(usize, &mut T) -> Result<bool, ClientError>,
) -> Result<bool, ClientError> {
    let mut waiting = std::collections::BTreeMap::new();
    for k in 0..tasks {
        let (mut out, r) = loop {
            if let Some(v) = waiting.remove(&k) {
                break v;
            }
            match done_rx.recv() {
                Ok((j, out, r)) => {
                    waiting.insert(j, (out, r));
                }
                Err(_) => {
                    return Err(ClientError::Usage(
                        "a worker thread stopped unexpectedly".into(),
                    ))
                }
            }
        };
        let go_on = consume(k, &mut out)?;
        r?;
        if !go_on {
            return Ok(false);
        }
        let _ = pool_tx.send(out);
        schedule.lock().consumed += 1;
        schedule.wake.notify_all();
    }
    Ok(true)
}

/// The file being read and how it is cut.
#[derive(Clone, Copy)]
struct Geometry<'a> {
    file: &'a File,
    path: &'a Path,
    /// Where records start (after the file header).
    start: u64,
    /// The file's length when the run started: records appended later are
    /// left for the next run, and a record cut by this length is a torn tail.
    len: u64,
    chunk: u64,
}

impl Geometry<'_> {
    /// Reads chunk `k`, finds its records, and runs `f` on them (on none,
    /// when no record starts in the chunk, so that `f` always resets its
    /// output), then returns the error that ended the records, if any.
    fn run_chunk(
        &self,
        k: usize,
        bounds: &Bounds,
        buf: &mut ChunkBuf,
        f: impl FnOnce(&Chunk<'_>) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        let base = self.start + k as u64 * self.chunk;
        let (first, end, err) = self.find_records(k, base, bounds, buf);
        let lo = first.saturating_sub(base) as usize;
        let hi = end.saturating_sub(base) as usize;
        f(&Chunk {
            bytes: buf.bytes().get(lo..hi).unwrap_or_default(),
            offset: first,
            path: self.path,
        })?;
        match err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Reads chunk `k` (from file offset `base`) into `buf`, waits for where
    /// its records start, walks their lengths, and publishes where the next
    /// chunk's start, on every path. Returns the file offsets of the chunk's
    /// first record and of the end of its last one (equal when it has none),
    /// and the error that ended the records.
    fn find_records(
        &self,
        k: usize,
        base: u64,
        bounds: &Bounds,
        buf: &mut ChunkBuf,
    ) -> (u64, u64, Option<RingError>) {
        let nominal_end = (base + self.chunk).min(self.len);
        buf.filled = 0;
        let read = self.read_more(buf, base, nominal_end);
        let publish = |b: Bound| bounds.publish(k + 1, b);
        let first = match bounds.wait(k) {
            Bound::At(first) => first,
            b => {
                // An earlier chunk ended the records, or failed.
                publish(b);
                return (base, base, None);
            }
        };
        if first >= nominal_end {
            // A record of an earlier chunk covers this one (chunks smaller
            // than a record): nothing starts here.
            publish(if first >= self.len {
                Bound::End
            } else {
                Bound::At(first)
            });
            return (base, base, None);
        }
        if let Err(e) = read {
            publish(Bound::Failed);
            return (base, base, Some(e));
        }
        // Walk the record lengths from `first` to the first record that
        // starts at or after the chunk's nominal end.
        let have = |buf: &ChunkBuf, to: u64| base + buf.filled as u64 >= to;
        let mut pos = first;
        let mut err = None;
        let mut next = Bound::At(pos);
        while pos < nominal_end {
            if !have(buf, pos + 4) {
                let _ = self.read_more(buf, base, (pos + 4).min(self.len));
            }
            if !have(buf, pos + 4) {
                next = Bound::End;
                break;
            }
            let n = match codec::peek_len(&buf.bytes()[(pos - base) as usize..]) {
                Ok(n) => n as u64,
                Err(source) => {
                    err = Some(RingError::Corrupt {
                        path: self.path.to_path_buf(),
                        offset: pos,
                        source,
                    });
                    next = Bound::Failed;
                    break;
                }
            };
            if !have(buf, pos + n) {
                if let Err(e) = self.read_more(buf, base, (pos + n).min(self.len)) {
                    err = Some(e);
                    next = Bound::Failed;
                    break;
                }
            }
            if !have(buf, pos + n) {
                // Cut by the end of the file: a torn tail.
                next = Bound::End;
                break;
            }
            pos += n;
            next = Bound::At(pos);
        }
        if pos >= self.len && next != Bound::Failed {
            next = Bound::End;
        }
        publish(next);
        (first, pos, err)
    }

    /// Extends `buf` (which holds the file from `base`) up to file offset
    /// `to`, or to the end of the file if it is shorter now.
    fn read_more(&self, buf: &mut ChunkBuf, base: u64, to: u64) -> Result<(), RingError> {
        let want = (to.saturating_sub(base) as usize).max(buf.filled);
        if buf.data.len() < want {
            buf.data.resize(want, 0);
        }
        while buf.filled < want {
            let at = base + buf.filled as u64;
            match self.file.read_at(&mut buf.data[buf.filled..want], at) {
                Ok(0) => break,
                Ok(n) => buf.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RingError::io(self.path, e)),
            }
        }
        Ok(())
    }
}

/// A chunk's bytes as read so far. The buffer keeps its size from chunk to
/// chunk: it is zeroed once, not before every read.
#[derive(Default)]
struct ChunkBuf {
    data: Vec<u8>,
    filled: usize,
}

impl ChunkBuf {
    fn bytes(&self) -> &[u8] {
        &self.data[..self.filled]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Cause, KeyClass, ManInfo, RecordKind, TcpPerf};
    use crate::ring::{RecordSink, RecordSource, SourceOptions, StreamReader, StreamSink};

    /// Records of many sizes: payload, TCP and management blocks come and go.
    fn rec(i: u64) -> FlowRecord {
        let mut r = FlowRecord {
            seq: i,
            stime_ns: 1_700_000_000_000_000_000 + i * 1_000_000,
            ltime_ns: 1_700_000_000_000_000_000 + i * 1_000_000 + 5_000,
            cause: Cause::Status,
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = if i.is_multiple_of(3) { 6 } else { 17 };
        r.key.src[..4].copy_from_slice(&[10, 0, (i % 7) as u8, 1]);
        r.key.dst[..4].copy_from_slice(&[10, 1, 0, (i % 5) as u8]);
        r.key.sport = 1000 + (i % 11) as u16;
        r.key.dport = 53;
        r.src.pkts = 1 + i % 4;
        r.src.bytes = 100 * r.src.pkts;
        r.suser = vec![(i % 251) as u8; ((i * 37) % 300) as usize];
        if i.is_multiple_of(3) {
            r.tcp = Some(TcpPerf {
                state: i as u32,
                ..TcpPerf::default()
            });
        }
        if i % 97 == 5 {
            r.kind = RecordKind::ManStatus;
            r.man = Some(Box::new(ManInfo {
                records: i,
                ..ManInfo::default()
            }));
        }
        r
    }

    fn file_of(n: u64) -> (tempfile::NamedTempFile, Vec<u8>) {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut sink = StreamSink::new(Vec::new(), f.path().to_path_buf()).unwrap();
        for i in 0..n {
            sink.write(&rec(i)).unwrap();
        }
        let bytes = sink.into_inner().unwrap();
        std::fs::write(f.path(), &bytes).unwrap();
        (f, bytes)
    }

    /// What one thread reads: the records, then the error if any.
    fn one_thread(path: &Path) -> (Vec<FlowRecord>, Option<String>) {
        let file = File::open(path).unwrap();
        let mut r = StreamReader::new(file, path.to_path_buf(), SourceOptions::default()).unwrap();
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => out.push(rec),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    fn chunked(
        path: &Path,
        threads: usize,
        chunk_bytes: usize,
    ) -> (Vec<FlowRecord>, Option<String>) {
        let par = Parallel {
            threads,
            chunk_bytes,
        };
        let mut out = Vec::new();
        let r = for_each_chunk(
            path,
            par,
            || (FlowRecord::default(), |_: &FlowRecord| true),
            |(rec, keep), chunk, v: &mut Vec<FlowRecord>| {
                v.clear();
                chunk.for_each_kept(rec, keep, None, |r| {
                    v.push(r.clone());
                    Ok(())
                })
            },
            |v| {
                out.append(v);
                Ok(true)
            },
        );
        match r {
            Ok(Some(true)) => (out, None),
            Ok(other) => panic!("{other:?}"),
            Err(e) => (out, Some(e.to_string())),
        }
    }

    #[test]
    fn chunks_of_any_size_read_what_one_thread_reads() {
        let (f, bytes) = file_of(700);
        let (want, err) = one_thread(f.path());
        assert_eq!((want.len(), err), (700, None));
        // Chunks smaller than a record, about a record, and many records.
        for chunk in [64, 150, 333, 1000, 4096, 1 << 20] {
            for threads in [1, 2, 3, 7] {
                let (got, err) = chunked(f.path(), threads, chunk);
                assert_eq!(err, None, "chunk {chunk} threads {threads}");
                assert!(got == want, "chunk {chunk} threads {threads}");
            }
        }
        // A torn tail (a writer killed mid-record) ends the records cleanly.
        let last = codec::peek_len(&bytes[bytes.len() - 200..]).ok();
        let mut torn = bytes.clone();
        let mut extra = Vec::new();
        codec::encode(&rec(5000), &mut extra);
        torn.extend_from_slice(&extra[..extra.len() / 2]);
        std::fs::write(f.path(), &torn).unwrap();
        for chunk in [64, 1000, 1 << 20] {
            let (got, err) = chunked(f.path(), 3, chunk);
            assert_eq!(err, None);
            assert!(got == want, "torn tail, chunk {chunk} ({last:?})");
        }
        // An empty file (only its header) has no records.
        std::fs::write(f.path(), &bytes[..32]).unwrap();
        assert_eq!(chunked(f.path(), 3, 64), (Vec::new(), None));
    }

    #[test]
    fn corruption_stops_after_the_records_one_thread_reads() {
        let (f, bytes) = file_of(400);
        // Record offsets, to corrupt the 150th one's length and the 300th's body.
        let mut offsets = Vec::new();
        let mut at = 32;
        while at < bytes.len() {
            offsets.push(at);
            at += codec::peek_len(&bytes[at..]).unwrap();
        }
        let mut bad_len = bytes.clone();
        bad_len[offsets[150]..offsets[150] + 4].copy_from_slice(&5u32.to_le_bytes());
        let mut bad_crc = bytes.clone();
        bad_crc[offsets[300] + 20] ^= 0x55;
        for bad in [bad_len, bad_crc] {
            std::fs::write(f.path(), &bad).unwrap();
            let (want, err) = one_thread(f.path());
            let err = err.expect("one thread sees the corruption");
            assert!(err.contains("corrupt record at byte"), "{err}");
            for chunk in [64, 700, 5000, 1 << 20] {
                for threads in [2, 5] {
                    let (got, got_err) = chunked(f.path(), threads, chunk);
                    assert_eq!(got_err.as_deref(), Some(err.as_str()));
                    assert!(got == want, "chunk {chunk} threads {threads}");
                }
            }
        }
    }

    #[test]
    fn other_inputs_are_left_to_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let par = Parallel::new(2);
        let r = for_each_chunk(
            dir.path(),
            par,
            || (),
            |_, _, _: &mut ()| Ok(()),
            |_| Ok(true),
        );
        assert!(matches!(r, Ok(None)));
        let r = for_each_chunk(
            Path::new("-"),
            par,
            || (),
            |_, _, _: &mut ()| Ok(()),
            |_| Ok(true),
        );
        assert!(matches!(r, Ok(None)));
        // Not a record file: the same error as on one thread.
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"\xd4\xc3\xb2\xa1 not records").unwrap();
        let e = for_each_chunk(
            f.path(),
            par,
            || (),
            |_, _, _: &mut ()| Ok(()),
            |_| Ok(true),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("not an ocellus record file"), "{e}");
    }

    #[test]
    fn outputs_come_in_task_order_and_errors_stop_after_their_output() {
        // Uneven work: later tasks often finish first.
        let work = |_: &mut (), k: usize, out: &mut Vec<usize>| {
            out.clear();
            let spin = (k * 7919) % 5000;
            out.push((0..spin).fold(k, |a, b| a ^ b) ^ (0..spin).fold(0, |a, b| a ^ b));
            if k == 123 {
                return Err(ClientError::Usage(format!("task {k} failed")));
            }
            Ok(())
        };
        let mut seen = Vec::new();
        let r = run_ordered(
            100,
            4,
            || (),
            work,
            |k, out: &mut Vec<usize>| {
                assert_eq!(out, &vec![k]);
                seen.push(k);
                Ok(true)
            },
        );
        assert!(r.unwrap());
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        // An error is reported after its task's output, and ends the run;
        // a consumer that stops early (a closed pipe) gets no more outputs.
        for (stop_after, want_err, last) in [(usize::MAX, true, 123), (10, false, 10)] {
            let mut seen = Vec::new();
            let r = run_ordered(
                1000,
                3,
                || (),
                work,
                |k, _| {
                    seen.push(k);
                    Ok(k < stop_after)
                },
            );
            match r {
                Err(e) => assert!(want_err && e.to_string() == "task 123 failed", "{e}"),
                Ok(finished) => assert!(!want_err && !finished),
            }
            assert_eq!(seen, (0..=last).collect::<Vec<_>>());
        }
    }

    fn input(path: &Path, threads: usize, filter: &str) -> super::super::Input {
        let words: Vec<String> = filter.split_whitespace().map(String::from).collect();
        super::super::Input {
            paths: vec![path.to_path_buf()],
            threads,
            filter: super::super::RecordFilter::compile(&words).unwrap(),
            ..Default::default()
        }
    }

    /// Sets the clients' chunk size for this test thread until dropped.
    struct TestChunks;

    impl TestChunks {
        fn of(bytes: usize) -> TestChunks {
            TEST_CHUNK_BYTES.with(|c| c.set(Some(bytes)));
            TestChunks
        }
    }

    impl Drop for TestChunks {
        fn drop(&mut self) {
            TEST_CHUNK_BYTES.with(|c| c.set(None));
        }
    }

    #[test]
    fn clients_see_the_records_one_thread_sees() {
        let (f, _) = file_of(900);
        let _chunks = TestChunks::of(300);
        for filter in ["", "udp", "tcp and src host 10.0.3.1", "man"] {
            let one = input(f.path(), 1, filter).read_all().unwrap();
            let many = input(f.path(), 3, filter).read_all().unwrap();
            assert!(!one.is_empty(), "{filter}");
            assert_eq!(one.len(), many.len(), "{filter}");
            for (a, b) in one.iter().zip(&many) {
                assert_eq!(a, b, "{filter}");
            }
            // Stopping early stops at the same record.
            let mut n = 0;
            input(f.path(), 3, filter)
                .for_each(|_| {
                    n += 1;
                    Ok(n < 17)
                })
                .unwrap();
            assert_eq!(n, 17.min(one.len()));
        }
    }

    #[test]
    fn clusters_split_among_threads_merge_as_on_one() {
        use super::super::cluster::{cluster_input, ClusterMode};
        let (f, _) = file_of(2000);
        let _chunks = TestChunks::of(500);
        let modes: [&[&str]; 5] = [
            &[],
            &["saddr", "daddr"],
            &["matrix/24"],
            &["proto", "dport"],
            &["none"],
        ];
        for keys in modes {
            let mode = ClusterMode::parse(keys).unwrap();
            let one = cluster_input(&input(f.path(), 1, ""), mode.clone()).unwrap();
            let many = cluster_input(&input(f.path(), 4, ""), mode).unwrap();
            assert_eq!(one.len(), many.len(), "{keys:?}");
            assert!(one.len() > 1 || keys == ["none"], "{keys:?}");
            for i in 0..one.len() {
                assert_eq!(one.get(i), many.get(i), "{keys:?} group {i}");
            }
        }
    }

    #[test]
    fn encoded_sorts_list_what_decoded_sorts_list() {
        use super::super::sort::{integer_keys, sort_encoded, sorted_indices, SortKey};
        use super::super::Listed;
        let (f, _) = file_of(1500);
        let _chunks = TestChunks::of(700);
        let sets: [&[&str]; 6] = [
            &["bytes"],
            &["bytes", "stime"],
            &["proto", "dport", "sport"],
            &["pkts", "sport", "ltime"],
            &["dur"],
            &["srcid", "trans"],
        ];
        for set in sets {
            let keys = SortKey::parse_list(set).unwrap();
            assert!(integer_keys(&keys), "{set:?}");
            let recs = input(f.path(), 1, "").read_all().unwrap();
            let order = sorted_indices(&recs, &keys);
            for (threads, filter) in [(1, ""), (3, ""), (3, "udp"), (1, "udp")] {
                let recs: Vec<&FlowRecord> = match filter {
                    "" => order.iter().map(|&i| &recs[i]).collect(),
                    _ => order
                        .iter()
                        .map(|&i| &recs[i])
                        .filter(|r| r.key.proto == 17)
                        .collect(),
                };
                let sorted = sort_encoded(&input(f.path(), threads, filter), &keys).unwrap();
                assert_eq!(sorted.len(), recs.len(), "{set:?} {threads}");
                let mut scratch = FlowRecord::default();
                for (i, want) in recs.iter().enumerate() {
                    let (got, trans) = sorted.get(i, &mut scratch).unwrap();
                    assert_eq!(
                        (got, trans),
                        (*want, 1),
                        "{set:?} {threads} {filter} item {i}"
                    );
                }
            }
        }
        let addr = SortKey::parse_list(&["saddr"]).unwrap();
        assert!(!integer_keys(&addr));
    }
}
