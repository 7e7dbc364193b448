//! Structured logs: human-readable text by default, JSON lines for log collectors.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// The NATS client logs every failed connection attempt as an error of its own; Bayou reports
/// them itself (one line when a node cannot join, a warning per lost connection), so they are
/// silenced unless the filter names the client.
const QUIET_NATS_CONNECTOR: &str = "async_nats::connector=off";

pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let directives = if filter.contains("async_nats") {
        filter.to_owned()
    } else {
        format!("{filter},{QUIET_NATS_CONNECTOR}")
    };
    let filter = EnvFilter::try_new(&directives)
        .map_err(|e| anyhow::anyhow!("invalid log filter {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
