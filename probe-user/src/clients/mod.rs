//! Argus's other clients as library functions, on [`FlowRecord`]s:
//! - [`sort`]: `rasort` (sort by keys, stable);
//! - [`count`]: `racount` (record, packet and byte totals, per protocol);
//! - [`cluster`]: `racluster` (merge records by flow or by chosen keys);
//! - [`grep`]: `ragrep` (regular expressions over the captured payload);
//! - [`anonymize`]: `ranonymize`, with prefix-preserving Crypto-PAn addresses;
//! - [`output`]: the afterglow CSV shape the command-line front ends share.
//!
//! The front ends are `ocellus sort|count|cluster|grep|anonymize` (and the
//! `rasort`, `racount`, ... names, see `cli`).

pub mod anonymize;
pub mod cluster;
pub mod count;
pub mod grep;
pub mod output;
pub mod parallel;
pub mod sort;
pub mod timerange;

use crate::record::FlowRecord;
use crate::ring::{self, RingError};
use std::path::PathBuf;

/// Errors of the clients. Each is one line, naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("unknown {tool} key '{key}'; valid keys: {valid}")]
    UnknownKey {
        tool: &'static str,
        key: String,
        valid: String,
    },
    #[error("bad {tool} key '{key}': {why}")]
    BadKey {
        tool: &'static str,
        key: String,
        why: String,
    },
    #[error("bad regular expression '{pattern}': {why}")]
    Regex { pattern: String, why: String },
    #[error("bad anonymization key: {0}")]
    AnonKey(String),
    #[error("{0}")]
    Filter(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    TimeRange(#[from] timerange::TimeRangeError),
    #[error(transparent)]
    Ring(#[from] RingError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// A closed output pipe (`ocellus sort ... | head`): a normal end.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            ClientError::Ring(e) => e.is_broken_pipe(),
            ClientError::Io(e) => e.kind() == std::io::ErrorKind::BrokenPipe,
            _ => false,
        }
    }
}

/// A record and the number of input records it stands for (`trans`): 1 for a
/// record as read, the count of merged records after [`cluster`].
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub rec: FlowRecord,
    pub trans: u64,
}

impl Aggregate {
    pub fn new(rec: FlowRecord) -> Aggregate {
        Aggregate { rec, trans: 1 }
    }
}

/// Records listed in an order, for output: sorted records, merged groups.
pub trait Listed: Sync {
    /// Item `i`: a record (decoded into `scratch` when the list keeps it
    /// encoded) and the number of input records it stands for.
    fn get<'a>(
        &'a self,
        i: usize,
        scratch: &'a mut FlowRecord,
    ) -> Result<(&'a FlowRecord, u64), ClientError>;

    /// Starts fetching item `i` into the cache, before it is needed.
    fn prefetch(&self, _i: usize) {}
}

/// The compiled `- FILTER` expression of a client (the filter language of
/// [`crate::filter`], compiled once per run).
#[derive(Clone, Debug, Default)]
pub struct RecordFilter {
    filter: Option<crate::filter::Filter>,
}

impl RecordFilter {
    /// Compiles the words after a lone `-` (empty: match everything).
    pub fn compile(expr: &[String]) -> Result<RecordFilter, ClientError> {
        if expr.is_empty() {
            return Ok(RecordFilter::default());
        }
        let f = crate::filter::Filter::parse_args(expr)
            .map_err(|e| ClientError::Filter(e.to_string()))?;
        Ok(RecordFilter { filter: Some(f) })
    }

    /// Whether the filter names management records (`man`), so that they are
    /// read even without `-M man`.
    pub fn wants_man(&self) -> bool {
        self.filter.as_ref().is_some_and(|f| f.mentions_man())
    }

    /// Whether `rec` passes the filter. Without a filter, management records
    /// are left to the caller's `-M man` choice.
    #[inline]
    pub fn matches(&self, rec: &FlowRecord) -> bool {
        match &self.filter {
            Some(f) => f.matches(rec),
            None => true,
        }
    }
}

/// The hook the clients call for `- FILTER` (see [`RecordFilter`]).
pub fn apply_filter(expr: &[String]) -> Result<RecordFilter, ClientError> {
    RecordFilter::compile(expr)
}

