//! `-t TIMERANGE`: Argus's time-range selection, as `ra -t` (3.0.8) applies it.
//!
//! Syntax: `[x][i|n|c]SPEC[-SPEC|+DURATION]`, or a relative `-DURATION[+DURATION]`.
//! - `x` negates; `i` intersects (default), `n` includes (the record starts
//!   at or before the range and ends at or after it), `c` contained (the
//!   record starts and ends inside it).
//! - SPEC: `[[[yyyy/]mm/]dd.]HH[:MM[:SS]]`, `yyyy/mm/dd`, `yyyy/mm`, `yyyy`
//!   (local time), or epoch seconds (5 digits or more). Fields left out on
//!   the left come from today (for the end of a range: from its start);
//!   fields left out on the right are the first of their unit. `*` in a
//!   field takes the record's own value (`****/03/18` is March 18th of any
//!   year, `**.19` 19:00 to 20:00 on any day of this month).
//! - A lone SPEC covers its last field's unit (`2011/03` is all of March,
//!   `14` 14:00 to 15:00); lone epoch seconds cover a year from there (as
//!   `ra` does). `SPEC-SPEC` runs from the first to the start of the second;
//!   `SPEC+DURATION` for the duration.
//! - DURATION: numbers with units `y M d h m s`, e.g. `2h5m`, `+2s`.
//! - Relative: `-10m` is the last ten minutes; `-2h+5m` five minutes from
//!   two hours ago.
//!
//! Matching is `ra`'s, measured on 3.0.8: "intersects" selects records
//! that start or end inside the range (a record spanning the whole range
//! is not selected: that is `n`); bounds are inclusive.

use crate::record::FlowRecord;
use chrono::{DateTime, Datelike, Local, LocalResult, NaiveDate, TimeZone, Timelike};

/// Why a time range was refused. One line, naming the range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeRangeError {
    #[error("bad time range '{range}': {why} (expected [x][i|n|c][[[yyyy/]mm/]dd.]HH[:MM[:SS]][-SPEC|+DURATION], e.g. 2011/03/18.19:06-19:30 or -10m)")]
    Syntax { range: String, why: String },
    #[error("impossible time range '{range}': the end ({end}) is not after the start ({start})")]
    Empty {
        range: String,
        start: String,
        end: String,
    },
}

/// How a record's span is compared with the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Starts or ends inside the range (`i`, the default).
    Intersects,
    /// Spans the whole range (`n`).
    Includes,
    /// Starts and ends inside the range (`c`).
    Contained,
}

/// One field of a date-time spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// Not written: from the reference time on the left, the minimum on the right.
    Absent,
    /// `*`: the record's own value.
    Any,
    Set(u32),
}

/// Field indices: year, month, day, hour, minute, second.
const Y: usize = 0;
const MO: usize = 1;
const D: usize = 2;
const H: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Calendar {
    f: [Field; 6],
    /// Index of the last written field (the spec's unit).
    last: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    Calendar(Calendar),
    Epoch(i64),
}

/// A duration: calendar months and plain seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Duration {
    months: u32,
    secs: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The lone spec's unit (or a year for epoch seconds).
    Unit,
    Spec(Spec),
    Plus(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Absolute {
        start: Spec,
        end: End,
    },
    /// Resolved at parse time: `[lo, hi]` in seconds.
    Fixed {
        lo: i64,
        hi: i64,
    },
}

/// A parsed `-t` range. [`TimeRange::matches`] tests a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeRange {
    negate: bool,
    mode: Mode,
    shape: Shape,
    /// The range in ns when it has no wildcard (the common case).
    fixed_ns: Option<(u64, u64)>,
}

impl TimeRange {
    /// Parses `spec` with "now" taken from the clock.
    pub fn parse(spec: &str) -> Result<TimeRange, TimeRangeError> {
        TimeRange::parse_at(spec, Local::now())
    }

