//! Pictures from real captures: `ocellus graph` (and its `ragraph` name),
//! `graph --links` and `ocellus report`, checked as a reader would: the PNGs
//! decode to the size asked for and are not blank, the SVGs carry their
//! titles, axis labels and legend in the stated order, the binned series add
//! up to what `ocellus count` says for the same records, and the HTML
//! report renders in headless Chromium with the expected totals.

use ocellus::record::{DirStats, FlowRecord, KeyClass};
use ocellus::ring::{open_sink, SinkOptions};
use ocellus_tests::tools::{corpus_dir, ocellus, ocellus_bin, output};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A capture probed into a record file in a fresh directory.
struct Records {
    dir: tempfile::TempDir,
    file: PathBuf,
}

fn probe(capture: &str) -> Records {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.ocr");
    let o = output(
        ocellus("probe")
            .args(["-q", "-r"])
            .arg(corpus_dir().join(capture))
            .arg("-w")
            .arg(&file),
    );
    assert!(o.status.success(), "probe {capture}: {}", stderr(&o));
    Records { dir, file }
}

impl Records {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    let o = output(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    o
}

/// `ocellus count -c , -L -1 [-M proto]` lines as label → (records, pkts, bytes).
fn count(file: &Path, filter: &[&str]) -> BTreeMap<String, (u64, u64, u64)> {
    let mut c = ocellus("count");
    c.arg("-r")
        .arg(file)
        .args(["-c", ",", "-L", "-1", "-M", "proto"]);
    if !filter.is_empty() {
        c.arg("-").args(filter);
    }
    let o = run(&mut c);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f.get(i)?.parse::<u64>().ok();
            Some((f.first()?.to_string(), (n(1)?, n(2)?, n(5)?)))
        })
        .collect()
}

/// The `--data` CSV: (metric, key) → summed raw counts, and the keys in
/// series (stacking) order.
fn data(path: &Path) -> (BTreeMap<(String, String), u64>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("bin_start,metric,key,raw,value"));
    let mut sums = BTreeMap::new();
    let mut order = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 5, "{l}");
        let raw: u64 = f[3].parse().unwrap();
        if !f[4].is_empty() {
            let v: f64 = f[4].parse().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{l}");
        }
        let key = (f[1].to_string(), f[2].to_string());
        if !order.contains(&key.1) {
            order.push(key.1.clone());
        }
        *sums.entry(key).or_insert(0) += raw;
    }
    (sums, order)
}

/// Decodes a PNG: (width, height, distinct colours).
fn png_info(path: &Path) -> (u32, u32, usize) {
    let dec = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bpp = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(bpp).collect();
    colours.sort_unstable();
    colours.dedup();
    (info.width, info.height, colours.len())
}

/// The trimmed texts of an SVG, in document order.
fn svg_texts(path: &Path) -> Vec<String> {
    let s = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&s).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn series_add_up_to_count_and_the_png_is_drawn() {
    let r = probe("ndpi-reddit-ipv6-tls.pcap");
    let png = r.path("g.png");
    let csv = r.path("g.csv");
    run(ocellus("graph")
        .args([
            "bytes", "pkts", "-M", "1s", "-m", "proto", "--stack", "--fill",
        ])
        .arg("-r")
        .arg(&r.file)
        .arg("-w")
        .arg(&png)
        .arg("--data")
        .arg(&csv));
    let (w, h, colours) = png_info(&png);
    assert_eq!((w, h), (1000, 180 + 2 * 260));
    assert!(colours > 20, "a blank picture ({colours} colours)");
    let (sums, _) = data(&csv);
    let c = count(&r.file, &[]);
    let (_, pkts, bytes) = c["sum"];
    let total = |metric: &str| -> u64 {
        sums.iter()
            .filter(|((m, _), _)| m == metric)
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(total("bytes"), bytes);
    assert_eq!(total("pkts"), pkts);
    // Each protocol's series adds up to count's protocol line.
    for (label, (_, pkts, bytes)) in &c {
        if label == "sum" {
            continue;
        }
        let key = ("bytes".to_string(), label.clone());
        assert_eq!(sums.get(&key), Some(bytes), "bytes of {label}");
        let key = ("pkts".to_string(), label.clone());
        assert_eq!(sums.get(&key), Some(pkts), "pkts of {label}");
    }
}

#[test]
fn the_svg_has_titles_axes_and_the_legend_in_stacking_order() {
    let r = probe("ndpi-alexa-app.pcapng");
    let svg = r.path("g.svg");
    let csv = r.path("g.csv");
    run(ocellus("graph")
        .args(["bytes", "-M", "10s", "-m", "dport", "--top", "4", "--stack"])
        .args(["--fill", "--title", "Alexa <app> traffic", "-n"])
        .arg("-r")
        .arg(&r.file)
        .arg("-w")
        .arg(&svg)
        .arg("--data")
        .arg(&csv));
    let texts = svg_texts(&svg);
    assert!(
        texts.iter().any(|t| t == "Alexa <app> traffic"),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t == "bytes (bit/s, stacked)"));
    assert!(texts.iter().any(|t| t.starts_with("local time (")));
    assert!(texts.iter().any(|t| t.ends_with(" kbit/s")), "{texts:?}");
    assert!(texts.iter().any(|t| t == "dport"));
    // Series order: keys by decreasing bytes, "other" last; the legend lists
    // them from the top of the pile down.
    let (sums, order) = data(&csv);
    assert_eq!(order.len(), 5);
    assert_eq!(order.last().map(String::as_str), Some("other"));
    let totals: Vec<u64> = order[..4]
        .iter()
        .map(|k| sums[&("bytes".to_string(), k.clone())])
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    assert_eq!(order[0], "443");
    let legend: Vec<&str> = texts
        .iter()
        .filter_map(|t| {
            let (k, _) = t.split_once("  ")?;
            order.iter().any(|o| o == k).then_some(k)
        })
        .collect();
    let mut reversed: Vec<&str> = order.iter().map(String::as_str).collect();
    reversed.reverse();
    assert_eq!(legend, reversed);
    assert_eq!(
        sums.values().sum::<u64>(),
        count(&r.file, &[])["sum"].2,
        "the keys and 'other' add up to all bytes"
    );
}

