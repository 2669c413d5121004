//! Argus `ra`-style output: the text columns of `ra` 3.0.8.2 byte for byte, CSV
//! (`-c`), and JSON lines.
//!
//! Defaults are those of `ra -X` (no rarc): the header is printed once, numbers
//! are named (services, protocols), hosts are numeric, and ambiguous TCP flows keep
//! the probe's orientation. Debian's rarc behaviour of turning such flows round by
//! port is [`PrintOptions::port_direction`].
//!
//! Layout (ARGUS.md 3.1): every column is its value right-aligned (ports, flgs and
//! tcpopt left-aligned) in the field's width, cut to the width with a final `*` when
//! too long, then one space; data lines lose their trailing blanks, the header keeps
//! them. `saddr` directly followed by `sport` prints as `addr.port` (the `.` takes
//! the separating space), likewise `daddr dport`.
//!
//! Deliberate differences from `ra`: an unknown `-s` field is an error here (ra
//! silently prints an empty column); `-s -a -b` removes both fields.

mod fields;
mod names;
mod semantics;
#[cfg(test)]
mod tests;

pub use fields::{field_names, Align, Field, ALL_FIELDS, DEFAULT_FIELDS};
pub use names::{ethertype_name, ip_proto_name, llc_sap_name, Names};
pub use semantics::{
    direction, flags, reversed, state, wants_port_flip, FlagSides, TCPOPT_DST_ECN, TCPOPT_SRC_ECN,
};

use crate::packet::tcpopt;
use crate::record::{flag, FlowRecord, KeyClass};
use chrono::{FixedOffset, Local, TimeZone};
use ocellus_common::ipproto;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Errors in print options.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrintError {
    #[error("unknown field '{name}' in -s; valid fields: {valid}")]
    UnknownField { name: String, valid: String },
    #[error("bad width in -s '{spec}': expected FIELD:LEN with LEN a number from 1 to 1024")]
    BadWidth { spec: String },
    #[error("bad -Z value '{0}': expected s, d or b")]
    BadFlagSides(String),
}

/// One column: a field and its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub field: Field,
    /// Set by `field:len`; otherwise the field's default width.
    pub width: Option<usize>,
}

/// How records are printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintOptions {
    /// The columns (`-s`).
    pub columns: Vec<Column>,
    /// `-n` count: 0 names ports and protocols, 1 numeric ports, 2 numeric protocols too.
    pub numeric: u8,
    /// `-c CHAR`: delimiter between fields instead of padded columns.
    pub delimiter: Option<char>,
    /// `-L N`: -1 no header, 0 header once, N header every N records.
    pub labels: i64,
    /// `-u`: Unix epoch seconds instead of local `%T`.
    pub epoch_time: bool,
    /// `-p N`: fractional digits of times and floating values (0 to 9).
    pub precision: usize,
    /// `-z`: TCP state-change letters in the state column.
    pub state_history: bool,
    /// `-Z s|d|b`: TCP flags in the state column.
    pub tcp_flags: Option<FlagSides>,
    /// One JSON object per record instead of text.
    pub json: bool,
    /// Debian rarc `RA_PORT_DIRECTION="services,wellknown"`: turn ambiguous TCP flows
    /// round so the well-known or named port is the destination.
    pub port_direction: bool,
    /// Print times at this UTC offset instead of the local time zone (`TZ`).
    pub utc_offset: Option<FixedOffset>,
    /// `sstime sltime dstime dltime sdur ddur` from each direction's own packet
    /// times. Off, they print as `ra` prints records of an argus run without
    /// `ARGUS_GENERATE_BIDIRECTIONAL_TIMESTAMPS` (the default): the record's times
    /// for a side that sent packets, the epoch for one that did not.
    pub bidir_times: bool,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            columns: DEFAULT_FIELDS
                .iter()
                .map(|&field| Column { field, width: None })
                .collect(),
            numeric: 0,
            delimiter: None,
            labels: 0,
            epoch_time: false,
            precision: 6,
            state_history: false,
            tcp_flags: None,
            json: false,
            port_direction: false,
            utc_offset: None,
            bidir_times: false,
        }
    }
}

impl PrintOptions {
    /// Applies `ra -s` arguments. Each argument may hold several space-separated
    /// specs. If the first spec starts with `+` or `-` the current list is edited,
    /// otherwise it is replaced. `field` or `+field` appends, `+Nfield` inserts at
    /// index N, `-field` removes, `field:len` sets the width.
    pub fn set_fields<S: AsRef<str>>(&mut self, args: &[S]) -> Result<(), PrintError> {
        let specs: Vec<&str> = args
            .iter()
            .flat_map(|a| a.as_ref().split_whitespace())
            .collect();
        let Some(first) = specs.first() else {
            return Ok(());
        };
        let mut cols = if first.starts_with('+') || first.starts_with('-') {
            std::mem::take(&mut self.columns)
        } else {
            Vec::new()
        };
        for spec in specs {
            if let Some(rest) = spec.strip_prefix('-') {
                let col = parse_column(rest)?;
                cols.retain(|c| c.field != col.field);
            } else if let Some(rest) = spec.strip_prefix('+') {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let col = parse_column(&rest[digits..])?;
                match rest[..digits].parse::<usize>() {
                    Ok(at) => cols.insert(at.min(cols.len()), col),
                    Err(_) => cols.push(col),
                }
            } else {
                cols.push(parse_column(spec)?);
            }
        }
        self.columns = cols;
        Ok(())
    }

