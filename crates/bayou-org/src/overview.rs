//! What an operator wants to see at a glance, gathered in one place so that the operator view
//! (`GET /admin/overview`, JSON) and Prometheus (`/metrics`) show the same figures: sessions,
//! subscriptions per channel, events published and delivered, the log's size and retention,
//! per-channel delivery latency, allocations used, and the fault injection in force.
//!
//! Counters are totals since start; rates are the difference between two readings (the
//! operator page polls, Prometheus has `rate()`). Gathering takes a few read locks and copies
//! small lists: cheap enough to poll every second, and it never touches the dispatch hot path.

use std::fmt::Write as _;

use bayou_server::engine::{LatencySnapshot, BUCKET_BOUNDS_MS};
use bayou_server::metrics as m;
use bayou_server::Engine;
use serde::Serialize;

use crate::Org;

/// One live session.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub client_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub subscriptions: Vec<String>,
    /// Messages waiting in its queue.
    pub queued: usize,
}

/// How many subscriptions a channel pattern has.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSubscriptions {
    pub channel: String,
    pub subscriptions: usize,
}

/// The log's size.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFigures {
    pub head: u64,
    pub events: u64,
    pub expired: u64,
    pub disk_bytes: u64,
}

/// One retention rule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionFigures {
    pub pattern: String,
    pub max_age_seconds: u64,
    pub max_bytes: Option<u64>,
}

/// One allocation (Salesforce's word for a limit): how much is used of how much.
#[derive(Debug, Clone, Serialize)]
pub struct Allocation {
    /// `concurrentClients`, `pushTopics`, `streamingChannels`, or `dailyDeliveries:<name>` for
    /// each daily delivery allocation.
    pub name: String,
    pub used: u64,
    /// `None`: no limit configured.
    pub max: Option<u64>,
}

/// The delivery latency histograms.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyFigures {
    /// Upper bounds of the buckets, in ms; each channel's `buckets` has one more, for the rest.
    pub bucket_bounds_ms: Vec<u64>,
    pub channels: Vec<LatencySnapshot>,
}

/// Everything on the operator view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// When these figures were read (ms since the epoch), to turn counters into rates.
    pub time_ms: i64,
    pub sessions: Vec<SessionInfo>,
    pub subscriptions: Vec<ChannelSubscriptions>,
    /// Events taken from the log's tail for delivery, since start.
    pub published: u64,
    /// Copies of events handed to sessions, since start.
    pub delivered: u64,
    pub log: LogFigures,
    pub retention: Vec<RetentionFigures>,
    pub allocations: Vec<Allocation>,
    pub delivery_latency: LatencyFigures,
    /// The fault injection delay in force (0: none).
    pub delivery_delay_ms: u64,
}

