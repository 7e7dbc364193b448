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
//! log_format = "json"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bayou_server::{EngineConfig, TransportKind};
use serde::Deserialize;

use crate::cli::{LogFormat, ServeArgs, Transport};

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
    max_request_bytes: Option<usize>,
    max_batch_messages: Option<usize>,
    max_messages_per_reply: Option<usize>,
    transports: Option<Vec<Transport>>,
    log_format: Option<LogFormat>,
    log: Option<String>,
}

/// Everything `serve` needs, resolved.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub engine: EngineConfig,
    pub log_format: LogFormat,
    pub log: String,
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let defaults = EngineConfig::default();
        let ms = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map(Duration::from_millis).unwrap_or(default)
        };
        let transports: Vec<TransportKind> = args
            .transports
            .or(file.transports)
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
            transports,
            secure_cookies: false,
        };
        for (name, value) in [
            ("max_queue", engine.max_queue),
            ("max_request_bytes", engine.max_request_bytes),
            ("max_batch_messages", engine.max_batch_messages),
            ("max_messages_per_reply", engine.max_messages_per_reply),
        ] {
            if value == 0 {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        if engine.timeout.is_zero() || engine.max_interval.is_zero() {
            anyhow::bail!("timeout and max_interval must be more than 0 ms");
        }
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("bayou-data")),
            engine,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log: args.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
        })
    }
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
        match Cli::parse_from(full).command {
            Command::Serve(args) => args,
        }
    }

    #[test]
    fn defaults_are_salesforce_values() {
        let s = Settings::resolve(args(&[])).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("bayou-data"));
        assert_eq!(s.engine.timeout, Duration::from_secs(110));
        assert_eq!(s.engine.max_interval, Duration::from_secs(40));
        assert_eq!(s.engine.max_request_bytes, 32_768);
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
    fn unknown_file_keys_are_an_error() {
        let dir = std::env::temp_dir().join(format!("bayou-settings-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bayou.toml");
        std::fs::write(&file, "timeot = 5000\n").unwrap();
        let err = Settings::resolve(args(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
    }
}
