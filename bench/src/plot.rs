//! The ratio chart (`--svg FILE`): one pair of horizontal bars per comparison row
//! (Keel/SQLite, Keel/redb) on a log axis, drawn from the line at 1.0 (parity) to the
//! ratio. plotters' SVG backend writes text as `<text>` elements, so no font files or
//! system font libraries are needed.

use crate::common::{Ctx, Result};
use crate::report::{Better, Row};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const SQLITE_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const REDB_COLOR: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const LABEL_AREA: u32 = 340;
/// Empty space below the last row (in rows) where the legend goes.
const LEGEND_ROOM: f64 = 0.9;

/// Draw the rows that have at least one ratio into `path`, and `footer` (Keel-only
/// figures, one per line) under the chart.
pub fn ratio_chart(rows: &[Row], footer: &[String], path: &Path) -> Result<()> {
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.over_sqlite().is_some() || r.over_redb().is_some())
        .collect();
    let ratios: Vec<f64> = rows
        .iter()
        .flat_map(|r| [r.over_sqlite(), r.over_redb()])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let lo = ratios.iter().copied().fold(1.0f64, f64::min) / 1.5;
    let hi = ratios.iter().copied().fold(1.0f64, f64::max) * 2.0;
    let n = rows.len().max(1) as f64;
    let foot = 22 * footer.len() as u32;
    let height = 160 + 44 * rows.len() as u32 + foot;
    let whole = SVGBackend::new(path, (1100, height)).into_drawing_area();
    whole.fill(&WHITE).ctx("plot: background")?;
    let (root, bottom) = whole.split_vertically(height - foot);
    let foot_style = TextStyle::from(("sans-serif", 14).into_font());
    for (i, line) in footer.iter().enumerate() {
        bottom
            .draw(&Text::new(
                line.clone(),
                (24, 4 + 22 * i as i32),
                foot_style.clone(),
            ))
            .ctx("plot: footer")?;
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Keel's figure / the other engine's (log scale; 1.0 = parity)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(LABEL_AREA)
        .build_cartesian_2d((lo..hi).log_scale(), -LEGEND_ROOM..n)
        .ctx("plot: axes")?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("ratio")
        .x_label_formatter(&|x| format!("{x:.2}"))
        .draw()
        .ctx("plot: mesh")?;

    // Row i occupies y in [n-i-1, n-i): the first row at the top.
    let band = |i: usize, series: usize| {
        let top = n - i as f64 - 0.15 - 0.35 * series as f64;
        (top - 0.33, top)
    };
    for (series, (name, color)) in [("Keel/SQLite", SQLITE_COLOR), ("Keel/redb", REDB_COLOR)]
        .into_iter()
        .enumerate()
    {
        let bars: Vec<(usize, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let v = if series == 0 {
                    r.over_sqlite()
                } else {
                    r.over_redb()
                };
                v.map(|v| (i, v))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(i, v)| {
                let (y0, y1) = band(i, series);
                Rectangle::new([(1.0, y0), (v, y1)], color.filled())
            }))
            .ctx("plot: bars")?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart
            .draw_series(bars.iter().map(|&(i, v)| {
                let (y0, y1) = band(i, series);
                let anchor = if v >= 1.0 { HPos::Left } else { HPos::Right };
                let style = TextStyle::from(("sans-serif", 12).into_font())
                    .pos(Pos::new(anchor, VPos::Center));
                Text::new(format!(" {v:.2}x "), (v, (y0 + y1) / 2.0), style)
            }))
            .ctx("plot: values")?;
    }
    chart
        .draw_series(LineSeries::new(
            [(1.0, -LEGEND_ROOM), (1.0, n)],
            BLACK.stroke_width(2),
        ))
        .ctx("plot: parity line")?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .ctx("plot: legend")?;

    // Row labels, right-aligned against the plot area.
    let label_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, r) in rows.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(lo, n - i as f64 - 0.5));
        let mut text = r.label.clone();
        if r.better == Better::Lower {
            text.push_str(" (lower is better)");
        }
        root.draw(&Text::new(text, (px - 8, py), label_style.clone()))
            .ctx("plot: row label")?;
    }
    whole
        .present()
        .ctx(format_args!("plot: writing {}", path.display()))
}
