//! `ocellus report`: one self-contained HTML page summarising a capture, to
//! share an incident's summary: totals, traffic over time, top talkers,
//! protocols, destination ports, TCP states, TCP round trips and a
//! communication graph. Charts are inline SVG, styles are inline CSS; the
//! page fetches nothing. A small inline script checks, when the page is
//! opened, that the charts laid out and that the protocol table adds up to
//! the totals, and marks `<body data-check="ok">` (the headless-browser test
//! reads it).

use super::chart::{self, ChartOptions};
use super::links::{self, ColourBy, LinkBuilder, LinkSpec};
use super::series::{Binner, GraphSpec, KeyMaker, MetricSpec};
use super::{escape_xml, si, GraphError};
use crate::clients::count::{Counter, Totals};
use crate::print::state as tcp_state;
use crate::record::FlowRecord;
use chrono::{Local, TimeZone};
use hashbrown::HashMap;
use std::fmt::Write as _;

/// Rows in each top-N table.
const TOP_ROWS: usize = 10;

/// Round-trip buckets: upper bounds in microseconds and their names.
const RTT_BUCKETS: &[(u64, &str)] = &[
    (100, "< 100 µs"),
    (1_000, "100 µs – 1 ms"),
    (10_000, "1 – 10 ms"),
    (100_000, "10 – 100 ms"),
    (1_000_000, "100 ms – 1 s"),
    (u64::MAX, "≥ 1 s"),
];

#[derive(Clone, Copy, Debug, Default)]
struct Host {
    sent: u64,
    recv: u64,
    records: u64,
}

/// Collects records, then writes the page ([`ReportBuilder::finish`]).
pub struct ReportBuilder {
    title: String,
    sources: Vec<String>,
    timeline: Binner,
    links: LinkBuilder,
    hosts_key: KeyMaker,
    hosts: HashMap<String, Host>,
    counter: Counter,
    proto_names: KeyMaker,
    ports: HashMap<(u8, u16), (Totals, String)>,
    port_names: KeyMaker,
    states: HashMap<&'static str, u64>,
    rtts_us: Vec<u64>,
    first_ns: u64,
    last_ns: u64,
}

impl ReportBuilder {
    /// A report titled `title` about the inputs named in `sources`.
    pub fn new(title: Option<String>, sources: Vec<String>) -> Result<ReportBuilder, GraphError> {
        let timeline = Binner::new(GraphSpec {
            metrics: vec![MetricSpec::parse("bytes")?],
            keys: vec!["proto".into()],
            top: 6,
            ..GraphSpec::default()
        })?;
        let links = LinkBuilder::new(LinkSpec {
            keys: vec!["saddr".into(), "daddr".into(), "dport".into()],
            top: 20,
            ..LinkSpec::default()
        })?;
        let title = title.unwrap_or_else(|| {
            format!(
                "Network activity: {}",
                if sources.is_empty() {
                    "standard input".to_string()
                } else {
                    sources.join(", ")
                }
            )
        });
        Ok(ReportBuilder {
            title,
            sources,
            timeline,
            links,
            hosts_key: KeyMaker::new(&["saddr".into(), "daddr".into()], 1)?,
            hosts: HashMap::new(),
            counter: Counter::default(),
            proto_names: KeyMaker::new(&["proto".into()], 0)?,
            ports: HashMap::new(),
            port_names: KeyMaker::new(&["dport".into()], 0)?,
            states: HashMap::new(),
            rtts_us: Vec::new(),
            first_ns: u64::MAX,
            last_ns: 0,
        })
    }

    /// Adds a record (management records are skipped).
    pub fn add(&mut self, r: &FlowRecord) {
        if r.kind.is_man() {
            return;
        }
        self.timeline.add(r);
        self.links.add(r);
        self.counter.add(r);
        self.first_ns = self.first_ns.min(r.stime_ns);
        self.last_ns = self.last_ns.max(r.ltime_ns.max(r.stime_ns));
        let f = self.hosts_key.fields(r);
        if let (Some(s), Some(d)) = (f.first(), f.get(1)) {
            let h = self.hosts.entry_ref(s.as_str()).or_default();
            h.sent = h.sent.saturating_add(r.src.bytes);
            h.recv = h.recv.saturating_add(r.dst.bytes);
            h.records += 1;
            if d != s {
                let h = self.hosts.entry_ref(d.as_str()).or_default();
                h.sent = h.sent.saturating_add(r.dst.bytes);
                h.recv = h.recv.saturating_add(r.src.bytes);
                h.records += 1;
            }
        }
        if r.key.class().is_ip() && matches!(r.key.proto, 6 | 17 | 132) {
            let key = (r.key.proto, r.key.dport);
            if !self.ports.contains_key(&key) {
                let label = self.port_names.label(r);
                self.ports.insert(key, (Totals::default(), label));
            }
            if let Some((t, _)) = self.ports.get_mut(&key) {
                t.add(r);
            }
        }
        if r.key.class().is_ip() && r.key.proto == 6 {
            *self.states.entry(tcp_state(r)).or_default() += 1;
            if let Some(t) = &r.tcp {
                let us = u64::from(t.synack_us) + u64::from(t.ackdat_us);
                if us > 0 {
                    self.rtts_us.push(us);
                }
            }
        }
    }

