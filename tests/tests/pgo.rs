//! The profile-guided build (`cargo xtask pgo`: target/pgo/ocellus, which
//! `cargo xtask test` builds first and names in `OCELLUS_PGO_BIN`) must do
//! exactly what the plain release build does: profile-guided optimisation
//! changes how the code is laid out and inlined, never what it computes, and
//! this checks that the build pipeline (instrumented build, training, merged
//! profile, optimised build) gives a working probe.

use ocellus_tests::tools::{corpus_captures, ocellus_bin, output};
use std::path::{Path, PathBuf};
use std::process::Command;

fn pgo_bin() -> PathBuf {
    let p = std::env::var_os("OCELLUS_PGO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
            "OCELLUS_PGO_BIN is not set: run the tests with `cargo xtask test`, which builds the \
             profile-guided probe (`cargo xtask pgo`, target/pgo/ocellus) and sets it"
        )
        });
    assert!(p.is_file(), "{} does not exist", p.display());
    p
}

/// What `ocellus probe -r capture ARGS -w out` did: exit status, stderr, and
/// the records written (the file without its 32-byte header, which holds the
/// time it was created).
fn probe(bin: &Path, capture: &Path, args: &[&str], out: &Path) -> (Option<i32>, String, Vec<u8>) {
    let _ = std::fs::remove_file(out);
    let o = output(
        Command::new(bin)
            .arg("probe")
            .arg("-r")
            .arg(capture)
            .args(args)
            .arg("-w")
            .arg(out),
    );
    let records = std::fs::read(out)
        .map(|b| b.get(32..).unwrap_or_default().to_vec())
        .unwrap_or_default();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        records,
    )
}

#[test]
fn the_profile_guided_build_writes_what_the_plain_build_writes() {
    let (plain, pgo) = (ocellus_bin(), pgo_bin());
    let dir = tempfile::tempdir().unwrap();
    let (a_out, b_out) = (dir.path().join("plain.ocr"), dir.path().join("pgo.ocr"));
    let captures = corpus_captures();
    assert!(
        captures.len() > 100,
        "{} captures in the corpus",
        captures.len()
    );
    // The largest captures again with the options that take other paths:
    // two workers, jitter and payload bytes.
    let mut by_size = captures.clone();
    by_size.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    let runs = captures.iter().map(|c| (c, &["--workers", "1"][..])).chain(
        by_size
            .iter()
            .take(12)
            .map(|c| (c, &["--workers", "2", "-J", "-U", "32"][..])),
    );
    let (mut compared, mut records_bytes) = (0, 0);
    for (capture, args) in runs {
        let a = probe(&plain, capture, args, &a_out);
        let b = probe(&pgo, capture, args, &b_out);
        let name = capture.file_name().unwrap().to_string_lossy();
        assert_eq!(a.0, b.0, "{name} {args:?}: exit status");
        assert_eq!(a.1, b.1, "{name} {args:?}: messages");
        assert!(
            a.2 == b.2,
            "{name} {args:?}: the records differ ({} and {} bytes)",
            a.2.len(),
            b.2.len()
        );
        compared += 1;
        records_bytes += a.2.len();
    }
    assert!(
        records_bytes > 1_000_000,
        "{records_bytes} bytes of records compared"
    );
    eprintln!("{compared} runs, {records_bytes} bytes of records: the same from both builds");
}
