//! Charts as hand-written SVG: a run's latency percentiles and throughput over time, and a
//! rate search's p99 against the offered rate. No plotting dependency: a few rectangles,
//! polylines and labels are all it takes, and the file opens in any browser.

use std::fmt::Write;

use crate::report::BenchResult;
use crate::search::SearchResult;

const W: f64 = 960.0;
const H: f64 = 380.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12"><rect width="{W}" height="{H}" fill="white"/><text x="20" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
}

/// Maps `v` in `[lo, hi]` on a log scale to `[0, 1]`.
fn log_pos(v: f64, lo: f64, hi: f64) -> f64 {
    let v = v.max(lo);
    ((v.ln() - lo.ln()) / (hi.ln() - lo.ln())).clamp(0.0, 1.0)
}

/// Powers of ten between `lo` and `hi`, for log-axis ticks.
fn decades(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut t = 10f64.powf(lo.log10().floor());
    while t <= hi * 1.0001 {
        if t >= lo * 0.9999 {
            ticks.push(t);
        }
        t *= 10.0;
    }
    ticks
}

/// Horizontal lines and labels at each decade of a log-scale latency axis, for a plot area
/// `(x0, y0, width, height)` from `lo` to `hi` milliseconds.
fn latency_grid(out: &mut String, (x0, y0, pw, ph): (f64, f64, f64, f64), lo: f64, hi: f64) {
    for t in decades(lo, hi) {
        let y = y0 + ph - log_pos(t, lo, hi) * ph;
        let _ = write!(
            out,
            r##"<line x1="{x0}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 + pw,
            x0 - 4.0,
            y + 4.0,
            fmt_ms(t)
        );
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.0} µs", ms * 1000.0)
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// Latency percentiles (log-scale bars) and deliveries per second over time.
pub fn run_chart(result: &BenchResult) -> String {
    let mut out = String::new();
    let title = format!(
        "{} over {}: {} subscribers, {} msg/s in, {} deliveries/s",
        result.scenario,
        result.transport.label(),
        result.subscribers,
        fmt_rate(result.publish_rate),
        fmt_rate(result.deliveries_per_s)
    );
    header(&mut out, &title);
    let l = &result.latency_ms;
    let bars = [
        ("p50", l.p50),
        ("p90", l.p90),
        ("p99", l.p99),
        ("p99.9", l.p99_9),
        ("max", l.max),
    ];
    // Left panel: bars, log scale from 10 µs to the next decade above the max.
    let (x0, y0, pw, ph) = (60.0, 50.0, 380.0, 280.0);
    let lo = 0.01;
    let hi = 10f64.powf(l.max.max(lo * 10.0).log10().ceil());
    let _ = write!(
        out,
        r#"<text x="{x0}" y="{}">publish-to-receive latency (log scale)</text>"#,
        y0 - 8.0
    );
    latency_grid(&mut out, (x0, y0, pw, ph), lo, hi);
    let slot = pw / bars.len() as f64;
    for (i, (name, ms)) in bars.iter().enumerate() {
        let h = log_pos(*ms, lo, hi) * ph;
        let x = x0 + i as f64 * slot + slot * 0.2;
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#3b7dd8"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{name}</text>"##,
            y0 + ph - h,
            slot * 0.6,
            x + slot * 0.3,
            y0 + ph - h - 4.0,
            fmt_ms(*ms),
            x + slot * 0.3,
            y0 + ph + 16.0
        );
    }
    // Right panel: deliveries/s per second of the run.
    let (x1, pw1) = (540.0, 390.0);
    let _ = write!(
        out,
        r#"<text x="{x1}" y="{}">deliveries per second (by second of the run)</text>"#,
        y0 - 8.0
    );
    let top = result
        .timeline
        .iter()
        .map(|s| s.deliveries_per_s)
        .fold(1.0_f64, f64::max)
        * 1.1;
    let t_end = result.timeline.last().map_or(1.0, |s| s.t.max(1.0));
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let y = y0 + ph - ph * i as f64 / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{x1}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x1 + pw1,
            x1 - 4.0,
            y + 4.0,
            fmt_rate(v)
        );
    }
    let points: Vec<String> = result
        .timeline
        .iter()
        .map(|s| {
            format!(
                "{:.1},{:.1}",
                x1 + s.t / t_end * pw1,
                y0 + ph - s.deliveries_per_s / top * ph
            )
        })
        .collect();
    let _ = write!(
        out,
        r##"<polyline points="{}" fill="none" stroke="#d8613b" stroke-width="2"/><text x="{}" y="{}" text-anchor="end">{t_end:.0} s</text>"##,
        points.join(" "),
        x1 + pw1,
        y0 + ph + 16.0
    );
    let _ = write!(
        out,
        r#"<text x="20" y="{}">lost {} · duplicated {} · publish failures {} · bench CPU {:.2} of {} cores{}</text></svg>"#,
        H - 12.0,
        result.lost,
        result.duplicated,
        result.publish_failed,
        result.bench.cpu_cores,
        result.bench.cores_available,
        if result.bench.saturated {
            " (saturated)"
        } else {
            ""
        }
    );
    out
}

