//! The log's background threads (expiry, the relaxed journal's sync): each runs its work every
//! interval for as long as the log lives, and stops when the log is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Inner;
use crate::LogError;

/// Stops its thread when dropped.
pub(super) struct Handle {
    _stop: std::sync::mpsc::Sender<()>,
}

/// Runs `work` on a thread named `name` every `interval` until the log (`inner`) is dropped
/// or the handle is.
pub(super) fn spawn(
    name: &str,
    inner: Weak<Inner>,
    interval: Duration,
    work: impl Fn(&Arc<Inner>) + Send + 'static,
) -> Result<Handle, LogError> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || loop {
            match stopped.recv_timeout(interval) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let Some(inner) = inner.upgrade() else { return };
            work(&inner);
        })
        .map_err(|e| LogError::Storage(format!("cannot start {name}: {e}")))?;
    Ok(Handle { _stop: stop })
}