#[test]
fn ragraph_takes_argus_spelling_verbatim() {
    let r = probe("ndpi-netflowv9.pcap");
    let link = r.path("ragraph");
    std::os::unix::fs::symlink(ocellus_bin(), &link).unwrap();
    let png = r.path("ragraph.png");
    let csv = r.path("d.csv");
    run(Command::new(&link)
        .args(["bytes", "-M", "1s", "-fill", "-stack", "-r"])
        .arg(&r.file)
        .arg("-w")
        .arg(&png)
        .arg("--data")
        .arg(&csv)
        .args(["-", "udp", "and", "port", "2057"]));
    let (w, h, colours) = png_info(&png);
    assert_eq!((w, h), (1000, 440));
    assert!(colours > 10);
    let (sums, _) = data(&csv);
    let want = count(&r.file, &["udp", "and", "port", "2057"])["sum"].2;
    assert!(want > 0);
    assert_eq!(sums.values().sum::<u64>(), want);
}

#[test]
fn bad_input_gives_a_picture_or_one_line() {
    let r = probe("zeek-wikipedia.pcap");
    let graph = |args: &[&str]| {
        // The options, then -r, then any "- FILTER".
        let cut = args.iter().position(|a| *a == "-").unwrap_or(args.len());
        let mut c = ocellus("graph");
        c.args(&args[..cut])
            .arg("-r")
            .arg(&r.file)
            .args(&args[cut..]);
        c
    };
    let png = r.path("x.png");
    let png_s = png.to_str().unwrap();
    // Nothing matches: a clear message, exit 2, no picture.
    for (args, says) in [
        (
            vec!["bytes", "-M", "1s", "-w", png_s, "-", "port", "1"],
            "no records",
        ),
        (vec!["bytes", "-M", "1us", "-w", png_s], "too many"),
        (vec!["bogus", "-M", "1s", "-w", png_s], "unknown metric"),
        (vec!["bytes", "-M", "0s", "-w", png_s], "out of range"),
        (vec!["bytes", "-M", "1s", "-w", "x.gif"], ".png or .svg"),
        (vec!["bytes", "-m", "nosuchfield", "-w", png_s], "-m"),
        (vec!["--links", "-m", "saddr", "-w", png_s], "two or three"),
    ] {
        let o = output(&mut graph(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains(says), "{args:?}: {e}");
        assert!(!png.exists(), "{args:?} left a picture");
    }
    // A bin larger than the capture: one bin holding everything.
    let csv = r.path("d.csv");
    let csv_s = csv.to_str().unwrap();
    run(&mut graph(&[
        "bytes", "rtt", "loss", "-M", "1d", "-w", png_s, "--data", csv_s,
    ]));
    let (sums, _) = data(&csv);
    assert_eq!(
        sums[&("bytes".to_string(), "all".to_string())],
        count(&r.file, &[])["sum"].2
    );
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count();
    assert_eq!(rows, 1 + 3, "one bin per metric");
    assert!(png_info(&png).2 > 10);
    // A single record, and a metric with nothing to average (no TCP): still
    // a picture.
    std::fs::remove_file(&png).unwrap();
    run(&mut graph(&[
        "rtt", "flows", "-M", "1s", "-w", png_s, "-", "arp",
    ]));
    assert!(png_info(&png).2 > 10);
    let svg = r.path("one.svg");
    let one = ["host", "173.192.163.128"];
    assert_eq!(count(&r.file, &one)["sum"].0, 1, "one record");
    let svg_s = svg.to_str().unwrap();
    run(&mut graph(&[
        "bytes", "--split", "-w", svg_s, "-", one[0], one[1],
    ]));
    assert!(svg_texts(&svg).iter().any(|t| t.contains("source up")));
}

#[test]
fn a_million_distinct_keys_draw_top_n_and_other() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.ocr");
    {
        let mut sink = open_sink(file.to_str().unwrap(), &SinkOptions::default()).unwrap();
        let mut r = FlowRecord {
            stime_ns: 1_700_000_000_000_000_000,
            ltime_ns: 1_700_000_000_000_000_000,
            src: DirStats {
                pkts: 1,
                bytes: 60,
                ..DirStats::default()
            },
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 17;
        for i in 0u32..1_000_000 {
            r.key.src[..4].copy_from_slice(&(0x0a00_0000 + i).to_be_bytes());
            r.stime_ns += 1_000;
            r.ltime_ns = r.stime_ns + 5_000_000;
            sink.write(&r).unwrap();
        }
        sink.flush().unwrap();
    }
    let png = dir.path().join("m.png");
    let csv = dir.path().join("m.csv");
    run(ocellus("graph")
        .args([
            "bytes", "-M", "100ms", "-m", "saddr", "--stack", "--fill", "-r",
        ])
        .arg(&file)
        .arg("-w")
        .arg(&png)
        .arg("--data")
        .arg(&csv));
    let (sums, order) = data(&csv);
    assert_eq!(order.len(), 9, "8 keys and other: {order:?}");
    assert_eq!(sums.values().sum::<u64>(), 60_000_000);
    assert_eq!(
        sums[&("bytes".to_string(), "other".to_string())],
        60 * 999_992
    );
    assert!(png_info(&png).2 > 10);
}

#[test]
fn links_draw_who_talks_to_whom() {
    let r = probe("ndpi-alexa-app.pcapng");
    let svg = r.path("l.svg");
    let dot = r.path("l.dot");
    let png = r.path("l.png");
    let csv = r.path("l.csv");
    for out in [&svg, &dot, &png] {
        run(ocellus("graph")
            .args(["--links", "-m", "saddr", "daddr", "dport", "-r"])
            .arg(&r.file)
            .arg("-w")
            .arg(out)
            .arg("--data")
            .arg(&csv));
    }
    let edges = std::fs::read_to_string(&csv).unwrap();
    let edge_bytes: u64 = edges
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    // Every record is an edge of some pair; with all nodes kept (38 < 40)
    // the edges hold every byte.
    assert_eq!(edge_bytes, count(&r.file, &[])["sum"].2);
    let texts = svg_texts(&svg);
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("172.16.42.216 (1.17 MB)")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t == "source and target"));
    assert!(texts.iter().any(|t| t.contains("443")));
    let dot = std::fs::read_to_string(&dot).unwrap();
    assert!(dot.starts_with("digraph ocellus {"));
    assert_eq!(dot.matches(" -> ").count(), edges.lines().count() - 1);
    let (w, h, colours) = png_info(&png);
    assert_eq!((w, h), (1000, 800));
    assert!(colours > 20);
}

