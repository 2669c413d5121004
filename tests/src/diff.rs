//! The differential test's machinery: run the real Argus and ocellus on one
//! capture, print both with the same `ra` field list, and compare record by
//! record.

use crate::tools::{ocellus_bin, output};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The fields compared: key, direction, state, flags, per-direction packets and
/// bytes, start and last time.
pub const FIELDS: &[&str] = &[
    "stime", "ltime", "proto", "saddr", "sport", "dir", "daddr", "dport", "spkts", "dpkts",
    "sbytes", "dbytes", "state", "flgs",
];

/// One printed record, field by field (in `FIELDS` order).
pub type Row = Vec<String>;

fn print_args(fields: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["-n", "-u", "-p", "6", "-c", ",", "-L", "-1", "-s"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(fields.iter().map(|s| s.to_string()));
    v
}

fn rows(text: &str) -> Vec<Row> {
    let flgs = FIELDS.iter().position(|f| *f == "flgs");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .enumerate()
                // Flag letters are positional: keep their leading blanks.
                .map(|(i, f)| {
                    if Some(i) == flgs {
                        f.trim_end().to_string()
                    } else {
                        f.trim().to_string()
                    }
                })
                .collect()
        })
        .collect()
}

/// Argus guesses RTP, RTCP and UDT from UDP payloads (and misfires); ocellus
/// reports what the headers say. The guessed protocol, and the loss letter it
/// brings, are put back to plain UDP before comparing.
fn unguess(mut r: Row) -> Row {
    let proto = FIELDS.iter().position(|f| *f == "proto").unwrap_or(2);
    if matches!(
        r.get(proto).map(String::as_str),
        Some("rtp" | "rtcp" | "udt")
    ) {
        r[proto] = "udp".into();
        if let Some(i) = FIELDS.iter().position(|f| *f == "flgs") {
            let mut chars: Vec<char> = r[i].chars().collect();
            if chars.len() > 3 {
                chars[3] = ' ';
            }
            r[i] = chars.into_iter().collect::<String>().trim_end().to_string();
        }
    }
    r
}

/// Argus's records for `cap`, or `Err` with why Argus could not read it.
pub fn argus_rows(cap: &Path, work: &Path) -> Result<Vec<Row>, String> {
    let out = argus_record_file(cap, work)?;
    Ok(ra_filtered_rows(&out, FIELDS, &[])?
        .into_iter()
        .map(unguess)
        .collect())
}

/// ocellus's records for `cap` (probe with `workers`, then read).
pub fn ocellus_rows(cap: &Path, work: &Path, workers: usize) -> Result<Vec<Row>, String> {
    let out = work.join("ocellus.ocr");
    ocellus_file(cap, &out, workers)?;
    ocellus_filtered_rows(&out, FIELDS, &[])
}

/// How two record lists compare.
#[derive(Debug, Default)]
pub struct Comparison {
    pub identical: usize,
    /// Same flow and start time, some other field differs: (argus, ocellus).
    pub differing: Vec<(Row, Row)>,
    pub only_argus: Vec<Row>,
    pub only_ocellus: Vec<Row>,
}

impl Comparison {
    pub fn is_clean(&self) -> bool {
        self.differing.is_empty() && self.only_argus.is_empty() && self.only_ocellus.is_empty()
    }
}

/// The identity of a record for matching: start time and the key.
fn ident(r: &Row) -> (String, String, String, String, String, String) {
    let g = |i: usize| r.get(i).cloned().unwrap_or_default();
    (g(0), g(2), g(3), g(4), g(6), g(7))
}

/// Compares as multisets: identical rows first, then rows with the same
/// identity, then what is left on either side.
pub fn compare(argus: &[Row], ocellus: &[Row]) -> Comparison {
    let mut c = Comparison::default();
    let mut left: BTreeMap<&Row, usize> = BTreeMap::new();
    for r in ocellus {
        *left.entry(r).or_default() += 1;
    }
    let mut a_rest = Vec::new();
    for r in argus {
        match left.get_mut(r) {
            Some(n) if *n > 0 => {
                *n -= 1;
                c.identical += 1;
            }
            _ => a_rest.push(r.clone()),
        }
    }
    let mut o_rest: Vec<Row> = Vec::new();
    for (r, n) in left {
        for _ in 0..n {
            o_rest.push(r.clone());
        }
    }
    for a in a_rest {
        if let Some(i) = o_rest.iter().position(|o| ident(o) == ident(&a)) {
            let o = o_rest.swap_remove(i);
            c.differing.push((a, o));
        } else {
            c.only_argus.push(a);
        }
    }
    c.only_ocellus = o_rest;
    c
}

