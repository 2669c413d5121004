//! A buffered byte stream that hands out records as slices of its own buffer,
//! so a packet is copied once (from the kernel or the decompressor into the
//! buffer) and never again.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Buffer size: big reads keep the syscall and decompressor overhead per packet low.
pub(crate) const BUFFER_BYTES: usize = 1 << 20;
const INITIAL_BUFFER_BYTES: usize = 64 << 10;

/// The largest record the source will hold at once. Callers check untrusted
/// lengths against their own (smaller) limits before asking; this is the last
/// line against allocating what a corrupt length asks for.
pub(crate) const MAX_HELD_BYTES: usize = 16 << 20;

pub(crate) struct ByteSource {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// `buf[start..end]` holds bytes read but not consumed.
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    pos: u64,
    eof: bool,
}

impl ByteSource {
    pub(crate) fn new(inner: Box<dyn Read + Send>) -> ByteSource {
        ByteSource {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            pos: 0,
            eof: false,
        }
    }

    /// Stream offset of the first unconsumed byte.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    #[inline]
    pub(crate) fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Makes at least `n` bytes available unless the stream ends first, and
    /// returns how many are available. `n` must not exceed [`MAX_HELD_BYTES`]
    /// (larger requests are clamped to it).
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<usize> {
        let n = n.min(MAX_HELD_BYTES);
        while self.end - self.start < n && !self.eof {
            if self.end == self.buf.len() {
                self.make_room();
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// Frees space at the end of a full buffer. The buffer starts small (so
    /// opening many small files stays cheap) and doubles up to BUFFER_BYTES
    /// as the stream proves long. Beyond that it grows only while a record's
    /// bytes keep arriving, so a corrupt length costs at most twice the bytes
    /// the stream really holds, not what the length claims.
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end < self.buf.len() && self.buf.len() >= BUFFER_BYTES {
            return;
        }
        let want = (self.buf.len() * 2).clamp(INITIAL_BUFFER_BYTES, MAX_HELD_BYTES);
        if self.buf.is_empty() {
            // Zeroed allocation: the OS hands out zero pages lazily.
            self.buf = vec![0; want];
        } else if want > self.buf.len() {
            self.buf.resize(want, 0);
        }
    }

    /// Consumes `n` available bytes (at most what is available).
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
    }

    /// Consumes `n` bytes, reading and discarding past the buffer as needed.
    /// Returns how many were actually skipped (fewer at end of stream).
    pub(crate) fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let have = self.end - self.start;
            if have == 0 {
                let want = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(BUFFER_BYTES);
                if self.fill(want)? == 0 {
                    break;
                }
                continue;
            }
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(have);
            self.consume(take);
            left -= take as u64;
        }
        Ok(n - left)
    }
}

/// Counts the bytes read from the file itself, so a gzip-compressed capture can
/// report progress against its size on disk.
pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.count.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most 3 bytes per call, to exercise refills.
    struct Dribble(io::Cursor<Vec<u8>>);
    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn fill_consume_skip_across_short_reads() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let mut s = ByteSource::new(Box::new(Dribble(io::Cursor::new(data.clone()))));
        assert!(s.fill(10).unwrap() >= 10);
        assert_eq!(&s.available()[..10], &data[..10]);
        s.consume(7);
        assert_eq!(s.pos(), 7);
        assert_eq!(s.skip(3000).unwrap(), 3000);
        assert_eq!(s.pos(), 3007);
        assert!(s.fill(4).unwrap() >= 4);
        assert_eq!(&s.available()[..4], &data[3007..3011]);
        assert_eq!(s.skip(10_000).unwrap(), 5000 - 3007);
        assert_eq!(s.fill(1).unwrap(), 0);
    }

    #[test]
    fn a_huge_request_allocates_for_the_bytes_present_only() {
        let mut s = ByteSource::new(Box::new(io::Cursor::new(vec![7u8; 100])));
        assert_eq!(s.fill(usize::MAX).unwrap(), 100);
        assert_eq!(s.buf.len(), INITIAL_BUFFER_BYTES);
        let big = vec![1u8; 3 * BUFFER_BYTES];
        let mut s = ByteSource::new(Box::new(io::Cursor::new(big)));
        assert_eq!(s.fill(MAX_HELD_BYTES).unwrap(), 3 * BUFFER_BYTES);
        assert!(s.buf.len() <= 4 * BUFFER_BYTES);
    }
}
