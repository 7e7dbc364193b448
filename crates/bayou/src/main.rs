//! `bayou`: the Salesforce Streaming API, self-hosted.
//!
//! `bayou serve` runs the server; `subscribe`, `publish`, `record`, `event` and `push` are
//! clients built on `bayou-client` (see `cmd/`). Settings come from flags, then `BAYOU_*` environment
//! variables, then an optional TOML file, then defaults (see `settings.rs`).

#![forbid(unsafe_code)]

mod admin;
mod cli;
mod cmd;
mod http_policy;
mod logging;
mod serve;
mod settings;
mod web;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the publish path allocates from several threads at once,
/// and glibc's allocator was a large part of the profile there (figures in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(*args),
        cli::Command::Admin(args) => admin::run(args),
        cli::Command::Subscribe(args) => cmd::subscribe::run(*args),
        cli::Command::Publish(args) => cmd::publish::run(*args),
        cli::Command::Record(args) => cmd::rest::record(*args),
        cli::Command::Event(args) => cmd::rest::event(*args),
        cli::Command::Push(args) => cmd::rest::push(*args),
        cli::Command::Bench(args) => cmd::bench::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (plus causes), not a backtrace.
            eprintln!("bayou: {e:#}");
            ExitCode::FAILURE
        }
    }
}
