//! Settings for `bayou serve`, merged from flags and `BAYOU_*` variables (both read by clap)
//! over an optional TOML file over defaults.
//!
//! The file uses the same names as the flags, with underscores:
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "./bayou-data"
//! timeout = 110000
//! max_interval = 40000
//! transports = ["websocket", "long-polling"]
//! durability = "sync"
//! retention_interval = "60s"
//! log_format = "json"
//!
//! [[retention]]
//! pattern = "/chat/**"
//! max_age = "48h"
//! max_bytes = 1000000000
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bayou_server::engine::DeliveryAllocation;
use bayou_server::{EngineConfig, TransportKind};
use serde::Deserialize;

use bayou_log::embedded::Durability as LogDurability;
use bayou_log::{EmbeddedOptions, RetentionPolicy, RetentionRule};
use bayou_org::identity::CredentialOverrides;
use bayou_org::{OrgConfig, PublishRule};

use crate::cli::{Allocations, Durability, LogFormat, ServeArgs, Transport};

/// The TOML file's contents; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    timeout: Option<u64>,
    interval: Option<u64>,
    max_interval: Option<u64>,
    max_queue: Option<usize>,
    max_queue_bytes: Option<usize>,
    write_timeout: Option<u64>,
    max_sessions_per_user: Option<usize>,
    max_sessions_per_address: Option<usize>,
    max_subscriptions_per_session: Option<usize>,
    allowed_origins: Option<Vec<String>>,
    header_read_timeout: Option<u64>,
    socket_send_buffer: Option<usize>,
    min_api_version: Option<f64>,
    max_login_failures: Option<u32>,
    login_lockout: Option<u64>,
    max_request_bytes: Option<usize>,
    max_batch_messages: Option<usize>,
    max_messages_per_reply: Option<usize>,
    max_coalesce: Option<u64>,
    transports: Option<Vec<Transport>>,
    durability: Option<Durability>,
    retention: Option<Vec<FileRetention>>,
    retention_interval: Option<String>,
    anonymous: Option<bool>,
    session_timeout: Option<String>,
    public_url: Option<String>,
    bayeux_publish: Option<Vec<FilePublishRule>>,
    users: Option<Vec<FileUser>>,
    admin_token: Option<String>,
    metrics_token: Option<String>,
    allocations: Option<Allocations>,
    max_clients: Option<usize>,
    max_push_topics: Option<usize>,
    max_streaming_channels: Option<usize>,
    max_daily_topic_events: Option<u64>,
    max_daily_generic_events: Option<u64>,
    max_daily_platform_events: Option<u64>,
    dynamic_channels: Option<bool>,
    cdc_entities: Option<Vec<String>>,
    platform_events: Option<Vec<bayou_org::events::EventType>>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    cluster: Option<Vec<String>>,
    cluster_credentials: Option<PathBuf>,
    cluster_token: Option<String>,
    cluster_tls_ca: Option<PathBuf>,
    cluster_tls: Option<bool>,
    cluster_replicas: Option<usize>,
    cluster_prefix: Option<String>,
    node_id: Option<String>,
    pubsub_listen: Option<String>,
    pubsub_plaintext: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    pubsub_keepalive: Option<String>,
    pubsub_idle_timeout: Option<String>,
}

/// A `[[bayeux_publish]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePublishRule {
    pattern: String,
    allow: bool,
}

/// A `[[users]]` table: one more user of the org.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    username: String,
    password: String,
}

/// A `[[retention]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    pattern: String,
    max_age: String,
    max_bytes: Option<u64>,
}

/// Everything `serve` needs, resolved.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub engine: EngineConfig,
    pub event_log: EmbeddedOptions,
    pub org: OrgConfig,
    pub credentials: CredentialOverrides,
    pub admin_token: Option<String>,
    /// What `/metrics` requires as a bearer token; `None`: open.
    pub metrics_token: Option<String>,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Where the cluster's NATS is, when this is a node of one; `None`: the embedded backend.
    pub cluster: Option<bayou_cluster::ClusterOptions>,
    /// The Pub/Sub API; `None`: not served.
    pub pubsub: Option<PubSubSettings>,
}

/// How the Pub/Sub API is served.
#[derive(Debug, Clone)]
pub struct PubSubSettings {
    pub listen: SocketAddr,
    /// Plaintext HTTP/2 instead of TLS.
    pub plaintext: bool,
    /// The certificate and key; `None`: self-signed, in the data directory.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub config: bayou_pubsub::PubSubConfig,
}

