//! Output shapes the clients share beyond the printer's text, CSV and JSON.
//!
//! `--csv-afterglow`: rows for AfterGlow's graph input, `source,target` or
//! `source,target,event`, without a header. The default columns are
//! `saddr,daddr,dport` (ports numeric); `-s` picks two or three others.

use super::ClientError;
use crate::print::PrintOptions;

/// The default afterglow columns.
pub const AFTERGLOW_FIELDS: &[&str] = &["saddr", "daddr", "dport"];

/// Printer options for afterglow rows from the `-s` fields (empty: the
/// default) and the `-n` level.
pub fn afterglow_options<S: AsRef<str>>(
    fields: &[S],
    numeric: u8,
) -> Result<PrintOptions, ClientError> {
    let mut o = PrintOptions {
        delimiter: Some(','),
        labels: -1,
        numeric: numeric.max(1),
        ..PrintOptions::default()
    };
    let specs: Vec<&str> = if fields.is_empty() {
        AFTERGLOW_FIELDS.to_vec()
    } else {
        fields
            .iter()
            .flat_map(|f| f.as_ref().split_whitespace())
            .collect()
    };
    if !(2..=3).contains(&specs.len()) || specs.iter().any(|s| s.starts_with(['+', '-'])) {
        return Err(ClientError::Usage(format!(
            "--csv-afterglow takes two or three fields with -s (source target [event]), not '{}'",
            specs.join(" ")
        )));
    }
    o.set_fields(&specs)
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print::{Names, Printer};
    use crate::record::{FlowRecord, KeyClass};

    #[test]
    fn afterglow_rows_are_source_target_event() {
        let mut r = FlowRecord::default();
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 6;
        r.key.src[..4].copy_from_slice(&[10, 0, 0, 1]);
        r.key.dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        r.key.dport = 80;
        let o = afterglow_options::<&str>(&[], 0).unwrap();
        let mut p = Printer::with_names(o, Names::default());
        assert_eq!(p.format_record(&r), "10.0.0.1,10.0.0.2,80");
        let o = afterglow_options(&["saddr", "daddr"], 0).unwrap();
        let mut p = Printer::with_names(o, Names::default());
        assert_eq!(p.format_record(&r), "10.0.0.1,10.0.0.2");
        assert!(afterglow_options(&["saddr"], 0).is_err());
        assert!(afterglow_options(&["saddr", "bogus"], 0).is_err());
    }
}