    /// The page.
    pub fn finish(mut self) -> Result<String, GraphError> {
        if self.counter.total.records == 0 {
            return Err(GraphError::NoRecords);
        }
        let binned = self.timeline.finish()?;
        let timeline_svg = chart::svg_string(
            &binned,
            &ChartOptions {
                title: Some("Traffic over time, by protocol".into()),
                width: 960,
                height: 440,
                stack: true,
                fill: true,
            },
        )?;
        let g = self.links.finish()?;
        let links_svg = links::svg_string(
            &g,
            &LinkSpec {
                title: Some(format!(
                    "Who talks to whom (top {} hosts by bytes; edges labelled with ports)",
                    g.nodes.len()
                )),
                width: 960,
                height: 720,
                colour: ColourBy::Role,
                ..LinkSpec::default()
            },
        )?;
        let total = self.counter.total;
        let mut h = String::with_capacity(64 * 1024);
        let t = escape_xml(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"generator\" content=\"ocellus {}\">\n<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            h,
            "<p class=\"sub\">From {} to {} ({}), {} input{}: {}</p>",
            local(self.first_ns),
            local(self.last_ns),
            super::human_duration(self.last_ns - self.first_ns),
            self.sources.len(),
            if self.sources.len() == 1 { "" } else { "s" },
            escape_xml(&self.sources.join(", "))
        );
        h.push_str("<section class=\"cards\">\n");
        card(&mut h, "total-records", "records", total.records, "");
        card(
            &mut h,
            "total-pkts",
            "packets",
            total.pkts(),
            &si(total.pkts() as f64, "pkts"),
        );
        card(
            &mut h,
            "total-bytes",
            "bytes",
            total.bytes(),
            &si(total.bytes() as f64, "B"),
        );
        card(&mut h, "total-hosts", "hosts", self.hosts.len() as u64, "");
        h.push_str("</section>\n");

        let _ = writeln!(
            h,
            "<section><h2>Timeline</h2><div class=\"chart\">{timeline_svg}</div></section>"
        );

        // Top talkers.
        let mut hosts: Vec<(&String, &Host)> = self.hosts.iter().collect();
        hosts.sort_by(|a, b| {
            let ta = a.1.sent.saturating_add(a.1.recv);
            let tb = b.1.sent.saturating_add(b.1.recv);
            tb.cmp(&ta).then_with(|| a.0.cmp(b.0))
        });
        let max = hosts
            .first()
            .map_or(1, |(_, x)| x.sent.saturating_add(x.recv))
            .max(1);
        h.push_str("<section><h2>Top talkers</h2><table id=\"talkers\"><thead><tr><th>host</th><th>records</th><th>bytes sent</th><th>bytes received</th><th>bytes</th><th></th></tr></thead><tbody>\n");
        for (name, x) in hosts.iter().take(TOP_ROWS) {
            let tot = x.sent.saturating_add(x.recv);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_xml(name),
                x.records,
                x.sent,
                x.recv,
                tot,
                bar(tot, max)
            );
        }
        let _ = writeln!(h, "</tbody></table>{}</section>", more(hosts.len()));

