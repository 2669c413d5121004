//! Every frame of the real corpus (`../shared/corpus/real/` from the repository
//! root) through the parser. A minimal pcap/pcapng reader lives here so this test
//! does not depend on the capture module; it stops quietly at damaged data.
use super::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/real");
    dir.is_dir().then_some(dir)
}

/// Calls `f(link, frame)` for every frame of a pcap or pcapng image.
fn frames(img: &[u8], f: &mut dyn FnMut(u32, &[u8])) {
    let Some(magic) = img.get(..4) else { return };
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] | [0x34, 0xcd, 0xb2, 0xa1] => {
            pcap(img, true, magic[1] == 0xcd, f)
        }
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] | [0xa1, 0xb2, 0xcd, 0x34] => {
            pcap(img, false, magic[2] == 0xcd, f)
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => pcapng(img, f),
        _ => {}
    }
}

fn rd32(d: &[u8], off: usize, le: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(off..off + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    })
}

fn rd16(d: &[u8], off: usize, le: bool) -> Option<u16> {
    let b: [u8; 2] = d.get(off..off + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(b)
    } else {
        u16::from_be_bytes(b)
    })
}

fn pcap(img: &[u8], le: bool, modified: bool, f: &mut dyn FnMut(u32, &[u8])) {
    let Some(link) = rd32(img, 20, le) else {
        return;
    };
    let link = link & 0x03ff_ffff;
    let rec_hdr = if modified { 24 } else { 16 };
    let mut off = 24;
    while let Some(caplen) = rd32(img, off + 8, le) {
        let start = off + rec_hdr;
        let Some(frame) = img.get(start..start + caplen as usize) else {
            return;
        };
        f(link, frame);
        off = start + caplen as usize;
    }
}

fn pcapng(img: &[u8], f: &mut dyn FnMut(u32, &[u8])) {
    let mut le = true;
    let mut links: Vec<u32> = Vec::new();
    let mut off = 0;
    loop {
        if img.get(off..off + 4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            match img.get(off + 8..off + 12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => le = true,
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => le = false,
                _ => return,
            }
            links.clear();
        }
        let (Some(ty), Some(len)) = (rd32(img, off, le), rd32(img, off + 4, le)) else {
            return;
        };
        let len = len as usize;
        if len < 12 || !len.is_multiple_of(4) {
            return;
        }
        let Some(body) = img.get(off + 8..off + len - 4) else {
            return;
        };
        match ty {
            1 => links.push(u32::from(rd16(body, 0, le).unwrap_or(0xffff))),
            6 => {
                let (Some(ifc), Some(cap)) = (rd32(body, 0, le), rd32(body, 12, le)) else {
                    return;
                };
                let (Some(&link), Some(frame)) =
                    (links.get(ifc as usize), body.get(20..20 + cap as usize))
                else {
                    return;
                };
                f(link, frame);
            }
            3 => {
                let (Some(&link), Some(orig)) = (links.first(), rd32(body, 0, le)) else {
                    return;
                };
                let cap = (orig as usize).min(body.len().saturating_sub(4));
                if let Some(frame) = body.get(4..4 + cap) {
                    f(link, frame);
                }
            }
            2 => {
                let (Some(ifc), Some(cap)) = (rd16(body, 0, le), rd32(body, 12, le)) else {
                    return;
                };
                let (Some(&link), Some(frame)) =
                    (links.get(usize::from(ifc)), body.get(20..20 + cap as usize))
                else {
                    return;
                };
                f(link, frame);
            }
            _ => {}
        }
        off += len;
    }
}

#[test]
fn real_corpus_parses_without_panics() {
    let Some(dir) = corpus_dir() else {
        eprintln!("corpus not found next to the repository; skipping");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut by_reason: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_net: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_file_bad: Vec<(String, u64, u64)> = Vec::new();
    let mut total = 0u64;
    let mut p = PacketInfo::default();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".tsv") || name.ends_with(".md") {
            continue;
        }
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let img = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            if flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .is_err()
                && out.is_empty()
            {
                continue;
            }
            out
        } else {
            raw
        };
        let (mut n, mut bad) = (0u64, 0u64);
        frames(&img, &mut |link, frame| {
            parse(LinkType(link), frame, frame.len() as u32, 0, &mut p);
            assert_sane(&p, frame.len());
            assert_same_as_general(LinkType(link), frame, frame.len() as u32, &p);
            // The same frame twice gives the same answer (no state leaks).
            let first = flow_fields(&p);
            let mut again = PacketInfo::default();
            parse(LinkType(link), frame, frame.len() as u32, 0, &mut again);
            assert_eq!(first, flow_fields(&again));
            n += 1;
            // OCELLUS_CORPUS_DUMP=<file name part> prints a line per frame.
            if std::env::var("OCELLUS_CORPUS_DUMP").is_ok_and(|s| name.contains(&s)) {
                eprintln!(
                    "{name} #{n} {:?} encaps {:#x} {:?} {:?}:{} -> {:?}:{} proto {} l4 {} app {}",
                    p.malformed,
                    p.encaps,
                    p.net,
                    &p.src_ip[..4],
                    p.sport,
                    &p.dst_ip[..4],
                    p.dport,
                    p.proto,
                    p.has_l4,
                    p.app_len
                );
            }
            if p.malformed != Malformed::None {
                // OCELLUS_CORPUS_DEBUG=<file name part> prints what went wrong.
                if std::env::var("OCELLUS_CORPUS_DEBUG").is_ok_and(|s| name.contains(&s)) {
                    eprintln!("{name} link {link} frame {n}: {p:?}");
                }
                bad += 1;
            }
            *by_reason.entry(p.malformed.name()).or_default() += 1;
            *by_net.entry(format!("{:?}", p.net)).or_default() += 1;
        });
        total += n;
        if bad > 0 {
            per_file_bad.push((name, bad, n));
        }
    }
    eprintln!("corpus: {total} frames; malformed: {by_reason:?}; net: {by_net:?}");
    for (name, bad, n) in &per_file_bad {
        eprintln!("  {name}: {bad}/{n} malformed");
    }
    assert!(
        total > 10_000,
        "the corpus should hold many frames, read {total}"
    );
    let clean = by_reason.get("none").copied().unwrap_or(0);
    assert!(
        clean * 100 >= total * 95,
        "under 95% of real frames parse cleanly: {by_reason:?}"
    );
}
