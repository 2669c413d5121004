//! The differential test: the real Argus and ocellus on the same captures,
//! compared record by record (key, direction, state, flags, per-direction
//! packets and bytes, start and last time).

use ocellus_tests::diff::{argus_rows, compare, describe, ocellus_rows};
use ocellus_tests::tools::{corpus_dir, require_argus};
use std::path::PathBuf;

/// Corpus captures: every file of SOURCES.tsv. Returns (name, path).
fn corpus() -> Vec<(String, PathBuf)> {
    let dir = corpus_dir();
    let tsv = std::fs::read_to_string(dir.join("SOURCES.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("SOURCES.tsv").display()));
    tsv.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|f| (f.to_string(), dir.join(f)))
        .collect()
}

#[test]
fn corpus_records_match_argus() {
    require_argus();
    let work = tempfile::tempdir().unwrap();
    let (mut identical, mut total_argus, mut files, mut clean_files) = (0, 0, 0, 0);
    let mut report = String::new();
    for (name, path) in corpus() {
        let Ok(a) = argus_rows(&path, work.path()) else {
            continue;
        };
        let o = ocellus_rows(&path, work.path(), 2).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = compare(&a, &o);
        files += 1;
        identical += c.identical;
        total_argus += a.len();
        if c.is_clean() {
            clean_files += 1;
        } else {
            report += &format!(
                "{name}: {} identical, {} differ, {} argus-only, {} ocellus-only\n{}",
                c.identical,
                c.differing.len(),
                c.only_argus.len(),
                c.only_ocellus.len(),
                describe(&c, 5)
            );
        }
    }
    println!("{report}");
    println!(
        "corpus: {files} captures Argus reads, {clean_files} identical throughout; {identical} of {total_argus} Argus records identical"
    );
    assert!(files > 100, "only {files} corpus captures compared");
}