        // Protocols.
        let protos = self.counter.by_proto();
        let max = protos.iter().map(|p| p.1.bytes()).max().unwrap_or(1).max(1);
        h.push_str("<section><h2>Protocols</h2><table id=\"protocols\"><thead><tr><th>protocol</th><th>records</th><th>packets</th><th>bytes</th><th></th></tr></thead><tbody>\n");
        for (_, tot, sample) in &protos {
            let name = self.proto_names.label(sample);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"bytes\">{}</td><td>{}</td></tr>",
                escape_xml(&name),
                tot.records,
                tot.pkts(),
                tot.bytes(),
                bar(tot.bytes(), max)
            );
        }
        h.push_str("</tbody></table></section>\n");

        // Ports.
        let mut ports: Vec<_> = self.ports.iter().collect();
        ports.sort_by(|a, b| {
            b.1 .0
                .bytes()
                .cmp(&a.1 .0.bytes())
                .then_with(|| a.0.cmp(b.0))
        });
        let max = ports.first().map_or(1, |p| p.1 .0.bytes()).max(1);
        h.push_str("<section><h2>Destination ports</h2><table id=\"ports\"><thead><tr><th>port</th><th>service</th><th>records</th><th>packets</th><th>bytes</th><th></th></tr></thead><tbody>\n");
        for ((proto, port), (tot, label)) in ports.iter().take(TOP_ROWS) {
            let pname = crate::print::ip_proto_name(*proto);
            let _ = writeln!(
                h,
                "<tr><td>{pname}/{port}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_xml(label),
                tot.records,
                tot.pkts(),
                tot.bytes(),
                bar(tot.bytes(), max)
            );
        }
        let _ = writeln!(h, "</tbody></table>{}</section>", more(ports.len()));

        // TCP states.
        let mut states: Vec<(&&str, &u64)> = self.states.iter().collect();
        states.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let max = states.first().map_or(1, |s| *s.1).max(1);
        h.push_str("<section><h2>TCP states</h2>");
        if states.is_empty() {
            h.push_str("<p>No TCP records.</p>");
        } else {
            h.push_str("<table id=\"states\"><thead><tr><th>state</th><th>records</th><th></th></tr></thead><tbody>\n");
            for (s, n) in &states {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{n}</td><td>{}</td></tr>",
                    escape_xml(s),
                    bar(**n, max)
                );
            }
            h.push_str("</tbody></table>");
            h.push_str("<p class=\"note\">CON connected, FIN closed, RST reset, REQ/ACC handshake only, INT no handshake seen, CLO closed (Argus's state names).</p>");
        }
        h.push_str("</section>\n");

        // Round trips.
        h.push_str("<section><h2>TCP round trips</h2>");
        self.rtts_us.sort_unstable();
        if self.rtts_us.is_empty() {
            h.push_str("<p>No TCP handshakes with a measured round trip.</p>");
        } else {
            let q = |p: f64| {
                let i = ((self.rtts_us.len() - 1) as f64 * p).round() as usize;
                self.rtts_us[i.min(self.rtts_us.len() - 1)] as f64 / 1e6
            };
            let _ = write!(
                h,
                "<p id=\"rtt-summary\">{} connections: minimum {}, median {}, 90th percentile {}, maximum {}.</p>",
                self.rtts_us.len(),
                si(q(0.0), "s"),
                si(q(0.5), "s"),
                si(q(0.9), "s"),
                si(q(1.0), "s")
            );
            let mut counts = vec![0u64; RTT_BUCKETS.len()];
            for &us in &self.rtts_us {
                let i = RTT_BUCKETS
                    .iter()
                    .position(|(hi, _)| us < *hi)
                    .unwrap_or(RTT_BUCKETS.len() - 1);
                counts[i] += 1;
            }
            let max = counts.iter().copied().max().unwrap_or(1).max(1);
            h.push_str("<table id=\"rtts\"><thead><tr><th>round trip</th><th>connections</th><th></th></tr></thead><tbody>\n");
            for ((_, name), n) in RTT_BUCKETS.iter().zip(&counts) {
                let _ = writeln!(
                    h,
                    "<tr><td>{name}</td><td>{n}</td><td>{}</td></tr>",
                    bar(*n, max)
                );
            }
            h.push_str("</tbody></table>");
        }
        h.push_str("</section>\n");

        let _ = writeln!(
            h,
            "<section><h2>Communication graph</h2><div class=\"chart\">{links_svg}</div></section>"
        );
        let _ = writeln!(
            h,
            "<footer>Made by ocellus {} from flow records; times are local ({}).</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>",
            env!("CARGO_PKG_VERSION"),
            Local
                .timestamp_opt((self.first_ns / 1_000_000_000) as i64, 0)
                .single()
                .map_or(String::new(), |d| d.format("UTC%:z").to_string())
        );
        // The chart SVGs carry an XML declaration-free root; strip any
        // stray NUL so the page stays valid text.
        Ok(h.replace('\0', ""))
    }
}