impl Overview {
    /// Reads the figures now.
    pub fn collect(org: &Org, engine: &Engine) -> Self {
        let identity = org.identity();
        let sessions: Vec<SessionInfo> = engine
            .session_ids()
            .into_iter()
            .filter_map(|id| engine.session(&id))
            .map(|s| {
                let user_id = s.principal().user_id.clone();
                let username = user_id
                    .as_deref()
                    .and_then(|id| identity.user(id))
                    .map(|u| u.username.clone());
                SessionInfo {
                    client_id: s.id().to_owned(),
                    user_id,
                    username,
                    subscriptions: s.subscriptions(),
                    queued: s.queued(),
                }
            })
            .collect();
        drop(identity);
        let stats = engine.log().stats();
        let retention = engine
            .log()
            .retention_rules()
            .into_iter()
            .map(|rule| RetentionFigures {
                pattern: rule.pattern.as_str().to_owned(),
                max_age_seconds: rule.max_age.as_secs(),
                max_bytes: rule.max_bytes,
            })
            .collect();
        let limit = |max: Option<usize>| max.map(|n| n as u64);
        let mut allocations = vec![
            Allocation {
                name: "concurrentClients".into(),
                used: sessions.len() as u64,
                max: limit(engine.config().max_sessions),
            },
            Allocation {
                name: "pushTopics".into(),
                used: org.topics().len() as u64,
                max: limit(org.config.max_push_topics),
            },
            Allocation {
                name: "streamingChannels".into(),
                used: org.streaming_channels().len() as u64,
                max: limit(org.config.max_streaming_channels),
            },
        ];
        allocations.extend(engine.allocation_usage().into_iter().map(|u| Allocation {
            name: format!("dailyDeliveries:{}", u.name),
            used: u.used,
            max: Some(u.per_day),
        }));
        let mut sessions = sessions;
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Self {
            time_ms: bayou_protocol::time::now_millis(),
            sessions,
            subscriptions: engine
                .subscriptions_by_channel()
                .into_iter()
                .map(|(channel, subscriptions)| ChannelSubscriptions {
                    channel,
                    subscriptions,
                })
                .collect(),
            published: engine.stats().dispatched(),
            delivered: engine.stats().enqueued(),
            log: LogFigures {
                head: stats.head,
                events: stats.events,
                expired: stats.expired,
                disk_bytes: stats.disk_bytes,
            },
            retention,
            allocations,
            delivery_latency: LatencyFigures {
                bucket_bounds_ms: BUCKET_BOUNDS_MS.to_vec(),
                channels: engine.stats().latency.snapshot(),
            },
            delivery_delay_ms: u64::try_from(engine.delivery_delay().as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// The figures the `metrics` recorder does not already have, in Prometheus' text format,
    /// to append to its rendering: subscriptions per channel, retention, allocations, the
    /// delivery delay, and the per-channel latency histogram (`le` in seconds, cumulative).
    pub fn prometheus(&self) -> String {
        // Each family is written whole (HELP, TYPE, then its samples), as the format requires.
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            m::CHANNEL_SUBSCRIPTIONS,
            "gauge",
            "Subscriptions, by channel pattern",
        );
        for c in &self.subscriptions {
            let channel = escape(&c.channel);
            let _ = writeln!(
                out,
                "{}{{channel=\"{channel}\"}} {}",
                m::CHANNEL_SUBSCRIPTIONS,
                c.subscriptions
            );
        }
        family(
            &mut out,
            m::RETENTION_SECONDS,
            "gauge",
            "Retention age, by channel pattern",
        );
        for r in &self.retention {
            let pattern = escape(&r.pattern);
            let _ = writeln!(
                out,
                "{}{{pattern=\"{pattern}\"}} {}",
                m::RETENTION_SECONDS,
                r.max_age_seconds
            );
        }
        family(
            &mut out,
            m::RETENTION_BYTES,
            "gauge",
            "Retention size cap, by channel pattern",
        );
        for r in &self.retention {
            if let Some(bytes) = r.max_bytes {
                let pattern = escape(&r.pattern);
                let _ = writeln!(
                    out,
                    "{}{{pattern=\"{pattern}\"}} {bytes}",
                    m::RETENTION_BYTES
                );
            }
        }
        family(
            &mut out,
            m::ALLOCATION_USED,
            "gauge",
            "Allocation used, by allocation",
        );
        for a in &self.allocations {
            let _ = writeln!(
                out,
                "{}{{allocation=\"{}\"}} {}",
                m::ALLOCATION_USED,
                escape(&a.name),
                a.used
            );
        }
        family(
            &mut out,
            m::ALLOCATION_MAX,
            "gauge",
            "Allocation limit, by allocation",
        );
        for a in &self.allocations {
            if let Some(max) = a.max {
                let _ = writeln!(
                    out,
                    "{}{{allocation=\"{}\"}} {max}",
                    m::ALLOCATION_MAX,
                    escape(&a.name)
                );
            }
        }
        family(
            &mut out,
            m::DELIVERY_DELAY,
            "gauge",
            "Injected delivery delay in seconds",
        );
        let _ = writeln!(
            out,
            "{} {}",
            m::DELIVERY_DELAY,
            self.delivery_delay_ms as f64 / 1_000.0
        );
        family(
            &mut out,
            m::DELIVERY_LATENCY,
            "histogram",
            "Seconds from an event stored to it queued for its subscribers, by channel",
        );
        for c in &self.delivery_latency.channels {
            let channel = escape(&c.channel);
            let mut cumulative = 0;
            for (i, n) in c.buckets.iter().enumerate() {
                cumulative += n;
                let le = match BUCKET_BOUNDS_MS.get(i) {
                    Some(ms) => (*ms as f64 / 1_000.0).to_string(),
                    None => "+Inf".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{}_bucket{{channel=\"{channel}\",le=\"{le}\"}} {cumulative}",
                    m::DELIVERY_LATENCY
                );
            }
            let sum = c.sum_ms as f64 / 1_000.0;
            let _ = writeln!(
                out,
                "{}_sum{{channel=\"{channel}\"}} {sum}",
                m::DELIVERY_LATENCY
            );
            let _ = writeln!(
                out,
                "{}_count{{channel=\"{channel}\"}} {}",
                m::DELIVERY_LATENCY,
                c.count
            );
        }
        out
    }
}

/// A label value in Prometheus' text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"/a"b\c"#), r#"/a\"b\\c"#);
    }
}
