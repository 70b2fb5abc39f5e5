//! A small SVG writer and the charts the reports draw with it. The same SVG becomes a PDF page
//! (vector, with real text, through krilla-svg) and a PNG (through resvg).

use std::fmt::Write as _;

pub const SANS: &str = "sans-serif";
pub const MONO: &str = "monospace";

/// Colours of series, in order.
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf",
];

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG document being written.
pub struct Svg {
    pub width: f64,
    pub height: f64,
    body: String,
}

#[derive(Clone, Copy)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Svg {
    pub fn new(width: f64, height: f64) -> Svg {
        Svg {
            width,
            height,
            body: String::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn text_styled(
        &mut self,
        x: f64,
        y: f64,
        size: f64,
        family: &str,
        bold: bool,
        color: &str,
        anchor: Anchor,
        s: &str,
    ) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let weight = if bold { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-family="{family}" font-size="{size}"{weight} fill="{color}" text-anchor="{anchor}" xml:space="preserve">{}</text>"#,
            escape(s)
        );
    }

    pub fn text(&mut self, x: f64, y: f64, size: f64, s: &str) {
        self.text_styled(x, y, size, SANS, false, "#222", Anchor::Start, s);
    }

    /// Text wrapped to `width` (an estimate of the glyph width); returns the y below it.
    pub fn paragraph(
        &mut self,
        x: f64,
        y: f64,
        width: f64,
        size: f64,
        color: &str,
        s: &str,
    ) -> f64 {
        let per_line = ((width / (size * 0.5)) as usize).max(10);
        let mut y = y;
        for line in wrap(s, per_line) {
            self.text_styled(x, y, size, SANS, false, color, Anchor::Start, &line);
            y += size * 1.35;
        }
        y
    }

    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        color: &str,
        width: f64,
        dash: bool,
    ) {
        let dash = if dash {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{color}" stroke-width="{width}"{dash}/>"#
        );
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let stroke = stroke
            .map(|s| format!(r#" stroke="{s}" stroke-width="0.6""#))
            .unwrap_or_default();
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}"{stroke}/>"#
        );
    }

    pub fn polyline(&mut self, pts: &[(f64, f64)], color: &str, width: f64) {
        if pts.len() < 2 {
            return;
        }
        let mut d = String::new();
        for (x, y) in pts {
            let _ = write!(d, "{x:.2},{y:.2} ");
        }
        let _ = writeln!(
            self.body,
            r#"<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}" stroke-linejoin="round"/>"#
        );
    }

    pub fn circle(&mut self, x: f64, y: f64, r: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{x:.2}" cy="{y:.2}" r="{r}" fill="{fill}"/>"#
        );
    }

    /// Draws another SVG's content at (x, y), scaled.
    pub fn embed(&mut self, other: Svg, x: f64, y: f64, scale: f64) {
        let _ = writeln!(
            self.body,
            r#"<g transform="translate({x:.2},{y:.2}) scale({scale})">{}</g>"#,
            other.body
        );
    }

    pub fn finish(self) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><rect width="{w}" height="{h}" fill="white"/>{}</svg>"#,
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

/// Greedy word wrap to `per_line` characters.
pub fn wrap(s: &str, per_line: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > per_line {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// An axis: linear or base-10 logarithmic over [lo, hi].
#[derive(Clone, Copy)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl Axis {
    /// An axis that holds `values` (positive ones only when logarithmic), with a margin.
    pub fn fit(values: impl Iterator<Item = f64>, log: bool, zero: bool) -> Axis {
        let v: Vec<f64> = values
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        let (mut lo, mut hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if !lo.is_finite() {
            (lo, hi) = if log { (1.0, 10.0) } else { (0.0, 1.0) };
        }
        if log {
            lo = 10f64.powf(lo.log10().floor());
            hi = 10f64.powf(hi.log10().ceil().max(lo.log10() + 1.0));
        } else {
            if zero {
                lo = lo.min(0.0);
            }
            if hi - lo < 1e-12 {
                hi = lo + 1.0;
            }
            hi += (hi - lo) * 0.05;
        }
        Axis { lo, hi, log }
    }

    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.max(1e-300).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    /// Tick positions: decades on a log axis, 1-2-5 steps on a linear one.
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (a, b) = (
                self.lo.log10().round() as i32,
                self.hi.log10().round() as i32,
            );
            let step = ((b - a) as f64 / 7.0).ceil().max(1.0) as i32;
            (a..=b)
                .step_by(step as usize)
                .map(|e| 10f64.powi(e))
                .collect()
        } else {
            let raw = (self.hi - self.lo) / 5.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * mag)
                .find(|s| *s >= raw)
                .unwrap_or(mag * 10.0);
            let mut t = (self.lo / step).ceil() * step;
            let mut out = Vec::new();
            while t <= self.hi + 1e-9 * step {
                out.push(t);
                t += step;
            }
            out
        }
    }
}

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    pub markers: bool,
}