    /// Parses `-Z`'s argument.
    pub fn parse_flag_sides(s: &str) -> Result<FlagSides, PrintError> {
        match s {
            "s" => Ok(FlagSides::Src),
            "d" => Ok(FlagSides::Dst),
            "b" => Ok(FlagSides::Both),
            _ => Err(PrintError::BadFlagSides(s.to_string())),
        }
    }
}

fn parse_column(spec: &str) -> Result<Column, PrintError> {
    let mut parts = spec.splitn(3, ':');
    let name = parts.next().unwrap_or("");
    let field = Field::from_name(name).ok_or_else(|| PrintError::UnknownField {
        name: name.to_string(),
        valid: field_names(),
    })?;
    let width = match parts.next() {
        None => None,
        Some(w) => match w.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => Some(n),
            _ => {
                return Err(PrintError::BadWidth {
                    spec: spec.to_string(),
                })
            }
        },
    };
    Ok(Column { field, width })
}

/// What a field produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Nothing to show (blank column, JSON null).
    Empty,
    Text,
    /// A valid JSON number.
    Number,
}

/// Prints records. Holds scratch buffers, so printing allocates nothing per record
/// (except for a record turned round by [`PrintOptions::port_direction`]).
pub struct Printer {
    opts: PrintOptions,
    names: Names,
    records: u64,
    line: String,
    value: String,
    port: String,
    /// The `trans` value of the record being printed (records merged; 1 unless
    /// [`Printer::write_record_trans`] says otherwise).
    trans: u64,
    /// The last second formatted as `HH:MM:SS` and its text: records come
    /// mostly in time order, so the time-zone conversion runs about once a
    /// second of traffic instead of once per time column.
    hms_cache: std::cell::Cell<Option<(i64, [u8; 8])>>,
    /// Each column's value width ([`Printer::data_width`]), worked out once.
    data_widths: Vec<usize>,
}

impl Printer {
    /// A printer with the system's service names (`/etc/services`, read now).
    pub fn new(opts: PrintOptions) -> Printer {
        Printer::with_names(opts, Names::system())
    }

    pub fn with_names(mut opts: PrintOptions, names: Names) -> Printer {
        opts.precision = opts.precision.min(9);
        let mut p = Printer {
            opts,
            names,
            records: 0,
            line: String::with_capacity(256),
            value: String::with_capacity(64),
            port: String::with_capacity(16),
            trans: 1,
            hms_cache: std::cell::Cell::new(None),
            data_widths: Vec::new(),
        };
        p.data_widths = p.opts.columns.iter().map(|c| p.data_width(c)).collect();
        p
    }

    /// This printer's options with labels off, and its names: what a worker
    /// thread needs for a [`Printer`] whose lines this one then counts
    /// ([`Printer::count_printed`]).
    pub fn worker_parts(&self) -> (PrintOptions, Names) {
        let mut o = self.opts.clone();
        o.labels = -1;
        (o, self.names.clone())
    }

    pub fn options(&self) -> &PrintOptions {
        &self.opts
    }

    /// The effective `-n` level: ra cycles `-n` (ports), `-nn` (protocols too),
    /// `-nnn` (names again, plus host names, which ocellus never looks up), `-nnnn`
    /// (back to the default).
    fn numeric(&self) -> u8 {
        match self.opts.numeric % 4 {
            3 => 0,
            n => n,
        }
    }

    /// The width of a column's label.
    fn width(&self, c: &Column) -> usize {
        c.width
            .unwrap_or_else(|| c.field.width_at(self.opts.precision))
    }

    /// The width of a column's values: the label's, except that ra labels the
    /// per-direction times one column wider than their values (so those columns
    /// drift from their labels, as in ra).
    fn data_width(&self, c: &Column) -> usize {
        match c.field {
            Field::SrcStartTime | Field::SrcLastTime | Field::DstStartTime | Field::DstLastTime
                if c.width.is_none() =>
            {
                Field::StartTime.width_at(self.opts.precision)
            }
            _ => self.width(c),
        }
    }

    /// Column `i`'s value width, from the widths worked out at the start.
    fn column_width(&self, i: usize, c: &Column) -> usize {
        match self.data_widths.get(i) {
            Some(&w) => w,
            None => self.data_width(c),
        }
    }

    /// The header line, without a newline (empty in JSON mode).
    pub fn header(&self) -> String {
        let mut h = String::new();
        if self.opts.json {
            return h;
        }
        for (i, c) in self.opts.columns.iter().enumerate() {
            let label = c.field.label();
            match self.opts.delimiter {
                Some(d) => {
                    if i > 0 {
                        h.push(d);
                    }
                    h.push_str(label);
                }
                None => {
                    let w = self.width(c);
                    let label: String = label.chars().take(w).collect();
                    pad(&mut h, &label, w, c.field.label_align());
                    h.push(' ');
                }
            }
        }
        h
    }

    /// Writes one record (and the header when it is due).
    pub fn write_record(&mut self, rec: &FlowRecord, out: &mut impl Write) -> io::Result<()> {
        if !self.opts.json && self.label_due() {
            let h = self.header();
            out.write_all(h.as_bytes())?;
            out.write_all(b"\n")?;
        }
        self.records += 1;
        let flipped;
        let rec = if self.opts.port_direction && wants_port_flip(rec, |p| self.names.is_service(p))
        {
            flipped = reversed(rec);
            &flipped
        } else {
            rec
        };
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        if self.opts.json {
            self.json_line(rec, &mut line);
        } else if let Some(d) = self.opts.delimiter {
            self.delimited_line(rec, d, &mut line);
        } else {
            self.text_line(rec, &mut line);
        }
        push_man_drops(rec, self.opts.json, &mut line);
        line.push('\n');
        let r = out.write_all(line.as_bytes());
        self.line = line;
        r
    }

