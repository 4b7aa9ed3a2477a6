//! Inline SVG charts: no script, no fonts, no network. Every drawn data
//! element carries `class="mark"`, which is what the browser check counts.
//!
//! Hand-written rather than a plotting crate: the few Rust plotting crates
//! either rasterise, pull in font loading, or emit SVG meant for files,
//! not for embedding; these charts need ~300 lines.

use std::fmt::Write;

/// Series colours (colour-blind-safe Tableau 10 order).
pub const PALETTE: [&str; 6] = [
    "#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1",
];

/// Escape text for HTML and SVG content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest 1, 2 or 5 times a power of ten that is `>= v` (`v > 0`).
pub fn nice_ceil(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v * (1.0 - 1e-12) {
            return m * p;
        }
    }
    10.0 * p
}

/// Compact number: 1234 -> "1.2k", 0.25 -> "0.25".
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn pct(v: f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

/// A plotting area with linear axes.
#[derive(Debug, Clone, Copy)]
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn new(x: (f64, f64), y: (f64, f64)) -> Self {
        Self {
            w: 460.0,
            h: 290.0,
            left: 58.0,
            right: 14.0,
            top: 30.0,
            bottom: 44.0,
            x,
            y,
        }
    }
    fn px(&self, v: f64) -> f64 {
        let t = (v - self.x.0) / (self.x.1 - self.x.0);
        self.left + t.clamp(0.0, 1.0) * (self.w - self.left - self.right)
    }
    fn py(&self, v: f64) -> f64 {
        let t = (v - self.y.0) / (self.y.1 - self.y.0);
        self.h - self.bottom - t.clamp(0.0, 1.0) * (self.h - self.top - self.bottom)
    }
    fn open(&self, label: &str) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{l}">"#,
            w = self.w,
            h = self.h,
            l = esc(label)
        )
    }
    /// Grid, ticks and axis titles; `xticks: None` leaves the x axis to the caller.
    fn axes(
        &self,
        xlabel: &str,
        ylabel: &str,
        xfmt: Option<&dyn Fn(f64) -> String>,
        yfmt: &dyn Fn(f64) -> String,
    ) -> String {
        let mut s = String::new();
        for k in 0..=4 {
            let v = self.y.0 + (self.y.1 - self.y.0) * f64::from(k) / 4.0;
            let y = self.py(v);
            let _ = write!(
                s,
                r##"<line x1="{l}" x2="{r}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{tx}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#555">{t}</text>"##,
                l = self.left,
                r = self.w - self.right,
                tx = self.left - 4.0,
                ty = y + 3.0,
                t = esc(&yfmt(v))
            );
        }
        if let Some(xfmt) = xfmt {
            for k in 0..=4 {
                let v = self.x.0 + (self.x.1 - self.x.0) * f64::from(k) / 4.0;
                let x = self.px(v);
                let _ = write!(
                    s,
                    r##"<text x="{x:.1}" y="{y}" font-size="10" text-anchor="middle" fill="#555">{t}</text>"##,
                    y = self.h - self.bottom + 14.0,
                    t = esc(&xfmt(v))
                );
            }
        }
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" stroke="#888"/><line x1="{l}" x2="{r}" y1="{b}" y2="{b}" stroke="#888"/><text x="{cx}" y="{xy}" font-size="11" text-anchor="middle" fill="#333">{xl}</text><text transform="translate(13 {cy}) rotate(-90)" font-size="11" text-anchor="middle" fill="#333">{yl}</text>"##,
            l = self.left,
            r = self.w - self.right,
            t = self.top,
            b = self.h - self.bottom,
            cx = (self.left + self.w - self.right) / 2.0,
            xy = self.h - 8.0,
            cy = (self.top + self.h - self.bottom) / 2.0,
            xl = esc(xlabel),
            yl = esc(ylabel)
        );
        s
    }
}

/// A legend row at the top of a chart.
fn legend(items: &[(&str, &str, bool)], left: f64) -> String {
    let mut s = String::new();
    let mut x = left;
    for (name, colour, dashed) in items {
        let dash = if *dashed {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r##"<line x1="{x}" x2="{x2}" y1="12" y2="12" stroke="{colour}" stroke-width="2"{dash}/><text x="{tx}" y="16" font-size="10" fill="#333">{n}</text>"##,
            x2 = x + 16.0,
            tx = x + 20.0,
            n = esc(name)
        );
        x += 28.0 + 6.0 * name.chars().count() as f64;
    }
    s
}

