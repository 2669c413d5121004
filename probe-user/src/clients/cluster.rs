//! `racluster`: merge records that share a key.
//!
//! Without keys ([`ClusterMode::Flow`]) the records of the same flow (its status
//! records, in Argus terms) are merged, the flow being the classic 5-tuple (so
//! the per-transaction DNS and per-ping ICMP records merge, as in racluster); a record whose key is the reverse of a
//! known flow's is turned round and merged into it (racluster's default
//! `-M correct`). With `-m` keys ([`ClusterMode::Keys`]) records are grouped on
//! those fields only.
//!
//! A merged record: `trans` = records merged, stime = earliest, ltime =
//! latest, packet/byte/loss counters add, TCP state bits and flags are OR-ed
//! (so a FIN or RST anywhere wins), minimum and maximum sizes combine, and the
//! last-seen attributes (TTL, TOS, window) come from the latest record. The key
//! fields hold the group's (masked) values; any other identity field (address,
//! port, protocol, MAC, VLAN, MPLS, probe id) keeps its value where all merged
//! records agree and becomes 0 where they differ, as racluster prints them.
//!
//! racluster 3.0.8.2 does not always print the latest ltime of a group (it
//! seems to keep the ltime of the last record merged); ocellus prints the latest.
//!
//! Groups come out in the order their first record arrived (racluster's own
//! order is its hash table's; sort the output with `ocellus sort` when it
//! matters).

use super::parallel::{self, Parallel};
use super::{addr_bits, mask_addr, parse_prefix_len, Aggregate, ClientError, Input};
use crate::record::{DirStats, FlowKey, FlowRecord, TcpPerf};
use hashbrown::HashMap;

/// A racluster `-m` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterKey {
    /// `saddr[/len]` (len 128 = the whole address).
    SAddr(u8),
    DAddr(u8),
    Proto,
    /// Implies `proto`.
    SPort,
    /// Implies `proto`.
    DPort,
    SMac,
    DMac,
    SVlan,
    DVlan,
    SMpls,
    DMpls,
    STos,
    DTos,
    STtl,
    DTtl,
    SrcId,
    /// The address pair regardless of direction (`matrix[/len]`).
    Matrix(u8),
}

/// The key names (for errors and help).
pub const CLUSTER_KEY_NAMES: &[&str] = &[
    "none",
    "saddr[/len]",
    "daddr[/len]",
    "proto",
    "sport",
    "dport",
    "smac",
    "dmac",
    "svlan",
    "dvlan",
    "smpls",
    "dmpls",
    "stos",
    "dtos",
    "sttl",
    "dttl",
    "srcid",
    "matrix[/len]",
];

impl ClusterKey {
    /// Parses one key; `none` gives `None` (everything in one group).
    pub fn parse(s: &str) -> Result<Option<ClusterKey>, ClientError> {
        let (name, len) = match s.split_once('/') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let prefix = || len.map_or(Ok(128), |l| parse_prefix_len("cluster", s, l));
        use ClusterKey::*;
        let k = match name {
            "saddr" => return Ok(Some(SAddr(prefix()?))),
            "daddr" => return Ok(Some(DAddr(prefix()?))),
            "matrix" => return Ok(Some(Matrix(prefix()?))),
            "none" => None,
            "proto" => Some(Proto),
            "sport" => Some(SPort),
            "dport" => Some(DPort),
            "smac" => Some(SMac),
            "dmac" => Some(DMac),
            "svlan" => Some(SVlan),
            "dvlan" => Some(DVlan),
            "smpls" => Some(SMpls),
            "dmpls" => Some(DMpls),
            "stos" => Some(STos),
            "dtos" => Some(DTos),
            "sttl" => Some(STtl),
            "dttl" => Some(DTtl),
            "srcid" => Some(SrcId),
            _ => {
                return Err(ClientError::UnknownKey {
                    tool: "cluster",
                    key: s.to_string(),
                    valid: CLUSTER_KEY_NAMES.join(" "),
                })
            }
        };
        if len.is_some() {
            return Err(ClientError::BadKey {
                tool: "cluster",
                key: s.to_string(),
                why: "only saddr, daddr and matrix take a /prefix length".into(),
            });
        }
        Ok(k)
    }
}

/// How records are grouped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterMode {
    /// Merge the records of each flow (the default).
    Flow {
        /// Also merge a record keyed the other way round (`-M correct`).
        correct: bool,
    },
    /// Group on these fields (empty: everything in one group, `-m none`).
    Keys(Vec<ClusterKey>),
}