    /// Counts `n` records as printed by other printers (worker threads with
    /// labels off), writing the header first when it is due (`-L 0`: before
    /// the first record). Labels every N lines (`-L N`) need each record to
    /// pass through [`Printer::write_record`].
    pub fn count_printed(&mut self, n: u64, out: &mut impl Write) -> io::Result<()> {
        if n > 0 && !self.opts.json && self.label_due() {
            out.write_all(self.header().as_bytes())?;
            out.write_all(b"\n")?;
        }
        self.records += n;
        Ok(())
    }

    /// Writes one record that stands for `trans` merged records (`racluster`'s
    /// `trans` column); [`Printer::write_record`] prints `trans` as 1.
    pub fn write_record_trans(
        &mut self,
        rec: &FlowRecord,
        trans: u64,
        out: &mut impl Write,
    ) -> io::Result<()> {
        self.trans = trans;
        let r = self.write_record(rec, out);
        self.trans = 1;
        r
    }

    /// The record as it would be printed, without a newline or header.
    pub fn format_record(&mut self, rec: &FlowRecord) -> String {
        let mut buf = Vec::new();
        let saved = (self.records, self.opts.labels);
        self.opts.labels = -1;
        // Writing to a Vec cannot fail.
        let _ = self.write_record(rec, &mut buf);
        (self.records, self.opts.labels) = saved;
        let mut s = String::from_utf8_lossy(&buf).into_owned();
        s.pop();
        s
    }

    fn label_due(&self) -> bool {
        match self.opts.labels {
            l if l < 0 => false,
            0 => self.records == 0,
            n => self.records.is_multiple_of(n as u64),
        }
    }

    fn text_line(&mut self, rec: &FlowRecord, line: &mut String) {
        let cols = std::mem::take(&mut self.opts.columns);
        let mut i = 0;
        while i < cols.len() {
            let c = cols[i];
            let w = self.column_width(i, &c);
            let joined_port = match (c.field, cols.get(i + 1)) {
                (Field::SrcAddr, Some(n)) if n.field == Field::SrcPort => Some(*n),
                (Field::DstAddr, Some(n)) if n.field == Field::DstPort => Some(*n),
                _ => None,
            };
            let mut value = std::mem::take(&mut self.value);
            value.clear();
            self.field_value(rec, c.field, &mut value);
            match joined_port.filter(|_| !rec.kind.is_man()) {
                Some(pc) => {
                    pad_cut(line, &value, w, Align::Right);
                    let mut port = std::mem::take(&mut self.port);
                    port.clear();
                    self.field_value(rec, pc.field, &mut port);
                    let pw = self.column_width(i + 1, &pc);
                    if port.is_empty() {
                        line.push(' ');
                        pad_cut(line, "", pw, Align::Left);
                    } else {
                        line.push('.');
                        pad_cut(line, &port, pw, Align::Left);
                    }
                    line.push(' ');
                    self.port = port;
                    i += 2;
                }
                None => {
                    let align = if rec.kind.is_man()
                        && matches!(c.field, Field::SrcPort | Field::DstPort)
                    {
                        Align::Right
                    } else {
                        c.field.value_align()
                    };
                    pad_cut(line, &value, w, align);
                    line.push(' ');
                    i += 1;
                }
            }
            self.value = value;
        }
        self.opts.columns = cols;
        let trimmed = line.trim_end_matches(' ').len();
        line.truncate(trimmed);
    }

