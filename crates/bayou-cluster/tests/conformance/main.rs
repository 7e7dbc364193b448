//! One conformance suite, two backends: the behaviour the engine and the org rely on — the
//! log, the records, tokens, counters and positions — checked against the embedded backend
//! and against JetStream (a real `nats-server`), test for test. What only a cluster has (two
//! nodes on one NATS, contention for sequences, atomic batches) is in `cluster.rs`.

mod backend;
mod cluster;
mod log;
mod records;
mod state;