/// Where a client's records come from and which it takes.
#[derive(Clone, Debug, Default)]
pub struct Input {
    pub paths: Vec<PathBuf>,
    /// Also hand management (MAR) records to the callback.
    pub man: bool,
    pub filter: RecordFilter,
    /// `-t TIMERANGE`: only records in this range.
    pub time: Option<timerange::TimeRange>,
    /// `-f`: wait for new records at the end of files and rings (streaming
    /// clients only; `for_each` then returns only on an error or when `f`
    /// says stop).
    pub follow: bool,
    /// Probes or relays to read from after `paths` (`-S HOST:PORT`).
    pub remote: RemoteInput,
    /// `--threads N`: threads that decode and filter a record file (0: one
    /// per core; 1: the caller's thread only). See [`parallel`].
    pub threads: usize,
}

/// Remote inputs of a client: servers, how to connect, and the filter text
/// sent to them (only matching records cross the network).
#[derive(Clone, Debug, Default)]
pub struct RemoteInput {
    pub servers: Vec<String>,
    pub options: crate::remote::ClientOptions,
    pub filter: String,
}

impl Input {
    /// This input's record selection ([`selection`]): management records
    /// when `-M man` or the filter asks for them, the time range, the filter.
    pub(crate) fn selection(&self) -> (Selection<'_>, Option<&crate::filter::Filter>) {
        let want_man = self.man || self.filter.wants_man();
        selection(self.filter.filter.as_ref(), self.time.as_ref(), want_man)
    }