    fn delimited_line(&mut self, rec: &FlowRecord, delim: char, line: &mut String) {
        let cols = std::mem::take(&mut self.opts.columns);
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                line.push(delim);
            }
            let mut value = std::mem::take(&mut self.value);
            value.clear();
            self.field_value(rec, c.field, &mut value);
            if c.field == Field::Dir && !value.is_empty() {
                // ra 3.0.8.2 still pads Dir with a delimiter (but drops
                // the trailing blank of `<- `).
                pad_cut(line, &value, self.width(c), Align::Right);
                let kept = line.trim_end_matches(' ').len();
                line.truncate(kept);
            } else if c.field == Field::Flgs {
                // The indicator string is 10 characters; the column shows 9.
                line.push_str(&value);
                line.push(' ');
            } else {
                line.push_str(&value);
            }
            self.value = value;
        }
        self.opts.columns = cols;
    }

    fn json_line(&mut self, rec: &FlowRecord, line: &mut String) {
        let cols = std::mem::take(&mut self.opts.columns);
        line.push('{');
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_json_str(line, c.field.name());
            line.push(':');
            let mut value = std::mem::take(&mut self.value);
            value.clear();
            let kind = self.field_json(rec, c.field, &mut value);
            match kind {
                Kind::Empty => line.push_str("null"),
                Kind::Number => line.push_str(&value),
                Kind::Text => {
                    let v = if c.field == Field::Flgs {
                        value.as_str()
                    } else {
                        value.trim()
                    };
                    push_json_str(line, v);
                }
            }
            self.value = value;
        }
        line.push('}');
        self.opts.columns = cols;
    }

    /// JSON values: times as epoch seconds, everything numeric as a number.
    fn field_json(&self, rec: &FlowRecord, f: Field, out: &mut String) -> Kind {
        if f.is_time() {
            let ns = match f {
                Field::StartTime | Field::LastTime => time_of(rec, f),
                _ => self.dir_time(rec, f),
            };
            if ns == 0 && f != Field::StartTime && f != Field::LastTime {
                return Kind::Empty;
            }
            self.push_epoch(ns, out);
            return Kind::Number;
        }
        let kind = self.field_value(rec, f, out);
        if kind == Kind::Number && !is_json_number(out) {
            return Kind::Empty;
        }
        kind
    }

    /// Writes the value of one field for the text layouts.
    fn field_value(&self, rec: &FlowRecord, f: Field, out: &mut String) -> Kind {
        let p = self.opts.precision;
        let is_man = rec.kind.is_man();
        let man = rec.man.as_deref().copied().unwrap_or_default();
        let tcp = rec.tcp.as_ref().filter(|_| semantics::is_tcp(rec));
        let ip = rec.key.class().is_ip();
        let dur_s = dur_secs(rec);
        macro_rules! num {
            ("{}", $v:expr) => {{
                push_u64(out, u64::from($v));
                Kind::Number
            }};
            ($($arg:tt)*) => {{
                let _ = write!(out, $($arg)*);
                Kind::Number
            }};
        }
        macro_rules! text {
            ($s:expr) => {{
                out.push_str($s);
                Kind::Text
            }};
        }
        match f {
            Field::StartTime | Field::LastTime => {
                self.push_time(time_of(rec, f), out);
                Kind::Text
            }
            Field::SrcStartTime | Field::SrcLastTime | Field::DstStartTime | Field::DstLastTime => {
                self.push_time(self.dir_time(rec, f), out);
                Kind::Text
            }
            Field::Dur => num!("{:.*}", p, dur_s),
            Field::SrcDur if self.opts.bidir_times => num!("{:.*}", p, dir_dur_secs(&rec.src)),
            Field::DstDur if self.opts.bidir_times => num!("{:.*}", p, dir_dur_secs(&rec.dst)),
            Field::SrcDur | Field::DstDur => num!("{:.*}", p, dur_s),
            Field::Trans => num!("{}", self.trans),
            Field::Seq => num!("{}", rec.seq),
            Field::SrcId => {
                let b = rec.srcid.to_be_bytes();
                let _ = write!(out, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
                Kind::Text
            }
            Field::Cause => text!(rec.cause.name()),
            Field::SrcAddr | Field::DstAddr if is_man => num!("0"),
            Field::SrcAddr => {
                self.push_addr(rec, &rec.key.src, out);
                Kind::Text
            }
            Field::DstAddr => {
                self.push_addr(rec, &rec.key.dst, out);
                Kind::Text
            }
            Field::Proto => {
                self.push_proto(rec, out);
                Kind::Text
            }
            Field::SrcPort | Field::DstPort if is_man => num!("0"),
            Field::SrcPort => self.push_port(rec, true, out),
            Field::DstPort => self.push_port(rec, false, out),
            Field::Dir => text!(direction(rec)),
            Field::SrcMac | Field::DstMac => {
                if rec.flags & flag::HAS_MAC == 0 {
                    return Kind::Empty;
                }
                let m = if f == Field::SrcMac {
                    &rec.smac
                } else {
                    &rec.dmac
                };
                self.push_mac(m, out);
                Kind::Text
            }
            Field::SrcVid | Field::SrcVpri | Field::SrcVlan if rec.flags & flag::HAS_SVLAN == 0 => {
                Kind::Empty
            }
            Field::DstVid | Field::DstVpri | Field::DstVlan if rec.flags & flag::HAS_DVLAN == 0 => {
                Kind::Empty
            }
            Field::SrcVid => num!("{}", rec.svlan & 0x0fff),
            Field::DstVid => num!("{}", rec.dvlan & 0x0fff),
            Field::SrcVpri => num!("{}", rec.svlan >> 13),
            Field::DstVpri => num!("{}", rec.dvlan >> 13),
            Field::SrcVlan => {
                let _ = write!(out, "0x{:04x}", rec.svlan);
                Kind::Text
            }
            Field::DstVlan => {
                let _ = write!(out, "0x{:04x}", rec.dvlan);
                Kind::Text
            }
            Field::SrcMpls if rec.flags & flag::HAS_SMPLS != 0 => num!("{}", rec.smpls),
            Field::DstMpls if rec.flags & flag::HAS_DMPLS != 0 => num!("{}", rec.dmpls),
            Field::SrcMpls | Field::DstMpls => Kind::Empty,
            Field::SrcTos | Field::SrcTtl | Field::SrcIpId if !ip || rec.src.pkts == 0 => {
                Kind::Empty
            }
            Field::DstTos | Field::DstTtl | Field::DstIpId if !ip || rec.dst.pkts == 0 => {
                Kind::Empty
            }
            Field::SrcTos => num!("{}", rec.src.tos),
            Field::DstTos => num!("{}", rec.dst.tos),
            Field::SrcTtl => num!("{}", rec.src.ttl),
            Field::DstTtl => num!("{}", rec.dst.ttl),
            // Argus prints the IP id byte-swapped.
            Field::SrcIpId => {
                let _ = write!(out, "0x{:04x}", rec.src.ipid.swap_bytes());
                Kind::Text
            }
            Field::DstIpId => {
                let _ = write!(out, "0x{:04x}", rec.dst.ipid.swap_bytes());
                Kind::Text
            }
            Field::Pkts if is_man => num!("{}", man.pkts),
            Field::Bytes if is_man => num!("{}", man.bytes),
            Field::Pkts => num!("{}", rec.pkts()),
            Field::SrcPkts => num!("{}", rec.src.pkts),
            Field::DstPkts => num!("{}", rec.dst.pkts),
            Field::Bytes => num!("{}", rec.bytes()),
            Field::SrcBytes => num!("{}", rec.src.bytes),
            Field::DstBytes => num!("{}", rec.dst.bytes),
            Field::AppBytes => num!("{}", rec.appbytes()),
            Field::SrcAppBytes => num!("{}", rec.src.appbytes),
            Field::DstAppBytes => num!("{}", rec.dst.appbytes),
            Field::Load => {
                let bits = (load_bytes(&rec.src) + load_bytes(&rec.dst)) * 8.0;
                num!("{:.*}", p, per_sec(bits, dur_s))
            }
            Field::SrcLoad => num!("{:.*}", p, per_sec(load_bytes(&rec.src) * 8.0, dur_s)),
            Field::DstLoad => num!("{:.*}", p, per_sec(load_bytes(&rec.dst) * 8.0, dur_s)),
            Field::Rate => num!(
                "{:.*}",
                p,
                per_sec(rec.pkts().saturating_sub(1) as f64, dur_s)
            ),
            Field::SrcRate => num!(
                "{:.*}",
                p,
                per_sec(rec.src.pkts.saturating_sub(1) as f64, dur_s)
            ),
            Field::DstRate => num!(
                "{:.*}",
                p,
                per_sec(rec.dst.pkts.saturating_sub(1) as f64, dur_s)
            ),
            Field::Pcr => {
                let (s, d) = (rec.src.appbytes as f64, rec.dst.appbytes as f64);
                // ra prints -0.000000 when neither side carried payload.
                let v = if s + d > 0.0 { (s - d) / (s + d) } else { -0.0 };
                num!("{:.*}", p, v as f32)
            }
            Field::Loss => num!("{}", loss(tcp, true) + loss(tcp, false)),
            Field::SrcLoss => num!("{}", loss(tcp, true)),
            Field::DstLoss => num!("{}", loss(tcp, false)),
            Field::PLoss => {
                let l = loss(tcp, true) + loss(tcp, false);
                num!("{:.*}", p, percent(l, rec.pkts()))
            }
            Field::SrcPLoss => num!("{:.*}", p, percent(loss(tcp, true), rec.src.pkts)),
            Field::DstPLoss => num!("{:.*}", p, percent(loss(tcp, false), rec.dst.pkts)),
            // Argus 3.0.8.2 never fills these (retransmissions only show as loss).
            Field::Retrans | Field::SrcRetrans | Field::DstRetrans => num!("0"),
            Field::PRetrans | Field::SrcPRetrans | Field::DstPRetrans => num!("{:.*}", p, 0.0),
            Field::SrcTcpBase => match tcp {
                Some(t) => num!("{}", t.src_base_seq),
                None => Kind::Empty,
            },
            Field::DstTcpBase => match tcp {
                Some(t) => num!("{}", t.dst_base_seq),
                None => Kind::Empty,
            },
            Field::SrcWin => match tcp {
                Some(t) if rec.src.pkts > 0 => num!("{}", t.src_win),
                _ => Kind::Empty,
            },
            Field::DstWin => match tcp {
                Some(t) if rec.dst.pkts > 0 => num!("{}", t.dst_win),
                _ => Kind::Empty,
            },
            Field::TcpRtt => {
                let us = tcp.map_or(0, |t| t.synack_us as u64 + t.ackdat_us as u64);
                num!("{:.*}", p, us as f64 / 1e6)
            }
            Field::SynAck => num!("{:.*}", p, tcp.map_or(0, |t| t.synack_us) as f64 / 1e6),
            Field::AckDat => num!("{:.*}", p, tcp.map_or(0, |t| t.ackdat_us) as f64 / 1e6),
            Field::TcpOpt => match tcp {
                Some(t) => {
                    push_tcpopt(t.options, out);
                    Kind::Text
                }
                None => Kind::Empty,
            },
            Field::SrcGap => match tcp {
                Some(t) => num!("{}", t.src_gap_bytes),
                None => Kind::Empty,
            },
            Field::DstGap => match tcp {
                Some(t) => num!("{}", t.dst_gap_bytes),
                None => Kind::Empty,
            },
            Field::State => {
                if let Some(sides) = self.opts.tcp_flags {
                    semantics::state_flags(rec, sides, out);
                } else if self.opts.state_history {
                    semantics::state_history(rec, out);
                } else {
                    out.push_str(state(rec));
                }
                Kind::Text
            }
            Field::Flgs => {
                for b in flags(rec) {
                    out.push(b as char);
                }
                Kind::Text
            }
            Field::SrcIntPkt | Field::SrcJitter | Field::SrcIntPktMax | Field::SrcIntPktMin => {
                intpkt(&rec.src, f, p, out)
            }
            Field::DstIntPkt | Field::DstJitter | Field::DstIntPktMax | Field::DstIntPktMin => {
                intpkt(&rec.dst, f, p, out)
            }
            Field::SrcMeanSz => num!("{:.*}", p, mean_size(&rec.src)),
            Field::DstMeanSz => num!("{:.*}", p, mean_size(&rec.dst)),
            Field::SrcMaxSz if rec.src.pkts > 0 => num!("{}", rec.src.max_sz),
            Field::SrcMinSz if rec.src.pkts > 0 => num!("{}", rec.src.min_sz),
            Field::DstMaxSz if rec.dst.pkts > 0 => num!("{}", rec.dst.max_sz),
            Field::DstMinSz if rec.dst.pkts > 0 => num!("{}", rec.dst.min_sz),
            Field::SrcMaxSz | Field::SrcMinSz | Field::DstMaxSz | Field::DstMinSz => Kind::Empty,
            Field::SrcUser => push_user(b's', &rec.suser, out),
            Field::DstUser => push_user(b'd', &rec.duser, out),
        }
    }

    /// Per-direction times (see [`PrintOptions::bidir_times`]).
    fn dir_time(&self, rec: &FlowRecord, f: Field) -> u64 {
        if self.opts.bidir_times {
            return time_of(rec, f);
        }
        let (side, last) = match f {
            Field::SrcStartTime => (&rec.src, false),
            Field::SrcLastTime => (&rec.src, true),
            Field::DstStartTime => (&rec.dst, false),
            _ => (&rec.dst, true),
        };
        match (side.pkts > 0, last) {
            (false, _) => 0,
            (true, false) => rec.stime_ns,
            (true, true) => rec.ltime_ns,
        }
    }

    /// `%T.%f` in the local time zone (or epoch seconds with `-u`), the fraction cut
    /// (not rounded) to the precision.
    fn push_time(&self, ns: u64, out: &mut String) {
        if self.opts.epoch_time {
            self.push_epoch(ns, out);
            return;
        }
        let secs = (ns / 1_000_000_000) as i64;
        let hms = match self.hms_cache.get() {
            Some((s, hms)) if s == secs => hms,
            _ => {
                let hms = match self.opts.utc_offset {
                    Some(tz) => hms_of(&tz, secs),
                    None => hms_of(&Local, secs),
                };
                self.hms_cache.set(Some((secs, hms)));
                hms
            }
        };
        // hms_of writes only ASCII digits, ':' and '?'.
        out.extend(hms.iter().map(|&d| char::from(d)));
        self.push_fraction(ns, out);
    }

    fn push_epoch(&self, ns: u64, out: &mut String) {
        push_u64(out, ns / 1_000_000_000);
        self.push_fraction(ns, out);
    }

    fn push_fraction(&self, ns: u64, out: &mut String) {
        let p = self.opts.precision;
        if p == 0 {
            return;
        }
        // Argus keeps microseconds; digits past the sixth come from the nanoseconds.
        let frac = ns % 1_000_000_000;
        let frac = if p <= 6 { frac / 1000 * 1000 } else { frac };
        let mut digits = [b'0'; 9];
        let mut v = frac;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.push('.');
        out.extend(digits[..p.min(9)].iter().map(|&d| char::from(d)));
    }

    fn push_addr(&self, rec: &FlowRecord, a: &[u8; 16], out: &mut String) {
        match rec.key.class() {
            KeyClass::Ipv4 | KeyClass::Arp => push_ipv4(&[a[0], a[1], a[2], a[3]], out),
            KeyClass::Ipv6 => push_ipv6(a, out),
            KeyClass::Rarp | KeyClass::Ether | KeyClass::Llc => {
                let mut m = [0u8; 6];
                m.copy_from_slice(&a[..6]);
                self.push_mac(&m, out);
            }
            KeyClass::None => {}
        }
    }

    fn push_mac(&self, m: &[u8; 6], out: &mut String) {
        if self.numeric() == 0 && *m == [0xff; 6] {
            out.push_str("Broadcast");
            return;
        }
        let _ = write!(
            out,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
    }

    fn push_proto(&self, rec: &FlowRecord, out: &mut String) {
        if rec.kind.is_man() {
            out.push_str("man");
            return;
        }
        let numeric = self.numeric() >= 2;
        match rec.key.class() {
            KeyClass::Ipv4 | KeyClass::Ipv6 if numeric => {
                let _ = write!(out, "{}", rec.key.proto);
            }
            KeyClass::Ipv4 | KeyClass::Ipv6 => out.push_str(ip_proto_name(rec.key.proto)),
            KeyClass::Arp if numeric => out.push_str("2054"),
            KeyClass::Arp => out.push_str("arp"),
            KeyClass::Rarp => out.push_str("rarp"),
            KeyClass::Ether if numeric => {
                let _ = write!(out, "{}", rec.key.aux as u16);
            }
            KeyClass::Ether => match ethertype_name(rec.key.aux as u16) {
                Some(name) => out.push_str(name),
                // ra names an unknown ethertype `unknown`, and prints its
                // number once ports are numeric (-n).
                None if self.numeric() == 0 => out.push_str("unknown"),
                None => {
                    let _ = write!(out, "{}", rec.key.aux as u16);
                }
            },
            KeyClass::Llc if numeric => out.push('0'),
            KeyClass::Llc => out.push_str("llc"),
            KeyClass::None => {}
        }
    }

    fn push_port(&self, rec: &FlowRecord, src: bool, out: &mut String) -> Kind {
        let k = &rec.key;
        let port = if src { k.sport } else { k.dport };
        let numeric = self.numeric() >= 1;
        match k.class() {
            KeyClass::Ipv4 | KeyClass::Ipv6 => match k.proto {
                ipproto::TCP | ipproto::UDP => {
                    match self.names.service(k.proto, port).filter(|_| !numeric) {
                        Some(name) => {
                            out.push_str(name);
                            Kind::Text
                        }
                        None => {
                            let _ = write!(out, "{port}");
                            Kind::Number
                        }
                    }
                }
                ipproto::ICMP | ipproto::ICMPV6 => {
                    // sport: type and code, dport: the echo id, both as Argus
                    // prints them (the header's bytes read little-endian).
                    let v = if src {
                        if numeric && k.proto == ipproto::ICMPV6 {
                            k.sport >> 8
                        } else {
                            k.sport.swap_bytes()
                        }
                    } else {
                        k.dport.swap_bytes()
                    };
                    if numeric && k.proto == ipproto::ICMPV6 {
                        let _ = write!(out, "{v}");
                        Kind::Number
                    } else {
                        let _ = write!(out, "0x{v:04x}");
                        Kind::Text
                    }
                }
                ipproto::ESP if !src => {
                    let _ = write!(out, "0x{:x}", k.aux);
                    Kind::Text
                }
                _ => Kind::Empty,
            },
            KeyClass::Llc => {
                let sap = port as u8;
                match llc_sap_name(sap).filter(|_| !numeric) {
                    Some(name) => {
                        out.push_str(name);
                        Kind::Text
                    }
                    None if numeric => {
                        let _ = write!(out, "{sap}");
                        Kind::Number
                    }
                    None => {
                        let _ = write!(out, "0x{sap:02x}");
                        Kind::Text
                    }
                }
            }
            KeyClass::Ether if numeric => {
                out.push('0');
                Kind::Number
            }
            _ => Kind::Empty,
        }
    }
}

/// `HH:MM:SS` of a Unix second in a time zone (`??:??:??` when the zone
/// has no single local time for it).
fn hms_of<Tz: TimeZone>(tz: &Tz, secs: i64) -> [u8; 8] {
    use chrono::Timelike;
    match tz.timestamp_opt(secs, 0).single() {
        Some(t) => {
            let two = |v: u32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
            let (h, m, s) = (two(t.hour()), two(t.minute()), two(t.second()));
            [h[0], h[1], b':', m[0], m[1], b':', s[0], s[1]]
        }
        None => *b"??:??:??",
    }
}

/// A number in decimal, without `fmt`'s machinery.
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // SAFETY: `buf[i..]` holds ASCII digits only, which are valid UTF-8.
    // (Checking that costs as much as writing them: 5% of a plain `read`.)
    out.push_str(unsafe { std::str::from_utf8_unchecked(&buf[i..]) });
}

