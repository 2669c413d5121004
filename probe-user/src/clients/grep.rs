//! `ragrep`: regular expressions over the captured payload (`suser`/`duser`,
//! the first bytes of each direction that `probe -U N` keeps).
//!
//! A pattern `s:RE` searches the source side only, `d:RE` the destination side
//! only, anything else both. Matching is on bytes (payload is rarely UTF-8);
//! `.` matches any byte. Records without captured payload never match.

use super::ClientError;
use crate::record::FlowRecord;
use regex::bytes::{Regex, RegexBuilder};

/// Which payload a pattern searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
    Both,
}

/// Compiled `-e` patterns; a record matches when any pattern does.
#[derive(Clone, Debug)]
pub struct Matcher {
    patterns: Vec<(Side, Regex)>,
    invert: bool,
}

/// `ragrep`'s matching options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrepOptions {
    /// `-i`: ignore case.
    pub ignore_case: bool,
    /// `-v`: select the records that do not match.
    pub invert: bool,
}

impl Matcher {
    /// Compiles patterns (at least one).
    pub fn new<S: AsRef<str>>(patterns: &[S], opts: GrepOptions) -> Result<Matcher, ClientError> {
        if patterns.is_empty() {
            return Err(ClientError::Usage(
                "no pattern: give one with -e REGEX (s:REGEX or d:REGEX for one side)".into(),
            ));
        }
        let mut v = Vec::with_capacity(patterns.len());
        for p in patterns {
            let p = p.as_ref();
            let (side, re) = if let Some(r) = p.strip_prefix("s:") {
                (Side::Src, r)
            } else if let Some(r) = p.strip_prefix("d:") {
                (Side::Dst, r)
            } else {
                (Side::Both, p)
            };
            let re = RegexBuilder::new(re)
                .case_insensitive(opts.ignore_case)
                .unicode(false)
                .dot_matches_new_line(true)
                .build()
                .map_err(|e| ClientError::Regex {
                    pattern: p.to_string(),
                    why: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                })?;
            v.push((side, re));
        }
        Ok(Matcher {
            patterns: v,
            invert: opts.invert,
        })
    }

    /// Whether the record is selected (after `-v`).
    pub fn is_match(&self, r: &FlowRecord) -> bool {
        let hit = self.patterns.iter().any(|(side, re)| {
            let s = matches!(side, Side::Src | Side::Both) && re.is_match(&r.suser);
            s || (matches!(side, Side::Dst | Side::Both) && re.is_match(&r.duser))
        });
        hit != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &[u8], d: &[u8]) -> FlowRecord {
        FlowRecord {
            suser: s.to_vec(),
            duser: d.to_vec(),
            ..FlowRecord::default()
        }
    }

    #[test]
    fn sides_case_and_inversion() {
        let get = rec(
            b"GET /small.txt HTTP/1.1\r\nHost: x",
            b"HTTP/1.0 200 OK\r\n\xff\xfe",
        );
        let none = rec(b"", b"");
        let m = Matcher::new(&["HTTP/1.0 200"], GrepOptions::default()).unwrap();
        assert!(m.is_match(&get) && !m.is_match(&none));
        let m = Matcher::new(&["s:HTTP/1.0"], GrepOptions::default()).unwrap();
        assert!(!m.is_match(&get));
        let m = Matcher::new(&["d:^http/1\\.0"], GrepOptions::default()).unwrap();
        assert!(!m.is_match(&get));
        let opts = GrepOptions {
            ignore_case: true,
            ..GrepOptions::default()
        };
        let m = Matcher::new(&["d:^http/1\\.0"], opts).unwrap();
        assert!(m.is_match(&get));
        let opts = GrepOptions {
            invert: true,
            ..GrepOptions::default()
        };
        let m = Matcher::new(&["GET"], opts).unwrap();
        assert!(!m.is_match(&get) && m.is_match(&none));
        // Payload bytes that are not UTF-8 match as bytes.
        let m = Matcher::new(&["\\xff\\xfe"], GrepOptions::default()).unwrap();
        assert!(m.is_match(&get));
    }

    #[test]
    fn bad_patterns_are_one_line_errors() {
        let e = Matcher::new(&["a(b"], GrepOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("a(b") && !e.contains('\n'), "{e}");
        assert!(Matcher::new::<&str>(&[], GrepOptions::default()).is_err());
    }
}