    /// Parses `spec` relative to `now` (local time zone).
    pub fn parse_at(spec: &str, now: DateTime<Local>) -> Result<TimeRange, TimeRangeError> {
        let err = |why: &str| TimeRangeError::Syntax {
            range: spec.to_string(),
            why: why.to_string(),
        };
        let mut s = spec;
        let mut negate = false;
        if let Some(r) = s.strip_prefix('x') {
            negate = true;
            s = r;
        }
        let mut mode = Mode::Intersects;
        for (c, m) in [
            ('i', Mode::Intersects),
            ('n', Mode::Includes),
            ('c', Mode::Contained),
        ] {
            if let Some(r) = s.strip_prefix(c) {
                mode = m;
                s = r;
                break;
            }
        }
        if s.is_empty() {
            return Err(err("no time given"));
        }
        let now_s = now.timestamp();
        let shape = if let Some(rel) = s.strip_prefix('-') {
            // Relative to now: -DUR[+DUR].
            let (back, fwd) = match rel.split_once('+') {
                Some((b, f)) => (b, Some(f)),
                None => (rel, None),
            };
            let back = parse_duration(back).map_err(|w| err(&w))?;
            let lo = sub_duration(now, back).ok_or_else(|| err("the offset is out of range"))?;
            let hi = match fwd {
                Some(f) => {
                    let d = parse_duration(f).map_err(|w| err(&w))?;
                    add_duration_secs(lo, d).ok_or_else(|| err("the duration is out of range"))?
                }
                None => now_s,
            };
            Shape::Fixed { lo, hi }
        } else {
            let (a, end) = if let Some((a, d)) = s.split_once('+') {
                let d = parse_duration(d).map_err(|w| err(&w))?;
                (a, End::Plus(d))
            } else if let Some((a, b)) = s.split_once('-') {
                let b = parse_spec(b).map_err(|w| err(&format!("end: {w}")))?;
                (a, End::Spec(b))
            } else {
                (s, End::Unit)
            };
            let start = parse_spec(a).map_err(|w| err(&w))?;
            if let (Spec::Calendar(c), End::Spec(Spec::Calendar(e))) = (start, end) {
                // The end takes the start's leading fields; a wildcard there
                // must be a wildcard in the start too.
                if e.f
                    .iter()
                    .zip(c.f.iter())
                    .any(|(x, y)| *x == Field::Any && *y != Field::Any)
                {
                    return Err(err("a '*' in the end needs one in the start"));
                }
            }
            Shape::Absolute { start, end }
        };
        let mut tr = TimeRange {
            negate,
            mode,
            shape,
            fixed_ns: None,
        };
        let wild = match shape {
            Shape::Absolute { start, end } => {
                has_wild(&start) || matches!(end, End::Spec(e) if has_wild(&e))
            }
            Shape::Fixed { .. } => false,
        };
        if !wild {
            let (lo, hi) = tr
                .resolve(now, None)
                .ok_or_else(|| err("no such date or time"))?;
            if hi <= lo {
                return Err(TimeRangeError::Empty {
                    range: spec.to_string(),
                    start: show(lo),
                    end: show(hi),
                });
            }
            tr.fixed_ns = Some((secs_to_ns(lo), secs_to_ns(hi)));
        } else {
            // Check the shape once against "now" standing in for a record.
            match tr.resolve(now, Some(now)) {
                Some((lo, hi)) if hi > lo => {}
                Some((lo, hi)) => {
                    return Err(TimeRangeError::Empty {
                        range: spec.to_string(),
                        start: show(lo),
                        end: show(hi),
                    })
                }
                None => return Err(err("no such date or time")),
            }
            tr.shape = match tr.shape {
                Shape::Absolute { start, end } => Shape::Absolute {
                    start: fill_from(start, now),
                    end: match end {
                        End::Spec(e) => End::Spec(fill_from(e, now)),
                        other => other,
                    },
                },
                other => other,
            };
        }
        Ok(tr)
    }

    /// `[lo, hi]` in seconds; `rec_time` fills `*` fields.
    fn resolve(
        &self,
        now: DateTime<Local>,
        rec_time: Option<DateTime<Local>>,
    ) -> Option<(i64, i64)> {
        match self.shape {
            Shape::Fixed { lo, hi } => Some((lo, hi)),
            Shape::Absolute { start, end } => {
                let (lo, start_fields) = match start {
                    Spec::Epoch(n) => (n, None),
                    Spec::Calendar(c) => {
                        let v = fill(&c, &fields_of(now), rec_time.as_ref())?;
                        (local_secs(&v)?, Some((v, c.last)))
                    }
                };
                let hi = match end {
                    End::Unit => match start_fields {
                        None => lo.checked_add(365 * 86400)?,
                        Some((_, last)) => {
                            let d = match last {
                                Y => Duration {
                                    months: 12,
                                    secs: 0,
                                },
                                MO => Duration { months: 1, secs: 0 },
                                D => Duration {
                                    months: 0,
                                    secs: 86400,
                                },
                                H => Duration {
                                    months: 0,
                                    secs: 3600,
                                },
                                4 => Duration {
                                    months: 0,
                                    secs: 60,
                                },
                                _ => Duration { months: 0, secs: 1 },
                            };
                            add_duration_secs(lo, d)?
                        }
                    },
                    End::Plus(d) => add_duration_secs(lo, d)?,
                    End::Spec(Spec::Epoch(n)) => n,
                    End::Spec(Spec::Calendar(e)) => {
                        let base = match start_fields {
                            Some((v, _)) => v,
                            None => fields_of(Local.timestamp_opt(lo, 0).single()?),
                        };
                        local_secs(&fill(&e, &base, rec_time.as_ref())?)?
                    }
                };
                Some((lo, hi))
            }
        }
    }