/// Debian's Chromium: CI installs it (`cargo xtask setup`); a test that needs
/// it fails with this message rather than skipping.
fn chromium() -> Command {
    let bin = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium is missing: install Debian's chromium (cargo xtask setup does)");
    let profile = tempfile::tempdir().unwrap().keep();
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn the_report_renders_in_chromium_with_the_totals() {
    let r = probe("ndpi-alexa-app.pcapng");
    let html = r.path("report.html");
    run(ocellus("report")
        .arg("-r")
        .arg(&r.file)
        .arg("-w")
        .arg(&html)
        .args(["--title", "Alexa app"]));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("<link") && !page.contains(" src="),
        "fetches nothing"
    );
    let url = format!("file://{}", html.display());
    let o = run(chromium().arg("--dump-dom").arg(&url));
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        dom.contains("data-check=\"ok\""),
        "the page's own check failed: {}",
        dom.split("data-check=")
            .nth(1)
            .unwrap_or("(no check ran)")
            .chars()
            .take(200)
            .collect::<String>()
    );
    let c = count(&r.file, &[]);
    let (_, pkts, bytes) = c["sum"];
    let records: u64 = c
        .iter()
        .filter(|(k, _)| *k != "sum")
        .map(|(_, v)| v.0)
        .sum();
    assert!(
        dom.contains(&format!("id=\"total-bytes\">{bytes}<")),
        "bytes {bytes}"
    );
    assert!(
        dom.contains(&format!("id=\"total-pkts\">{pkts}<")),
        "pkts {pkts}"
    );
    assert!(dom.contains(&format!("id=\"total-records\">{records}<")));
    assert!(dom.contains("<h1>Alexa app</h1>"));
    let shot = r.path("shot.png");
    run(chromium()
        .arg("--window-size=1100,1400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url));
    let (w, h, colours) = png_info(&shot);
    assert_eq!((w, h), (1100, 1400));
    assert!(colours > 50, "a blank screenshot ({colours} colours)");
}
