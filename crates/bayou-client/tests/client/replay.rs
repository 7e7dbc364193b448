//! Replay positions: resuming from a durable store across client restarts, and the policies
//! for a replay id the server no longer has.
