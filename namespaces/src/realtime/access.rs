//! Who may subscribe to the channels of one `subscribe`: names checked, rules and grants
//! read, and the channels whose rule says `allow = "backend"` asked of the backend's
//! subscribe hook in one batch (PROTOCOL.md §3, §9).

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::RealtimeState;
use super::channels::{ChannelName, channel_room, own_channel, room_channel};
use super::outgoing::Denied;
use crate::Identity;
use crate::ack::ErrorCode;
use crate::channel_rules::{RuleVerdict, rule_verdict};

/// Each requested channel, in order: its name when allowed, or why it is denied.
pub(super) async fn check_channels(
    st: &RealtimeState,
    me: &Identity,
    requested: Vec<String>,
) -> Vec<Result<String, Denied>> {
    let mut checked = Vec::with_capacity(requested.len());
    let mut ask = Vec::new();
    for raw in requested {
        let Ok(channel) = ChannelName::try_from(raw.clone()) else {
            checked.push(Err(Denied::new(&raw, ErrorCode::InvalidPayload)));
            continue;
        };
        let channel = channel.as_str().to_owned();
        match rule_verdict(&st.inner.rules, me, &channel) {
            RuleVerdict::Allowed => checked.push(Ok(channel)),
            RuleVerdict::Denied => checked.push(Err(Denied::new(&channel, ErrorCode::Forbidden))),
            RuleVerdict::AskBackend => {
                ask.push((checked.len(), channel.clone()));
                // Replaced by the backend's verdict below.
                checked.push(Err(Denied::new(&channel, ErrorCode::Unavailable)));
            }
        }
    }
    if ask.is_empty() {
        return checked;
    }
    let channels: Vec<String> = ask.iter().map(|(_, ch)| ch.clone()).collect();
    let verdicts = st.inner.hooks.may_subscribe(me, &channels).await;
    for ((at, channel), verdict) in ask.into_iter().zip(verdicts) {
        checked[at] = match verdict {
            Ok(()) => Ok(channel),
            Err(code) => Err(Denied::new(&channel, code)),
        };
    }
    checked
}

/// The channels `s` holds that `me` may no longer hold, after `auth:refresh` replaced its
/// identity: those the rules and grants no longer allow, and those of `backend` rules that
/// the backend, asked again with the new identity, does not allow now. The user's own
/// channel stays: the socket holds it by connecting, not by a rule.
pub(super) async fn lost_channels<A: Adapter>(
    s: &SocketRef<A>,
    st: &RealtimeState,
    me: &Identity,
) -> Vec<String> {
    let own_channel = own_channel(&me.user_id);
    let held: Vec<String> = s
        .rooms()
        .iter()
        .filter_map(|room| room_channel(room))
        .filter(|ch| *ch != own_channel)
        .map(str::to_owned)
        .collect();
    let checked = check_channels(st, me, held.clone()).await;
    held.into_iter()
        .zip(checked)
        .filter(|(_, verdict)| verdict.is_err())
        .map(|(channel, _)| channel)
        .collect()
}

/// The room of each channel, for joining or leaving many at once.
pub(super) fn rooms_of(channels: &[String]) -> Vec<String> {
    channels.iter().map(|ch| channel_room(ch)).collect()
}