/// A dotted-quad IPv4 address.
fn push_ipv4(a: &[u8; 4], out: &mut String) {
    for (i, &b) in a.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_u64(out, u64::from(b));
    }
}

fn time_of(rec: &FlowRecord, f: Field) -> u64 {
    match f {
        Field::LastTime => rec.ltime_ns,
        Field::SrcStartTime => rec.src.stime_ns,
        Field::SrcLastTime => rec.src.ltime_ns,
        Field::DstStartTime => rec.dst.stime_ns,
        Field::DstLastTime => rec.dst.ltime_ns,
        _ => rec.stime_ns,
    }
}

/// Duration in seconds at Argus's microsecond resolution.
fn dur_secs(rec: &FlowRecord) -> f64 {
    let s = rec.stime_ns / 1000;
    let l = rec.ltime_ns / 1000;
    l.saturating_sub(s) as f64 / 1e6
}

fn dir_dur_secs(d: &crate::record::DirStats) -> f64 {
    (d.ltime_ns / 1000).saturating_sub(d.stime_ns / 1000) as f64 / 1e6
}

/// Argus's load counts the bytes after the first packet: `bytes - bytes / pkts`
/// (integer division).
fn load_bytes(d: &crate::record::DirStats) -> f64 {
    if d.pkts == 0 {
        return 0.0;
    }
    (d.bytes - d.bytes / d.pkts) as f64
}

