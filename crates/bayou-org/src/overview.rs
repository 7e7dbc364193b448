//! What an operator wants to see at a glance, gathered in one place so that the operator view
//! (`GET /admin/overview`, JSON) and Prometheus (`/metrics`) show the same figures: sessions,
//! subscriptions per channel, events published and delivered, the log's size and retention,
//! per-channel delivery latency, allocations used, and the fault injection in force.
//!
//! Counters are totals since start; rates are the difference between two readings (the
//! operator page polls, Prometheus has `rate()`). Gathering takes a few read locks and copies
//! small lists: cheap enough to poll every second, and it never touches the dispatch hot path.

use std::collections::{HashMap, HashSet};

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
    /// This node's place in a cluster; absent for a single process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterFigures>,
}

/// A cluster node's figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFigures {
    pub node_id: String,
    /// The NATS connection: `connected`, `disconnected` or `pending`.
    pub nats: String,
    pub server: String,
    pub stream: String,
    pub replicas: usize,
    /// Sequences this node's tail is behind the stream.
    pub lag: u64,
    /// Nodes whose heartbeat is current, with their tail positions.
    pub nodes: Vec<NodeFigures>,
}

/// Another node, as its heartbeat described it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFigures {
    pub node_id: String,
    pub head: u64,
    pub seen_ms: i64,
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
            cluster: engine.log().node_report().map(|node| ClusterFigures {
                node_id: node.node_id,
                nats: node.connection.to_owned(),
                server: node.server,
                stream: node.stream,
                replicas: node.replicas,
                lag: node.lag,
                nodes: node
                    .nodes
                    .into_iter()
                    .map(|n| NodeFigures {
                        node_id: n.node_id,
                        head: n.head,
                        seen_ms: n.seen_ms,
                    })
                    .collect(),
            }),
        }
    }

    /// Hands the figures the `metrics` recorder does not keep by itself to it, just before
    /// `/metrics` is rendered, so Prometheus gets one rendering of everything: subscriptions per
    /// channel, retention, allocations and the delivery delay as gauges, and the per-channel
    /// latency histogram as the exporter's histogram (see [`record_latency`]).
    ///
    /// A gauge, once set, stays in the recorder: a channel whose subscriptions are gone is set
    /// to 0 rather than left at its last value (`scrape` remembers which channels were seen).
    pub fn record_metrics(&self, scrape: &mut ScrapeState) {
        // One series per channel for the most subscribed channels only, the rest summed under
        // `(other)`: a client subscribing to thousands of channels must not grow the scrape
        // (or the recorder, which keeps every series it was given) without bound.
        let mut by_count: Vec<&ChannelSubscriptions> = self.subscriptions.iter().collect();
        by_count.sort_by(|a, b| {
            b.subscriptions
                .cmp(&a.subscriptions)
                .then(a.channel.cmp(&b.channel))
        });
        let (labelled, rest) = by_count.split_at(by_count.len().min(MAX_CHANNEL_SERIES));
        let mut seen = HashSet::with_capacity(labelled.len() + 1);
        for c in labelled {
            metrics::gauge!(m::CHANNEL_SUBSCRIPTIONS, "channel" => c.channel.clone())
                .set(c.subscriptions as f64);
            seen.insert(c.channel.clone());
        }
        let others: usize = rest.iter().map(|c| c.subscriptions).sum();
        metrics::gauge!(m::CHANNEL_SUBSCRIPTIONS, "channel" => OTHER_CHANNELS).set(others as f64);
        seen.insert(OTHER_CHANNELS.to_owned());
        for gone in scrape.channels.difference(&seen) {
            metrics::gauge!(m::CHANNEL_SUBSCRIPTIONS, "channel" => gone.clone()).set(0.0);
        }
        scrape.channels.extend(seen);
        for r in &self.retention {
            metrics::gauge!(m::RETENTION_SECONDS, "pattern" => r.pattern.clone())
                .set(r.max_age_seconds as f64);
            if let Some(bytes) = r.max_bytes {
                metrics::gauge!(m::RETENTION_BYTES, "pattern" => r.pattern.clone())
                    .set(bytes as f64);
            }
        }
        for a in &self.allocations {
            metrics::gauge!(m::ALLOCATION_USED, "allocation" => a.name.clone()).set(a.used as f64);
            if let Some(max) = a.max {
                metrics::gauge!(m::ALLOCATION_MAX, "allocation" => a.name.clone()).set(max as f64);
            }
        }
        metrics::gauge!(m::DELIVERY_DELAY).set(self.delivery_delay_ms as f64 / 1_000.0);
        for channel in &self.delivery_latency.channels {
            let previous = scrape.latency.get(&channel.channel);
            record_latency(channel, previous);
            scrape
                .latency
                .insert(channel.channel.clone(), channel.clone());
        }
    }
}

/// Channels given a series of their own in `/metrics`, most subscribed first.
pub const MAX_CHANNEL_SERIES: usize = 100;

/// The label under which the subscriptions of every other channel are summed.
pub const OTHER_CHANNELS: &str = "(other)";