    /// Calls `f` with every record that passes (reusing one buffer); `f`
    /// returns `false` to stop early.
    pub fn for_each(
        &self,
        mut f: impl FnMut(&FlowRecord) -> Result<bool, ClientError>,
    ) -> Result<(), ClientError> {
        let mut rec = FlowRecord::default();
        let par = parallel::Parallel::new(self.threads);
        for i in 0..self.paths.len() + self.remote.servers.len() {
            if let Some(path) = self
                .paths
                .get(i)
                .filter(|_| !self.follow && par.threads > 1)
            {
                match self.for_each_parallel(path, par, &mut f)? {
                    Some(true) => continue,
                    Some(false) => return Ok(()),
                    None => {}
                }
            }
            let mut src: Box<dyn ring::RecordSource + Send> = match self.paths.get(i) {
                Some(path) => ring::open_source(path, self.follow)?,
                None => Box::new(
                    crate::remote::client::connect(
                        &self.remote.servers[i - self.paths.len()],
                        &self.remote.options,
                        &self.remote.filter,
                        0,
                    )
                    .map_err(|e| ClientError::Usage(e.to_string()))?,
                ),
            };
            let (mut keep, late) = self.selection();
            while src.next_kept_into(&mut rec, &mut keep)? {
                if late.is_some_and(|f| !f.matches(&rec)) {
                    continue;
                }
                if !f(&rec)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// [`Input::for_each`] over one plain record file on several threads:
    /// they decode and filter batches of records, and `f` gets them here, in
    /// file order. `None`: not a plain file.
    fn for_each_parallel(
        &self,
        path: &std::path::Path,
        par: parallel::Parallel,
        f: &mut impl FnMut(&FlowRecord) -> Result<bool, ClientError>,
    ) -> Result<Option<bool>, ClientError> {
        parallel::for_each_chunk(
            path,
            par,
            || (FlowRecord::default(), self.selection()),
            |(rec, (keep, late)), chunk, batch: &mut Batch| {
                batch.len = 0;
                chunk.for_each_kept(rec, keep, *late, |rec| {
                    batch.push_swap(rec);
                    Ok(())
                })
            },
            |batch| {
                for rec in &batch.recs[..batch.len] {
                    if !f(rec)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )
    }

    /// Whether every input is a plain record file (no standard input, ring,
    /// server or following): what reading on several threads takes.
    pub fn plain_files_only(&self) -> Result<bool, ClientError> {
        if self.follow || !self.remote.servers.is_empty() {
            return Ok(false);
        }
        for p in &self.paths {
            if ring::open_plain_file(p)?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every record that passes, in input order.
    pub fn read_all(&self) -> Result<Vec<FlowRecord>, ClientError> {
        let mut v = Vec::new();
        self.for_each(|r| {
            v.push(r.clone());
            Ok(true)
        })?;
        Ok(v)
    }
}

/// Records decoded by a worker thread, handed over in a reused vector (the
/// records' payload buffers are reused too).
#[derive(Default)]
struct Batch {
    recs: Vec<FlowRecord>,
    len: usize,
}

impl Batch {
    /// Moves `rec` into the batch, leaving an old record's buffers in `rec`.
    fn push_swap(&mut self, rec: &mut FlowRecord) {
        if self.len == self.recs.len() {
            self.recs.push(FlowRecord::default());
        }
        std::mem::swap(rec, &mut self.recs[self.len]);
        self.len += 1;
    }
}

/// The record selection of a run, split for
/// [`ring::RecordSource::next_kept_into`]: a test on kind and key (the
/// filter's [`crate::filter::Filter::key_stage`], and whether management
/// records are wanted), the test on core fields (time range, and the filter
/// when it looks at nothing else), and the filter to apply to whole records
/// when it does.
pub(crate) fn selection<'a>(
    filter: Option<&'a crate::filter::Filter>,
    time: Option<&'a timerange::TimeRange>,
    want_man: bool,
) -> (Selection<'a>, Option<&'a crate::filter::Filter>) {
    let (early, late) = match filter {
        Some(f) if f.core_only() => (Some(f), None),
        f => (None, f),
    };
    let keep = Selection {
        want_man,
        protos: filter.and_then(|f| f.protocols()),
        key: filter.and_then(|f| f.key_stage()),
        early,
        time,
    };
    (keep, late)
}

/// The tests of [`selection`] that a reader applies as it decodes.
pub(crate) struct Selection<'a> {
    want_man: bool,
    /// The protocols of the flow records the filter can select.
    protos: Option<crate::filter::ProtoSet>,
    key: Option<crate::filter::Filter>,
    early: Option<&'a crate::filter::Filter>,
    time: Option<&'a timerange::TimeRange>,
}

impl crate::record::codec::Keep for Selection<'_> {
    fn proto(&mut self, kind: crate::record::RecordKind, proto: u8) -> bool {
        if kind.is_man() {
            return self.want_man;
        }
        self.protos.is_none_or(|s| s.contains(proto))
    }

    fn protocols(&self) -> Option<crate::filter::ProtoSet> {
        self.protos
    }

    fn key(&mut self, rec: &FlowRecord) -> bool {
        (self.want_man || !rec.kind.is_man()) && self.key.as_ref().is_none_or(|k| k.matches(rec))
    }

    /// Readers call it only on records `key` passed (the kind is checked there).
    fn core(&mut self, rec: &FlowRecord) -> bool {
        self.early.is_none_or(|f| f.matches(rec)) && self.time.is_none_or(|t| t.matches(rec))
    }
}

/// Masks an address to its first `len` bits (the rest zero).
pub(crate) fn mask_addr(addr: &[u8; 16], len: u8) -> [u8; 16] {
    let mut out = [0u8; 16];
    let full = (len / 8) as usize;
    let rest = len % 8;
    out[..full.min(16)].copy_from_slice(&addr[..full.min(16)]);
    if full < 16 && rest > 0 {
        out[full] = addr[full] & (0xffu8 << (8 - rest));
    }
    out
}

/// The address width in bits of a key class (IPv4-like 32, IPv6 128, MAC 48).
pub(crate) fn addr_bits(class: crate::record::KeyClass) -> u8 {
    use crate::record::KeyClass;
    match class {
        KeyClass::Ipv4 | KeyClass::Arp => 32,
        KeyClass::Ipv6 => 128,
        KeyClass::Rarp | KeyClass::Ether | KeyClass::Llc => 48,
        KeyClass::None => 0,
    }
}

/// Parses the `/len` of `saddr/len`-style keys.
pub(crate) fn parse_prefix_len(
    tool: &'static str,
    key: &str,
    len: &str,
) -> Result<u8, ClientError> {
    match len.parse::<u8>() {
        Ok(n) if n <= 128 => Ok(n),
        _ => Err(ClientError::BadKey {
            tool,
            key: key.to_string(),
            why: "the prefix length must be a number from 0 to 128".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_leading_bits() {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[192, 168, 171, 255]);
        assert_eq!(mask_addr(&a, 16)[..4], [192, 168, 0, 0]);
        assert_eq!(mask_addr(&a, 20)[..4], [192, 168, 160, 0]);
        assert_eq!(mask_addr(&a, 0)[..4], [0, 0, 0, 0]);
        assert_eq!(mask_addr(&a, 128), a);
    }

    #[test]
    fn filters_compile_once_and_select() {
        assert!(RecordFilter::compile(&[]).is_ok());
        let f = apply_filter(&["udp".to_string()]).unwrap();
        let mut rec = FlowRecord::default();
        rec.key.class = crate::record::KeyClass::Ipv4 as u8;
        rec.key.proto = 17;
        assert!(f.matches(&rec));
        rec.key.proto = 6;
        assert!(!f.matches(&rec));
        let e =
            apply_filter(&["dst".to_string(), "port".to_string(), "and".to_string()]).unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
    }
}