impl Settings {
    /// Each part of the settings is resolved on its own (flag, then file, then default), in
    /// the order their errors are reported.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let limits = Limits::resolve(&args, &file);
        let engine = engine_config(&args, &file, &limits)?;
        let event_log = log_options(&args, &file)?;
        let org = org_config(&args, &file, &limits)?;
        let credentials = credentials(&args, &file);
        let cluster = cluster_options(&args, &file, &event_log, &org)?;
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let pubsub = pubsub_settings(&args, &file, listen)?;
        Ok(Self {
            cluster,
            pubsub,
            admin_token: args.admin_token.or(file.admin_token),
            metrics_token: args
                .metrics_token
                .or(file.metrics_token)
                .filter(|t| !t.is_empty()),
            event_log,
            org,
            credentials,
            listen,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("bayou-data")),
            engine,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log_filter: args.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
        })
    }
}

/// Where and how the Pub/Sub API is served: by default beside the Bayeux endpoint on port
/// 7443 (Salesforce's), or on an ephemeral port when the Bayeux endpoint asked for one (tests
/// and scripts that run several servers at once).
fn pubsub_settings(
    args: &ServeArgs,
    file: &FileSettings,
    listen: SocketAddr,
) -> anyhow::Result<Option<PubSubSettings>> {
    let chosen = args
        .pubsub_listen
        .clone()
        .or_else(|| file.pubsub_listen.clone());
    let address = match chosen.as_deref().map(str::trim) {
        Some("off") => return Ok(None),
        Some(text) => text.parse::<SocketAddr>().map_err(|_| {
            anyhow::anyhow!("pubsub_listen {text:?} is not an address (HOST:PORT) or off")
        })?,
        None if listen.port() == 0 => SocketAddr::new(listen.ip(), 0),
        None => SocketAddr::new(listen.ip(), 7443),
    };
    let tls = match (
        args.tls_cert.clone().or_else(|| file.tls_cert.clone()),
        args.tls_key.clone().or_else(|| file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => anyhow::bail!("tls_cert and tls_key go together: give both or neither"),
    };
    let mut config = bayou_pubsub::PubSubConfig::default();
    if let Some(text) = args
        .pubsub_keepalive
        .clone()
        .or_else(|| file.pubsub_keepalive.clone())
    {
        config.keepalive = parse_duration(&text)?;
    }
    if let Some(text) = args
        .pubsub_idle_timeout
        .clone()
        .or_else(|| file.pubsub_idle_timeout.clone())
    {
        config.idle_timeout = parse_duration(&text)?;
    }
    if config.keepalive.is_zero() || config.idle_timeout.is_zero() {
        anyhow::bail!("pubsub_keepalive and pubsub_idle_timeout must be longer than zero");
    }
    Ok(Some(PubSubSettings {
        listen: address,
        plaintext: args.pubsub_plaintext || file.pubsub_plaintext.unwrap_or(false),
        tls,
        config,
    }))
}

/// The cluster's settings, when `cluster` names NATS servers.
fn cluster_options(
    args: &ServeArgs,
    file: &FileSettings,
    event_log: &EmbeddedOptions,
    org: &OrgConfig,
) -> anyhow::Result<Option<bayou_cluster::ClusterOptions>> {
    let servers = args
        .cluster
        .clone()
        .or_else(|| file.cluster.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    if servers.is_empty() {
        return Ok(None);
    }
    let mut options = bayou_cluster::ClusterOptions::new(servers);
    options.credentials_file = args
        .cluster_credentials
        .clone()
        .or_else(|| file.cluster_credentials.clone());
    options.token = args
        .cluster_token
        .clone()
        .or_else(|| file.cluster_token.clone())
        .filter(|t| !t.is_empty());
    options.tls_ca_file = args
        .cluster_tls_ca
        .clone()
        .or_else(|| file.cluster_tls_ca.clone());
    options.tls_required = args.cluster_tls || file.cluster_tls.unwrap_or(false);
    options.replicas = args.cluster_replicas.or(file.cluster_replicas);
    if options.replicas.is_some_and(|r| !(1..=5).contains(&r)) {
        anyhow::bail!("cluster_replicas must be between 1 and 5 (JetStream's range)");
    }
    if let Some(prefix) = args
        .cluster_prefix
        .clone()
        .or_else(|| file.cluster_prefix.clone())
    {
        bayou_cluster::subjects::Names::new(&prefix)?;
        options.prefix = prefix;
    }
    if let Some(node) = args.node_id.clone().or_else(|| file.node_id.clone()) {
        options.node_id = node;
    }
    options.retention = event_log.retention.clone();
    options.token_idle_timeout = org.session_timeout;
    Ok(Some(options))
}

/// Allocations (Salesforce's word for limits): none by default, Salesforce's Developer
/// Edition figures with `allocations = "salesforce"`, each overridable on its own.
struct Limits {
    max_sessions: Option<usize>,
    max_push_topics: Option<usize>,
    max_streaming_channels: Option<usize>,
    delivery_allocations: Vec<DeliveryAllocation>,
}

impl Limits {
    fn resolve(args: &ServeArgs, file: &FileSettings) -> Self {
        // Salesforce's Developer Edition allocations, when asked for.
        // (Free orgs: 10,000 deliveries a day of each kind, 200 channels.)
        let salesforce = matches!(
            args.allocations.or(file.allocations),
            Some(Allocations::Salesforce)
        );
        let profile = |value: u64| salesforce.then_some(value);
        let max_sessions = args
            .max_clients
            .or(file.max_clients)
            .or(profile(20).map(|v| v as usize));
        let max_push_topics = args
            .max_push_topics
            .or(file.max_push_topics)
            .or(profile(40).map(|v| v as usize));
        let max_streaming_channels = args
            .max_streaming_channels
            .or(file.max_streaming_channels)
            .or(profile(200).map(|v| v as usize));
        let daily = |name: &str, patterns: &[&str], flag: Option<u64>, file: Option<u64>| {
            flag.or(file)
                .or(profile(10_000))
                .map(|per_day| DeliveryAllocation {
                    name: name.to_owned(),
                    patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
                    per_day,
                })
        };
        let delivery_allocations = [
            daily(
                "PushTopic",
                &["/topic/**"],
                args.max_daily_topic_events,
                file.max_daily_topic_events,
            ),
            daily(
                "GenericStreaming",
                &["/u/**"],
                args.max_daily_generic_events,
                file.max_daily_generic_events,
            ),
            daily(
                "PlatformAndChangeEvents",
                &["/event/**", "/data/**"],
                args.max_daily_platform_events,
                file.max_daily_platform_events,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        Self {
            max_sessions,
            max_push_topics,
            max_streaming_channels,
            delivery_allocations,
        }
    }
}

/// The engine: transports, CometD's timing knobs and queue bounds, checked for values that
/// would make it unusable.
fn engine_config(
    args: &ServeArgs,
    file: &FileSettings,
    limits: &Limits,
) -> anyhow::Result<EngineConfig> {
    let defaults = EngineConfig::default();
    let ms = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file).map(Duration::from_millis).unwrap_or(default)
    };
    let transports: Vec<TransportKind> = args
        .transports
        .clone()
        .or_else(|| file.transports.clone())
        .map(|list| list.into_iter().map(transport_kind).collect())
        .unwrap_or(defaults.transports.clone());
    if transports.is_empty() {
        anyhow::bail!("at least one transport must be enabled");
    }
    let engine = EngineConfig {
        timeout: ms(args.timeout, file.timeout, defaults.timeout),
        interval: ms(args.interval, file.interval, defaults.interval),
        max_interval: ms(args.max_interval, file.max_interval, defaults.max_interval),
        max_queue: args
            .max_queue
            .or(file.max_queue)
            .unwrap_or(defaults.max_queue),
        max_request_bytes: args
            .max_request_bytes
            .or(file.max_request_bytes)
            .unwrap_or(defaults.max_request_bytes),
        max_batch_messages: args
            .max_batch_messages
            .or(file.max_batch_messages)
            .unwrap_or(defaults.max_batch_messages),
        max_messages_per_reply: args
            .max_messages_per_reply
            .or(file.max_messages_per_reply)
            .unwrap_or(defaults.max_messages_per_reply),
        max_coalesce: ms(args.max_coalesce, file.max_coalesce, defaults.max_coalesce),
        transports,
        secure_cookies: false,
        max_sessions: limits.max_sessions,
        delivery_allocations: limits.delivery_allocations.clone(),
        max_queue_bytes: args
            .max_queue_bytes
            .or(file.max_queue_bytes)
            .unwrap_or(defaults.max_queue_bytes),
        write_timeout: ms(
            args.write_timeout,
            file.write_timeout,
            defaults.write_timeout,
        ),
        // 0 turns the per-user limit off.
        max_sessions_per_user: match args.max_sessions_per_user.or(file.max_sessions_per_user) {
            Some(0) => None,
            Some(max) => Some(max),
            None => defaults.max_sessions_per_user,
        },
        max_sessions_per_address: args
            .max_sessions_per_address
            .or(file.max_sessions_per_address)
            .or(defaults.max_sessions_per_address),
        max_subscriptions_per_session: args
            .max_subscriptions_per_session
            .or(file.max_subscriptions_per_session)
            .unwrap_or(defaults.max_subscriptions_per_session),
        allowed_origins: args
            .allowed_origins
            .clone()
            .or_else(|| file.allowed_origins.clone())
            .unwrap_or_default(),
        header_read_timeout: ms(
            args.header_read_timeout,
            file.header_read_timeout,
            defaults.header_read_timeout,
        ),
        socket_send_buffer: args
            .socket_send_buffer
            .or(file.socket_send_buffer)
            .unwrap_or(defaults.socket_send_buffer),
        min_api_version: args
            .min_api_version
            .or(file.min_api_version)
            .unwrap_or(defaults.min_api_version),
    };
    let (oldest, current) = (
        bayou_protocol::api_version::OLDEST,
        bayou_protocol::errors::CURRENT_API_VERSION_NUMBER,
    );
    if !(oldest..=current).contains(&engine.min_api_version) {
        anyhow::bail!(
            "min_api_version must be between {oldest:.1} and {current:.1} (got {})",
            engine.min_api_version
        );
    }
    for (name, value) in [
        ("max_queue", engine.max_queue),
        ("max_queue_bytes", engine.max_queue_bytes),
        (
            "max_subscriptions_per_session",
            engine.max_subscriptions_per_session,
        ),
        ("max_request_bytes", engine.max_request_bytes),
        ("max_batch_messages", engine.max_batch_messages),
        ("max_messages_per_reply", engine.max_messages_per_reply),
    ] {
        if value == 0 {
            anyhow::bail!("{name} must be at least 1");
        }
    }
    if engine.max_coalesce > Duration::from_secs(1) {
        anyhow::bail!("max_coalesce must be at most 1000 ms (it delays deliveries under load)");
    }
    if engine.timeout.is_zero() || engine.max_interval.is_zero() {
        anyhow::bail!("timeout and max_interval must be more than 0 ms");
    }
    Ok(engine)
}

/// The event log: durability and retention (the rules given first, then the defaults).
fn log_options(args: &ServeArgs, file: &FileSettings) -> anyhow::Result<EmbeddedOptions> {
    let mut rules = match (&args.retention, &file.retention) {
        (Some(flags), _) => flags
            .iter()
            .map(|r| parse_retention_flag(r))
            .collect::<anyhow::Result<Vec<_>>>()?,
        (None, Some(tables)) => tables
            .iter()
            .map(|t| retention_rule(&t.pattern, &t.max_age, t.max_bytes))
            .collect::<anyhow::Result<Vec<_>>>()?,
        (None, None) => Vec::new(),
    };
    rules.extend(RetentionPolicy::default().rules().iter().cloned());
    let retention_interval = match args
        .retention_interval
        .as_ref()
        .or(file.retention_interval.as_ref())
    {
        Some(text) => parse_duration(text)?,
        None => Duration::from_secs(60),
    };
    if retention_interval.is_zero() {
        anyhow::bail!("retention_interval must be more than 0");
    }
    let durability = match args.durability.or(file.durability) {
        Some(Durability::Relaxed) => LogDurability::Relaxed,
        Some(Durability::Sync) | None => LogDurability::Sync,
    };
    Ok(EmbeddedOptions {
        durability,
        retention: RetentionPolicy::new(rules),
        retention_interval,
        ..EmbeddedOptions::default()
    })
}

/// The org: sessions and who may log in or publish what, channels, CDC and platform events.
fn org_config(args: &ServeArgs, file: &FileSettings, limits: &Limits) -> anyhow::Result<OrgConfig> {
    let defaults = OrgConfig::default();
    let session_timeout = match args
        .session_timeout
        .as_ref()
        .or(file.session_timeout.as_ref())
    {
        Some(text) => parse_duration(text)?,
        None => OrgConfig::default().session_timeout,
    };
    let publish_rules = match (&args.bayeux_publish, &file.bayeux_publish) {
        (Some(flags), _) => flags
            .iter()
            .map(|r| parse_publish_flag(r))
            .collect::<anyhow::Result<Vec<_>>>()?,
        (None, Some(tables)) => tables
            .iter()
            .map(|t| publish_rule(&t.pattern, t.allow))
            .collect::<anyhow::Result<Vec<_>>>()?,
        (None, None) => Vec::new(),
    };
    Ok(OrgConfig {
        session_timeout,
        allow_anonymous: args.anonymous || file.anonymous.unwrap_or(false),
        public_url: args.public_url.clone().or_else(|| file.public_url.clone()),
        publish_rules,
        platform_events: file.platform_events.clone().unwrap_or_default(),
        max_push_topics: limits.max_push_topics,
        max_streaming_channels: limits.max_streaming_channels,
        dynamic_channels: args.dynamic_channels || file.dynamic_channels.unwrap_or(false),
        cdc_entities: args
            .cdc_entities
            .clone()
            .or_else(|| file.cdc_entities.clone())
            .unwrap_or_default(),
        max_login_failures: args
            .max_login_failures
            .or(file.max_login_failures)
            .unwrap_or(defaults.max_login_failures)
            .max(1),
        login_lockout: args
            .login_lockout
            .or(file.login_lockout)
            .map_or(defaults.login_lockout, Duration::from_secs),
    })
}

/// The dev org's credentials: flags override the generated ones; the file adds users.
fn credentials(args: &ServeArgs, file: &FileSettings) -> CredentialOverrides {
    CredentialOverrides {
        username: args.username.clone(),
        password: args.password.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        extra_users: file
            .users
            .iter()
            .flatten()
            .map(|u| (u.username.clone(), u.password.clone()))
            .collect(),
    }
}

/// Reads `PATTERN=allow|deny`.
fn parse_publish_flag(text: &str) -> anyhow::Result<PublishRule> {
    let (pattern, verdict) = text
        .split_once('=')
        .with_context(|| format!("publish rule {text:?} must look like PATTERN=allow|deny"))?;
    let allow = match verdict {
        "allow" => true,
        "deny" => false,
        other => anyhow::bail!("publish rule {text:?}: {other:?} is neither allow nor deny"),
    };
    publish_rule(pattern, allow)
}

fn publish_rule(pattern: &str, allow: bool) -> anyhow::Result<PublishRule> {
    let pattern = bayou_protocol::ChannelName::parse(pattern)
        .map_err(|e| anyhow::anyhow!("invalid publish rule pattern {pattern:?}: {e}"))?;
    Ok(PublishRule { pattern, allow })
}

/// Reads `PATTERN=AGE[:MAX_BYTES]`.
fn parse_retention_flag(text: &str) -> anyhow::Result<RetentionRule> {
    let (pattern, rest) = text.split_once('=').with_context(|| {
        format!("retention rule {text:?} must look like PATTERN=AGE[:MAX_BYTES]")
    })?;
    let (age, max_bytes) = match rest.split_once(':') {
        Some((age, bytes)) => {
            let bytes = bytes.parse::<u64>().with_context(|| {
                format!("invalid byte limit {bytes:?} in retention rule {text:?}")
            })?;
            (age, Some(bytes))
        }
        None => (rest, None),
    };
    retention_rule(pattern, age, max_bytes)
}

fn retention_rule(
    pattern: &str,
    age: &str,
    max_bytes: Option<u64>,
) -> anyhow::Result<RetentionRule> {
    let mut rule = RetentionRule::new(pattern, parse_duration(age)?)
        .map_err(|e| anyhow::anyhow!("invalid retention pattern {pattern:?}: {e}"))?;
    rule.max_bytes = max_bytes;
    Ok(rule)
}

/// Reads durations such as `500ms`, `90s`, `30m`, `24h`, `3d`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .with_context(|| format!("duration {text:?} needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("duration {text:?} must start with a whole number"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => anyhow::bail!("unknown unit {other:?} in duration {text:?}: use ms, s, m, h or d"),
    };
    Ok(Duration::from_millis(n.saturating_mul(millis)))
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn transport_kind(t: Transport) -> TransportKind {
    match t {
        Transport::LongPolling => TransportKind::LongPolling,
        Transport::Websocket => TransportKind::WebSocket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(argv: &[&str]) -> ServeArgs {
        let mut full = vec!["bayou", "serve"];
        full.extend_from_slice(argv);
        let Command::Serve(args) = Cli::parse_from(full).command else {
            panic!("not a serve command");
        };
        *args
    }

    #[test]
    fn defaults_are_salesforce_values() {
        let s = Settings::resolve(args(&[])).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("bayou-data"));
        assert_eq!(s.engine.timeout, Duration::from_secs(110));
        assert_eq!(s.engine.max_interval, Duration::from_secs(40));
        assert_eq!(s.engine.max_request_bytes, 32_768);
        assert_eq!(s.engine.max_coalesce, Duration::from_millis(10));
    }

    #[test]
    fn the_pubsub_api_has_salesforces_timings_and_its_own_flags() {
        let s = Settings::resolve(args(&[])).unwrap();
        let pubsub = s.pubsub.unwrap();
        assert_eq!(pubsub.listen.to_string(), "127.0.0.1:7443");
        assert_eq!(pubsub.config.keepalive, Duration::from_secs(270));
        assert_eq!(pubsub.config.idle_timeout, Duration::from_secs(60));
        assert!(!pubsub.plaintext && pubsub.tls.is_none());
        let s = Settings::resolve(args(&[
            "--pubsub-keepalive",
            "2s",
            "--pubsub-idle-timeout",
            "90s",
            "--pubsub-plaintext",
            "--pubsub-listen",
            "127.0.0.1:17443",
        ]))
        .unwrap();
        let pubsub = s.pubsub.unwrap();
        assert_eq!(pubsub.listen.to_string(), "127.0.0.1:17443");
        assert_eq!(pubsub.config.keepalive, Duration::from_secs(2));
        assert_eq!(pubsub.config.idle_timeout, Duration::from_secs(90));
        assert!(pubsub.plaintext);
        assert!(Settings::resolve(args(&["--pubsub-listen", "off"]))
            .unwrap()
            .pubsub
            .is_none());
        let half = Settings::resolve(args(&["--tls-cert", "cert.pem"])).unwrap_err();
        assert!(half.to_string().contains("give both or neither"), "{half}");
        let zero = Settings::resolve(args(&["--pubsub-keepalive", "0s"])).unwrap_err();
        assert!(zero.to_string().contains("longer than zero"), "{zero}");
    }

    #[test]
    fn max_coalesce_can_be_turned_off_and_is_bounded() {
        let s = Settings::resolve(args(&["--max-coalesce", "0"])).unwrap();
        assert_eq!(s.engine.max_coalesce, Duration::ZERO);
        let error = Settings::resolve(args(&["--max-coalesce", "5000"])).unwrap_err();
        assert!(error.to_string().contains("max_coalesce"), "{error}");
    }

    #[test]
    fn hardening_limits_have_defaults_flags_and_file_keys() {
        let s = Settings::resolve(args(&[])).unwrap();
        assert_eq!(s.engine.max_queue_bytes, 16 * 1024 * 1024);
        assert_eq!(s.engine.write_timeout, Duration::from_secs(30));
        assert_eq!(s.engine.max_sessions_per_user, Some(2_000));
        assert_eq!(s.engine.max_sessions_per_address, None);
        assert_eq!(s.org.max_login_failures, 10);
        let s = Settings::resolve(args(&[
            "--max-sessions-per-user",
            "0",
            "--max-sessions-per-address",
            "50",
            "--allowed-origins",
            "https://a.example,https://b.example",
            "--login-lockout",
            "60",
        ]))
        .unwrap();
        assert_eq!(s.engine.max_sessions_per_user, None, "0 turns it off");
        assert_eq!(s.engine.max_sessions_per_address, Some(50));
        assert_eq!(
            s.engine.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(s.org.login_lockout, Duration::from_secs(60));

        let dir = std::env::temp_dir().join(format!("bayou-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(
            &file,
            "write_timeout = 500\nmax_queue_bytes = 4096\nmax_subscriptions_per_session = 7\nsocket_send_buffer = 0\nmin_api_version = 23.0\n",
        )
        .unwrap();
        let s = Settings::resolve(args(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(s.engine.socket_send_buffer, 0, "0: the kernel's own sizing");
        assert_eq!(s.engine.min_api_version, 23.0);
        let too_old = Settings::resolve(args(&["--min-api-version", "22.0"]));
        assert!(too_old.is_err_and(|e| e.to_string().contains("between 23.0 and 66.0")));
        assert_eq!(s.engine.write_timeout, Duration::from_millis(500));
        assert_eq!(s.engine.max_queue_bytes, 4096);
        assert_eq!(s.engine.max_subscriptions_per_session, 7);
        let error = Settings::resolve(args(&["--max-queue-bytes", "0"])).unwrap_err();
        assert!(error.to_string().contains("max_queue_bytes"), "{error}");
    }

    #[test]
    fn cluster_settings_from_flags_and_file() {
        let s = Settings::resolve(args(&[])).unwrap();
        assert!(s.cluster.is_none(), "the embedded backend by default");
        let s = Settings::resolve(args(&[
            "--cluster",
            "nats://127.0.0.1:4222, nats://127.0.0.1:4223",
            "--cluster-prefix",
            "org-a",
            "--node-id",
            "n1",
            "--session-timeout",
            "30m",
        ]))
        .unwrap();
        let cluster = s.cluster.unwrap();
        assert_eq!(
            cluster.servers,
            ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
        );
        assert_eq!(
            (cluster.prefix.as_str(), cluster.node_id.as_str()),
            ("org-a", "n1")
        );
        assert_eq!(
            cluster.replicas, None,
            "chosen from the NATS cluster's size"
        );
        assert_eq!(cluster.token_idle_timeout, Duration::from_secs(1_800));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bayou.toml");
        std::fs::write(
            &file,
            "cluster = [\"tls://nats.example:4222\"]\ncluster_replicas = 3\ncluster_tls = true\ncluster_token = \"t\"\n",
        )
        .unwrap();
        let cluster = Settings::resolve(args(&["--config", file.to_str().unwrap()]))
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(cluster.servers, ["tls://nats.example:4222"]);
        assert_eq!(cluster.replicas, Some(3));
        assert!(cluster.tls_required);
        assert_eq!(cluster.token.as_deref(), Some("t"));

        let bad_prefix = Settings::resolve(args(&[
            "--cluster",
            "nats://x:1",
            "--cluster-prefix",
            "a.b",
        ]));
        assert!(bad_prefix.is_err_and(|e| e.to_string().contains("cluster prefix")));
        let bad_replicas = Settings::resolve(args(&[
            "--cluster",
            "nats://x:1",
            "--cluster-replicas",
            "7",
        ]));
        assert!(bad_replicas.is_err_and(|e| e.to_string().contains("between 1 and 5")));
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("bayou-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(
            &file,
            "timeout = 5000\nmax_interval = 7000\ntransports = [\"long-polling\"]\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let s = Settings::resolve(args(&["--config", path, "--timeout", "9000"])).unwrap();
        assert_eq!(s.engine.timeout, Duration::from_millis(9000));
        assert_eq!(s.engine.max_interval, Duration::from_millis(7000));
        assert_eq!(s.engine.transports, vec![TransportKind::LongPolling]);
    }

    #[test]
    fn retention_rules_from_flags_and_file_go_before_the_defaults() {
        let s = Settings::resolve(args(&["--retention", "/chat/**=48h,/logs/*=7d:1000"])).unwrap();
        let rules = s.event_log.retention.rules();
        assert_eq!(rules[0].pattern.as_str(), "/chat/**");
        assert_eq!(rules[0].max_age, Duration::from_secs(48 * 3600));
        assert_eq!(rules[1].max_bytes, Some(1000));
        assert_eq!(
            s.event_log.retention.rule_for("/event/X__e").max_age,
            Duration::from_secs(72 * 3600)
        );

        let dir = std::env::temp_dir().join(format!("bayou-settings-ret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(
            &file,
            "durability = \"relaxed\"\n[[retention]]\npattern = \"/x/*\"\nmax_age = \"90m\"\n",
        )
        .unwrap();
        let s = Settings::resolve(args(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(
            s.event_log.retention.rule_for("/x/y").max_age,
            Duration::from_secs(90 * 60)
        );
        assert_eq!(s.event_log.durability, LogDurability::Relaxed);
    }

    #[test]
    fn publish_rules_and_users_from_flags_and_file() {
        let s =
            Settings::resolve(args(&["--bayeux-publish", "/u/**=allow,/chat/**=deny"])).unwrap();
        assert_eq!(s.org.publish_rules.len(), 2);
        assert!(s.org.publish_rules[0].allow && !s.org.publish_rules[1].allow);
        assert!(Settings::resolve(args(&["--bayeux-publish", "/u/**=maybe"])).is_err());

        let dir = std::env::temp_dir().join(format!("bayou-settings-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(
            &file,
            "[[users]]\nusername = \"ops@example.com\"\npassword = \"pw\"\n[[bayeux_publish]]\npattern = \"/event/**\"\nallow = true\n",
        )
        .unwrap();
        let s = Settings::resolve(args(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(
            s.credentials.extra_users,
            vec![("ops@example.com".to_owned(), "pw".to_owned())]
        );
        assert_eq!(s.org.publish_rules[0].pattern.as_str(), "/event/**");
    }

    #[test]
    fn the_salesforce_allocation_profile() {
        let s = Settings::resolve(args(&["--allocations", "salesforce"])).unwrap();
        assert_eq!(s.engine.max_sessions, Some(20));
        assert_eq!(s.org.max_push_topics, Some(40));
        let s = Settings::resolve(args(&["--allocations", "salesforce", "--max-clients", "5"]))
            .unwrap();
        assert_eq!(s.engine.max_sessions, Some(5));
        let s = Settings::resolve(args(&[])).unwrap();
        assert_eq!((s.engine.max_sessions, s.org.max_push_topics), (None, None));
        assert!(s.engine.delivery_allocations.is_empty());
        assert_eq!(s.org.max_streaming_channels, None);
    }

    #[test]
    fn daily_delivery_allocations_from_the_profile_and_flags() {
        let s = Settings::resolve(args(&[
            "--allocations",
            "salesforce",
            "--max-daily-generic-events",
            "5",
        ]))
        .unwrap();
        assert_eq!(s.org.max_streaming_channels, Some(200));
        let daily: Vec<(&str, u64)> = s
            .engine
            .delivery_allocations
            .iter()
            .map(|a| (a.name.as_str(), a.per_day))
            .collect();
        assert_eq!(
            daily,
            [
                ("PushTopic", 10_000),
                ("GenericStreaming", 5),
                ("PlatformAndChangeEvents", 10_000)
            ]
        );
        assert_eq!(
            s.engine.delivery_allocations[2].patterns,
            ["/event/**", "/data/**"]
        );
        let s = Settings::resolve(args(&["--max-daily-topic-events", "7"])).unwrap();
        assert_eq!(s.engine.delivery_allocations.len(), 1);
        assert_eq!(s.engine.delivery_allocations[0].patterns, ["/topic/**"]);
    }

    #[test]
    fn generic_streaming_and_cdc_settings() {
        let s = Settings::resolve(args(&[
            "--dynamic-channels",
            "--cdc-entities",
            "Account,Invoice__c",
        ]))
        .unwrap();
        assert!(s.org.dynamic_channels);
        assert_eq!(s.org.cdc_entities, ["Account", "Invoice__c"]);
        let s = Settings::resolve(args(&[])).unwrap();
        assert!(!s.org.dynamic_channels && s.org.cdc_entities.is_empty());
    }

    #[test]
    fn platform_events_from_the_file() {
        let dir = std::env::temp_dir().join(format!("bayou-settings-pe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(
            &file,
            "[[platform_events]]\nname = \"Low_Ink__e\"\nfields = { Printer_Model__c = \"text\", Ink_Percentage__c = \"number\" }\n",
        )
        .unwrap();
        let s = Settings::resolve(args(&["--config", file.to_str().unwrap()])).unwrap();
        assert_eq!(s.org.platform_events[0].name, "Low_Ink__e");
        assert_eq!(
            s.org.platform_events[0].fields["Ink_Percentage__c"],
            "number"
        );
    }

    #[test]
    fn bad_durations_and_rules_are_explained() {
        assert!(parse_duration("10")
            .unwrap_err()
            .to_string()
            .contains("needs a unit"));
        assert!(parse_duration("10y")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        let err = Settings::resolve(args(&["--retention", "/chat"])).unwrap_err();
        assert!(err.to_string().contains("PATTERN=AGE"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_an_error() {
        let dir = std::env::temp_dir().join(format!("bayou-settings-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(&file, "timeot = 5000\n").unwrap();
        let err = Settings::resolve(args(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
    }
}