/// One line of a [`line_chart`].
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Reference lines (random model, perfect calibration) are dashed and
    /// grey, and are not marks.
    pub reference: bool,
}

/// Lines over linear axes.
pub fn line_chart(
    label: &str,
    series: &[Series],
    x: (f64, f64),
    y: (f64, f64),
    (xlabel, ylabel): (&str, &str),
    (xfmt, yfmt): (&dyn Fn(f64) -> String, &dyn Fn(f64) -> String),
) -> String {
    let f = Frame::new(x, y);
    let mut s = f.open(label);
    s.push_str(&f.axes(xlabel, ylabel, Some(xfmt), yfmt));
    let mut items = Vec::new();
    let mut k = 0;
    for se in series {
        let pts: Vec<String> = se
            .points
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| format!("{:.1},{:.1}", f.px(*a), f.py(*b)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let (colour, class, dash) = if se.reference {
            ("#9ca3af", "reference", r#" stroke-dasharray="4 3""#)
        } else {
            k += 1;
            (PALETTE[(k - 1) % PALETTE.len()], "mark", "")
        };
        let _ = write!(
            s,
            r#"<polyline class="{class}" fill="none" stroke="{colour}" stroke-width="2"{dash} points="{p}"><title>{n}</title></polyline>"#,
            p = pts.join(" "),
            n = esc(&se.name)
        );
        if pts.len() <= 12 && !se.reference {
            for p in &pts {
                let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    s,
                    r#"<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>"#
                );
            }
        }
        items.push((se.name.as_str(), colour, se.reference));
    }
    s.push_str(&legend(&items, f.left));
    s.push_str("</svg>");
    s
}

/// Vertical bars, one group per category, one bar per series.
pub fn grouped_bars(
    label: &str,
    categories: &[String],
    groups: &[(String, Vec<f64>)],
    (xlabel, ylabel): (&str, &str),
    yfmt: &dyn Fn(f64) -> String,
) -> String {
    let max = groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max);
    let f = Frame::new((0.0, categories.len().max(1) as f64), (0.0, nice_ceil(max)));
    let mut s = f.open(label);
    s.push_str(&f.axes(xlabel, ylabel, None, yfmt));
    let slot = f.px(1.0) - f.px(0.0);
    let bar = (slot * 0.8 / groups.len().max(1) as f64).max(1.0);
    for (i, c) in categories.iter().enumerate() {
        let x0 = f.px(i as f64) + slot * 0.1;
        for (g, (name, values)) in groups.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0).max(0.0);
            let top = f.py(v);
            let _ = write!(
                s,
                r#"<rect class="mark" x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{h:.1}" fill="{colour}"><title>{n} {c}: {t}</title></rect>"#,
                x = x0 + g as f64 * bar,
                h = (f.py(0.0) - top).max(0.0),
                colour = PALETTE[g % PALETTE.len()],
                n = esc(name),
                c = esc(c),
                t = esc(&yfmt(v))
            );
        }
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{y}" font-size="10" text-anchor="middle" fill="#555">{c}</text>"##,
            x = x0 + slot * 0.4,
            y = f.h - f.bottom + 14.0,
            c = esc(c)
        );
    }
    if groups.len() > 1 {
        let items: Vec<(&str, &str, bool)> = groups
            .iter()
            .enumerate()
            .map(|(g, (n, _))| (n.as_str(), PALETTE[g % PALETTE.len()], false))
            .collect();
        s.push_str(&legend(&items, f.left));
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars with their values, largest first as given.
pub fn hbars(label: &str, items: &[(String, f64)], fmt: &dyn Fn(f64) -> String) -> String {
    let row = 20.0;
    let (w, left, right) = (460.0, 150.0, 60.0);
    let h = 10.0 + row * items.len().max(1) as f64;
    let max = items.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (w - left - right) / max
    } else {
        0.0
    };
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{l}">"#,
        l = esc(label)
    );
    for (i, (name, v)) in items.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let _ = write!(
            s,
            r##"<text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#333">{n}</text><rect class="mark" x="{left}" y="{y:.1}" width="{bw:.1}" height="{bh}" fill="{c}"><title>{n}: {t}</title></rect><text x="{vx:.1}" y="{ty:.1}" font-size="10" fill="#555">{t}</text>"##,
            tx = left - 6.0,
            ty = y + 13.0,
            n = esc(name),
            bw = (v.max(0.0) * scale).max(1.0),
            bh = row - 5.0,
            c = PALETTE[0],
            vx = left + v.max(0.0) * scale + 4.0,
            t = esc(&fmt(*v))
        );
    }
    s.push_str("</svg>");
    s
}