/// `x / dur`, 0 for a zero duration, computed in single precision as Argus does
/// (`ra` matches to the last printed digit only this way: 6 / 0.119905 prints
/// 50.039612, not the double-precision 50.039616).
fn per_sec(x: f64, dur_s: f64) -> f32 {
    if dur_s > 0.0 {
        x as f32 / dur_s as f32
    } else {
        0.0
    }
}

fn loss(tcp: Option<&crate::record::TcpPerf>, src: bool) -> u64 {
    tcp.map_or(
        0,
        |t| if src { t.src_retrans } else { t.dst_retrans } as u64,
    )
}

/// Loss as a percentage of the packets that should have arrived (seen + lost).
fn percent(lost: u64, seen: u64) -> f64 {
    let total = lost + seen;
    if total == 0 || lost == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / total as f64
    }
}

fn mean_size(d: &crate::record::DirStats) -> f64 {
    if d.pkts == 0 {
        0.0
    } else {
        d.bytes as f64 / d.pkts as f64
    }
}

/// Inter-packet statistics in milliseconds; blank without an interval.
fn intpkt(d: &crate::record::DirStats, f: Field, p: usize, out: &mut String) -> Kind {
    if d.intpkt_n == 0 {
        return Kind::Empty;
    }
    let n = d.intpkt_n as f64;
    let mean = d.intpkt_sum_us / n;
    let v_us = match f {
        Field::SrcIntPkt | Field::DstIntPkt => mean,
        Field::SrcJitter | Field::DstJitter => {
            (d.intpkt_sumsq_us / n - mean * mean).max(0.0).sqrt()
        }
        Field::SrcIntPktMax | Field::DstIntPktMax => d.intpkt_max_us,
        _ => d.intpkt_min_us,
    };
    let _ = write!(out, "{:.*}", p, v_us / 1000.0);
    Kind::Number
}