/// A marker line across a chart: vertical at an x value.
pub struct Rule {
    pub x: f64,
    pub label: String,
    pub color: String,
}

/// Draws a line chart in the box (x, y, w, h).
#[allow(clippy::too_many_arguments)]
pub fn line_chart(
    svg: &mut Svg,
    (x, y, w, h): (f64, f64, f64, f64),
    title: &str,
    series: &[Series],
    xa: Axis,
    ya: Axis,
    fmt_x: &dyn Fn(f64) -> String,
    fmt_y: &dyn Fn(f64) -> String,
    rules: &[Rule],
) {
    let (left, bottom, top) = (48.0, 30.0, 18.0);
    let (px, py, pw, ph) = (x + left, y + top, w - left - 8.0, h - top - bottom);
    svg.text_styled(x, y + 11.0, 10.0, SANS, true, "#222", Anchor::Start, title);
    svg.rect(px, py, pw, ph, "#fbfbfb", Some("#999"));
    let to_x = |v: f64| px + xa.frac(v).clamp(0.0, 1.0) * pw;
    let to_y = |v: f64| py + ph - ya.frac(v).clamp(0.0, 1.0) * ph;
    for t in xa.ticks() {
        let tx = to_x(t);
        svg.line(tx, py, tx, py + ph, "#e4e4e4", 0.5, false);
        svg.text_styled(
            tx,
            py + ph + 11.0,
            7.5,
            SANS,
            false,
            "#444",
            Anchor::Middle,
            &fmt_x(t),
        );
    }
    for t in ya.ticks() {
        let ty = to_y(t);
        svg.line(px, ty, px + pw, ty, "#e4e4e4", 0.5, false);
        svg.text_styled(
            px - 3.0,
            ty + 2.5,
            7.5,
            SANS,
            false,
            "#444",
            Anchor::End,
            &fmt_y(t),
        );
    }
    for r in rules {
        let rx = to_x(r.x);
        svg.line(rx, py, rx, py + ph, &r.color, 0.8, true);
        svg.text_styled(
            rx + 2.0,
            py + 8.0,
            7.0,
            SANS,
            false,
            &r.color,
            Anchor::Start,
            &r.label,
        );
    }
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(a, b)| {
                a.is_finite() && b.is_finite() && (!xa.log || *a > 0.0) && (!ya.log || *b > 0.0)
            })
            .map(|&(a, b)| (to_x(a), to_y(b)))
            .collect();
        svg.polyline(&pts, &s.color, 1.4);
        if s.markers {
            // A series of one point is a labelled dot (a scatter): draw it larger.
            let r = if pts.len() == 1 { 3.5 } else { 2.0 };
            for (a, b) in &pts {
                svg.circle(*a, *b, r, &s.color);
            }
        }
    }
    // Legend inside the plot, in the top-left or bottom-right corner, whichever the lines
    // cross less.
    let shown: Vec<&Series> = series.iter().take(10).collect();
    let (lw, lh) = (
        shown
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0) as f64
            * 4.2
            + 26.0,
        shown.len() as f64 * 9.5 + 4.0,
    );
    let crowd = |x0: f64, y0: f64| {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|&&(a, b)| a.is_finite() && b.is_finite())
            .map(|&(a, b)| (to_x(a), to_y(b)))
            .filter(|&(a, b)| a >= x0 && a <= x0 + lw && b >= y0 && b <= y0 + lh)
            .count()
    };
    let (lx, ly0) = if crowd(px + pw - lw - 4.0, py + ph - lh - 4.0) < crowd(px + 2.0, py + 2.0) {
        (px + pw - lw - 4.0, py + ph - lh - 4.0)
    } else {
        (px + 2.0, py + 2.0)
    };
    if !shown.is_empty() {
        svg.rect(lx, ly0, lw, lh, "#ffffff", Some("#ddd"));
    }
    let mut ly = ly0 + 10.0;
    for s in shown {
        svg.line(
            lx + 4.0,
            ly - 2.5,
            lx + 16.0,
            ly - 2.5,
            &s.color,
            2.0,
            false,
        );
        svg.text_styled(
            lx + 19.0,
            ly,
            7.5,
            SANS,
            false,
            "#222",
            Anchor::Start,
            &s.name,
        );
        ly += 9.5;
    }
}