    /// Whether `rec` is selected.
    pub fn matches(&self, rec: &FlowRecord) -> bool {
        let (lo, hi) = match self.fixed_ns {
            Some(r) => r,
            None => {
                let t = Local
                    .timestamp_opt((rec.stime_ns / 1_000_000_000) as i64, 0)
                    .single();
                let r = t.and_then(|t| self.resolve(t, Some(t)));
                match r {
                    Some((lo, hi)) if hi > lo => (secs_to_ns(lo), secs_to_ns(hi)),
                    // The record's date has no such day (Feb 30): no match.
                    _ => return self.negate,
                }
            }
        };
        let (s, l) = (rec.stime_ns, rec.ltime_ns);
        let inside = |t: u64| lo <= t && t <= hi;
        let hit = match self.mode {
            Mode::Intersects => inside(s) || inside(l),
            Mode::Includes => s <= lo && l >= hi,
            Mode::Contained => s >= lo && l <= hi,
        };
        hit != self.negate
    }
}

fn has_wild(s: &Spec) -> bool {
    matches!(s, Spec::Calendar(c) if c.f.contains(&Field::Any))
}

/// Freezes the leading absent fields to `now` (so that a wildcard range
/// means "this month", not "the record's month").
fn fill_from(s: Spec, now: DateTime<Local>) -> Spec {
    match s {
        Spec::Calendar(mut c) => {
            let n = fields_of(now);
            for (f, v) in c.f.iter_mut().zip(n) {
                if *f != Field::Absent {
                    break;
                }
                *f = Field::Set(v);
            }
            Spec::Calendar(c)
        }
        e => e,
    }
}

fn secs_to_ns(s: i64) -> u64 {
    (s.max(0) as u64).saturating_mul(1_000_000_000)
}

fn show(s: i64) -> String {
    match Local.timestamp_opt(s, 0).single() {
        Some(t) => t.format("%Y/%m/%d.%H:%M:%S").to_string(),
        None => s.to_string(),
    }
}

fn fields_of(t: DateTime<Local>) -> [u32; 6] {
    [
        t.year().max(0) as u32,
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    ]
}

/// The spec's fields with absent leading ones from `base`, wildcards from
/// the record, absent trailing ones at their minimum.
fn fill(c: &Calendar, base: &[u32; 6], rec: Option<&DateTime<Local>>) -> Option<[u32; 6]> {
    let first = c.f.iter().position(|f| *f != Field::Absent)?;
    let rec = rec.map(|t| fields_of(*t));
    let mut v = [0u32; 6];
    for i in 0..6 {
        v[i] = match c.f[i] {
            Field::Set(n) => n,
            Field::Any => rec?[i],
            Field::Absent if i < first => base[i],
            Field::Absent => u32::from(i == MO || i == D),
        };
    }
    Some(v)
}

fn local_secs(v: &[u32; 6]) -> Option<i64> {
    let d = NaiveDate::from_ymd_opt(i32::try_from(v[0]).ok()?, v[1], v[2])?;
    let t = d.and_hms_opt(v[3], v[4], v[5])?;
    match Local.from_local_datetime(&t) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp()),
        LocalResult::None => None,
    }
}

fn add_duration_secs(lo: i64, d: Duration) -> Option<i64> {
    let mut t = lo;
    if d.months > 0 {
        let l = Local.timestamp_opt(lo, 0).single()?;
        t = l
            .checked_add_months(chrono::Months::new(d.months))?
            .timestamp();
    }
    t.checked_add(d.secs)
}

fn sub_duration(now: DateTime<Local>, d: Duration) -> Option<i64> {
    let mut t = now;
    if d.months > 0 {
        t = t.checked_sub_months(chrono::Months::new(d.months))?;
    }
    t.timestamp().checked_sub(d.secs)
}

