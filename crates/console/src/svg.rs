//! Charts drawn on the server as inline SVG: stacked bars per day and horizontal bars. No
//! script, no inline style (the Content-Security-Policy allows neither): colours come from
//! classes in `app.css`, sizes from attributes. Labels are text nodes, escaped by maud.

use maud::{Markup, html};

/// One series of a stacked chart: its name (legend) and CSS class.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
}

/// Stacked vertical bars, one per column (`labels[i]` under `values[i]`, one value per series).
pub fn stacked_bars(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    values: &[Vec<u64>],
) -> Markup {
    let (w, h, left, bottom, top) = (720.0_f64, 200.0_f64, 40.0_f64, 24.0_f64, 8.0_f64);
    let max = values
        .iter()
        .map(|v| v.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = labels.len().max(1) as f64;
    let slot = (w - left) / n;
    let bar = (slot * 0.7).max(1.0);
    let plot = h - bottom - top;
    let y = |v: u64| top + plot - plot * v as f64 / max as f64;
    let total: u64 = values.iter().flatten().sum();
    html! {
        figure.chart {
            figcaption { (title) " " span.muted { "(" (total) " in all)" } }
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(title) {
                line.axis x1=(left) y1=(top + plot) x2=(w) y2=(top + plot) {}
                text.tick x=(left - 4.0) y=(top + 4.0) text-anchor="end" { (max) }
                text.tick x=(left - 4.0) y=(top + plot) text-anchor="end" { "0" }
                @for (i, label) in labels.iter().enumerate() {
                    @let x = left + slot * i as f64 + (slot - bar) / 2.0;
                    @for (s, from, to) in stack(series, values.get(i)) {
                        rect class=(s.class) x=(fmt(x)) y=(fmt(y(to))) width=(fmt(bar)) height=(fmt(y(from) - y(to))) {
                            title { (label) ": " (to - from) " " (s.name) }
                        }
                    }
                    @if i % label_every(labels.len()) == 0 {
                        text.tick x=(fmt(x + bar / 2.0)) y=(h - 6.0) text-anchor="middle" { (short_day(label)) }
                    }
                }
            }
            ul.legend {
                @for s in series { li { span class=(format!("swatch {}", s.class)) {} (s.name) } }
            }
        }
    }
}

/// Horizontal bars: (label, value, CSS class, link).
pub fn hbars(title: &str, rows: &[(String, u64, &str, Option<String>)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    html! {
        figure.chart {
            figcaption { (title) }
            @if rows.is_empty() {
                p.muted { "Nothing yet." }
            } @else {
                table.hbars {
                    @for (label, v, class, link) in rows {
                        tr {
                            th {
                                @match link {
                                    Some(href) => a href=(href) { (label) },
                                    None => (label),
                                }
                            }
                            td.num { (v) }
                            td.barcell {
                                svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" {
                                    rect class=(*class) x="0" y="0" height="10" width=(fmt(100.0 * *v as f64 / max as f64)) {}
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Each non-empty series of a column with where its segment starts and ends.
fn stack<'s, 'a>(
    series: &'s [Series<'a>],
    col: Option<&Vec<u64>>,
) -> Vec<(&'s Series<'a>, u64, u64)> {
    let mut base = 0;
    let mut out = Vec::new();
    for (j, s) in series.iter().enumerate() {
        let v = col.and_then(|c| c.get(j)).copied().unwrap_or(0);
        if v > 0 {
            out.push((s, base, base + v));
            base += v;
        }
    }
    out
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

fn label_every(n: usize) -> usize {
    n.div_ceil(10).max(1)
}

/// `2026-11-02` → `11-02`.
fn short_day(d: &str) -> &str {
    d.get(5..).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scale_to_the_largest_column() {
        let labels = vec!["2026-11-01".to_string(), "<script>".to_string()];
        let s = [Series {
            name: "High",
            class: "sev-high",
        }];
        let out = stacked_bars("Findings <b>", &labels, &s, &[vec![2], vec![4]]).into_string();
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(out.contains("Findings &lt;b&gt;"));
        assert!(out.contains("(6 in all)"));
        let rows = vec![(
            "<img src=x>".to_string(),
            3,
            "sev-low",
            Some("/x?a=1&b=2".to_string()),
        )];
        let out = hbars("t", &rows).into_string();
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("href=\"/x?a=1&amp;b=2\""), "{out}");
    }
}