fn push_tcpopt(o: u16, out: &mut String) {
    const LETTERS: [(u16, char); 12] = [
        (tcpopt::MSS, 'M'),
        (tcpopt::WSCALE, 'w'),
        (tcpopt::SACK_OK, 's'),
        (tcpopt::SACK, 'S'),
        (tcpopt::ECHO, 'e'),
        (tcpopt::ECHO_REPLY, 'E'),
        (tcpopt::TIMESTAMP, 'T'),
        (tcpopt::CC, 'c'),
        (tcpopt::CC_NEW, 'N'),
        (tcpopt::CC_ECHO, 'O'),
        (TCPOPT_SRC_ECN, 'S'),
        (TCPOPT_DST_ECN, 'D'),
    ];
    if o == 0 {
        return;
    }
    for (bit, c) in LETTERS {
        out.push(if o & bit != 0 { c } else { ' ' });
    }
}

/// `s[N]=text` with non-printable bytes as `.`: the first 16 bytes, as `ra`
/// shows by default whatever `-U` captured.
fn push_user(side: u8, data: &[u8], out: &mut String) -> Kind {
    if data.is_empty() {
        return Kind::Empty;
    }
    let data = &data[..data.len().min(16)];
    let _ = write!(out, "{}[{}]=", side as char, data.len());
    for &b in data {
        out.push(if (0x20..0x7f).contains(&b) {
            b as char
        } else {
            '.'
        });
    }
    Kind::Text
}