/// `2h5m`, `2s`, `1M`: numbers each with a unit.
fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("a duration needs a number and a unit (y M d h m s), e.g. 5m".into());
    }
    let mut d = Duration::default();
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(v) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(v)))
                    .filter(|n| *n <= 1_000_000_000)
                    .ok_or_else(|| format!("duration '{s}' is too long"))?,
            );
            continue;
        }
        let n = num
            .take()
            .ok_or_else(|| format!("'{c}' in duration '{s}' needs a number before it"))?;
        let (months, secs) = match c {
            'y' => (n * 12, 0),
            'M' => (n, 0),
            'd' => (0, n * 86400),
            'h' => (0, n * 3600),
            'm' => (0, n * 60),
            's' => (0, n),
            _ => {
                return Err(format!(
                    "unknown unit '{c}' in duration '{s}' (units: y M d h m s)"
                ))
            }
        };
        d.months = d
            .months
            .checked_add(u32::try_from(months).map_err(|_| format!("duration '{s}' is too long"))?)
            .ok_or_else(|| format!("duration '{s}' is too long"))?;
        d.secs = d
            .secs
            .checked_add(secs as i64)
            .ok_or_else(|| format!("duration '{s}' is too long"))?;
    }
    if num.is_some() {
        return Err(format!(
            "duration '{s}' ends without a unit (y M d h m s), e.g. {s}s"
        ));
    }
    Ok(d)
}

/// One numeric or `*` field, checked against its range.
fn field(s: &str, name: &str, lo: u32, hi: u32) -> Result<Field, String> {
    if !s.is_empty() && s.bytes().all(|b| b == b'*') {
        return Ok(Field::Any);
    }
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a {name}"));
    }
    let n: u32 = s.parse().map_err(|_| format!("'{s}' is not a {name}"))?;
    if n < lo || n > hi {
        return Err(format!("{name} {n} is out of range ({lo} to {hi})"));
    }
    Ok(Field::Set(n))
}

