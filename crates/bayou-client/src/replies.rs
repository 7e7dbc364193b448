//! Acting on what the server sends: meta replies drive recovery, events go to the
//! application — once each, in order.

use std::time::Duration;

use bayou_protocol::errors::{self, BayeuxError};
use serde_json::Value;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use crate::error::ClientError;
use crate::event::{replay_id_of, Event};
use crate::event_loop::{EventLoop, Next, Pending, SubState};
use crate::notice::Notice;
use crate::replay::ExpiredReplay;

fn text<'a>(message: &'a Value, field: &str) -> Option<&'a str> {
    message.get(field).and_then(Value::as_str)
}

/// `error`, or the Salesforce failure reason when there is one (it says more).
fn failure_reason(message: &Value) -> String {
    message
        .pointer("/ext/sfdc/failureReason")
        .and_then(Value::as_str)
        .or_else(|| text(message, "error"))
        .unwrap_or("no error given")
        .to_owned()
}

fn reconnect_advice(message: &Value) -> Option<&str> {
    message.pointer("/advice/reconnect").and_then(Value::as_str)
}

fn is_replay_expired(error: &str) -> bool {
    BayeuxError::parse(error).is_some_and(|e| e.is_invalid_replay_id())
}

/// Whether a failure says the credentials are missing, expired or revoked.
fn is_authentication_failure(reason: &str) -> bool {
    BayeuxError::parse(reason).is_some_and(|e| e.is_authentication())
}

impl EventLoop {
    pub(crate) async fn message(&mut self, mut message: Value) -> Option<Next> {
        for extension in &self.config.extensions {
            extension.incoming(&mut message);
        }
        tracing::trace!(%message, "received");
        if self.messages.receiver_count() > 0 {
            let _ = self.messages.send(message.clone());
        }
        let channel = text(&message, "channel").unwrap_or_default().to_owned();
        let id = text(&message, "id").map(str::to_owned);
        // A reply has `successful` and the channel of its request. Delivered events may carry
        // an `id` too (faye forwards the publisher's), which must not be taken for a reply.
        let is_reply = message.get("successful").is_some();
        let pending = match id {
            Some(id) if is_reply && self.reply_matches(&id, &channel) => self.pending.remove(&id),
            _ => None,
        };
        match pending {
            Some(Pending::Handshake) => self.handshake_reply(&message),
            Some(Pending::Connect) => self.connect_reply(&message).await,
            Some(Pending::Subscribe { channel, replay_id }) => {
                self.subscribe_reply(&message, channel, replay_id).await
            }
            Some(Pending::Unsubscribe { channel, reply }) => {
                let result = if message["successful"] == true {
                    self.notify(Notice::Unsubscribed { channel });
                    Ok(())
                } else {
                    Err(ClientError::Bayeux {
                        channel,
                        error: failure_reason(&message),
                    })
                };
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
                self.session_error(&message)
            }
            Some(Pending::Publish { reply }) => {
                let result = if message["successful"] == true {
                    Ok(message.clone())
                } else {
                    Err(ClientError::Bayeux {
                        channel,
                        error: failure_reason(&message),
                    })
                };
                let _ = reply.send(result);
                self.session_error(&message)
            }
            None if channel == "/meta/disconnect" && message.get("successful").is_none() => {
                // Pushed by the server (Salesforce since API 64.0, Hyperforce scaling).
                self.notify(Notice::SessionLost {
                    reason: "the server sent /meta/disconnect".into(),
                });
                Some(Next::Rehandshake)
            }
            None if channel.starts_with("/meta/") => None,
            None if message.get("successful").is_some() => None,
            None => self.event(message, channel).await,
        }
    }

    fn reply_matches(&self, id: &str, channel: &str) -> bool {
        match self.pending.get(id) {
            Some(Pending::Handshake) => channel == "/meta/handshake",
            Some(Pending::Connect) => channel == "/meta/connect",
            Some(Pending::Subscribe { .. }) => channel == "/meta/subscribe",
            Some(Pending::Unsubscribe { .. }) => channel == "/meta/unsubscribe",
            Some(Pending::Publish { .. }) => !channel.starts_with("/meta/"),
            None => false,
        }
    }