impl ClusterMode {
    /// The mode for `-m` arguments (each may hold several keys); none given
    /// means [`ClusterMode::Flow`].
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<ClusterMode, ClientError> {
        let words: Vec<&str> = args
            .iter()
            .flat_map(|a| a.as_ref().split_whitespace())
            .collect();
        if words.is_empty() {
            return Ok(ClusterMode::Flow { correct: true });
        }
        let mut keys = Vec::new();
        for w in words {
            if let Some(k) = ClusterKey::parse(w)? {
                keys.push(k);
            }
        }
        Ok(ClusterMode::Keys(keys))
    }
}

/// The grouping key of a record: the selected fields, the rest zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct GroupKey {
    flow: FlowKey,
    smac: [u8; 6],
    dmac: [u8; 6],
    svlan: u16,
    dvlan: u16,
    smpls: u32,
    dmpls: u32,
    stos: u8,
    dtos: u8,
    sttl: u8,
    dttl: u8,
    srcid: u32,
}

/// Hashes the key as ten words instead of field by field (a derived hash
/// makes some twenty calls to the hasher, arrays with length prefixes):
/// hashing was a tenth of `cluster`'s instructions. The flow key's padding
/// is always zero and left out.
impl std::hash::Hash for GroupKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let w = |a: &[u8; 16]| {
            let v = u128::from_le_bytes(*a);
            (v as u64, (v >> 64) as u64)
        };
        let mac = |m: &[u8; 6]| {
            u64::from(u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
                | u64::from(u16::from_le_bytes([m[4], m[5]])) << 32
        };
        let k = &self.flow;
        let (s0, s1) = w(&k.src);
        let (d0, d1) = w(&k.dst);
        h.write_u64(s0);
        h.write_u64(s1);
        h.write_u64(d0);
        h.write_u64(d1);
        h.write_u64(u64::from(k.sport) | u64::from(k.dport) << 16 | u64::from(k.aux) << 32);
        h.write_u64(
            u64::from(k.proto)
                | u64::from(k.class) << 8
                | u64::from(self.svlan) << 16
                | u64::from(self.dvlan) << 32
                | u64::from(self.stos) << 48
                | u64::from(self.dtos) << 56,
        );
        h.write_u64(mac(&self.smac) | u64::from(self.sttl) << 48 | u64::from(self.dttl) << 56);
        h.write_u64(mac(&self.dmac));
        h.write_u64(u64::from(self.smpls) | u64::from(self.dmpls) << 32);
        h.write_u32(self.srcid);
    }
}

/// Which identity fields the key fixes.
#[derive(Clone, Copy, Debug, Default)]
struct Fixed {
    src: bool,
    dst: bool,
    proto: bool,
    sport: bool,
    dport: bool,
}

/// Merges records; feed them with [`Cluster::add`], take the groups with
/// [`Cluster::finish`].
pub struct Cluster {
    mode: ClusterMode,
    fixed: Fixed,
    index: HashMap<GroupKey, usize>,
    groups: Vec<Aggregate>,
    /// The input number of each group's first record.
    firsts: Vec<u64>,
    /// The input number of the record being added.
    seq: u64,
}

impl Cluster {
    pub fn new(mode: ClusterMode) -> Cluster {
        let mut fixed = Fixed::default();
        if let ClusterMode::Keys(keys) = &mode {
            for k in keys {
                match k {
                    ClusterKey::SAddr(_) => fixed.src = true,
                    ClusterKey::DAddr(_) => fixed.dst = true,
                    ClusterKey::Matrix(_) => {
                        fixed.src = true;
                        fixed.dst = true;
                    }
                    ClusterKey::Proto => fixed.proto = true,
                    ClusterKey::SPort => {
                        fixed.proto = true;
                        fixed.sport = true;
                    }
                    ClusterKey::DPort => {
                        fixed.proto = true;
                        fixed.dport = true;
                    }
                    _ => {}
                }
            }
        }
        Cluster {
            mode,
            fixed,
            index: HashMap::new(),
            groups: Vec::new(),
            firsts: Vec::new(),
            seq: 0,
        }
    }

    /// Merges one record (management records are ignored).
    pub fn add(&mut self, rec: &FlowRecord) {
        self.merge_in(rec);
        self.seq += 1;
    }