/// `[[[yyyy/]mm/]dd.]HH[:MM[:SS]]`, `[yyyy/]mm/dd`, `yyyy/mm`, `yyyy`, or
/// epoch seconds.
fn parse_spec(s: &str) -> Result<Spec, String> {
    if s.is_empty() {
        return Err("no time given".into());
    }
    if s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .filter(|n| *n <= 1 << 40)
            .map(Spec::Epoch)
            .ok_or_else(|| format!("'{s}' is too large for epoch seconds"));
    }
    let mut f = [Field::Absent; 6];
    let (date, time) = match s.split_once('.') {
        Some((d, t)) => (Some(d), Some(t)),
        None if s.contains('/') => (Some(s), None),
        None if s.len() == 4 => {
            f[Y] = field(s, "year", 1970, 9999)?;
            return Ok(Spec::Calendar(Calendar { f, last: Y }));
        }
        None => (None, Some(s)),
    };
    let mut last = Y;
    if let Some(d) = date {
        let parts: Vec<&str> = d.split('/').collect();
        let names = match (parts.len(), time.is_some()) {
            (1, true) => vec![D],
            (2, _) if parts[0].len() == 4 && time.is_none() => vec![Y, MO],
            (2, _) => vec![MO, D],
            (3, _) => vec![Y, MO, D],
            _ => return Err(format!("'{d}' is not a date (yyyy/mm/dd)")),
        };
        for (p, i) in parts.iter().zip(&names) {
            f[*i] = match *i {
                Y => field(p, "year", 1970, 9999)?,
                MO => field(p, "month", 1, 12)?,
                _ => field(p, "day", 1, 31)?,
            };
            last = *i;
        }
    }
    if let Some(t) = time {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 3 {
            return Err(format!("'{t}' is not a time (HH[:MM[:SS]])"));
        }
        for (k, p) in parts.iter().enumerate() {
            let (name, hi) = [("hour", 23), ("minute", 59), ("second", 59)][k];
            f[H + k] = field(p, name, 0, hi)?;
            last = H + k;
        }
    }
    Ok(Spec::Calendar(Calendar { f, last }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Local> {
        Local.timestamp_opt(s, 0).single().unwrap()
    }

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Local
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .unwrap()
            .timestamp()
    }

    fn rec(s: i64, l: i64) -> FlowRecord {
        FlowRecord {
            stime_ns: s as u64 * 1_000_000_000 + 500_000_000,
            ltime_ns: l as u64 * 1_000_000_000 + 500_000_000,
            ..FlowRecord::default()
        }
    }

    fn range(spec: &str, now: i64) -> (u64, u64) {
        TimeRange::parse_at(spec, at(now))
            .unwrap()
            .fixed_ns
            .unwrap()
    }

    #[test]
    fn specs_cover_their_unit() {
        let now = local(2026, 11, 26, 10, 0, 0);
        let ns = |s: i64| s as u64 * 1_000_000_000;
        let day = local(2011, 3, 18, 0, 0, 0);
        assert_eq!(range("2011/03/18", now), (ns(day), ns(day + 86400)));
        assert_eq!(
            range("2011/03", now),
            (
                ns(local(2011, 3, 1, 0, 0, 0)),
                ns(local(2011, 4, 1, 0, 0, 0))
            )
        );
        assert_eq!(
            range("2011", now),
            (
                ns(local(2011, 1, 1, 0, 0, 0)),
                ns(local(2012, 1, 1, 0, 0, 0))
            )
        );
        let h14 = local(2026, 11, 26, 14, 0, 0);
        assert_eq!(range("14", now), (ns(h14), ns(h14 + 3600)));
        assert_eq!(range("15-23", now), (ns(h14 + 3600), ns(h14 + 9 * 3600)));
        let t = local(2026, 11, 23, 11, 10, 0);
        assert_eq!(range("23.11:10-14", now), (ns(t), ns(t + 170 * 60)));
        assert_eq!(
            range("2011/03/18.19:06:08-19:06:10", now),
            (ns(day + 68768), ns(day + 68770))
        );
        assert_eq!(
            range("1300475168+2s", now),
            (ns(1300475168), ns(1300475170))
        );
        assert_eq!(
            range("1300475168", now),
            (ns(1300475168), ns(1300475168 + 365 * 86400))
        );
        assert_eq!(range("-10m", now), (ns(now - 600), ns(now)));
        assert_eq!(range("-2h5m+5m", now), (ns(now - 7500), ns(now - 7200)));
        assert_eq!(
            range("2011/08-2011/10", now),
            (
                ns(local(2011, 8, 1, 0, 0, 0)),
                ns(local(2011, 10, 1, 0, 0, 0))
            )
        );
    }

    #[test]
    fn modes_follow_ra() {
        let now = 1_800_000_000;
        let i = TimeRange::parse_at("100000-100010", at(now)).unwrap();
        let n = TimeRange::parse_at("n100000-100010", at(now)).unwrap();
        let c = TimeRange::parse_at("c100000-100010", at(now)).unwrap();
        let x = TimeRange::parse_at("xc100000-100010", at(now)).unwrap();
        let inside = rec(100002, 100004);
        let straddles = rec(99990, 100004);
        let spans = rec(99990, 100020);
        let before = rec(99990, 99995);
        assert!(i.matches(&inside) && i.matches(&straddles));
        assert!(
            !i.matches(&spans),
            "ra's intersect skips records spanning the range"
        );
        assert!(!i.matches(&before));
        assert!(n.matches(&spans) && !n.matches(&inside));
        assert!(c.matches(&inside) && !c.matches(&straddles));
        assert!(!x.matches(&inside) && x.matches(&straddles));
    }

    #[test]
    fn wildcards_take_the_records_fields() {
        let now = local(2026, 11, 26, 10, 0, 0);
        let t = TimeRange::parse_at("****/03/18", at(now)).unwrap();
        let a = local(2011, 3, 18, 19, 6, 8);
        assert!(t.matches(&rec(a, a + 1)));
        let b = local(2011, 3, 19, 19, 6, 8);
        assert!(!t.matches(&rec(b, b + 1)));
        let t = TimeRange::parse_at("**.10", at(now)).unwrap();
        let c = local(2026, 11, 3, 10, 30, 0);
        assert!(t.matches(&rec(c, c)));
        let d = local(2026, 10, 3, 10, 30, 0);
        assert!(!t.matches(&rec(d, d)), "a day wildcard keeps this month");
    }

    #[test]
    fn bad_ranges_are_one_line_errors() {
        let now = at(1_800_000_000);
        for bad in [
            "",
            "x",
            "abc",
            "19:61",
            "2011/13",
            "25",
            "19:06:10-19:06:08",
            "1300475168+2x",
            "1300475168+2",
            "2011/02/30",
            "1.2.3",
            "12:00:00:00",
            "-",
            "-5",
            "+5s",
            "99999999999999999999",
        ] {
            let e = TimeRange::parse_at(bad, now);
            match e {
                Err(e) => {
                    let m = e.to_string();
                    assert!(!m.contains('\n') && m.contains('\''), "{bad}: {m}");
                }
                Ok(t) => panic!("{bad} parsed as {t:?}"),
            }
        }
        assert!(matches!(
            TimeRange::parse_at("19:06:10-19:06:08", now),
            Err(TimeRangeError::Empty { .. })
        ));
    }
}
