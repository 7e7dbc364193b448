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

/// Written (held alone) by the tests that load the machine or measure how it responds (the
/// hostile suite, the bench smoke tests, the crash test, the cluster tests); read (shared) by
/// every other test that starts a server. So a test whose bounds depend on having the two cores
/// never shares them with another server starting up or being driven, while the light tests
/// still run side by side.
pub static EXCLUSIVE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