    fn merge_in(&mut self, rec: &FlowRecord) {
        if rec.kind.is_man() {
            return;
        }
        match &self.mode {
            ClusterMode::Flow { correct } => {
                let gk = GroupKey {
                    flow: flow_key(&rec.key),
                    ..GroupKey::default()
                };
                if let Some(&i) = self.index.get(&gk) {
                    merge(&mut self.groups[i], rec, &Fixed::all());
                    return;
                }
                if *correct {
                    let rk = GroupKey {
                        flow: flow_key(&rec.key.reversed()),
                        ..GroupKey::default()
                    };
                    if let Some(&i) = self.index.get(&rk) {
                        let r = crate::print::reversed(rec);
                        merge(&mut self.groups[i], &r, &Fixed::all());
                        return;
                    }
                }
                self.insert(gk, rec.clone());
            }
            ClusterMode::Keys(keys) => {
                let r = matrix_turned(keys, rec);
                let rec = r.as_ref().unwrap_or(rec);
                let gk = group_key(keys, rec);
                match self.index.get(&gk) {
                    Some(&i) => {
                        let fixed = self.fixed;
                        merge(&mut self.groups[i], rec, &fixed);
                    }
                    None => {
                        let mut first = rec.clone();
                        apply_key(&gk, keys, &mut first);
                        self.insert(gk, first);
                    }
                }
            }
        }
    }

    fn insert(&mut self, gk: GroupKey, rec: FlowRecord) {
        self.index.insert(gk, self.groups.len());
        self.groups.push(Aggregate::new(rec));
        self.firsts.push(self.seq);
    }

    /// [`Cluster::add`] for record number `seq` of the input (a group
    /// remembers the number of its first record: [`Cluster::finish_numbered`]).
    pub fn add_numbered(&mut self, rec: &FlowRecord, seq: u64) {
        self.seq = seq;
        self.merge_in(rec);
    }

    /// The merged records, in the order their groups first appeared.
    pub fn finish(self) -> Vec<Aggregate> {
        self.groups
    }

    /// The merged records, and the number of each group's first record
    /// (given to [`Cluster::add_numbered`]).
    pub fn finish_numbered(self) -> (Vec<Aggregate>, Vec<u64>) {
        (self.groups, self.firsts)
    }

    /// A hash of the group `rec` merges into, the same for every record that
    /// could merge with it (a flow's records either way round): records can be
    /// split among clusters by it, each cluster seeing whole groups.
    pub fn group_hash(&self, rec: &FlowRecord, hasher: &impl std::hash::BuildHasher) -> u64 {
        match &self.mode {
            ClusterMode::Flow { correct } => {
                let of = |k: &FlowKey| {
                    hasher.hash_one(GroupKey {
                        flow: flow_key(k),
                        ..GroupKey::default()
                    })
                };
                let h = of(&rec.key);
                if *correct {
                    h.min(of(&rec.key.reversed()))
                } else {
                    h
                }
            }
            ClusterMode::Keys(keys) => {
                let r = matrix_turned(keys, rec);
                hasher.hash_one(group_key(keys, r.as_ref().unwrap_or(rec)))
            }
        }
    }
}

/// For a `matrix` key, the record turned round when its destination sorts
/// before its source (so both directions of a pair group together).
fn matrix_turned(keys: &[ClusterKey], rec: &FlowRecord) -> Option<FlowRecord> {
    let len = keys.iter().find_map(|k| match k {
        ClusterKey::Matrix(l) => Some(*l),
        _ => None,
    })?;
    let bits = addr_bits(rec.key.class()).min(len);
    (mask_addr(&rec.key.dst, bits) < mask_addr(&rec.key.src, bits))
        .then(|| crate::print::reversed(rec))
}

