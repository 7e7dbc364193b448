//! Tests that run the real `bayou` binary as its users do: `bayou serve` as a child process,
//! driven over HTTP or by the binary's own client commands. One test binary for all of them,
//! so the workspace links one more executable, not three.

mod bench_smoke;
mod cli;
mod cluster;
mod crash;
mod hostile;
mod metrics;
mod serve_process;

/// Held by the tests that load the machine (the hostile suite, the bench smoke tests, the crash
/// test), so that they do not run at the same time and distort each other.
pub static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