    fn handshake_reply(&mut self, message: &Value) -> Option<Next> {
        self.watchdog = None;
        if message["successful"] == true {
            let Some(client_id) = text(message, "clientId") else {
                return Some(
                    self.transport_failed(crate::error::TransportError::Malformed(
                        "a successful handshake reply without clientId".into(),
                    )),
                );
            };
            self.client_id = Some(client_id.to_owned());
            self.server_replay = message.pointer("/ext/replay") == Some(&Value::Bool(true));
            self.first_connect = true;
            let transport = self.link_connection_type().unwrap_or_default().to_owned();
            self.notify(Notice::Connected {
                client_id: client_id.to_owned(),
                transport,
            });
            // The connect (and the subscriptions) go next, from `wait`'s timer.
            self.next_connect = Some(Instant::now());
            return None;
        }
        let reason = failure_reason(message);
        tracing::warn!(%reason, "handshake refused");
        if is_authentication_failure(&reason) {
            self.notify(Notice::Reauthenticating { reason });
            return Some(Next::Reauthenticate);
        }
        // Limits (concurrent clients) and the like: retry later rather than stop silently.
        self.notify(Notice::SessionLost { reason });
        Some(Next::Retry)
    }

    async fn connect_reply(&mut self, message: &Value) -> Option<Next> {
        self.watchdog = None;
        if let Some(timeout) = message.pointer("/advice/timeout").and_then(Value::as_u64) {
            self.advice_timeout = Duration::from_millis(timeout);
        }
        if let Some(interval) = message.pointer("/advice/interval").and_then(Value::as_u64) {
            self.advice_interval = Duration::from_millis(interval);
        }
        if message["successful"] == true {
            self.failures = 0;
            let was_first = self.first_connect;
            self.first_connect = false;
            self.next_connect = Some(Instant::now() + self.advice_interval);
            if was_first && self.subs.values().any(|s| s.state == SubState::Wanted) {
                // Subscriptions asked for while the first connect was in flight.
                return self.send_connect_extras().await;
            }
            return None;
        }
        if let Some(next) = self.session_error(message) {
            return Some(next);
        }
        // A failure the server wants retried.
        self.failures += 1;
        let delay = crate::backoff::delay(
            self.config.backoff_initial,
            self.config.backoff_max,
            self.failures,
        );
        self.notify(Notice::TransportError {
            error: failure_reason(message),
            retry_in: delay,
        });
        self.next_connect = Some(Instant::now() + delay.max(self.advice_interval));
        None
    }

    async fn send_connect_extras(&mut self) -> Option<Next> {
        let batch = self.subscribe_batch().await;
        if batch.is_empty() {
            return None;
        }
        self.send(batch, self.config.request_timeout).await
    }

    /// What a failed reply (any channel) says about the session.
    pub(crate) fn session_error(&mut self, message: &Value) -> Option<Next> {
        if message["successful"] == true {
            return None;
        }
        let reason = failure_reason(message);
        let advice = reconnect_advice(message);
        if is_authentication_failure(&reason) {
            self.notify(Notice::Reauthenticating { reason });
            return Some(Next::Reauthenticate);
        }
        if advice == Some("handshake") || reason == errors::UNKNOWN_CLIENT || advice == Some("none")
        {
            // `none` is never obeyed silently (pain point 1): the session is rebuilt, with
            // backoff if it keeps failing.
            self.notify(Notice::SessionLost { reason });
            return Some(Next::Rehandshake);
        }
        None
    }

