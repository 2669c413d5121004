//! Pictures of flow records, drawn without outside tools:
//! - [`series`]: metrics over time bins (Argus's `rabins`/`ragraph`), one
//!   series per key value, the top N keys and the rest as "other";
//! - [`chart`]: those series as a PNG or SVG chart (plotters);
//! - [`links`]: who talks to whom, as DOT for Graphviz or drawn directly
//!   (the AfterGlow/`neato` pictures of the Argus tutorials);
//! - [`report`]: one self-contained HTML page summarising a capture.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary
//! (`probe-user/assets/`), so a PNG looks the same on any machine, with or
//! without fontconfig.

pub mod chart;
pub mod links;
mod raster;
pub mod report;
pub mod series;

use crate::clients::ClientError;

/// Errors of the picture makers. Each is one line, naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{0}")]
    Usage(String),
    #[error("no records to draw (the input is empty or the filter matched nothing)")]
    NoRecords,
    #[error("{nbins} bins of {bin} over {span} is too many (at most {max}); use a larger -M bin")]
    TooManyBins {
        nbins: u64,
        bin: String,
        span: String,
        max: u64,
    },
    #[error("cannot draw {path}: {why}")]
    Draw { path: String, why: String },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The embedded font (DejaVu Sans, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif` (once).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is a known-good file compiled in; a failure would only
        // leave plotters without text, which the tests would catch.
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT);
    });
}

/// The picture format a path asks for, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
    Dot,
    Html,
}

impl Format {
    pub fn of(path: &str) -> Option<Format> {
        let ext = std::path::Path::new(path)
            .extension()?
            .to_str()?
            .to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            "dot" | "gv" => Some(Format::Dot),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

/// `v` with an SI prefix and `unit`, three significant digits:
/// `si(1.5e6, "bit/s")` is `1.5 Mbit/s`, `si(0.012, "s")` is `12 ms`.
pub fn si(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return format!("- {unit}");
    }
    if v == 0.0 {
        return format!("0 {unit}");
    }
    if v.abs() < 1.0 && unit != "s" {
        // Milli-packets and milli-flows read badly: plain decimals below 1.
        return format!("{} {unit}", trim_decimals(v, 3));
    }
    const UP: &[&str] = &["", "k", "M", "G", "T", "P", "E"];
    const DOWN: &[&str] = &["", "m", "µ", "n"];
    let a = v.abs();
    let (scaled, prefix) = if a >= 1.0 {
        let mut i = 0;
        let mut s = a;
        while s >= 999.5 && i + 1 < UP.len() {
            s /= 1000.0;
            i += 1;
        }
        (s, UP[i])
    } else {
        let mut i = 0;
        let mut s = a;
        while s < 0.9995 && i + 1 < DOWN.len() {
            s *= 1000.0;
            i += 1;
        }
        (s, DOWN[i])
    };
    let digits = if scaled >= 99.95 {
        0
    } else if scaled >= 9.995 {
        1
    } else {
        2
    };
    let mut num = format!("{scaled:.digits$}");
    if num.contains('.') {
        while num.ends_with('0') {
            num.pop();
        }
        if num.ends_with('.') {
            num.pop();
        }
    }
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}{num} {prefix}{unit}")
}

/// Parses a bin width: a number and a unit (`us ms s m h d`, default s):
/// `1s`, `500ms`, `5m`, `0.5`.
pub fn parse_duration_ns(s: &str) -> Result<u64, GraphError> {
    let bad = || {
        GraphError::Usage(format!(
            "bad bin width '{s}': give a number and a unit, e.g. 1s, 500ms, 5m, 1h, 1d"
        ))
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" | "sec" => 1e9,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => return Err(bad()),
    };
    let ns = n * mult;
    if !(1e3..=366.0 * 86400e9).contains(&ns) {
        return Err(GraphError::Usage(format!(
            "bin width '{s}' is out of range (1us to 366d)"
        )));
    }
    Ok(ns.round() as u64)
}

/// A duration for people: `1 s`, `500 ms`, `5 min`.
pub fn human_duration(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s >= 86400.0 {
        format!("{} d", trim(s / 86400.0))
    } else if s >= 3600.0 {
        format!("{} h", trim(s / 3600.0))
    } else if s >= 60.0 {
        format!("{} min", trim(s / 60.0))
    } else {
        si(s, "s")
    }
}

fn trim(v: f64) -> String {
    trim_decimals(v, 2)
}

fn trim_decimals(v: f64, digits: usize) -> String {
    let mut t = format!("{v:.digits$}");
    while t.ends_with('0') {
        t.pop();
    }
    if t.ends_with('.') {
        t.pop();
    }
    t
}

/// Escapes text for XML and HTML.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A colour palette that stays readable (Tableau 10), then grey for "other".
pub const PALETTE: &[(u8, u8, u8)] = &[
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (127, 127, 127),
];

/// The colour for "other".
pub const OTHER_COLOUR: (u8, u8, u8) = (190, 190, 190);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_prefixes_read_well() {
        assert_eq!(si(1.5e6, "bit/s"), "1.5 Mbit/s");
        assert_eq!(si(250_000.0, "bit/s"), "250 kbit/s");
        assert_eq!(si(0.012, "s"), "12 ms");
        assert_eq!(si(0.0, "pkt/s"), "0 pkt/s");
        assert_eq!(si(999.7, "B"), "1 kB");
        assert_eq!(si(-2000.0, "B"), "-2 kB");
        assert_eq!(si(f64::NAN, "B"), "- B");
        assert_eq!(si(1e30, "B"), "1000000000000 EB");
        assert_eq!(si(0.8, "flows"), "0.8 flows");
        assert_eq!(si(-0.25, "pkt/s"), "-0.25 pkt/s");
    }

    #[test]
    fn bin_widths_parse_with_units() {
        assert_eq!(parse_duration_ns("1s").unwrap(), 1_000_000_000);
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("5m").unwrap(), 300_000_000_000);
        assert_eq!(parse_duration_ns("2").unwrap(), 2_000_000_000);
        for bad in ["", "s", "1x", "0s", "-1s", "1e400", "1.2.3s", "nan"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad}");
        }
        assert_eq!(human_duration(300_000_000_000), "5 min");
        assert_eq!(human_duration(500_000_000), "500 ms");
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(Format::of("a/b.PNG"), Some(Format::Png));
        assert_eq!(Format::of("x.svg"), Some(Format::Svg));
        assert_eq!(Format::of("x.dot"), Some(Format::Dot));
        assert_eq!(Format::of("x"), None);
        assert_eq!(escape_xml("<a&\"b'>"), "&lt;a&amp;&quot;b&#39;&gt;");
    }
}