/// Clusters the records of `input`. With several threads and only plain
/// record files to read, worker threads decode and filter chunks of the files
/// and split the records by [`Cluster::group_hash`] among one cluster per
/// thread; each cluster gets its records in input order, so every group
/// merges as on one thread, and the groups come out in the order of their
/// first records, as [`Cluster::finish`] gives them.
pub fn cluster_input(input: &Input, mode: ClusterMode) -> Result<Groups, ClientError> {
    let par = Parallel::new(input.threads);
    if par.threads < 2 || !input.plain_files_only()? {
        let mut c = Cluster::new(mode);
        input.for_each(|r| {
            c.add(r);
            Ok(true)
        })?;
        return Ok(Groups {
            lists: vec![c.finish()],
            order: Vec::new(),
        });
    }
    let parts = par.threads;
    let hasher = hashbrown::DefaultHashBuilder::default();
    let router = Cluster::new(mode.clone());
    let results = std::thread::scope(|s| {
        let mut txs = Vec::with_capacity(parts);
        let mut owners = Vec::with_capacity(parts);
        // Emptied lists go back to be filled again, so that the records'
        // vectors are not allocated on one thread and freed on another.
        let (back_tx, back_rx) = crossbeam_channel::unbounded::<Routed>();
        for _ in 0..parts {
            let (tx, rx) = crossbeam_channel::bounded::<(u64, Routed)>(4);
            txs.push(tx);
            let (mode, back_tx) = (mode.clone(), back_tx.clone());
            owners.push(s.spawn(move || {
                let mut c = Cluster::new(mode);
                for (base, mut part) in rx {
                    for (r, &n) in part.recs.iter().zip(&part.nums) {
                        c.add_numbered(r, base | u64::from(n));
                    }
                    part.recs.clear();
                    part.nums.clear();
                    let _ = back_tx.send(part);
                }
                c.finish_numbered()
            }));
        }
        let mut chunk_no: u64 = 0;
        let mut route_all = || -> Result<(), ClientError> {
            for path in &input.paths {
                parallel::for_each_chunk(
                    path,
                    par,
                    || (FlowRecord::default(), input.selection()),
                    |(rec, (keep, late)), chunk, routed: &mut Vec<Routed>| {
                        routed.resize_with(parts, Routed::default);
                        let mut n: u32 = 0;
                        chunk.for_each_kept(rec, keep, *late, |rec| {
                            let p = (router.group_hash(rec, &hasher) % parts as u64) as usize;
                            routed[p].recs.push(std::mem::take(rec));
                            routed[p].nums.push(n);
                            n += 1;
                            Ok(())
                        })
                    },
                    |routed| {
                        for (tx, part) in txs.iter().zip(routed.iter_mut()) {
                            if !part.recs.is_empty() {
                                let empty = back_rx.try_recv().unwrap_or_default();
                                tx.send((chunk_no << 32, std::mem::replace(part, empty)))
                                    .map_err(|_| owner_failed())?;
                            }
                        }
                        chunk_no += 1;
                        Ok(true)
                    },
                )?;
            }
            Ok(())
        };
        let routed = route_all();
        drop(txs);
        let done: Vec<_> = owners.into_iter().map(|h| h.join()).collect();
        routed?;
        done.into_iter()
            .map(|r| r.map_err(|_| owner_failed()))
            .collect::<Result<Vec<_>, _>>()
    })?;
    // Each cluster's groups are in the order of their first records: merge
    // the lists' orders (not the groups themselves, which would hold them
    // twice at once).
    let mut heads = vec![0usize; results.len()];
    let total = results.iter().map(|(g, _)| g.len()).sum();
    let mut order = Vec::with_capacity(total);
    loop {
        let next = results
            .iter()
            .zip(&heads)
            .enumerate()
            .filter_map(|(i, ((_, f), &h))| f.get(h).map(|&s| (s, i)))
            .min();
        let Some((_, i)) = next else { break };
        order.push((i as u32, heads[i] as u32));
        heads[i] += 1;
    }
    Ok(Groups {
        lists: results.into_iter().map(|(g, _)| g).collect(),
        order,
    })
}

/// The merged records of [`cluster_input`], in the order of their first
/// records.
pub struct Groups {
    lists: Vec<Vec<Aggregate>>,
    /// (list, index) of each group in order; empty: the one list's order.
    order: Vec<(u32, u32)>,
}

impl Groups {
    pub fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Group `i` in order.
    pub fn get(&self, i: usize) -> &Aggregate {
        match self.order.get(i) {
            Some(&(l, j)) => &self.lists[l as usize][j as usize],
            None => &self.lists[0][i],
        }
    }
}

impl super::Listed for Groups {
    fn get<'a>(
        &'a self,
        i: usize,
        _: &'a mut FlowRecord,
    ) -> Result<(&'a FlowRecord, u64), ClientError> {
        let a = Groups::get(self, i);
        Ok((&a.rec, a.trans))
    }
}

/// Records routed to one cluster from one chunk, with their numbers within
/// the chunk.
#[derive(Default)]
struct Routed {
    recs: Vec<FlowRecord>,
    nums: Vec<u32>,
}