/// IPv6 text as glibc's `inet_ntop` writes it (longest zero run as `::`, and the
/// IPv4-compatible and IPv4-mapped forms with a dotted quad).
fn push_ipv6(a: &[u8; 16], out: &mut String) {
    let w: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    // Longest run of zero words (length >= 2), first one on ties.
    let (mut best, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push(':');
            if i == 0 {
                out.push(':');
            }
            i += best_len;
            continue;
        }
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let _ = write!(out, "{}.{}.{}.{}", a[12], a[13], a[14], a[15]);
            return;
        }
        let _ = write!(out, "{:x}", w[i]);
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
}

/// The width of a value in characters (most values are ASCII).
fn char_count(v: &str) -> usize {
    if v.is_ascii() {
        v.len()
    } else {
        v.chars().count()
    }
}

/// Appends `n` blanks.
fn push_blanks(out: &mut String, n: usize) {
    const BLANKS: &str = "                                ";
    let mut n = n;
    while n > 0 {
        let k = n.min(BLANKS.len());
        out.push_str(&BLANKS[..k]);
        n -= k;
    }
}

/// Pads (or cuts, marking the cut with `*`) a value into a column.
fn pad_cut(out: &mut String, v: &str, width: usize, align: Align) {
    let n = char_count(v);
    if n > width {
        out.extend(v.chars().take(width.saturating_sub(1)));
        if width > 0 {
            out.push('*');
        }
        return;
    }
    pad_counted(out, v, n, width, align);
}

/// Pads a value that fits its column.
fn pad(out: &mut String, v: &str, width: usize, align: Align) {
    pad_counted(out, v, char_count(v), width, align);
}

/// [`pad`] for a value whose characters are already counted (`n`).
fn pad_counted(out: &mut String, v: &str, n: usize, width: usize, align: Align) {
    let fill = width.saturating_sub(n);
    let (before, after) = match align {
        Align::Right => (fill, 0),
        Align::Left => (0, fill),
        Align::Center => (fill / 2, fill - fill / 2),
    };
    push_blanks(out, before);
    out.push_str(v);
    push_blanks(out, after);
}

/// A live probe's status and stop records carry drops by stage (Argus prints
/// its MAR counters in the flow columns; these have no column): text layouts
/// get them after the columns, JSON as a `drops` object.
fn push_man_drops(rec: &FlowRecord, json: bool, line: &mut String) {
    let Some(d) = rec
        .man
        .as_ref()
        .and_then(|m| m.drops)
        .filter(|_| rec.kind.is_man())
    else {
        return;
    };
    let fields = [
        ("redirect_failed", d.redirect_failed),
        ("pcap_dropped", d.pcap_dropped),
        ("pcap_if_dropped", d.pcap_if_dropped),
        ("xsk_rx_dropped", d.xsk_rx_dropped),
        ("xsk_ring_full", d.xsk_ring_full),
        ("xsk_fill_empty", d.xsk_fill_empty),
        ("xsk_invalid", d.xsk_invalid),
        ("flows_active", d.flows_active),
        ("writer_stalls", d.writer_stalls),
    ];
    if json {
        if line.ends_with('}') {
            line.pop();
            line.push_str(if line.len() > 1 {
                ",\"drops\":{"
            } else {
                "\"drops\":{"
            });
            for (i, (k, v)) in fields.iter().enumerate() {
                let _ = write!(line, "{}\"{k}\":{v}", if i > 0 { "," } else { "" });
            }
            line.push_str("}}");
        }
        return;
    }
    let _ = write!(line, "  drops {}:", d.lost());
    for (k, v) in fields {
        let _ = write!(line, " {k}={v}");
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_json_number(s: &str) -> bool {
    !s.is_empty() && !s.contains("inf") && !s.contains("NaN")
}
