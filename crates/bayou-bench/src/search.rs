//! The highest rate a server sustains: the offered publish rate is doubled while runs stay
//! within bounds, then bisected between the last good and the first bad rate.
//!
//! "Sustained" means: p99 latency within the bound, the offered rate actually published
//! (within 5 %), and nothing lost, duplicated or refused. Each step is a full run with fresh
//! sessions, so one overloaded step cannot poison the next.

use serde::Serialize;

use crate::config::BenchConfig;
use crate::report::BenchResult;
use crate::run::{run, Progress};
use crate::BenchError;

#[derive(Debug, Clone, Serialize)]
pub struct SearchConfig {
    /// The first rate tried, messages/s offered.
    pub start_rate: f64,
    /// Never offer more than this.
    pub max_rate: f64,
    pub max_p99_ms: f64,
    /// Stop bisecting when the bad rate is within this fraction of the good one (0.1 = 10 %).
    pub precision: f64,
    /// At most this many rates tried in all.
    pub max_steps: usize,
    /// Runs at a rate before calling it unsustained, when it failed only on latency: on a
    /// shared machine one scheduling hiccup can put a single run over the bound. Loss,
    /// duplication or an unreached rate are never retried.
    pub attempts: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            start_rate: 100.0,
            max_rate: 1e7,
            max_p99_ms: 50.0,
            precision: 0.1,
            max_steps: 12,
            attempts: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchStep {
    pub rate: f64,
    pub sustained: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// Runs made at this rate (the result is the last one's).
    pub attempts: usize,
    pub result: BenchResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub search: SearchConfig,
    pub max_p99_ms: f64,
    /// The best sustained step's offered rate and delivery rate.
    pub best_rate: Option<f64>,
    pub best_deliveries_per_s: Option<f64>,
    /// Set when the search stopped because it reached `max_rate`, not a failing rate.
    pub hit_max_rate: bool,
    pub steps: Vec<SearchStep>,
}

/// Why a run does not count as sustained, if it does not.
pub fn unsustained_reason(result: &BenchResult, max_p99_ms: f64) -> Option<String> {
    if !result.clean() {
        return Some(format!(
            "lost {}, duplicated {}, publish failures {}, sessions lost {}",
            result.lost, result.duplicated, result.publish_failed, result.sessions_lost
        ));
    }
    if !result.rate_reached() {
        return Some(format!(
            "published {:.0} msg/s of {:.0} offered",
            result.publish_rate,
            result.target_rate.unwrap_or(0.0)
        ));
    }
    if result.latency_ms.count == 0 {
        return Some("no message received".to_owned());
    }
    if result.latency_ms.p99 > max_p99_ms {
        return Some(format!(
            "p99 {:.1} ms > {max_p99_ms} ms",
            result.latency_ms.p99
        ));
    }
    None
}

pub async fn search(
    base: BenchConfig,
    search: SearchConfig,
    progress: &(dyn Fn(&SearchStep) + Send + Sync),
    run_progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<SearchResult, BenchError> {
    let mut steps: Vec<SearchStep> = Vec::new();
    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    let mut rate = search.start_rate.min(search.max_rate);
    let mut hit_max_rate = false;
    // Below this, a publisher would not send one batch in the measured window.
    let floor = (base.publishers * base.batch) as f64 / base.duration.as_secs_f64();
    while steps.len() < search.max_steps {
        let mut attempt = 0;
        let step = loop {
            attempt += 1;
            let mut config = base.clone();
            config.rate = Some(rate);
            let result = run(config, run_progress).await?;
            let reason = unsustained_reason(&result, search.max_p99_ms);
            let latency_only = reason.is_some()
                && result.clean()
                && result.rate_reached()
                && result.latency_ms.count > 0;
            let step = SearchStep {
                rate,
                sustained: reason.is_none(),
                reason,
                attempts: attempt,
                result,
            };
            if step.sustained || !latency_only || attempt >= search.attempts.max(1) {
                break step;
            }
            progress(&step);
        };
        progress(&step);
        if step.sustained {
            good = Some(good.map_or(rate, |g: f64| g.max(rate)));
        } else {
            bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
        }
        steps.push(step);
        rate = match (good, bad) {
            (Some(g), None) if g >= search.max_rate => {
                hit_max_rate = true;
                break;
            }
            (Some(g), None) => (g * 2.0).min(search.max_rate),
            (None, Some(b)) if b / 4.0 < floor => break,
            (None, Some(b)) => b / 4.0,
            (Some(g), Some(b)) if b <= g * (1.0 + search.precision) => break,
            (Some(g), Some(b)) => (g * b).sqrt(),
            (None, None) => break,
        };
    }
    let best = steps
        .iter()
        .filter(|s| s.sustained)
        .max_by(|a, b| a.rate.total_cmp(&b.rate));
    Ok(SearchResult {
        max_p99_ms: search.max_p99_ms,
        best_rate: best.map(|s| s.rate),
        best_deliveries_per_s: best.map(|s| s.result.deliveries_per_s),
        hit_max_rate,
        search,
        steps,
    })
}