fn owner_failed() -> ClientError {
    ClientError::Usage("a clustering thread stopped unexpectedly".into())
}

/// Clusters a list of records.
pub fn cluster_records<'a>(
    recs: impl IntoIterator<Item = &'a FlowRecord>,
    mode: ClusterMode,
) -> Vec<Aggregate> {
    let mut c = Cluster::new(mode);
    for r in recs {
        c.add(r);
    }
    c.finish()
}

/// The flow key racluster merges on: Argus's classic 5-tuple, so the probe's
/// extra key parts for IP flows (DNS transaction ids, ICMP echo sequence
/// numbers in `aux`) are left out and those records merge into one flow.
fn flow_key(k: &FlowKey) -> FlowKey {
    let mut k = *k;
    if k.class().is_ip() {
        k.aux = 0;
    }
    k
}

impl Fixed {
    fn all() -> Fixed {
        Fixed {
            src: true,
            dst: true,
            proto: true,
            sport: true,
            dport: true,
        }
    }
}

fn group_key(keys: &[ClusterKey], r: &FlowRecord) -> GroupKey {
    let mut g = GroupKey::default();
    let class = r.key.class();
    let bits = addr_bits(class);
    for k in keys {
        match *k {
            ClusterKey::SAddr(l) => {
                g.flow.class = r.key.class;
                g.flow.src = mask_addr(&r.key.src, bits.min(l));
            }
            ClusterKey::DAddr(l) => {
                g.flow.class = r.key.class;
                g.flow.dst = mask_addr(&r.key.dst, bits.min(l));
            }
            ClusterKey::Matrix(l) => {
                g.flow.class = r.key.class;
                g.flow.src = mask_addr(&r.key.src, bits.min(l));
                g.flow.dst = mask_addr(&r.key.dst, bits.min(l));
            }
            ClusterKey::Proto | ClusterKey::SPort | ClusterKey::DPort => {
                g.flow.proto = r.key.proto;
                if !class.is_ip() {
                    // Non-IP kinds (ARP, LLC, ethertypes) are their own "protocols".
                    g.flow._pad[0] = r.key.class;
                    g.flow.aux = r.key.aux;
                }
                if *k == ClusterKey::SPort {
                    g.flow.sport = r.key.sport;
                }
                if *k == ClusterKey::DPort {
                    g.flow.dport = r.key.dport;
                }
            }
            ClusterKey::SMac => g.smac = r.smac,
            ClusterKey::DMac => g.dmac = r.dmac,
            ClusterKey::SVlan => g.svlan = r.svlan,
            ClusterKey::DVlan => g.dvlan = r.dvlan,
            ClusterKey::SMpls => g.smpls = r.smpls,
            ClusterKey::DMpls => g.dmpls = r.dmpls,
            ClusterKey::STos => g.stos = r.src.tos,
            ClusterKey::DTos => g.dtos = r.dst.tos,
            ClusterKey::STtl => g.sttl = r.src.ttl,
            ClusterKey::DTtl => g.dttl = r.dst.ttl,
            ClusterKey::SrcId => g.srcid = r.srcid,
        }
    }
    g
}

/// Puts the group's masked addresses into its first record.
fn apply_key(g: &GroupKey, keys: &[ClusterKey], r: &mut FlowRecord) {
    for k in keys {
        match k {
            ClusterKey::SAddr(_) => r.key.src = g.flow.src,
            ClusterKey::DAddr(_) => r.key.dst = g.flow.dst,
            ClusterKey::Matrix(_) => {
                r.key.src = g.flow.src;
                r.key.dst = g.flow.dst;
            }
            _ => {}
        }
    }
}

/// Keeps `a` where it equals `b`, zero where they differ.
fn agree<T: PartialEq + Default>(a: &mut T, b: &T) {
    if *a != *b {
        *a = T::default();
    }
}

