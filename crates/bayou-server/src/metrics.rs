//! Metric names, in one place so the dashboard, `/metrics` and the docs agree.
//!
//! Counters are incremented once per request or per publish (a fan-out adds its subscriber
//! count in one call), never once per delivered copy, to keep the hot path cheap.

/// Live sessions (gauge).
pub const SESSIONS: &str = "bayou_sessions";
/// Sessions ended, by `reason` (counter).
pub const SESSIONS_CLOSED: &str = "bayou_sessions_closed_total";
/// Successful or refused handshakes (counter).
pub const HANDSHAKES: &str = "bayou_handshakes_total";
/// Events published (counter).
pub const PUBLISHED: &str = "bayou_published_total";
/// Events taken from the log's tail and routed to subscribers (counter).
pub const DISPATCHED: &str = "bayou_dispatched_total";
/// Copies of events placed in session queues (counter).
pub const ENQUEUED: &str = "bayou_enqueued_total";
/// Messages received from clients, by `transport` (counter).
pub const MESSAGES_RECEIVED: &str = "bayou_messages_received_total";
/// Messages sent to clients (events and replies), by `transport` (counter).
pub const MESSAGES_SENT: &str = "bayou_messages_sent_total";
/// Requests or frames refused before any message was read, by `reason` (counter).
pub const REQUESTS_REFUSED: &str = "bayou_requests_refused_total";
/// Open WebSocket connections (gauge).
pub const WEBSOCKET_CONNECTIONS: &str = "bayou_websocket_connections";

/// The highest replay id (gauge).
pub const LOG_HEAD: &str = "bayou_log_head";
/// Events retained in the log (gauge).
pub const LOG_EVENTS: &str = "bayou_log_events";
/// Bytes the log takes on disk (gauge).
pub const LOG_DISK_BYTES: &str = "bayou_log_disk_bytes";
/// Events removed by retention (gauge; survives restarts).
pub const LOG_EXPIRED: &str = "bayou_log_expired";
/// A cluster node: 1 while connected to NATS.
pub const CLUSTER_CONNECTED: &str = "bayou_cluster_connected";
/// A cluster node: sequences its tail is behind the stream.
pub const CLUSTER_LAG: &str = "bayou_cluster_lag";
/// A cluster node: nodes whose heartbeat is current.
pub const CLUSTER_NODES: &str = "bayou_cluster_nodes";

// Set from the operator overview (`bayou_org::overview`) each time `/metrics` is scraped.
/// Subscriptions by channel pattern (gauge, label `channel`).
pub const CHANNEL_SUBSCRIPTIONS: &str = "bayou_channel_subscriptions";
/// Retention age by channel pattern, in seconds (gauge, label `pattern`).
pub const RETENTION_SECONDS: &str = "bayou_log_retention_seconds";
/// Retention size cap by channel pattern, in bytes (gauge, label `pattern`).
pub const RETENTION_BYTES: &str = "bayou_log_retention_bytes";
/// Allocation used (gauge, label `allocation`: `concurrentClients`, `pushTopics`).
pub const ALLOCATION_USED: &str = "bayou_allocation_used";
/// Allocation limit, when one is set (gauge, label `allocation`).
pub const ALLOCATION_MAX: &str = "bayou_allocation_max";
/// The injected delivery delay, in seconds (gauge).
pub const DELIVERY_DELAY: &str = "bayou_delivery_delay_seconds";
/// Seconds from an event stored to it queued for its subscribers (histogram, label `channel`).
pub const DELIVERY_LATENCY: &str = "bayou_delivery_latency_seconds";

/// The bucket bounds of [`DELIVERY_LATENCY`] in seconds: the engine's own
/// (`engine::latency::BUCKET_BOUNDS_MS`), so the exporter's buckets count exactly what the
/// engine's do.
pub fn delivery_latency_buckets() -> Vec<f64> {
    crate::engine::BUCKET_BOUNDS_MS
        .iter()
        .map(|ms| *ms as f64 / 1_000.0)
        .collect()
}

/// Sets the log gauges from current stats (call before rendering metrics).
pub fn record_log_stats(stats: &bayou_log::LogStats) {
    metrics::gauge!(LOG_HEAD).set(stats.head as f64);
    metrics::gauge!(LOG_EVENTS).set(stats.events as f64);
    metrics::gauge!(LOG_DISK_BYTES).set(stats.disk_bytes as f64);
    metrics::gauge!(LOG_EXPIRED).set(stats.expired as f64);
}

/// Sets a cluster node's gauges.
pub fn record_node_report(report: &bayou_log::NodeReport) {
    let connected = if report.connection == "connected" {
        1.0
    } else {
        0.0
    };
    metrics::gauge!(CLUSTER_CONNECTED, "node" => report.node_id.clone()).set(connected);
    metrics::gauge!(CLUSTER_LAG, "node" => report.node_id.clone()).set(report.lag as f64);
    metrics::gauge!(CLUSTER_NODES).set(report.nodes.len() as f64);
}

/// Registers descriptions with whatever recorder is installed.
pub fn describe() {
    metrics::describe_gauge!(SESSIONS, "Live Bayeux sessions");
    metrics::describe_counter!(SESSIONS_CLOSED, "Sessions ended, by reason");
    metrics::describe_counter!(HANDSHAKES, "Handshake requests");
    metrics::describe_counter!(PUBLISHED, "Events published");
    metrics::describe_counter!(DISPATCHED, "Events routed from the log tail to subscribers");
    metrics::describe_counter!(ENQUEUED, "Event copies queued for sessions");
    metrics::describe_counter!(MESSAGES_RECEIVED, "Bayeux messages received, by transport");
    metrics::describe_counter!(MESSAGES_SENT, "Bayeux messages sent, by transport");
    metrics::describe_counter!(REQUESTS_REFUSED, "Requests refused whole, by reason");
    metrics::describe_gauge!(WEBSOCKET_CONNECTIONS, "Open WebSocket connections");
    metrics::describe_gauge!(LOG_HEAD, "Highest replay id assigned");
    metrics::describe_gauge!(CLUSTER_CONNECTED, "1 while this node is connected to NATS");
    metrics::describe_gauge!(
        CLUSTER_LAG,
        "Sequences this node's log tail is behind the stream"
    );
    metrics::describe_gauge!(CLUSTER_NODES, "Cluster nodes whose heartbeat is current");
    metrics::describe_gauge!(LOG_EVENTS, "Events retained in the log");
    metrics::describe_gauge!(LOG_DISK_BYTES, "Bytes the event log takes on disk");
    metrics::describe_gauge!(LOG_EXPIRED, "Events removed by retention");
    metrics::describe_gauge!(CHANNEL_SUBSCRIPTIONS, "Subscriptions, by channel pattern");
    metrics::describe_gauge!(RETENTION_SECONDS, "Retention age, by channel pattern");
    metrics::describe_gauge!(RETENTION_BYTES, "Retention size cap, by channel pattern");
    metrics::describe_gauge!(ALLOCATION_USED, "Allocation used, by allocation");
    metrics::describe_gauge!(ALLOCATION_MAX, "Allocation limit, by allocation");
    metrics::describe_gauge!(DELIVERY_DELAY, "Injected delivery delay in seconds");
    metrics::describe_histogram!(
        DELIVERY_LATENCY,
        "Seconds from an event stored to it queued for its subscribers, by channel"
    );
}
