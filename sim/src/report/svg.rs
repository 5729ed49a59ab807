//! The report's charts, as inline SVG written by hand: a page that must open offline
//! and read the same in any browser gets nothing from a plotting library it could
//! not get from a few rectangles, lines and labels. Every chart has a fixed width
//! and an explicit height, so it lays out the same everywhere, and a `<title>` per
//! mark, so hovering a bar shows its exact value.

use super::html::esc;

const WIDTH: f64 = 760.0;
const FONT: &str = "font-family=\"sans-serif\" font-size=\"11\"";

/// One labelled value of a horizontal bar chart; `alert` draws it in the warning
/// colour (a mutant not caught, a failing seed).
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub alert: bool,
}

/// Horizontal bars, one per item, scaled to the largest value (or, with `log`, on a
/// log scale: fault counts span five orders of magnitude).
pub fn hbars(id: &str, title: &str, items: &[Bar], log: bool) -> String {
    let label_w = 230.0;
    let bar_h = 16.0;
    let top = 26.0;
    let h = top + items.len().max(1) as f64 * (bar_h + 4.0) + 10.0;
    let plot_w = WIDTH - label_w - 90.0;
    let scale = |v: u64| -> f64 {
        if log {
            (v as f64 + 1.0).ln()
        } else {
            v as f64
        }
    };
    let max = items.iter().map(|b| scale(b.value)).fold(0.0, f64::max);
    let mut s = open(id, title, h);
    for (i, b) in items.iter().enumerate() {
        let y = top + i as f64 * (bar_h + 4.0);
        // A zero still gets a hairline, so every row shows it was measured.
        let w = if max > 0.0 {
            (scale(b.value) / max * plot_w).max(1.0)
        } else {
            1.0
        };
        let fill = if b.alert { "#c0392b" } else { "#2e6da4" };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>{}</text>\
             <rect x=\"{label_w:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{fill}\">\
             <title>{}: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT}>{}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(&b.label),
            esc(&b.label),
            b.value,
            label_w + w + 4.0,
            y + 12.0,
            b.value
        ));
    }
    if log {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT} fill=\"#666\">log scale</text>",
            WIDTH - 4.0,
            h - 2.0
        ));
    }
    s.push_str("</svg>");
    s
}

/// Two series over the seeds in order — bars for the first, a line for the second —
/// with failing seeds marked below the axis. More seeds than `MAX_COLUMNS` are summed
/// into equal runs of consecutive seeds, said in the caption.
pub struct Series<'a> {
    pub seeds: &'a [u64],
    pub bars: (&'a str, &'a [u64]),
    pub line: (&'a str, &'a [u64]),
    pub failed: &'a [bool],
}

const MAX_COLUMNS: usize = 400;

pub fn per_seed(id: &str, title: &str, d: &Series<'_>) -> String {
    let n = d.seeds.len();
    let per = n.div_ceil(MAX_COLUMNS).max(1);
    let cols = n.div_ceil(per);
    let sum = |v: &[u64], c: usize| -> u64 { v.iter().skip(c * per).take(per).sum() };
    let any = |v: &[bool], c: usize| -> bool { v.iter().skip(c * per).take(per).any(|&f| f) };
    let bars: Vec<u64> = (0..cols).map(|c| sum(d.bars.1, c)).collect();
    let line: Vec<u64> = (0..cols).map(|c| sum(d.line.1, c)).collect();
    let (left, top, plot_h) = (50.0, 30.0, 180.0);
    let plot_w = WIDTH - left - 10.0;
    let h = top + plot_h + 46.0;
    let max = bars.iter().chain(&line).copied().max().unwrap_or(0).max(1) as f64;
    let col_w = plot_w / cols.max(1) as f64;
    let y_of = |v: u64| top + plot_h - v as f64 / max * plot_h;
    let mut s = open(id, title, h);
    // Axes and the top value.
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"#444\"/>\
         <line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#444\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>0</text>",
        top + plot_h,
        top + plot_h,
        left + plot_w,
        top + plot_h,
        left - 4.0,
        top + 4.0,
        max as u64,
        left - 4.0,
        top + plot_h
    ));
    let seed_range = |c: usize| -> String {
        let a = d.seeds.get(c * per).copied().unwrap_or(0);
        let b = d
            .seeds
            .get(((c + 1) * per).min(n).saturating_sub(1))
            .copied()
            .unwrap_or(a);
        if a == b {
            format!("seed {a}")
        } else {
            format!("seeds {a}..={b}")
        }
    };
    for (c, &v) in bars.iter().enumerate() {
        let x = left + c as f64 * col_w;
        let y = y_of(v);
        s.push_str(&format!(
            "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"#7fa7d0\">\
             <title>{}: {} {v}, {} {}</title></rect>",
            (col_w * 0.85).max(0.5),
            (top + plot_h - y).max(0.0),
            seed_range(c),
            d.bars.0,
            d.line.0,
            line[c]
        ));
        if any(d.failed, c) {
            s.push_str(&format!(
                "<rect x=\"{x:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"6\" fill=\"#c0392b\">\
                 <title>{} failed</title></rect>",
                top + plot_h + 3.0,
                col_w.max(2.0),
                seed_range(c)
            ));
        }
    }
    let points: Vec<String> = line
        .iter()
        .enumerate()
        .map(|(c, &v)| format!("{:.2},{:.2}", left + (c as f64 + 0.45) * col_w, y_of(v)))
        .collect();
    s.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#d35400\" stroke-width=\"1.5\"/>",
        points.join(" ")
    ));
    let first = d.seeds.first().copied().unwrap_or(0);
    let last = d.seeds.last().copied().unwrap_or(0);
    let grouping = if per > 1 {
        format!(" (each column sums {per} seeds)")
    } else {
        String::new()
    };
    s.push_str(&format!(
        "<text x=\"{left}\" y=\"{:.1}\" {FONT}>seed {first}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>seed {last}</text>\
         <rect x=\"{left}\" y=\"{:.1}\" width=\"12\" height=\"10\" fill=\"#7fa7d0\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" {FONT}>{}</text>\
         <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d35400\" stroke-width=\"2\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" {FONT}>{}{}; red: failing seeds</text>",
        top + plot_h + 22.0,
        left + plot_w,
        top + plot_h + 22.0,
        h - 14.0,
        left + 16.0,
        h - 5.0,
        esc(d.bars.0),
        left + 120.0,
        h - 9.0,
        left + 140.0,
        h - 9.0,
        left + 144.0,
        h - 5.0,
        esc(d.line.0),
        grouping
    ));
    s.push_str("</svg>");
    s
}

fn open(id: &str, title: &str, h: f64) -> String {
    format!(
        "<svg id=\"{}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" \
         height=\"{h:.0}\" viewBox=\"0 0 {WIDTH} {h:.0}\" role=\"img\" aria-label=\"{}\">\
         <text x=\"4\" y=\"16\" font-family=\"sans-serif\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        esc(id),
        esc(title),
        esc(title)
    )
}