fn local(ns: u64) -> String {
    Local
        .timestamp_opt((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
        .single()
        .map_or_else(
            || ns.to_string(),
            |d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        )
}

fn card(h: &mut String, id: &str, name: &str, n: u64, human: &str) {
    let human = if human.is_empty() || n < 1000 {
        String::new()
    } else {
        format!("<span class=\"human\">{}</span>", escape_xml(human))
    };
    let _ = writeln!(
        h,
        "<div class=\"card\"><div class=\"n\" id=\"{id}\">{n}</div>{human}<div class=\"what\">{name}</div></div>"
    );
}

fn bar(n: u64, max: u64) -> String {
    let pct = (n as f64 / max.max(1) as f64 * 100.0).clamp(0.0, 100.0);
    format!("<div class=\"bar\" style=\"width:{pct:.1}%\"></div>")
}

fn more(n: usize) -> String {
    if n > TOP_ROWS {
        format!("<p class=\"note\">Top {TOP_ROWS} of {n}.</p>")
    } else {
        String::new()
    }
}

const CSS: &str = "\
body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em auto;max-width:1000px;color:#222;background:#fff}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}\
.sub,.note,footer{color:#666;font-size:.9em}\
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}\
.card .n{font-size:1.4em;font-weight:bold}.card .what{color:#666}.card .human{color:#444;font-size:.9em}\
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eee}\
td:nth-child(n+2){font-variant-numeric:tabular-nums}th:last-child,td:last-child{width:30%}\
.bar{background:#1f77b4;height:.8em;border-radius:2px;min-width:1px}\
.chart svg{max-width:100%;height:auto}footer{margin-top:2em}";

/// Runs in the browser: checks the charts laid out and the protocol table
/// adds up to the byte total, and says so on `<body data-check>`.
const SCRIPT: &str = "\
(function(){\
var why=[];\
var svgs=document.querySelectorAll('svg');\
if(svgs.length<2){why.push('charts missing');}\
svgs.forEach(function(s,i){var r=s.getBoundingClientRect();\
if(!(r.width>0&&r.height>0)){why.push('chart '+i+' has no size');}\
if(s.querySelectorAll('text').length===0){why.push('chart '+i+' has no text');}});\
var sum=0;document.querySelectorAll('#protocols td.bytes').forEach(function(td){sum+=Number(td.textContent);});\
var total=Number(document.getElementById('total-bytes').textContent);\
if(sum!==total){why.push('protocol bytes '+sum+' != total '+total);}\
document.body.setAttribute('data-check',why.length?'fail: '+why.join('; '):'ok');\
})();";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DirStats, KeyClass, TcpPerf};

    #[test]
    fn the_page_is_self_contained_and_has_the_totals() {
        let mut b = ReportBuilder::new(None, vec!["a <b>.pcap".into()]).unwrap();
        for i in 0..30u64 {
            let mut r = FlowRecord {
                stime_ns: 1_700_000_000_000_000_000 + i * 2_000_000_000,
                ltime_ns: 1_700_000_000_000_000_000 + i * 2_000_000_000 + 500_000_000,
                src: DirStats {
                    pkts: 3,
                    bytes: 300 + i,
                    ..DirStats::default()
                },
                dst: DirStats {
                    pkts: 2,
                    bytes: 1000,
                    ..DirStats::default()
                },
                ..FlowRecord::default()
            };
            r.key.class = KeyClass::Ipv4 as u8;
            r.key.proto = if i % 3 == 0 { 17 } else { 6 };
            r.key.src[..4].copy_from_slice(&[10, 0, 0, (i % 4) as u8]);
            r.key.dst[..4].copy_from_slice(&[10, 0, 1, 1]);
            r.key.dport = 443;
            if r.key.proto == 6 {
                r.tcp = Some(TcpPerf {
                    synack_us: 2000 + i as u32 * 100,
                    ackdat_us: 50,
                    ..TcpPerf::default()
                });
            }
            b.add(&r);
        }
        let html = b.finish().unwrap();
        let bytes: u64 = (0..30u64).map(|i| 1300 + i).sum();
        assert!(html.contains(&format!("id=\"total-bytes\">{bytes}<")));
        assert!(html.contains("id=\"total-records\">30<"));
        assert!(html.contains("id=\"total-pkts\">150<"));
        assert!(html.contains("a &lt;b&gt;.pcap"));
        assert!(html.contains("<table id=\"rtts\">"));
        assert!(html.contains("20 connections"));
        assert_eq!(html.matches("<svg").count(), 2);
        for fetch in ["http://", "https://", "src=", "<link", "@import"] {
            let found = html
                .match_indices(fetch)
                .filter(|(i, _)| !html[..*i].ends_with("xmlns=\""))
                .count();
            assert_eq!(found, 0, "the page must not fetch anything ({fetch})");
        }
        let b = ReportBuilder::new(None, vec![]).unwrap();
        assert!(matches!(b.finish(), Err(GraphError::NoRecords)));
    }
}