/// A readable account of the differences (at most `max` lines of each kind).
pub fn describe(c: &Comparison, max: usize) -> String {
    let mut s = String::new();
    let hdr = FIELDS.join(",");
    for (a, o) in c.differing.iter().take(max) {
        let fields: Vec<String> = FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| a.get(*i) != o.get(*i))
            .map(|(i, f)| {
                format!(
                    "{f}: argus '{}' ocellus '{}'",
                    a.get(i).map(String::as_str).unwrap_or(""),
                    o.get(i).map(String::as_str).unwrap_or("")
                )
            })
            .collect();
        s += &format!("  differs  {}  [{}]\n", a.join(","), fields.join("; "));
    }
    for a in c.only_argus.iter().take(max) {
        s += &format!("  argus    {}\n", a.join(","));
    }
    for o in c.only_ocellus.iter().take(max) {
        s += &format!("  ocellus  {}\n", o.join(","));
    }
    if s.is_empty() {
        s = format!("  (no differences; fields {hdr})\n");
    }
    s
}

/// The fields the filter differential test prints: the key, plus every field
/// the filters look at, so that "identical without a filter" means identical in
/// what a filter can see.
pub const FILTER_FIELDS: &[&str] = &[
    "stime", "ltime", "proto", "saddr", "sport", "dir", "daddr", "dport", "spkts", "dpkts",
    "sbytes", "dbytes", "state", "flgs", "sttl", "dttl", "stos", "dtos",
];

/// Runs `argus -X` on `cap`, writing `out` (removed first: argus appends).
pub fn argus_file(cap: &Path, out: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(out);
    let o = output(
        Command::new("timeout")
            .arg("120")
            .arg("/usr/sbin/argus")
            .arg("-X")
            .arg("-r")
            .arg(cap)
            .arg("-w")
            .arg(out),
    );
    if out.exists() {
        Ok(())
    } else {
        Err(format!(
            "argus wrote nothing (status {}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Runs `ocellus probe` on `cap`, writing `out`.
pub fn ocellus_file(cap: &Path, out: &Path, workers: usize) -> Result<(), String> {
    let _ = std::fs::remove_file(out);
    let o = output(
        Command::new(ocellus_bin())
            .arg("probe")
            .arg("-q")
            .arg("--workers")
            .arg(workers.to_string())
            .arg("-r")
            .arg(cap)
            .arg("-w")
            .arg(out),
    );
    if out.exists() {
        Ok(())
    } else {
        Err(format!(
            "ocellus probe failed (status {}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// `ra -X` on an argus file with `fields` and a filter (several words, after `-`;
/// none for no filter).
pub fn ra_filtered_rows(file: &Path, fields: &[&str], filter: &[&str]) -> Result<Vec<Row>, String> {
    let mut cmd = Command::new("/usr/bin/ra");
    cmd.arg("-X").args(print_args(fields)).arg("-r").arg(file);
    if !filter.is_empty() {
        cmd.arg("-").args(filter);
    }
    let o = output(&mut cmd);
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("syntax error") {
        return Err(format!("ra refused the filter {filter:?}: {}", err.trim()));
    }
    Ok(rows(&String::from_utf8_lossy(&o.stdout)))
}

/// `ocellus read` on a record file with `fields` and a filter, as [`ra_filtered_rows`].
pub fn ocellus_filtered_rows(
    file: &Path,
    fields: &[&str],
    filter: &[&str],
) -> Result<Vec<Row>, String> {
    let mut cmd = Command::new(ocellus_bin());
    cmd.arg("read").args(print_args(fields)).arg("-r").arg(file);
    if !filter.is_empty() {
        cmd.arg("-").args(filter);
    }
    let o = output(&mut cmd);
    if !o.status.success() {
        return Err(format!(
            "ocellus read {filter:?} failed (status {}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(rows(&String::from_utf8_lossy(&o.stdout)))
}

/// `ra`-style arguments printing `fields` as bare CSV (`-n -u -c , -L -1 -s ...`),
/// for any ra* client and its ocellus counterpart.
pub fn csv_args(fields: &[&str]) -> Vec<String> {
    print_args(fields)
}

/// Splits CSV output into rows (blank lines dropped, fields trimmed).
pub fn parse_rows(text: &str) -> Vec<Row> {
    rows(text)
}

/// Runs Argus on `cap` and returns the record file (`work/argus.out`).
pub fn argus_record_file(cap: &Path, work: &Path) -> Result<std::path::PathBuf, String> {
    let out = work.join("argus.out");
    argus_file(cap, &out)?;
    Ok(out)
}

/// Runs `ocellus probe` on `cap` and returns the record file (`work/ocellus.ocr`).
pub fn ocellus_record_file(cap: &Path, work: &Path) -> Result<std::path::PathBuf, String> {
    let out = work.join("ocellus.ocr");
    ocellus_file(cap, &out, 2)?;
    Ok(out)
}
