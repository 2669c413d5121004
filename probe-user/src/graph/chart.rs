//! Binned series as a chart: one panel per metric, time along x in local
//! time, values with SI prefixes (`1.5 Mbit/s`). Bins are drawn as steps, so
//! the area under a series is its count. Stacked series are piled in their
//! order (the largest key at the bottom, `other` on top); the legend on the
//! right lists them from the top of the pile down. With `--split` the
//! destination side of each series is drawn below the axis.

use super::series::{Binned, Panel, OTHER};
use super::{register_font, si, Format, GraphError, OTHER_COLOUR, PALETTE};
use chrono::{Local, TimeZone};
use plotters::coord::Shift;
use plotters::prelude::*;

/// How the chart looks.
#[derive(Clone, Debug)]
pub struct ChartOptions {
    pub title: Option<String>,
    pub width: u32,
    /// 0: 180 + 260 per panel.
    pub height: u32,
    /// Pile the series of additive metrics on each other.
    pub stack: bool,
    /// Fill the area under each series.
    pub fill: bool,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            title: None,
            width: 1000,
            height: 0,
            stack: false,
            fill: false,
        }
    }
}

const LEGEND_W: u32 = 240;
const FONT: &str = "sans-serif";

/// Writes the chart to `path`, PNG or SVG by its extension.
pub fn write(binned: &Binned, opts: &ChartOptions, path: &str) -> Result<(), GraphError> {
    let size = size(binned, opts)?;
    let fail = |why: String| GraphError::Draw {
        path: path.to_string(),
        why,
    };
    match Format::of(path) {
        Some(Format::Png) => {
            register_font();
            let root =
                super::raster::Raster::new(BitMapBackend::new(path, size)).into_drawing_area();
            draw(&root, binned, opts).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        Some(Format::Svg) => {
            let s = svg_string(binned, opts)?;
            std::fs::write(path, s).map_err(|e| fail(e.to_string()))
        }
        _ => Err(GraphError::Usage(format!(
            "-w {path}: a graph is written as .png or .svg"
        ))),
    }
}

/// The chart as SVG text.
pub fn svg_string(binned: &Binned, opts: &ChartOptions) -> Result<String, GraphError> {
    register_font();
    let size = size(binned, opts)?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
        draw(&root, binned, opts).map_err(|why| GraphError::Draw {
            path: "svg".into(),
            why,
        })?;
        root.present().map_err(|e| GraphError::Draw {
            path: "svg".into(),
            why: e.to_string(),
        })?;
    }
    Ok(s)
}

fn size(binned: &Binned, opts: &ChartOptions) -> Result<(u32, u32), GraphError> {
    let panels = binned.panels.len().max(1) as u32;
    let h = if opts.height == 0 {
        180 + 260 * panels.min(8)
    } else {
        opts.height
    };
    let w = opts.width;
    if !(300..=8000).contains(&w) || !(150..=8000).contains(&h) {
        return Err(GraphError::Usage(format!(
            "picture size {w}x{h} is out of range (width 300 to 8000, height 150 to 8000)"
        )));
    }
    Ok((w, h))
}

/// The default title: the metrics, keys and bin width.
pub fn default_title(b: &Binned) -> String {
    let metrics: Vec<String> = b.panels.iter().map(|p| p.metric.name()).collect();
    let mut t = metrics.join(", ");
    if !b.key_names.is_empty() {
        t.push_str(" by ");
        t.push_str(&b.key_names.join(" "));
    }
    t.push_str(&format!(
        ", {} bins, {} records",
        super::human_duration(b.bin_ns),
        b.records
    ));
    t
}

/// A series' colour: by its key's rank (the same key has the same colour
/// in every panel and on both sides of a split), grey for `other`.
pub fn colour(label: &str, rank: usize) -> RGBColor {
    let (r, g, b) = if label == OTHER || label.starts_with("other (") {
        OTHER_COLOUR
    } else {
        PALETTE[rank % PALETTE.len()]
    };
    RGBColor(r, g, b)
}

