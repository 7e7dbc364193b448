//! Who is subscribed to a channel on the other nodes of a cluster.
//!
//! Sessions stay on the node that holds their connection, but some answers are about all of
//! them: generic streaming's push resource reports which targeted users are online and how many
//! of their sessions an event reached, and Salesforce counts those over the whole org. A node
//! answers for its own sessions from its engine and asks the others through this seam; the
//! embedded backend has no others.

use std::collections::HashMap;

use crate::StoreFuture;

/// The sessions subscribed to a channel on the other nodes, per user id.
pub trait RemotePresence: Send + Sync {
    /// Every other node's sessions subscribed to `channel`, counted per user and summed over
    /// the nodes that answered in time (a node that does not answer counts for nothing: the
    /// figure is a report, never a reason to drop an event).
    fn sessions_by_user<'a>(&'a self, channel: &'a str) -> StoreFuture<'a, HashMap<String, usize>>;
}
