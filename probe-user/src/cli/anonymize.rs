//! `ocellus anonymize` (Argus's `ranonymize`): Crypto-PAn addresses, shifted
//! ports and times; see [`crate::clients::anonymize`] for what changes.

use super::ra_common::{run_main, streaming_input, Arity, Out, COMMON_HELP};
use crate::clients::anonymize::{
    parse_key_hex, random_key, read_key_file, AnonOptions, Anonymizer,
};
use crate::clients::ClientError;
use std::process::ExitCode;

const HELP: &str = "\
ocellus anonymize: anonymize flow records (prefix-preserving), like Argus's ranonymize

Usage: ocellus anonymize -r PATH... [-w OUT] [--key HEX | --key-file FILE] [OPTIONS] [- FILTER]

  --key HEX        the 32-byte Crypto-PAn key as 64 hex digits; the same key gives
                   the same mapping in every run (without a key: a random one)
  --key-file FILE  the key as 32 raw bytes or 64 hex digits
  --keep-ports     keep every port (default: ports below 1024 are kept, the others
                   shifted by a key-derived offset within 1024..65535)
  --keep-private   keep RFC 1918, fc00::/7 and fe80::/10 addresses
  --time-shift S   add S seconds (may be negative) to every time
  IPv4, IPv6 and MAC addresses are mapped with Crypto-PAn; the captured payload
  is dropped, management records are dropped. Without -w the records are printed.
";

pub fn main(args: Vec<String>) -> ExitCode {
    let help = format!("{HELP}{COMMON_HELP}");
    run_main(
        "anonymize",
        &help,
        &args,
        &[
            ("--key", Arity::One),
            ("--key-file", Arity::One),
            ("--keep-ports", Arity::Switch),
            ("--keep-private", Arity::Switch),
            ("--time-shift", Arity::One),
        ],
        |t| {
            let key = match (t.value("--key"), t.value("--key-file")) {
                (Some(_), Some(_)) => {
                    return Err(
                        ClientError::Usage("give --key or --key-file, not both".into()).into(),
                    )
                }
                (Some(h), None) => parse_key_hex(&h)?,
                (None, Some(f)) => read_key_file(std::path::Path::new(&f))?,
                (None, None) => random_key()?,
            };
            let time_shift_s = match t.value("--time-shift") {
                None => 0,
                Some(s) => s.parse::<i64>().map_err(|_| {
                    ClientError::Usage(format!("--time-shift {s}: expected whole seconds"))
                })?,
            };
            let mut an = Anonymizer::new(
                &key,
                AnonOptions {
                    keep_ports: t.has("--keep-ports"),
                    keep_private: t.has("--keep-private"),
                    time_shift_s,
                },
            );
            let mut out = Out::new(t)?;
            let mut rec = crate::record::FlowRecord::default();
            let mut n: u64 = 0;
            let max = t.read.max_records;
            streaming_input(&t.read)?.for_each(|r| {
                if max.is_some_and(|x| n >= x) {
                    return Ok(false);
                }
                rec.clone_from(r);
                if an.anonymize(&mut rec) {
                    out.record(&rec, 1)?;
                    n += 1;
                }
                Ok(true)
            })?;
            out.finish()?;
            Ok(())
        },
    )
}