    async fn subscribe_reply(
        &mut self,
        message: &Value,
        channel: String,
        replay_id: Option<i64>,
    ) -> Option<Next> {
        if message["successful"] == true {
            if let Some(sub) = self.subs.get_mut(&channel) {
                sub.state = SubState::Active;
                for waiter in sub.waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
                self.notify(Notice::Subscribed {
                    channel,
                    replay_from: replay_id.unwrap_or(-1),
                });
            }
            return None;
        }
        let error = failure_reason(message);
        if let (true, Some(stored)) = (is_replay_expired(&error), replay_id) {
            return self.replay_gap(channel, stored, error).await;
        }
        if let Some(next) = self.session_error(message) {
            return Some(next);
        }
        tracing::warn!(%channel, %error, "subscription refused");
        if let Some(sub) = self.subs.remove(&channel) {
            for waiter in sub.waiters {
                let _ = waiter.send(Err(ClientError::Bayeux {
                    channel: channel.clone(),
                    error: error.clone(),
                }));
            }
        }
        self.notify(Notice::SubscribeFailed { channel, error });
        None
    }

    /// The stored replay id has expired: apply the policy, and always tell the application.
    async fn replay_gap(&mut self, channel: String, replay_id: i64, error: String) -> Option<Next> {
        let resumed_from = match self.config.expired_replay {
            ExpiredReplay::Fail => None,
            ExpiredReplay::ResumeEarliest => Some(-2),
            ExpiredReplay::ResumeNew => Some(-1),
        };
        tracing::warn!(%channel, replay_id, ?resumed_from, "replay id expired");
        self.notify(Notice::ReplayGap {
            channel: channel.clone(),
            replay_id,
            resumed_from,
            error: error.clone(),
        });
        let Some(resume) = resumed_from else {
            if let Some(sub) = self.subs.remove(&channel) {
                for waiter in sub.waiters {
                    let _ = waiter.send(Err(ClientError::ReplayIdExpired {
                        channel: channel.clone(),
                        replay_id,
                        error: error.clone(),
                    }));
                }
            }
            return None;
        };
        // Events from -2 may have lower ids than anything seen: forget the position.
        self.delivered.remove(&channel);
        if let Some(sub) = self.subs.get_mut(&channel) {
            sub.resume = Some(resume);
            sub.state = SubState::Wanted;
        }
        self.send_connect_extras().await
    }

    /// The subscription an event arrived through: its exact channel, else a matching pattern.
    fn route(&self, channel: &str) -> Option<String> {
        if self.subs.contains_key(channel) {
            return Some(channel.to_owned());
        }
        self.subs
            .keys()
            .find(|pattern| {
                (pattern.ends_with("/*") || pattern.ends_with("/**"))
                    && bayou_protocol::channel::pattern_matches(pattern, channel)
            })
            .cloned()
    }

    async fn event(&mut self, message: Value, channel: String) -> Option<Next> {
        let Some(subscription) = self.route(&channel) else {
            tracing::debug!(%channel, "event on a channel no longer subscribed");
            return None;
        };
        if let Some(id) = replay_id_of(&message) {
            if let Some(last) = self.delivered.get(&subscription) {
                if id <= *last {
                    tracing::debug!(%subscription, id, last, "duplicate event dropped");
                    return None;
                }
            }
            self.delivered.insert(subscription.clone(), id);
        }
        let event = Event::from_message(message, subscription);
        self.hand_over(event).await
    }

