//! The application's commands, as the event loop carries them out: a subscription asked for
//! while no session is up is recorded and sent with the next connect; one asked for on a live
//! session goes at once, so it never waits behind a held connect.

use serde_json::json;

use crate::error::ClientError;
use crate::event_loop::{Command, EventLoop, Next, Pending, Sub, SubState};

impl EventLoop {
    pub async fn command(&mut self, command: Command) -> Option<Next> {
        match command {
            Command::Subscribe {
                channel,
                from,
                reply,
            } => {
                let sub = self.subs.entry(channel.clone()).or_insert(Sub {
                    from,
                    resume: None,
                    state: SubState::Wanted,
                    waiters: Vec::new(),
                });
                if sub.state == SubState::Active {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                    return None;
                }
                sub.from = from;
                sub.waiters.extend(reply);
                if self.client_id.is_some() && self.link.is_some() && !self.first_connect {
                    let batch = self.subscribe_batch().await;
                    return self.send(batch, self.config.request_timeout).await;
                }
                None
            }
            Command::Unsubscribe { channel, reply } => {
                let Some(sub) = self.subs.remove(&channel) else {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                    return None;
                };
                for waiter in sub.waiters {
                    let _ = waiter.send(Err(ClientError::Bayeux {
                        channel: channel.clone(),
                        error: "unsubscribed before the subscription was confirmed".into(),
                    }));
                }
                if self.client_id.is_some() && sub.state != SubState::Wanted {
                    let message = json!({"channel": "/meta/unsubscribe", "subscription": channel});
                    return self
                        .send(
                            vec![(message, Pending::Unsubscribe { channel, reply })],
                            self.config.request_timeout,
                        )
                        .await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
                None
            }
            Command::Publish {
                channel,
                data,
                reply,
            } => {
                if self.client_id.is_some() && self.link.is_some() && !self.first_connect {
                    let message = json!({"channel": channel, "data": data});
                    return self
                        .send(
                            vec![(message, Pending::Publish { reply })],
                            self.config.request_timeout,
                        )
                        .await;
                }
                self.outbox.push((channel, data, reply));
                None
            }
        }
    }
}