fn merge(agg: &mut Aggregate, r: &FlowRecord, fixed: &Fixed) {
    agg.trans += 1;
    let a = &mut agg.rec;
    let later = r.ltime_ns >= a.ltime_ns;
    if !fixed.src {
        agree(&mut a.key.src, &r.key.src);
    }
    if !fixed.dst {
        agree(&mut a.key.dst, &r.key.dst);
    }
    if !fixed.proto {
        agree(&mut a.key.proto, &r.key.proto);
        agree(&mut a.key.aux, &r.key.aux);
    }
    if !fixed.sport {
        agree(&mut a.key.sport, &r.key.sport);
    }
    if !fixed.dport {
        agree(&mut a.key.dport, &r.key.dport);
    }
    if a.key.class != r.key.class && !(fixed.src || fixed.dst) {
        a.key.src = [0; 16];
        a.key.dst = [0; 16];
    }
    agree(&mut a.smac, &r.smac);
    agree(&mut a.dmac, &r.dmac);
    agree(&mut a.svlan, &r.svlan);
    agree(&mut a.dvlan, &r.dvlan);
    agree(&mut a.smpls, &r.smpls);
    agree(&mut a.dmpls, &r.dmpls);
    agree(&mut a.srcid, &r.srcid);

    a.stime_ns = min_nonzero(a.stime_ns, r.stime_ns);
    a.ltime_ns = a.ltime_ns.max(r.ltime_ns);
    if later {
        a.cause = r.cause;
    }
    a.encaps |= r.encaps;
    a.flags |= r.flags;
    a.ip_options |= r.ip_options;
    if a.icmp_mapped == 0 {
        a.icmp_mapped = r.icmp_mapped;
    }
    merge_dir(&mut a.src, &r.src);
    merge_dir(&mut a.dst, &r.dst);
    a.tcp = match (a.tcp, r.tcp) {
        (Some(mut x), Some(y)) => {
            merge_tcp(&mut x, &y, later);
            Some(x)
        }
        (x, y) => x.or(y),
    };
    if a.suser.is_empty() {
        a.suser.extend_from_slice(&r.suser);
    }
    if a.duser.is_empty() {
        a.duser.extend_from_slice(&r.duser);
    }
}

fn min_nonzero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (x, y) => x.min(y),
    }
}

fn merge_dir(a: &mut DirStats, b: &DirStats) {
    if b.pkts == 0 {
        return;
    }
    if a.pkts == 0 {
        *a = *b;
        return;
    }
    let later = b.ltime_ns >= a.ltime_ns;
    a.pkts = a.pkts.saturating_add(b.pkts);
    a.bytes = a.bytes.saturating_add(b.bytes);
    a.appbytes = a.appbytes.saturating_add(b.appbytes);
    a.stime_ns = min_nonzero(a.stime_ns, b.stime_ns);
    a.ltime_ns = a.ltime_ns.max(b.ltime_ns);
    if later {
        a.ttl = b.ttl;
        a.tos = b.tos;
        a.ipid = b.ipid;
    }
    a.min_sz = a.min_sz.min(b.min_sz);
    a.max_sz = a.max_sz.max(b.max_sz);
    if b.intpkt_n > 0 {
        if a.intpkt_n == 0 {
            a.intpkt_min_us = b.intpkt_min_us;
            a.intpkt_max_us = b.intpkt_max_us;
        } else {
            a.intpkt_min_us = a.intpkt_min_us.min(b.intpkt_min_us);
            a.intpkt_max_us = a.intpkt_max_us.max(b.intpkt_max_us);
        }
        a.intpkt_n = a.intpkt_n.saturating_add(b.intpkt_n);
        a.intpkt_sum_us += b.intpkt_sum_us;
        a.intpkt_sumsq_us += b.intpkt_sumsq_us;
    }
}

