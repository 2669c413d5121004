//! Who talks to whom: the picture the Argus tutorials make by feeding
//! `racluster` output to AfterGlow and Graphviz's `neato`, made here from
//! the records. The first `-m` key names the source node, the second the
//! target, an optional third the "event" an edge is labelled with (AfterGlow's
//! three-column mode: `saddr daddr dport`).
//!
//! Nodes are sized by the bytes they sent and received, coloured by role
//! (only a source, only a target, or both) or by network (/16 for IPv4, /32
//! for IPv6); edges are as wide as their bytes. The `top` nodes with the
//! most traffic are kept, with the edges between them, and the picture says
//! how many were left out. Written as DOT for Graphviz, or laid out here
//! (a circle, relaxed by a force-directed pass: deterministic, no Graphviz
//! needed) and drawn as SVG or PNG.

use super::series::KeyMaker;
use super::{register_font, si, Format, GraphError, OTHER_COLOUR, PALETTE};
use crate::record::FlowRecord;
use hashbrown::HashMap;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A colour as red, green, blue.
type Rgb = (u8, u8, u8);

/// How nodes are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColourBy {
    /// Source only, target only, or both.
    Role,
    /// The /16 (IPv4) or /32 (IPv6) the node's address is in.
    Net,
}

/// What to draw.
#[derive(Clone, Debug)]
pub struct LinkSpec {
    /// Two or three `-m` keys: source, target, event.
    pub keys: Vec<String>,
    pub numeric: u8,
    /// How many nodes are kept (by traffic).
    pub top: usize,
    pub colour: ColourBy,
    pub title: Option<String>,
    pub width: u32,
    pub height: u32,
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec {
            keys: vec!["saddr".into(), "daddr".into()],
            numeric: 1,
            top: 40,
            colour: ColourBy::Role,
            title: None,
            width: 1000,
            height: 800,
        }
    }
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
    Both,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source only",
            Role::Target => "target only",
            Role::Both => "source and target",
        }
    }
    fn colour(self) -> (u8, u8, u8) {
        match self {
            Role::Source => PALETTE[0],
            Role::Target => PALETTE[1],
            Role::Both => PALETTE[2],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub label: String,
    /// Bytes of the records it is the source of, both directions.
    pub bytes_as_source: u64,
    pub bytes_as_target: u64,
    pub role: Role,
    /// Position in the unit square (after [`LinkGraph::layout`]).
    pub x: f64,
    pub y: f64,
}

impl Node {
    pub fn bytes(&self) -> u64 {
        self.bytes_as_source.saturating_add(self.bytes_as_target)
    }
}

/// Events kept per edge (the rest are counted).
const EVENTS_PER_EDGE: usize = 16;

#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub bytes: u64,
    pub pkts: u64,
    pub records: u64,
    /// Event values with their bytes, largest first (at most 16).
    pub events: Vec<(String, u64)>,
    /// Distinct events not kept in `events`.
    pub more_events: u64,
}

impl Edge {
    /// The edge label: the top three events and how many more.
    pub fn label(&self) -> String {
        let mut s: Vec<&str> = self
            .events
            .iter()
            .take(3)
            .map(|(e, _)| e.as_str())
            .collect();
        let more = self.events.len().saturating_sub(3) as u64 + self.more_events;
        let more = if more > 0 {
            format!(" +{more}")
        } else {
            String::new()
        };
        s.retain(|e| !e.is_empty());
        format!("{}{more}", s.join(", "))
    }
}

/// The graph to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkGraph {
    /// Kept nodes, by traffic (largest first).
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub hidden_nodes: usize,
    pub hidden_edges: usize,
    pub records: u64,
    pub key_names: Vec<String>,
}

#[derive(Default)]
struct EdgeAcc {
    bytes: u64,
    pkts: u64,
    records: u64,
    events: Vec<(u32, u64)>,
    more: u64,
}

#[derive(Default)]
struct NodeAcc {
    as_source: u64,
    as_target: u64,
    was_source: bool,
    was_target: bool,
}

/// Collects records into a [`LinkGraph`].
pub struct LinkBuilder {
    spec: LinkSpec,
    keys: KeyMaker,
    node_ids: HashMap<String, u32>,
    nodes: Vec<(String, NodeAcc)>,
    event_ids: HashMap<String, u32>,
    events: Vec<String>,
    edges: HashMap<(u32, u32), EdgeAcc>,
    records: u64,
}

