//! The org as the streaming endpoint's security policy: a handshake must bring a live access
//! token (`Bearer`, `OAuth` or bare), and every `/meta/connect` checks it is still live, so a
//! revoked token ends the session with `401::Authentication invalid` and advice `none`, as
//! Salesforce does since Spring '18. Anonymous clients are let in only when configured.
//!
//! It also polices channels: `/topic/<Name>` must name an existing PushTopic
//! (`400::The channel you requested to subscribe to doesn’t exist …` otherwise); `/u/<Name>`
//! an existing StreamingChannel (`404::Unknown channel`, or `404::channel names may not vary
//! only by case`), unless dynamic channels are on and the subscription creates it; `/data/…`
//! must be `ChangeEvents` or an object's change event channel. Bayeux
//! clients may not publish into Salesforce's namespaces (`/topic`, `/u`, `/event`, `/data`),
//! where events come from the org — as Salesforce refuses it. Both defaults can be changed
//! per channel pattern (`OrgConfig::publish_rules`).

use bayou_protocol::{ChannelName, Subscription};
use std::sync::Arc;

use bayou_server::policy::{Credentials, DeliveryFilter, Denial, Principal, SecurityPolicy};

use crate::pushtopic::delivery_filter::TopicFilter;
use crate::streaming_channel::Lookup;

use crate::Org;

impl SecurityPolicy for Org {
    fn can_handshake(&self, credentials: &Credentials) -> Result<Principal, Denial> {
        match credentials.token() {
            None if self.config.allow_anonymous => Ok(Principal::default()),
            None => Err(Denial::AuthenticationRequired),
            Some(token) => match self.tokens.validate_access(token) {
                Some(user_id) => Ok(Principal {
                    user_id: Some(user_id),
                    token: Some(token.to_owned()),
                }),
                None => Err(Denial::AuthenticationInvalid),
            },
        }
    }

    fn settle(
        &self,
        denial: &Denial,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        match denial {
            Denial::AuthenticationInvalid => Box::pin(self.settle_tokens()),
            _ => Box::pin(self.settle_records()),
        }
    }

    fn is_session_valid(&self, principal: &Principal) -> bool {
        match &principal.token {
            Some(token) => self.tokens.validate_access(token).is_some(),
            None => self.config.allow_anonymous,
        }
    }

    fn can_subscribe(
        &self,
        principal: &Principal,
        subscription: &Subscription,
    ) -> Result<(), Denial> {
        let channel = subscription.channel.as_str();
        if !self.config.allow_anonymous && is_org_wide(channel) {
            return Err(Denial::RestrictedChannel);
        }
        if subscription.channel.is_wildcard() {
            return Ok(()); // matches whatever channels exist
        }
        if let Some(name) = channel.strip_prefix("/topic/") {
            return if self.topics().iter().any(|t| t.active && t.name == name) {
                Ok(())
            } else {
                Err(Denial::ChannelDoesNotExist(channel.to_owned()))
            };
        }
        if channel.starts_with("/u/") {
            return match self.lookup_channel(channel) {
                Lookup::Exists => Ok(()),
                Lookup::CaseMismatch => Err(Denial::ChannelCaseMismatch),
                Lookup::Missing if self.config.dynamic_channels => {
                    self.create_dynamic_channel(channel, principal.user_id.as_deref())
                }
                Lookup::Missing => Err(Denial::UnknownChannel),
            };
        }
        if channel.starts_with("/data/")
            && channel != crate::cdc::ALL_CHANGES
            && crate::cdc::object_of_channel(channel).is_none()
        {
            return Err(Denial::ChannelDoesNotExist(channel.to_owned()));
        }
        Ok(())
    }

    fn delivery_filter(
        &self,
        _: &Principal,
        subscription: &Subscription,
    ) -> Result<Option<Arc<dyn DeliveryFilter>>, Denial> {
        let Some(filter) = &subscription.filter else {
            return Ok(None);
        };
        let name = subscription.channel.as_str().strip_prefix("/topic/");
        let topic = name.and_then(|name| {
            self.topics()
                .into_iter()
                .find(|t| t.active && t.name == name)
        });
        let Some(topic) = topic else {
            return Err(Denial::FilterNotSupported {
                subscription: subscription.raw.clone(),
            });
        };
        let filter = TopicFilter::new(&subscription.raw, filter, &topic)?;
        Ok(Some(Arc::new(filter)))
    }

    fn can_publish(&self, _: &Principal, channel: &ChannelName) -> Result<(), Denial> {
        let channel = channel.as_str();
        let configured = self
            .config
            .publish_rules
            .iter()
            .find(|rule| rule.pattern.matches(channel))
            .map(|rule| rule.allow);
        let allow = configured.unwrap_or_else(|| !in_salesforce_namespace(channel));
        if allow {
            Ok(())
        } else {
            Err(Denial::PublishDenied(channel.to_owned()))
        }
    }
}

/// Whether a subscription would see the whole org at once, or service messages meant for the
/// server: Salesforce offers nothing like it, so org users may not make one (only plain Bayeux
/// with `--anonymous` allows it).
fn is_org_wide(pattern: &str) -> bool {
    pattern == "/*" || pattern == "/**" || pattern == "/service" || pattern.starts_with("/service/")
}

/// Whether `channel` is in a namespace where events come from the org (`/topic`, `/u`,
/// `/event`, `/data`), whatever its letter case: `/Topic/X` is refused like `/topic/X`.
fn in_salesforce_namespace(channel: &str) -> bool {
    let namespace = channel.split('/').nth(1).unwrap_or_default();
    ["topic", "u", "event", "data"]
        .iter()
        .any(|reserved| namespace.eq_ignore_ascii_case(reserved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_recognised_in_any_case() {
        for channel in [
            "/topic/X",
            "/Topic/X",
            "/U/x/y",
            "/EVENT/E__e",
            "/data/ChangeEvents",
        ] {
            assert!(in_salesforce_namespace(channel), "{channel}");
        }
        for channel in ["/chat/x", "/topics/x", "/user/x", "/"] {
            assert!(!in_salesforce_namespace(channel), "{channel}");
        }
    }

    #[test]
    fn org_wide_patterns() {
        for pattern in ["/**", "/*", "/service/**", "/service/echo", "/service/*"] {
            assert!(is_org_wide(pattern), "{pattern}");
        }
        for pattern in ["/topic/**", "/chat/*", "/services/x", "/event/E__e"] {
            assert!(!is_org_wide(pattern), "{pattern}");
        }
    }
}
