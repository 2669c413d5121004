//! Several capture files read as one, in timestamp order.
#![deny(unsafe_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use super::error::CaptureError;
use super::pcap::FileReader;
use super::RawPacket;

/// Reads several files as one capture: a k-way merge on `ts_ns`, ties going to
/// the file listed first, and within a file packets keep their order (a file
/// whose clock steps back is not reordered, only interleaved with the others).
///
/// Each reader keeps its next packet in its own buffer, so the merge copies
/// nothing. A file whose tail is damaged stops contributing; its error is kept
/// for [`MergedReader::take_warnings`] and the other files go on.
#[derive(Debug)]
pub struct MergedReader {
    readers: Vec<FileReader>,
    /// Readers positioned on a packet that has not been returned: (ts_ns, index).
    heads: BinaryHeap<Reverse<(u64, usize)>>,
    /// The reader whose packet was returned last; it advances on the next call.
    last: Option<usize>,
    started: bool,
    returned: u64,
    warnings: Vec<CaptureError>,
}

impl MergedReader {
    /// Opens every file; any file that cannot be opened fails the whole set, so
    /// the user hears about a typo before reading starts.
    pub fn open(paths: &[PathBuf]) -> Result<MergedReader, CaptureError> {
        let readers = paths
            .iter()
            .map(|p| FileReader::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MergedReader::new(readers))
    }

    /// Merges readers already opened (stdin among them, say).
    pub fn new(readers: Vec<FileReader>) -> MergedReader {
        MergedReader {
            heads: BinaryHeap::with_capacity(readers.len()),
            readers,
            last: None,
            started: false,
            returned: 0,
            warnings: Vec::new(),
        }
    }

    /// The next packet of the merged capture, `None` when every file is done.
    pub fn next_packet(&mut self) -> Option<RawPacket<'_>> {
        if self.readers.len() == 1 {
            // One file: nothing to merge.
            match self.readers[0].advance() {
                Ok(true) => {
                    self.returned += 1;
                    return self.readers[0].current();
                }
                Ok(false) => return None,
                Err(e) => {
                    self.warnings.push(e);
                    return None;
                }
            }
        }
        if !self.started {
            self.started = true;
            for i in 0..self.readers.len() {
                self.refill(i);
            }
        } else if let Some(i) = self.last.take() {
            self.refill(i);
        }
        let Reverse((_, i)) = self.heads.pop()?;
        self.last = Some(i);
        self.returned += 1;
        self.readers.get(i)?.current()
    }

    fn refill(&mut self, i: usize) {
        let Some(reader) = self.readers.get_mut(i) else {
            return;
        };
        match reader.advance() {
            Ok(true) => {
                if let Some(p) = reader.current() {
                    self.heads.push(Reverse((p.ts_ns, i)));
                }
            }
            Ok(false) => {}
            Err(e) => self.warnings.push(e),
        }
    }

    /// Errors from files whose tails were damaged, since the last call.
    pub fn take_warnings(&mut self) -> Vec<CaptureError> {
        std::mem::take(&mut self.warnings)
    }

    /// The readers, in the order given (for per-file statistics).
    pub fn readers(&self) -> &[FileReader] {
        &self.readers
    }

    /// Packets returned so far (each reader may have read one more ahead).
    pub fn packets_read(&self) -> u64 {
        self.returned
    }

    /// Bytes of the files used so far, comparable with [`MergedReader::total_size`].
    pub fn bytes_consumed(&self) -> u64 {
        self.readers.iter().map(FileReader::bytes_consumed).sum()
    }

    /// Sum of the file sizes, when every one is known.
    pub fn total_size(&self) -> Option<u64> {
        self.readers.iter().map(FileReader::file_size).sum()
    }
}
