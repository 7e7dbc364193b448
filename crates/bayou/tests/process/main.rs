//! Tests that run the real `bayou` binary as its users do: `bayou serve` as a child process,
//! driven over HTTP or by the binary's own client commands. One test binary for all of them,
//! so the workspace links one more executable, not three.

mod bench_smoke;
mod cli;
mod crash;
mod metrics;
mod serve_process;