/// The time formatter for a bin width and span.
fn time_label(t_s: f64, bin_ns: u64, span_s: f64) -> String {
    // To the millisecond, so that 0.6 s does not print as .599.
    let ms = (t_s * 1000.0).round() as i64;
    let secs = ms.div_euclid(1000);
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    let Some(dt) = Local.timestamp_opt(secs, nanos).single() else {
        return format!("{t_s:.0}");
    };
    let fmt = if span_s > 2.0 * 86400.0 {
        "%m-%d %H:%M"
    } else if span_s <= 10.0 || (bin_ns < 1_000_000_000 && span_s < 60.0) {
        "%H:%M:%S%.3f"
    } else {
        "%H:%M:%S"
    };
    dt.format(fmt).to_string()
}

fn time_desc(start_s: f64) -> String {
    match Local.timestamp_opt(start_s.floor() as i64, 0).single() {
        Some(dt) => format!("local time ({})", dt.format("%Y-%m-%d, UTC%:z")),
        None => "local time".into(),
    }
}

/// Per-series values of a panel, with the base each is drawn from (the
/// top of the series under it when stacked, else 0).
struct Drawn {
    label: String,
    below: bool,
    rank: usize,
    /// (base, top) per bin; None: no value (a gap).
    spans: Vec<Option<(f64, f64)>>,
}

fn panel_values(p: &Panel, b: &Binned, stack: bool) -> Vec<Drawn> {
    let stack = stack && p.metric.additive();
    let nabove = p.series.iter().filter(|s| !s.below).count().max(1);
    let mut up = vec![0.0f64; b.nbins];
    let mut down = vec![0.0f64; b.nbins];
    p.series
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let sign = if s.below { -1.0 } else { 1.0 };
            let cum = if s.below { &mut down } else { &mut up };
            let spans = (0..b.nbins)
                .map(|i| {
                    let v = s.value(i, b.bin_ns)? * sign;
                    if stack {
                        let base = cum[i];
                        cum[i] += v;
                        Some((base, cum[i]))
                    } else {
                        Some((0.0, v))
                    }
                })
                .collect();
            Drawn {
                label: s.label.clone(),
                below: s.below,
                rank: j % nabove,
                spans,
            }
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    b: &Binned,
    opts: &ChartOptions,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let title = opts.title.clone().unwrap_or_else(|| default_title(b));
    let area = root.titled(&title, (FONT, 20)).map_err(e)?;
    let (w, _) = area.dim_in_pixel();
    let legend_needed = b.panels.iter().any(|p| p.series.len() > 1) || !b.key_names.is_empty();
    let (plots, legend) = if legend_needed && w > LEGEND_W + 200 {
        let (l, r) = area.split_horizontally(w - LEGEND_W);
        (l, Some(r))
    } else {
        (area, None)
    };
    let start_s = b.start_ns as f64 / 1e9;
    let end_s = b.bin_start_ns(b.nbins) as f64 / 1e9;
    let span_s = end_s - start_s;
    let bin_s = b.bin_ns as f64 / 1e9;
    let x_desc = time_desc(start_s);
    let panels = plots.split_evenly((b.panels.len().max(1), 1));
    for (p, pa) in b.panels.iter().zip(&panels) {
        let drawn = panel_values(p, b, opts.stack);
        let mut hi = 0.0f64;
        let mut lo = 0.0f64;
        for d in &drawn {
            for &(base, top) in d.spans.iter().flatten() {
                hi = hi.max(base).max(top);
                lo = lo.min(base).min(top);
            }
        }
        if !(hi.is_finite() && lo.is_finite()) {
            return Err("a value is not a finite number".into());
        }
        if hi <= 0.0 && lo >= 0.0 {
            hi = 1.0;
        }
        hi *= 1.05;
        lo *= 1.05;
        let unit = p.metric.unit();
        let split = drawn.iter().any(|d| d.below);
        let empty = drawn.iter().all(|d| d.spans.iter().all(Option::is_none));
        let caption = if split {
            format!("{} ({unit}; source up, destination down)", p.metric.name())
        } else if p.metric.additive() && opts.stack && p.series.len() > 1 {
            format!("{} ({unit}, stacked)", p.metric.name())
        } else {
            format!("{} ({unit})", p.metric.name())
        };
        let caption = if empty {
            format!("{caption}: no values (nothing to average)")
        } else {
            caption
        };
        let mut chart = ChartBuilder::on(pa)
            .margin(8)
            .margin_right(40)
            .caption(caption, (FONT, 15))
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(start_s..end_s, lo..hi)
            .map_err(e)?;
        let xf = |x: &f64| time_label(*x, b.bin_ns, span_s);
        let yf = |y: &f64| si(y.abs(), unit);
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .x_desc(x_desc.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(e)?;
        for d in &drawn {
            let c = colour(strip_side(&d.label), d.rank);
            for run in runs(&d.spans) {
                // Step shape: each bin a flat segment over its width.
                let mut top = Vec::with_capacity(run.len() * 2);
                let mut base = Vec::with_capacity(run.len() * 2);
                for &(i, (b0, t)) in &run {
                    let x0 = start_s + i as f64 * bin_s;
                    let x1 = x0 + bin_s;
                    top.push((x0, t));
                    top.push((x1, t));
                    base.push((x0, b0));
                    base.push((x1, b0));
                }
                if opts.fill {
                    let mut poly = top.clone();
                    poly.extend(base.iter().rev());
                    let alpha = if opts.stack { 0.85 } else { 0.35 };
                    chart
                        .draw_series(std::iter::once(Polygon::new(poly, c.mix(alpha).filled())))
                        .map_err(e)?;
                }
                // A stacked fill shows its layers by colour; an outline
                // of each layer's top would trace the pile in the colour
                // of whichever thin layer lies on top.
                if !(opts.fill && opts.stack && p.metric.additive()) {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            top,
                            c.stroke_width(if opts.fill { 1 } else { 2 }),
                        )))
                        .map_err(e)?;
                }
            }
        }
        if split {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(start_s, 0.0), (end_s, 0.0)],
                    BLACK.stroke_width(1),
                )))
                .map_err(e)?;
        }
    }
    if let Some(l) = legend {
        draw_legend(&l, b, opts).map_err(e)?;
    }
    Ok(())
}