/// p99 against the offered rate for every step of a search (log-log), with the bound.
pub fn search_chart(search: &SearchResult) -> String {
    let mut out = String::new();
    let title = match (search.best_rate, search.best_deliveries_per_s) {
        (Some(rate), Some(d)) => format!(
            "rate search: best {} msg/s in, {} deliveries/s at p99 ≤ {} ms",
            fmt_rate(rate),
            fmt_rate(d),
            search.max_p99_ms
        ),
        _ => format!(
            "rate search: no rate sustained at p99 ≤ {} ms",
            search.max_p99_ms
        ),
    };
    header(&mut out, &title);
    let (x0, y0, pw, ph) = (80.0, 50.0, 820.0, 270.0);
    let rates = || search.steps.iter().map(|s| s.rate);
    let rlo = rates().fold(f64::MAX, f64::min).max(1.0) / 2.0;
    let rhi = rates().fold(1.0, f64::max) * 2.0;
    let p99 = |s: &crate::search::SearchStep| s.result.latency_ms.p99.max(0.01);
    let lo = 0.01;
    let hi = 10f64.powf(
        search
            .steps
            .iter()
            .map(p99)
            .fold(search.max_p99_ms * 2.0, f64::max)
            .log10()
            .ceil(),
    );
    latency_grid(&mut out, (x0, y0, pw, ph), lo, hi);
    let yb = y0 + ph - log_pos(search.max_p99_ms, lo, hi) * ph;
    let _ = write!(
        out,
        r##"<line x1="{x0}" x2="{}" y1="{yb:.1}" y2="{yb:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" fill="#c00" text-anchor="end">p99 bound</text>"##,
        x0 + pw,
        x0 + pw,
        yb - 4.0
    );
    for step in &search.steps {
        let x = x0 + log_pos(step.rate, rlo, rhi) * pw;
        let y = y0 + ph - log_pos(p99(step), lo, hi) * ph;
        let color = if step.sustained { "#2a9d4b" } else { "#c0392b" };
        let _ = write!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{color}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
            y0 + ph + 16.0,
            fmt_rate(step.rate)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{x0}" y="{}">offered messages/s (log scale); green: sustained, red: not (p99, loss, or rate not reached)</text></svg>"#,
        H - 20.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BenchConfig, Transport};

    #[test]
    fn charts_are_well_formed() {
        let mut r = BenchResult::skeleton(&BenchConfig::new("http://x/", Transport::WebSocket));
        r.latency_ms.p50 = 0.4;
        r.latency_ms.p99 = 3.0;
        r.latency_ms.max = 20.0;
        let svg = run_chart(&r);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 6);
        assert!(svg.contains("3.0 ms"));
        let s = SearchResult {
            search: Default::default(),
            max_p99_ms: 50.0,
            best_rate: None,
            best_deliveries_per_s: None,
            hit_max_rate: false,
            steps: vec![],
        };
        let svg = search_chart(&s);
        assert!(svg.contains("no rate sustained") && svg.ends_with("</svg>"));
    }
}