    /// Puts an event in the application's buffer, waiting while it is full.
    async fn hand_over(&mut self, event: Event) -> Option<Next> {
        let event = match self.events.try_send(event) {
            Ok(()) => return None,
            Err(TrySendError::Closed(_)) => return None,
            Err(TrySendError::Full(event)) => event,
        };
        let started = Instant::now();
        let events = self.events.clone();
        let send = events.send(event);
        tokio::pin!(send);
        let mut warned = false;
        loop {
            tokio::select! {
                result = &mut send => {
                    let _ = result;
                    return None;
                }
                _ = self.stop.changed() => return Some(Next::Stop),
                _ = tokio::time::sleep(self.config.slow_consumer_warning), if !warned => {
                    warned = true;
                    let waited = started.elapsed();
                    tracing::warn!(?waited, "the application is not taking events; the session may expire and will then resume by replay");
                    self.notify(Notice::SlowConsumer { waited });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use tokio::sync::{broadcast, mpsc, watch};

    use super::*;
    use crate::event_loop::Sub;
    use crate::replay::ReplayFrom;

    struct Harness {
        event_loop: EventLoop,
        events: mpsc::Receiver<Event>,
        _stop: watch::Sender<bool>,
    }

    fn harness() -> Harness {
        let config = crate::ClientBuilder::new()
            .bayeux_url("http://127.0.0.1:9/cometd/66.0")
            .into_config();
        let (_commands_tx, commands) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel(16);
        let (stop, stop_rx) = watch::channel(false);
        let mut event_loop = EventLoop::new(
            Arc::new(config),
            commands,
            events_tx,
            broadcast::channel(16).0,
            broadcast::channel(16).0,
            stop_rx,
        );
        event_loop.client_id = Some("c1".into());
        event_loop.subs.insert(
            "/chat/a".into(),
            Sub {
                from: ReplayFrom::New,
                resume: None,
                state: SubState::Active,
                waiters: Vec::new(),
            },
        );
        Harness {
            event_loop,
            events,
            _stop: stop,
        }
    }

    #[tokio::test]
    async fn a_server_sent_disconnect_means_a_new_session() {
        let mut h = harness();
        let next = h
            .event_loop
            .message(json!({"channel": "/meta/disconnect"}))
            .await;
        assert!(matches!(next, Some(Next::Rehandshake)), "{next:?}");
    }

    #[tokio::test]
    async fn connect_failures_map_to_recoveries() {
        let cases = [
            (
                json!({"error": "401::Authentication invalid", "advice": {"reconnect": "none", "interval": 0}}),
                "reauth",
            ),
            (
                json!({"error": "403::Unknown client", "advice": {"reconnect": "handshake", "interval": 0}}),
                "rehandshake",
            ),
            (
                json!({"error": "403::Unknown client", "advice": {"reconnect": "none", "interval": 0}}),
                "rehandshake",
            ),
            (
                json!({"error": "402::session_unknown", "advice": {"reconnect": "handshake"}}),
                "rehandshake",
            ),
            (
                json!({"error": "503::Server is too busy.  Please try your request again later."}),
                "retry",
            ),
        ];
        for (reply, expected) in cases {
            let mut h = harness();
            h.event_loop.pending.insert("7".into(), Pending::Connect);
            let mut message = reply.clone();
            message["channel"] = json!("/meta/connect");
            message["id"] = json!("7");
            message["successful"] = json!(false);
            let next = h.event_loop.message(message).await;
            let got = match next {
                Some(Next::Reauthenticate) => "reauth",
                Some(Next::Rehandshake) => "rehandshake",
                None if h.event_loop.next_connect.is_some() => "retry",
                other => panic!("{reply}: {other:?}"),
            };
            assert_eq!(got, expected, "{reply}");
        }
    }

    #[tokio::test]
    async fn events_are_handed_over_once_in_order() {
        let mut h = harness();
        for id in [5, 6, 6, 4, 7] {
            let event = json!({"channel": "/chat/a", "data": {"id": id}, "ext": {"replayId": id}});
            assert!(h.event_loop.message(event).await.is_none());
        }
        let mut ids = Vec::new();
        while let Ok(event) = h.events.try_recv() {
            ids.push(event.replay_id.unwrap());
        }
        assert_eq!(ids, vec![5, 6, 7]);
        assert_eq!(h.event_loop.delivered.get("/chat/a"), Some(&7));
    }

    #[tokio::test]
    async fn an_event_with_a_colliding_id_is_not_a_reply() {
        let mut h = harness();
        h.event_loop.pending.insert("3".into(), Pending::Connect);
        let event = json!({"channel": "/chat/a", "data": {"n": 1}, "id": "3"});
        assert!(h.event_loop.message(event).await.is_none());
        assert!(h.events.try_recv().is_ok());
        assert!(h.event_loop.pending.contains_key("3"));
    }

    #[test]
    fn expired_replay_text_is_recognised() {
        assert!(is_replay_expired(&errors::replay_id_invalid("82")));
        assert!(!is_replay_expired(&errors::replay_map_missing_channel(
            "/topic/X", "{}"
        )));
    }
}