fn strip_side(label: &str) -> &str {
    label
        .strip_suffix(" (src)")
        .or_else(|| label.strip_suffix(" (dst)"))
        .unwrap_or(label)
}

/// Runs of consecutive bins with a value.
fn runs(spans: &[Option<(f64, f64)>]) -> Vec<Vec<(usize, (f64, f64))>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s {
            Some(v) => cur.push((i, *v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The legend: the first panel's series from the top of the pile down
/// (one entry per key when split), with their totals.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    b: &Binned,
    opts: &ChartOptions,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let Some(p) = b.panels.first() else {
        return Ok(());
    };
    let entries = legend_entries(p, opts.stack);
    let head = if b.key_names.is_empty() {
        "series".to_string()
    } else {
        b.key_names.join(" ")
    };
    area.draw(&Text::new(head, (10, 40), (FONT, 14).into_font()))?;
    let mut y = 64;
    for (label, rank, total) in entries {
        let c = colour(&label, rank);
        area.draw(&Rectangle::new([(10, y - 9), (24, y + 5)], c.filled()))?;
        let text = if p.metric.additive() {
            format!("{label}  {}", raw_total(p, total))
        } else {
            label
        };
        area.draw(&Text::new(text, (30, y - 8), (FONT, 12).into_font()))?;
        y += 20;
    }
    if b.keys_seen > p.series.iter().filter(|s| !s.below).count() && !b.key_names.is_empty() {
        let more = format!("({} values in all)", b.keys_seen);
        area.draw(&Text::new(more, (10, y), (FONT, 11).into_font()))?;
    }
    Ok(())
}

/// `(label, rank, total)` in legend order: the top of the stack first.
pub fn legend_entries(p: &Panel, _stack: bool) -> Vec<(String, usize, u64)> {
    let nabove = p.series.iter().filter(|s| !s.below).count();
    let mut v: Vec<(String, usize, u64)> = p
        .series
        .iter()
        .take(nabove)
        .enumerate()
        .map(|(rank, s)| {
            let total = p
                .series
                .iter()
                .filter(|o| strip_side(&o.label) == strip_side(&s.label))
                .fold(0u64, |a, o| a.saturating_add(o.total()));
            (strip_side(&s.label).to_string(), rank, total)
        })
        .collect();
    v.reverse();
    v
}

fn raw_total(p: &Panel, total: u64) -> String {
    use super::series::Metric::*;
    let unit = match p.metric.metric {
        Bytes | Load | AppBytes => "B",
        Pkts | Rate | Loss => "pkts",
        Flows => "flows",
        Rtt => "",
    };
    if total < 1000 {
        format!("{total} {unit}")
    } else {
        si(total as f64, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::series::{Binner, GraphSpec, MetricSpec};
    use crate::record::{DirStats, FlowRecord, KeyClass};

    fn binned(stack_keys: bool) -> Binned {
        let mut spec = GraphSpec {
            metrics: vec![
                MetricSpec::parse("bytes").unwrap(),
                MetricSpec::parse("rtt").unwrap(),
            ],
            bin_ns: Some(1_000_000_000),
            numeric: 2,
            ..GraphSpec::default()
        };
        if stack_keys {
            spec.keys = vec!["proto".into()];
        }
        let mut b = Binner::new(spec).unwrap();
        for (i, proto) in [6u8, 17, 6, 1, 6, 17].iter().enumerate() {
            let mut r = FlowRecord {
                stime_ns: 1_700_000_000_000_000_000 + i as u64 * 700_000_000,
                ltime_ns: 1_700_000_000_000_000_000 + i as u64 * 900_000_000,
                src: DirStats {
                    pkts: 2,
                    bytes: 1000 * (i as u64 + 1),
                    ..DirStats::default()
                },
                ..FlowRecord::default()
            };
            r.key.class = KeyClass::Ipv4 as u8;
            r.key.proto = *proto;
            b.add(&r);
        }
        b.finish().unwrap()
    }

    #[test]
    fn svg_has_titles_axis_labels_and_a_legend_in_stack_order() {
        let b = binned(true);
        let opts = ChartOptions {
            title: Some("test <chart>".into()),
            stack: true,
            fill: true,
            ..ChartOptions::default()
        };
        let svg = svg_string(&b, &opts).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect();
        assert!(texts.iter().any(|t| t == "test <chart>"), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("bytes (bit/s, stacked)")));
        assert!(texts.iter().any(|t| t.starts_with("local time (")));
        assert!(texts.iter().any(|t| t.ends_with("kbit/s")), "{texts:?}");
        // Legend: top of the stack (smallest total) first.
        let legend: Vec<&String> = texts
            .iter()
            .filter(|t| t.ends_with(" B") || t.ends_with("kB"))
            .collect();
        assert_eq!(legend.len(), 3, "{texts:?}");
        assert!(legend[0].starts_with("1 "), "{legend:?}");
        assert!(legend[2].starts_with("6 "), "{legend:?}");
    }

    #[test]
    fn png_has_its_size_and_is_not_blank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let path = path.to_str().unwrap();
        write(&binned(false), &ChartOptions::default(), path).unwrap();
        let dec = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (1000, 180 + 2 * 260));
        let px = &buf[..info.buffer_size()];
        let non_white = px.chunks(3).filter(|p| p != &[255, 255, 255]).count();
        assert!(non_white > 5000, "only {non_white} drawn pixels");
        assert!(write(&binned(false), &ChartOptions::default(), "x.gif").is_err());
        let bad = ChartOptions {
            width: 10,
            ..ChartOptions::default()
        };
        assert!(svg_string(&binned(false), &bad).is_err());
    }
}