/// A matrix of cells shaded by value, with a label in each.
pub fn heatmap(
    label: &str,
    rows: &[String],
    cols: &[String],
    cells: &[Vec<f64>],
    (row_title, col_title): (&str, &str),
    text: &dyn Fn(usize, usize) -> String,
) -> String {
    let (cw, ch, left, top) = (120.0, 46.0, 90.0, 40.0);
    let w = left + cw * cols.len() as f64 + 10.0;
    let h = top + ch * rows.len() as f64 + 10.0;
    let max = cells.iter().flatten().copied().fold(0.0, f64::max);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{l}"><text x="{cx}" y="12" font-size="11" text-anchor="middle" fill="#333">{ct}</text><text x="4" y="12" font-size="11" fill="#333">{rt}</text>"##,
        l = esc(label),
        cx = left + cw * cols.len() as f64 / 2.0,
        ct = esc(col_title),
        rt = esc(row_title)
    );
    for (j, c) in cols.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="32" font-size="11" text-anchor="middle" fill="#333">{c}</text>"##,
            x = left + cw * (j as f64 + 0.5),
            c = esc(c)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + ch * i as f64;
        let _ = write!(
            s,
            r##"<text x="{x}" y="{ty}" font-size="11" text-anchor="end" fill="#333">{r}</text>"##,
            x = left - 8.0,
            ty = y + ch / 2.0 + 4.0,
            r = esc(r)
        );
        for (j, _) in cols.iter().enumerate() {
            let v = cells
                .get(i)
                .and_then(|row| row.get(j))
                .copied()
                .unwrap_or(0.0);
            let t = if max > 0.0 { v / max } else { 0.0 };
            // White to the first palette colour.
            let mix = |a: f64, b: f64| (a + (b - a) * t).round();
            let fill = format!(
                "rgb({},{},{})",
                mix(255.0, 78.0),
                mix(255.0, 121.0),
                mix(255.0, 167.0)
            );
            let ink = if t > 0.55 { "#fff" } else { "#111" };
            let body = text(i, j);
            let _ = write!(
                s,
                r##"<rect class="mark" x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" stroke="#fff"><title>{tt}</title></rect><text x="{tx}" y="{ty}" font-size="11" text-anchor="middle" fill="{ink}">{b}</text>"##,
                x = left + cw * j as f64,
                w = cw - 2.0,
                h = ch - 2.0,
                tt = esc(&body),
                tx = left + cw * (j as f64 + 0.5),
                ty = y + ch / 2.0 + 4.0,
                b = esc(&body)
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceil(0.73), 1.0);
        assert_eq!(nice_ceil(1.0), 1.0);
        assert_eq!(nice_ceil(1.2), 2.0);
        assert_eq!(nice_ceil(3.0), 5.0);
        assert_eq!(nice_ceil(640.0), 1000.0);
        assert_eq!(nice_ceil(0.0), 1.0);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = hbars("t", &[("Can't <Lose>".into(), 3.0)], &short);
        assert!(svg.contains("Can&#39;t &lt;Lose&gt;"), "{svg}");
        assert!(!svg.contains("<Lose>"));
    }

    #[test]
    fn bars_never_get_negative_sizes() {
        let svg = grouped_bars(
            "t",
            &["a".into(), "b".into()],
            &[("s".into(), vec![-5.0, 10.0])],
            ("x", "y"),
            &short,
        );
        assert_eq!(svg.matches(r#"class="mark""#).count(), 2);
        assert!(!svg.contains("height=\"-"), "{svg}");
    }
}