impl LinkBuilder {
    pub fn new(spec: LinkSpec) -> Result<LinkBuilder, GraphError> {
        if !(2..=3).contains(&spec.keys.len()) {
            return Err(GraphError::Usage(format!(
                "--links takes two or three -m keys (source target [event]), not '{}'",
                spec.keys.join(" ")
            )));
        }
        let keys = KeyMaker::new(&spec.keys, spec.numeric)?;
        Ok(LinkBuilder {
            spec,
            keys,
            node_ids: HashMap::new(),
            nodes: Vec::new(),
            event_ids: HashMap::new(),
            events: Vec::new(),
            edges: HashMap::new(),
            records: 0,
        })
    }

    fn node(&mut self, label: &str) -> u32 {
        if let Some(&id) = self.node_ids.get(label) {
            return id;
        }
        let id = self.nodes.len() as u32;
        self.node_ids.insert(label.to_string(), id);
        self.nodes.push((label.to_string(), NodeAcc::default()));
        id
    }

    /// Adds a record (management records are skipped).
    pub fn add(&mut self, r: &FlowRecord) {
        if r.kind.is_man() {
            return;
        }
        self.records += 1;
        let f = self.keys.fields(r);
        let (Some(src), Some(dst)) = (f.first(), f.get(1)) else {
            return;
        };
        let bytes = r.bytes();
        let a = self.node(src);
        let b = self.node(dst);
        {
            let n = &mut self.nodes[a as usize].1;
            n.as_source = n.as_source.saturating_add(bytes);
            n.was_source = true;
        }
        {
            let n = &mut self.nodes[b as usize].1;
            n.as_target = n.as_target.saturating_add(bytes);
            n.was_target = true;
        }
        let ev = f.get(2).map(|e| match self.event_ids.get(e.as_str()) {
            Some(&id) => id,
            None => {
                let id = self.events.len() as u32;
                self.event_ids.insert(e.clone(), id);
                self.events.push(e.clone());
                id
            }
        });
        let e = self.edges.entry((a, b)).or_default();
        e.bytes = e.bytes.saturating_add(bytes);
        e.pkts = e.pkts.saturating_add(r.pkts());
        e.records += 1;
        if let Some(ev) = ev {
            if let Some((_, n)) = e.events.iter_mut().find(|(id, _)| *id == ev) {
                *n = n.saturating_add(bytes);
            } else if e.events.len() < EVENTS_PER_EDGE {
                e.events.push((ev, bytes));
            } else {
                e.more += 1;
            }
        }
    }

    pub fn finish(self) -> Result<LinkGraph, GraphError> {
        if self.records == 0 {
            return Err(GraphError::NoRecords);
        }
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        let traffic = |i: usize| {
            let n = &self.nodes[i].1;
            n.as_source.saturating_add(n.as_target)
        };
        order.sort_by(|&a, &b| {
            traffic(b)
                .cmp(&traffic(a))
                .then_with(|| self.nodes[a].0.cmp(&self.nodes[b].0))
        });
        let keep = self.spec.top.max(2).min(order.len());
        let mut new_id = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::with_capacity(keep);
        for (i, &old) in order.iter().take(keep).enumerate() {
            new_id[old] = i;
            let (label, acc) = &self.nodes[old];
            nodes.push(Node {
                label: label.clone(),
                bytes_as_source: acc.as_source,
                bytes_as_target: acc.as_target,
                role: match (acc.was_source, acc.was_target) {
                    (true, true) => Role::Both,
                    (true, false) => Role::Source,
                    _ => Role::Target,
                },
                x: 0.0,
                y: 0.0,
            });
        }
        let mut edges = Vec::new();
        let mut hidden_edges = 0;
        for (&(a, b), acc) in &self.edges {
            let (from, to) = (new_id[a as usize], new_id[b as usize]);
            if from == usize::MAX || to == usize::MAX {
                hidden_edges += 1;
                continue;
            }
            let mut events: Vec<(String, u64)> = acc
                .events
                .iter()
                .map(|&(id, n)| (self.events[id as usize].clone(), n))
                .collect();
            events.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            edges.push(Edge {
                from,
                to,
                bytes: acc.bytes,
                pkts: acc.pkts,
                records: acc.records,
                events,
                more_events: acc.more,
            });
        }
        edges.sort_by(|x, y| {
            y.bytes
                .cmp(&x.bytes)
                .then_with(|| (x.from, x.to).cmp(&(y.from, y.to)))
        });
        let mut g = LinkGraph {
            hidden_nodes: self.nodes.len() - keep,
            nodes,
            edges,
            hidden_edges,
            records: self.records,
            key_names: self.spec.keys.clone(),
        };
        g.layout();
        Ok(g)
    }
}