/// One bar of a horizontal bar chart, with an optional interval drawn as a whisker.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub interval: Option<(f64, f64)>,
    pub color: String,
    /// Written after the bar (the value as the reader should read it).
    pub note: String,
}

/// Horizontal bars with labels on the left and whiskers for intervals, from zero (or from the
/// smallest value on a log axis); `reference` draws a dashed line, e.g. at a speedup of 1.
#[allow(clippy::too_many_arguments)]
pub fn bar_chart(
    svg: &mut Svg,
    (x, y, w, h): (f64, f64, f64, f64),
    title: &str,
    bars: &[Bar],
    fmt: &dyn Fn(f64) -> String,
    reference: Option<(f64, &str)>,
) {
    svg.text_styled(x, y + 11.0, 10.0, SANS, true, "#222", Anchor::Start, title);
    let label_w = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 30) as f64
        * 4.1
        + 6.0;
    let note_w = bars
        .iter()
        .map(|b| b.note.chars().count())
        .max()
        .unwrap_or(0) as f64
        * 3.9
        + 6.0;
    let (px, py, pw, ph) = (x + label_w, y + 18.0, w - label_w - note_w, h - 18.0 - 14.0);
    if bars.is_empty() || pw <= 10.0 {
        return;
    }
    let hi = bars
        .iter()
        .map(|b| b.interval.map(|i| i.1).unwrap_or(b.value).max(b.value))
        .chain(reference.map(|r| r.0))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let xa = Axis {
        lo: 0.0,
        hi: if hi > 0.0 { hi * 1.08 } else { 1.0 },
        log: false,
    };
    let to_x = |v: f64| px + xa.frac(v).clamp(0.0, 1.0) * pw;
    svg.rect(px, py, pw, ph, "#fbfbfb", Some("#999"));
    for t in xa.ticks() {
        let tx = to_x(t);
        svg.line(tx, py, tx, py + ph, "#e4e4e4", 0.5, false);
        svg.text_styled(
            tx,
            py + ph + 10.0,
            7.0,
            SANS,
            false,
            "#444",
            Anchor::Middle,
            &fmt(t),
        );
    }
    let slot = ph / bars.len() as f64;
    let bar_h = (slot * 0.62).min(14.0);
    let size = (slot * 0.55).clamp(5.0, 7.5);
    for (i, b) in bars.iter().enumerate() {
        let cy = py + slot * (i as f64 + 0.5);
        svg.text_styled(
            px - 4.0,
            cy + size * 0.35,
            size,
            SANS,
            false,
            "#222",
            Anchor::End,
            &b.label,
        );
        if b.value.is_finite() {
            svg.rect(
                px,
                cy - bar_h / 2.0,
                to_x(b.value) - px,
                bar_h,
                &b.color,
                None,
            );
        }
        if let Some((lo, hi)) = b.interval {
            let (a, c) = (to_x(lo), to_x(hi));
            svg.line(a, cy, c, cy, "#333", 0.9, false);
            svg.line(a, cy - bar_h / 3.0, a, cy + bar_h / 3.0, "#333", 0.9, false);
            svg.line(c, cy - bar_h / 3.0, c, cy + bar_h / 3.0, "#333", 0.9, false);
        }
        let end = b.interval.map(|i| i.1).unwrap_or(b.value).max(b.value);
        svg.text_styled(
            to_x(end) + 3.0,
            cy + size * 0.35,
            size,
            SANS,
            false,
            "#333",
            Anchor::Start,
            &b.note,
        );
    }
    if let Some((v, label)) = reference {
        let rx = to_x(v);
        svg.line(rx, py, rx, py + ph, "#d62728", 0.8, true);
        svg.text_styled(
            rx + 2.0,
            py + ph - 3.0,
            7.0,
            SANS,
            false,
            "#d62728",
            Anchor::Start,
            label,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_wrap() {
        let a = Axis::fit([0.02, 3.0].into_iter(), true, false);
        assert_eq!(a.ticks(), vec![0.01, 0.1, 1.0, 10.0]);
        let b = Axis::fit([0.0, 43.0].into_iter(), false, true);
        assert_eq!(b.ticks(), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(escape("<a & b>"), "&lt;a &amp; b&gt;");
    }
}
