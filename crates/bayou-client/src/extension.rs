//! Extensions: hooks on every message in and out, in the spirit of faye's extension API
//! (`incoming(message, callback)` / `outgoing(message, callback)`), synchronous here.
//!
//! The client's own replay handling is not an extension, so an extension cannot break it; use
//! one to add `ext` fields a server wants, to log, or to rewrite messages.

use serde_json::Value;

/// A hook on the message pipeline. Both methods default to doing nothing.
///
/// ```
/// use bayou_client::Extension;
/// use serde_json::{json, Value};
///
/// /// Adds an application name to every handshake.
/// struct Tag;
///
/// impl Extension for Tag {
///     fn outgoing(&self, message: &mut Value) {
///         if message["channel"] == "/meta/handshake" {
///             message["ext"]["app"] = json!("inventory-sync");
///         }
///     }
/// }
/// ```
pub trait Extension: Send + Sync + 'static {
    /// Called with each message before it is sent.
    fn outgoing(&self, message: &mut Value) {
        let _ = message;
    }

    /// Called with each message received, before the client acts on it.
    fn incoming(&self, message: &mut Value) {
        let _ = message;
    }
}