impl LinkGraph {
    /// Places the nodes in the unit square: each connected part on a
    /// circle, by traffic, relaxed by a Fruchterman-Reingold pass
    /// (deterministic), in its own box: the largest part on the left, the
    /// others in a grid on the right.
    pub fn layout(&mut self) {
        let n = self.nodes.len();
        if n == 0 {
            return;
        }
        // Connected parts (union-find over the edges).
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        for e in &self.edges {
            let (a, b) = (find(&mut parent, e.from), find(&mut parent, e.to));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
        let mut parts: Vec<Vec<usize>> = Vec::new();
        let mut part_of = vec![usize::MAX; n];
        for i in 0..n {
            let root = find(&mut parent, i);
            if part_of[root] == usize::MAX {
                part_of[root] = parts.len();
                parts.push(Vec::new());
            }
            parts[part_of[root]].push(i);
        }
        // Nodes are sorted by traffic, so parts come out by their largest
        // node; put the biggest parts first.
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let boxes = part_boxes(&parts.iter().map(Vec::len).collect::<Vec<_>>());
        for (part, (bx, by, bw, bh)) in parts.iter().zip(boxes) {
            let local: Vec<(usize, usize)> = self
                .edges
                .iter()
                .filter(|e| part.contains(&e.from) && part.contains(&e.to))
                .filter_map(|e| {
                    let a = part.iter().position(|&i| i == e.from)?;
                    let b = part.iter().position(|&i| i == e.to)?;
                    Some((a, b))
                })
                .collect();
            let pos = relax(part.len(), &local);
            for (&i, (x, y)) in part.iter().zip(pos) {
                let x = bx + (0.05 + 0.9 * x) * bw;
                let y = by + (0.05 + 0.9 * y) * bh;
                self.nodes[i].x = if x.is_finite() {
                    x.clamp(0.0, 1.0)
                } else {
                    0.5
                };
                self.nodes[i].y = if y.is_finite() {
                    y.clamp(0.0, 1.0)
                } else {
                    0.5
                };
            }
        }
    }

    /// The colour index of each node (by role, or by network).
    fn colours(&self, by: ColourBy) -> (Vec<Rgb>, Vec<(String, Rgb)>) {
        match by {
            ColourBy::Role => {
                let c = self.nodes.iter().map(|n| n.role.colour()).collect();
                let legend = [Role::Source, Role::Target, Role::Both]
                    .iter()
                    .filter(|r| self.nodes.iter().any(|n| n.role == **r))
                    .map(|r| (r.name().to_string(), r.colour()))
                    .collect();
                (c, legend)
            }
            ColourBy::Net => {
                let mut nets: Vec<String> = Vec::new();
                let mut c = Vec::with_capacity(self.nodes.len());
                for n in &self.nodes {
                    let net = network_of(&n.label);
                    let i = match nets.iter().position(|x| *x == net) {
                        Some(i) => i,
                        None => {
                            nets.push(net);
                            nets.len() - 1
                        }
                    };
                    c.push(PALETTE.get(i).copied().unwrap_or(OTHER_COLOUR));
                }
                let mut legend: Vec<(String, Rgb)> = nets
                    .iter()
                    .take(PALETTE.len())
                    .zip(PALETTE)
                    .map(|(n, &c)| (n.clone(), c))
                    .collect();
                if nets.len() > PALETTE.len() {
                    legend.push(("other networks".into(), OTHER_COLOUR));
                }
                (c, legend)
            }
        }
    }

    /// The graph in Graphviz's DOT language (for `neato -Tsvg`).
    pub fn to_dot(&self, by: ColourBy, title: &str) -> String {
        let (colours, _) = self.colours(by);
        let max = self.nodes.iter().map(Node::bytes).max().unwrap_or(1).max(1) as f64;
        let max_e = self.edges.iter().map(|e| e.bytes).max().unwrap_or(1).max(1) as f64;
        let mut s = String::new();
        s.push_str("digraph ocellus {\n");
        s.push_str(&format!(
            "  graph [overlap=false, splines=true, fontname=\"DejaVu Sans\", label=\"{}\"];\n",
            dot_escape(title)
        ));
        s.push_str("  node [shape=circle, style=filled, fontname=\"DejaVu Sans\", fontsize=10];\n");
        s.push_str("  edge [color=\"#00000080\", fontname=\"DejaVu Sans\", fontsize=9];\n");
        for (i, (n, c)) in self.nodes.iter().zip(&colours).enumerate() {
            let w = 0.3 + 1.2 * (n.bytes() as f64 / max).sqrt();
            s.push_str(&format!(
                "  n{i} [label=\"{}\\n{}\", width={w:.2}, fillcolor=\"#{:02x}{:02x}{:02x}\", tooltip=\"{}\"];\n",
                dot_escape(&n.label),
                si(n.bytes() as f64, "B"),
                c.0,
                c.1,
                c.2,
                n.role.name()
            ));
        }
        for e in &self.edges {
            let w = 1.0 + 5.0 * (e.bytes as f64 / max_e).sqrt();
            s.push_str(&format!(
                "  n{} -> n{} [penwidth={w:.2}, label=\"{}\", tooltip=\"{} bytes, {} pkts, {} records\"];\n",
                e.from,
                e.to,
                dot_escape(&e.label()),
                e.bytes,
                e.pkts,
                e.records
            ));
        }
        s.push_str("}\n");
        s
    }

    /// The default title.
    pub fn default_title(&self) -> String {
        let mut t = format!(
            "{} ({} records, {} nodes",
            self.key_names.join(" → "),
            self.records,
            self.nodes.len()
        );
        if self.hidden_nodes > 0 {
            t.push_str(&format!(", {} more not shown", self.hidden_nodes));
        }
        t.push(')');
        t
    }
}

/// Boxes `(x, y, w, h)` in the unit square for parts of these sizes
/// (largest first): one part fills it; otherwise the largest takes the left
/// 70% when it holds at least a third of the nodes, and the others share a
/// grid in the rest.
fn part_boxes(sizes: &[usize]) -> Vec<(f64, f64, f64, f64)> {
    let total: usize = sizes.iter().sum();
    if sizes.len() <= 1 {
        return vec![(0.0, 0.0, 1.0, 1.0); sizes.len()];
    }
    let mut out = Vec::with_capacity(sizes.len());
    let (rest, x0) = if sizes[0] * 3 >= total {
        out.push((0.0, 0.0, 0.7, 1.0));
        (&sizes[1..], 0.7)
    } else {
        (sizes, 0.0)
    };
    let k = rest.len();
    let cols = ((k as f64).sqrt().ceil() as usize).max(1);
    let cols = if x0 > 0.0 {
        cols.div_ceil(2).max(1)
    } else {
        cols
    };
    let rows = k.div_ceil(cols).max(1);
    let (w, h) = ((1.0 - x0) / cols as f64, 1.0 / rows as f64);
    for i in 0..k {
        out.push((x0 + (i % cols) as f64 * w, (i / cols) as f64 * h, w, h));
    }
    out
}

/// Positions in the unit square for `n` nodes joined by `edges`: on a
/// circle, then a Fruchterman-Reingold pass, then fitted to the square.
fn relax(n: usize, edges: &[(usize, usize)]) -> Vec<(f64, f64)> {
    match n {
        0 => return Vec::new(),
        1 => return vec![(0.5, 0.5)],
        2 => return vec![(0.2, 0.3), (0.8, 0.7)],
        _ => {}
    }
    let mut pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / n as f64;
            (0.5 + 0.4 * a.cos(), 0.5 + 0.4 * a.sin())
        })
        .collect();
    let k = (1.0 / n as f64).sqrt() * 0.8;
    let iters = 300;
    let mut disp = vec![(0.0f64, 0.0f64); n];
    for it in 0..iters {
        let temp = 0.08 * (1.0 - it as f64 / iters as f64) + 0.002;
        disp.iter_mut().for_each(|d| *d = (0.0, 0.0));
        for i in 0..n {
            for j in (i + 1)..n {
                let dx = pos[i].0 - pos[j].0;
                let dy = pos[i].1 - pos[j].1;
                let d2 = (dx * dx + dy * dy).max(1e-6);
                let f = k * k / d2;
                disp[i].0 += dx * f;
                disp[i].1 += dy * f;
                disp[j].0 -= dx * f;
                disp[j].1 -= dy * f;
            }
        }
        for &(a, b) in edges {
            if a == b {
                continue;
            }
            let dx = pos[a].0 - pos[b].0;
            let dy = pos[a].1 - pos[b].1;
            let d = (dx * dx + dy * dy).sqrt().max(1e-3);
            let f = d / k;
            disp[a].0 -= dx * f;
            disp[a].1 -= dy * f;
            disp[b].0 += dx * f;
            disp[b].1 += dy * f;
        }
        for i in 0..n {
            disp[i].0 += (0.5 - pos[i].0) * 0.3;
            disp[i].1 += (0.5 - pos[i].1) * 0.3;
            let (dx, dy) = disp[i];
            let len = (dx * dx + dy * dy).sqrt();
            if len > 0.0 && len.is_finite() {
                let step = len.min(temp);
                pos[i].0 += dx / len * step;
                pos[i].1 += dy / len * step;
            }
        }
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pos {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let sx = (x1 - x0).max(1e-9);
    let sy = (y1 - y0).max(1e-9);
    pos.iter()
        .map(|&(x, y)| ((x - x0) / sx, (y - y0) / sy))
        .collect()
}

/// The network a node label is in: an IPv4 /16, an IPv6 /32, or the label.
pub fn network_of(label: &str) -> String {
    let first = label.split_whitespace().next().unwrap_or(label);
    if let Ok(a) = first.parse::<std::net::Ipv4Addr>() {
        let o = a.octets();
        return format!("{}.{}.0.0/16", o[0], o[1]);
    }
    if let Ok(a) = first.parse::<std::net::Ipv6Addr>() {
        let s = a.segments();
        return format!("{:x}:{:x}::/32", s[0], s[1]);
    }
    first.to_string()
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ")
}

/// Writes the graph to `path`: DOT, SVG or PNG by its extension.
pub fn write(g: &LinkGraph, spec: &LinkSpec, path: &str) -> Result<(), GraphError> {
    let title = spec.title.clone().unwrap_or_else(|| g.default_title());
    let fail = |why: String| GraphError::Draw {
        path: path.to_string(),
        why,
    };
    check_size(spec)?;
    match Format::of(path) {
        Some(Format::Dot) => {
            std::fs::write(path, g.to_dot(spec.colour, &title)).map_err(|e| fail(e.to_string()))
        }
        Some(Format::Svg) => {
            let s = svg_string(g, spec)?;
            std::fs::write(path, s).map_err(|e| fail(e.to_string()))
        }
        Some(Format::Png) => {
            register_font();
            let root =
                super::raster::Raster::new(BitMapBackend::new(path, (spec.width, spec.height)))
                    .into_drawing_area();
            draw(&root, g, spec, &title).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        _ => Err(GraphError::Usage(format!(
            "-w {path}: a communication graph is written as .dot, .svg or .png"
        ))),
    }
}

fn check_size(spec: &LinkSpec) -> Result<(), GraphError> {
    let (w, h) = (spec.width, spec.height);
    if !(300..=8000).contains(&w) || !(300..=8000).contains(&h) {
        return Err(GraphError::Usage(format!(
            "picture size {w}x{h} is out of range (300 to 8000 each way)"
        )));
    }
    Ok(())
}

/// The graph as SVG text.
pub fn svg_string(g: &LinkGraph, spec: &LinkSpec) -> Result<String, GraphError> {
    check_size(spec)?;
    register_font();
    let title = spec.title.clone().unwrap_or_else(|| g.default_title());
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (spec.width, spec.height)).into_drawing_area();
        let fail = |why: String| GraphError::Draw {
            path: "svg".into(),
            why,
        };
        draw(&root, g, spec, &title).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(s)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    g: &LinkGraph,
    spec: &LinkSpec,
    title: &str,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let area = root.titled(title, ("sans-serif", 18)).map_err(e)?;
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as f64, h as f64);
    // Labels go right of the nodes: more room on the right.
    let (left, right) = (40.0, 190.0);
    let margin_y = 50.0;
    let at = |n: &Node| -> (i32, i32) {
        (
            (left + n.x * (w - left - right).max(1.0)) as i32,
            (margin_y + n.y * (h - 2.0 * margin_y).max(1.0)) as i32,
        )
    };
    let max = g.nodes.iter().map(Node::bytes).max().unwrap_or(1).max(1) as f64;
    let max_e = g.edges.iter().map(|e| e.bytes).max().unwrap_or(1).max(1) as f64;
    let radius = |n: &Node| (5.0 + 22.0 * (n.bytes() as f64 / max).sqrt()) as i32;
    let (colours, legend) = g.colours(spec.colour);
    let grey = RGBColor(90, 90, 90);
    // Edges first, under the nodes.
    for ed in &g.edges {
        let (Some(a), Some(b)) = (g.nodes.get(ed.from), g.nodes.get(ed.to)) else {
            continue;
        };
        let (p, q) = (at(a), at(b));
        let width = (1.0 + 5.0 * (ed.bytes as f64 / max_e).sqrt()) as u32;
        if p == q {
            // A node talking to itself: a small loop.
            let r = radius(a);
            area.draw(&Circle::new(
                (p.0 + r, p.1 - r),
                r.max(6),
                grey.mix(0.5).stroke_width(width),
            ))
            .map_err(e)?;
            continue;
        }
        area.draw(&PathElement::new(
            vec![p, q],
            grey.mix(0.45).stroke_width(width),
        ))
        .map_err(e)?;
        // An arrow head at the target's rim.
        let (dx, dy) = ((q.0 - p.0) as f64, (q.1 - p.1) as f64);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let rb = radius(b) as f64 + 2.0;
        let tip = (q.0 as f64 - ux * rb, q.1 as f64 - uy * rb);
        let size = 8.0 + width as f64;
        let base = (tip.0 - ux * size, tip.1 - uy * size);
        let left = (base.0 - uy * size * 0.45, base.1 + ux * size * 0.45);
        let right = (base.0 + uy * size * 0.45, base.1 - ux * size * 0.45);
        let pts = vec![
            (tip.0 as i32, tip.1 as i32),
            (left.0 as i32, left.1 as i32),
            (right.0 as i32, right.1 as i32),
        ];
        area.draw(&Polygon::new(pts, grey.mix(0.7).filled()))
            .map_err(e)?;
        let label = ed.label();
        if !label.is_empty() {
            let mid = ((p.0 + q.0) / 2 + 3, (p.1 + q.1) / 2 - 12);
            area.draw(&Text::new(
                label,
                mid,
                ("sans-serif", 10).into_font().color(&RGBColor(60, 60, 60)),
            ))
            .map_err(e)?;
        }
    }
    for (n, c) in g.nodes.iter().zip(&colours) {
        let p = at(n);
        let r = radius(n);
        let colour = RGBColor(c.0, c.1, c.2);
        area.draw(&Circle::new(p, r, colour.mix(0.9).filled()))
            .map_err(e)?;
        area.draw(&Circle::new(p, r, BLACK.mix(0.6).stroke_width(1)))
            .map_err(e)?;
        let text = format!("{} ({})", n.label, si(n.bytes() as f64, "B"));
        area.draw(&Text::new(
            text,
            (p.0 + r + 3, p.1 - 6),
            ("sans-serif", 12).into_font(),
        ))
        .map_err(e)?;
    }
    // Legend, bottom left.
    let mut y = h as i32 - 20 * legend.len() as i32 - 10;
    for (name, c) in legend {
        area.draw(&Circle::new((16, y), 6, RGBColor(c.0, c.1, c.2).filled()))
            .map_err(e)?;
        area.draw(&Text::new(
            name,
            (28, y - 7),
            ("sans-serif", 12).into_font(),
        ))
        .map_err(e)?;
        y += 20;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DirStats, KeyClass};

    fn rec(s: [u8; 4], d: [u8; 4], dport: u16, bytes: u64) -> FlowRecord {
        let mut r = FlowRecord {
            src: DirStats {
                pkts: 1,
                bytes,
                ..DirStats::default()
            },
            ..FlowRecord::default()
        };
        r.key.class = KeyClass::Ipv4 as u8;
        r.key.proto = 6;
        r.key.src[..4].copy_from_slice(&s);
        r.key.dst[..4].copy_from_slice(&d);
        r.key.dport = dport;
        r
    }

    fn graph(keys: &[&str], top: usize) -> LinkGraph {
        let mut b = LinkBuilder::new(LinkSpec {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            top,
            ..LinkSpec::default()
        })
        .unwrap();
        b.add(&rec([10, 0, 0, 1], [10, 0, 0, 2], 80, 1000));
        b.add(&rec([10, 0, 0, 1], [10, 0, 0, 2], 443, 3000));
        b.add(&rec([10, 0, 0, 2], [192, 168, 1, 1], 53, 100));
        b.add(&rec([10, 0, 0, 3], [10, 0, 0, 1], 22, 10));
        b.finish().unwrap()
    }

    #[test]
    fn nodes_edges_roles_and_events() {
        let g = graph(&["saddr", "daddr", "dport"], 10);
        let labels: Vec<&str> = g.nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(labels, ["10.0.0.2", "10.0.0.1", "192.168.1.1", "10.0.0.3"]);
        assert_eq!(g.nodes[0].bytes(), 4100);
        assert_eq!(g.nodes[1].bytes(), 4010);
        assert_eq!(g.nodes[0].role, Role::Both);
        assert_eq!(g.nodes[2].role, Role::Target);
        assert_eq!(g.nodes[3].role, Role::Source);
        assert_eq!(g.edges[0].bytes, 4000);
        assert_eq!(g.edges[0].label(), "443, 80");
        for n in &g.nodes {
            assert!((0.0..=1.0).contains(&n.x) && (0.0..=1.0).contains(&n.y));
        }
        let dot = g.to_dot(ColourBy::Role, "t \"q\"");
        assert!(
            dot.contains("n1 -> n0 [penwidth=6.00, label=\"443, 80\""),
            "{dot}"
        );
        assert!(dot.contains("label=\"t \\\"q\\\"\""));
        assert_eq!(network_of("10.1.2.3"), "10.1.0.0/16");
        assert_eq!(network_of("2001:db8::1"), "2001:db8::/32");
    }

    #[test]
    fn only_the_top_nodes_are_kept() {
        let g = graph(&["saddr", "daddr"], 2);
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.hidden_nodes, 2);
        assert_eq!(g.edges.len(), 1);
        assert_eq!(g.hidden_edges, 2);
        assert!(g.default_title().contains("2 more not shown"));
    }

    #[test]
    fn the_svg_names_every_node() {
        let g = graph(&["saddr", "daddr", "dport"], 10);
        let spec = LinkSpec {
            colour: ColourBy::Net,
            ..LinkSpec::default()
        };
        let svg = svg_string(&g, &spec).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect();
        for n in &g.nodes {
            assert!(texts.iter().any(|t| t.starts_with(&n.label)), "{texts:?}");
        }
        assert!(texts.iter().any(|t| t == "10.0.0.0/16"));
        let circles = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        assert!(circles >= 4, "{circles} circles");
    }

    #[test]
    fn bad_keys_and_empty_input_are_errors() {
        assert!(LinkBuilder::new(LinkSpec {
            keys: vec!["saddr".into()],
            ..LinkSpec::default()
        })
        .is_err());
        let b = LinkBuilder::new(LinkSpec::default()).unwrap();
        assert!(matches!(b.finish(), Err(GraphError::NoRecords)));
        // One record: two nodes side by side.
        let mut b = LinkBuilder::new(LinkSpec::default()).unwrap();
        b.add(&rec([1, 1, 1, 1], [2, 2, 2, 2], 1, 1));
        let g = b.finish().unwrap();
        assert_eq!(g.nodes.len(), 2);
        assert!(svg_string(&g, &LinkSpec::default()).is_ok());
    }
}