fn merge_tcp(a: &mut TcpPerf, b: &TcpPerf, later: bool) {
    a.state |= b.state;
    a.history |= b.history;
    a.src_flags |= b.src_flags;
    a.dst_flags |= b.dst_flags;
    a.options |= b.options;
    if a.src_base_seq == 0 {
        a.src_base_seq = b.src_base_seq;
    }
    if a.dst_base_seq == 0 {
        a.dst_base_seq = b.dst_base_seq;
    }
    if later {
        a.src_win = b.src_win;
        a.dst_win = b.dst_win;
        a.src_max_seq = b.src_max_seq;
        a.dst_max_seq = b.dst_max_seq;
    }
    if a.synack_us == 0 {
        a.synack_us = b.synack_us;
    }
    if a.ackdat_us == 0 {
        a.ackdat_us = b.ackdat_us;
    }
    a.src_retrans = a.src_retrans.saturating_add(b.src_retrans);
    a.dst_retrans = a.dst_retrans.saturating_add(b.dst_retrans);
    a.src_ooo = a.src_ooo.saturating_add(b.src_ooo);
    a.dst_ooo = a.dst_ooo.saturating_add(b.dst_ooo);
    a.src_gap_bytes = a.src_gap_bytes.saturating_add(b.src_gap_bytes);
    a.dst_gap_bytes = a.dst_gap_bytes.saturating_add(b.dst_gap_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{tcpstate, Cause, KeyClass};

    fn rec(src: [u8; 4], dst: [u8; 4], sport: u16, t: u64, pkts: u64) -> FlowRecord {
        let mut r = FlowRecord {
            stime_ns: t * 1_000_000_000,
            ltime_ns: t * 1_000_000_000 + 1_000,
            src: DirStats {
                pkts,
                bytes: pkts * 100,
                min_sz: 100,
                max_sz: 100,
                ..DirStats::default()
            },
            tcp: Some(TcpPerf::default()),
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 6;
        r.key.src[..4].copy_from_slice(&src);
        r.key.dst[..4].copy_from_slice(&dst);
        r.key.sport = sport;
        r.key.dport = 80;
        r
    }

    #[test]
    fn status_records_of_a_flow_merge_with_ored_state() {
        let a = rec([10, 0, 0, 1], [10, 0, 0, 2], 1000, 5, 3);
        let mut b = rec([10, 0, 0, 1], [10, 0, 0, 2], 1000, 10, 2);
        b.cause = Cause::Close;
        b.tcp = Some(TcpPerf {
            state: tcpstate::FIN_SRC | tcpstate::FIN_DST,
            ..TcpPerf::default()
        });
        let other = rec([10, 0, 0, 1], [10, 0, 0, 2], 1001, 6, 1);
        // The reply side keyed the other way round merges too (-M correct).
        let mut rev = rec([10, 0, 0, 2], [10, 0, 0, 1], 80, 7, 4);
        rev.key.dport = 1000;
        let out = cluster_records([&a, &other, &b, &rev], ClusterMode::Flow { correct: true });
        assert_eq!(out.len(), 2);
        let g = &out[0];
        assert_eq!(g.trans, 3);
        assert_eq!(g.rec.src.pkts, 5);
        assert_eq!(g.rec.dst.pkts, 4);
        assert_eq!(g.rec.stime_ns, 5_000_000_000);
        assert_eq!(g.rec.ltime_ns, 10_000_001_000);
        assert_eq!(g.rec.cause, Cause::Close);
        assert!(g.rec.tcp.unwrap().state & tcpstate::FIN_SRC != 0);
        assert_eq!(out[1].trans, 1);
        let no = cluster_records([&a, &rev], ClusterMode::Flow { correct: false });
        assert_eq!(no.len(), 2);
    }

    #[test]
    fn keyed_groups_mask_addresses_and_zero_fields_that_differ() {
        let a = rec([10, 0, 1, 1], [10, 0, 0, 2], 1000, 5, 3);
        let b = rec([10, 0, 2, 1], [10, 0, 0, 3], 1000, 6, 2);
        let c = rec([11, 0, 2, 1], [10, 0, 0, 3], 1000, 6, 2);
        let mode = ClusterMode::parse(&["saddr/16", "proto"]).unwrap();
        let out = cluster_records([&a, &b, &c], mode);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].trans, 2);
        assert_eq!(out[0].rec.key.src[..4], [10, 0, 0, 0]);
        assert_eq!(out[0].rec.key.dst[..4], [0, 0, 0, 0], "daddr differed");
        assert_eq!(out[0].rec.key.sport, 1000, "sport agreed");
        assert_eq!(out[0].rec.src.bytes, 500);
        let all = cluster_records([&a, &b, &c], ClusterMode::parse(&["none"]).unwrap());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].trans, 3);
    }

    #[test]
    fn matrix_groups_both_directions() {
        let a = rec([10, 0, 0, 1], [10, 0, 0, 2], 1000, 5, 3);
        let b = rec([10, 0, 0, 2], [10, 0, 0, 1], 1000, 6, 2);
        let out = cluster_records([&a, &b], ClusterMode::parse(&["matrix"]).unwrap());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rec.src.pkts, 3);
        assert_eq!(out[0].rec.dst.pkts, 2);
    }

    #[test]
    fn bad_keys_name_the_valid_ones() {
        let e = ClusterMode::parse(&["saddr", "bogus"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'bogus'") && e.contains("matrix"), "{e}");
        assert!(ClusterMode::parse(&["proto/3"]).is_err());
    }
}