/// What earlier scrapes recorded: the channels given a subscription gauge, and each channel's
/// latency histogram as last handed to the recorder.
#[derive(Debug, Default)]
pub struct ScrapeState {
    channels: HashSet<String>,
    latency: HashMap<String, LatencySnapshot>,
}

/// Hands the events measured since `previous` to the exporter's histogram for
/// [`m::DELIVERY_LATENCY`], configured with the engine's own bucket bounds
/// ([`m::delivery_latency_buckets`]).
///
/// The engine keeps its histogram itself (atomic counters on the dispatch path, shared with
/// the operator view), so the recorder is fed at scrape time: each bucket's new events are
/// recorded as that many observations inside that bucket. Bucket counts and the count are
/// therefore exactly the engine's; so is the sum, because the values chosen inside each
/// bucket are spread so that they add up to the engine's sum.
fn record_latency(now: &LatencySnapshot, previous: Option<&LatencySnapshot>) {
    let bucket = |s: Option<&LatencySnapshot>, i: usize| {
        s.and_then(|s| s.buckets.get(i)).copied().unwrap_or(0)
    };
    let mut new: Vec<u64> = (0..now.buckets.len())
        .map(|i| bucket(Some(now), i).saturating_sub(bucket(previous, i)))
        .collect();
    let mut sum_ms = now.sum_ms.saturating_sub(previous.map_or(0, |p| p.sum_ms));
    if previous.is_some_and(|p| p.count > now.count) {
        // The engine's histogram was reset: start over from it.
        new.clone_from(&now.buckets);
        sum_ms = now.sum_ms;
    }
    let histogram = metrics::histogram!(m::DELIVERY_LATENCY, "channel" => now.channel.clone());
    for (i, value_ms) in spread(&new, sum_ms).into_iter().enumerate() {
        let n = new.get(i).copied().unwrap_or(0);
        if n > 0 {
            histogram.record_many(value_ms / 1_000.0, usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
}

/// One value (ms) per bucket such that each lies in its bucket (`(previous bound, bound]`,
/// whole milliseconds as the engine measures) and `Σ counts[i] × value[i] = sum_ms` whenever
/// the counts and sum are consistent. Bounded buckets share the slack in proportion to their
/// width; events above the last bound take whatever the others leave.
fn spread(counts: &[u64], sum_ms: u64) -> Vec<f64> {
    let lower = |i: usize| match i {
        0 => 0.0,
        _ => BUCKET_BOUNDS_MS.get(i - 1).map_or(0.0, |b| *b as f64 + 1.0),
    };
    let upper = |i: usize| BUCKET_BOUNDS_MS.get(i).map(|b| *b as f64);
    let sum = sum_ms as f64;
    let min: f64 = (0..counts.len()).map(|i| counts[i] as f64 * lower(i)).sum();
    let last = BUCKET_BOUNDS_MS.len();
    let overflow = counts.get(last).copied().unwrap_or(0);
    if overflow > 0 {
        // Bounded buckets at their lowest; the overflow bucket takes the rest.
        let rest = sum - (min - overflow as f64 * lower(last));
        let above = (rest / overflow as f64).max(lower(last));
        return (0..counts.len())
            .map(|i| if i == last { above } else { lower(i) })
            .collect();
    }
    let max: f64 = (0..counts.len())
        .map(|i| counts[i] as f64 * upper(i).unwrap_or(lower(i)))
        .sum();
    let t = if max > min {
        ((sum - min) / (max - min)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (0..counts.len())
        .map(|i| {
            let (lo, hi) = (lower(i), upper(i).unwrap_or(lower(i)));
            lo + t * (hi - lo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(counts: &[u64], values: &[f64]) -> f64 {
        counts.iter().zip(values).map(|(n, v)| *n as f64 * v).sum()
    }

    fn in_bucket(i: usize, value: f64) -> bool {
        let above_previous = i == 0 || value > BUCKET_BOUNDS_MS[i - 1] as f64;
        let within = BUCKET_BOUNDS_MS.get(i).is_none_or(|b| value <= *b as f64);
        above_previous && within
    }

    #[test]
    fn spread_values_stay_in_their_buckets_and_add_up_to_the_sum() {
        let mut counts = vec![0; BUCKET_BOUNDS_MS.len() + 1];
        // 3 events of 1 ms, 2 of 7 and 9 ms, 1 of 1_503 ms.
        counts[0] = 3;
        counts[3] = 2;
        counts[10] = 1;
        let values = spread(&counts, 3 + 7 + 9 + 1_503);
        for (i, v) in values.iter().enumerate().filter(|(i, _)| counts[*i] > 0) {
            assert!(in_bucket(i, *v), "bucket {i}: {v}");
        }
        assert!((total(&counts, &values) - 1_522.0).abs() < 1e-6);

        // With events above the last bound, those take the rest.
        counts[BUCKET_BOUNDS_MS.len()] = 2;
        let sum = 3 + 7 + 9 + 1_503 + 40_000 + 50_000;
        let values = spread(&counts, sum);
        for (i, v) in values.iter().enumerate().filter(|(i, _)| counts[*i] > 0) {
            assert!(in_bucket(i, *v), "bucket {i}: {v}");
        }
        assert!((total(&counts, &values) - sum as f64).abs() < 1e-6);
    }
}
