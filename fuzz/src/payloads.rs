//! Every client → server event payload of `/ws`, `/realtime` and `/notifications`,
//! decoded through `incoming::decode` (the step `Incoming::parse` takes once the
//! dispatcher has checked the size), with the limits of each accepted request checked again here.

use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_namespaces::incoming::decode;
use switchyard_namespaces::ports::{ChosenStatus, Platform, ReadSelection};
use switchyard_namespaces::realtime::channels::{ChannelName, MAX_CHANNEL_CHARS};
use switchyard_namespaces::wire::{Id, MAX_ID_CHARS, MAX_PAGE, MAX_TITLE_CHARS, PageLimit, Title};
use switchyard_namespaces::ws::payloads::{
    Attachments, Content, MAX_ATTACHMENTS, MAX_CONTENT_CHARS, Seq,
};

use crate::{assert_refusal, chars};

/// Decodes `payload` as the handler of its event would; checks the request it gave, or
/// that it was refused as `invalid_payload`.
pub fn run<T: DeserializeOwned>(payload: Value, input_len: usize, check: impl FnOnce(T)) {
    match decode::<T>(payload) {
        Ok(request) => check(request),
        Err(err) => assert_refusal(&err, input_len),
    }
}

/// Decodes `payload` as the event `event` of namespace `ns` (its path); false when no
/// handler of that namespace takes the event.
pub fn by_event(ns: &str, event: &str, payload: Value, input_len: usize) -> bool {
    match ns {
        switchyard_namespaces::ws::PATH => ws::check(event, payload, input_len),
        switchyard_namespaces::realtime::PATH => realtime::check(event, payload, input_len),
        switchyard_namespaces::notifications::PATH => {
            notifications::check(event, payload, input_len)
        }
        _ => false,
    }
}

/// An id as the payload types accept it: 1..=128 characters, none a control character.
pub fn assert_id_str(id: &str) {
    let n = chars(id);
    assert!((1..=MAX_ID_CHARS).contains(&n), "id of {n} characters");
    assert!(
        !id.chars().any(char::is_control),
        "id {id:?} has a control character"
    );
}

pub fn assert_id(id: &Id) {
    assert_id_str(id.as_str());
}

pub fn assert_opt_id(id: &Option<Id>) {
    if let Some(id) = id {
        assert_id(id);
    }
}

pub fn assert_title(title: Title) {
    let n = chars(&title.into_string());
    assert!(n <= MAX_TITLE_CHARS, "title of {n} characters");
}

pub fn assert_page(limit: PageLimit) {
    assert!(
        (1..=MAX_PAGE).contains(&limit.get()),
        "page limit {}",
        limit.get()
    );
}

fn assert_seq(seq: Seq) {
    assert!(seq.get() >= 0, "seq {}", seq.get());
}

fn assert_content(content: Content) {
    let text = content.into_string();
    assert!(!text.trim().is_empty(), "blank content accepted");
    let n = chars(&text);
    assert!(n <= MAX_CONTENT_CHARS, "content of {n} characters");
}

fn assert_attachments(attachments: Attachments) {
    let list = attachments.into_vec();
    assert!(list.len() <= MAX_ATTACHMENTS, "{} attachments", list.len());
    assert!(
        list.iter().all(Value::is_object),
        "an attachment is not an object"
    );
}

/// A channel name: `scope:id`, both parts non-empty, at most 200 bytes of the allowed set,
/// and accepted again when re-read.
pub fn assert_channel(channel: &ChannelName) {
    let name = channel.as_str();
    let (scope, id) = name.split_once(':').expect("channel without ':'");
    assert!(
        !scope.is_empty() && !id.is_empty(),
        "channel {name:?} has an empty part"
    );
    assert!(
        name.len() <= MAX_CHANNEL_CHARS,
        "channel of {} bytes",
        name.len()
    );
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-:.@=/+".contains(c)),
        "channel {name:?} has a character outside the allowed set"
    );
    assert!(ChannelName::try_from(name.to_owned()).is_ok());
}

/// A short name (event or activity kind): 1..=64 characters, no control character.
pub fn assert_short_name(name: &str) {
    use switchyard_namespaces::wire::MAX_EVENT_NAME_CHARS;
    let n = chars(name);
    assert!(
        (1..=MAX_EVENT_NAME_CHARS).contains(&n),
        "name of {n} characters"
    );
    assert!(
        !name.chars().any(char::is_control),
        "name {name:?} has a control character"
    );
}

pub mod ws {
    use switchyard_namespaces::ws::events::*;
    use switchyard_namespaces::ws::payloads::*;

    use super::*;

    /// The events `/ws` handles, in the order the first input byte picks them.
    pub const EVENTS: &[&str] = &[
        CONVERSATION_CREATE,
        CONVERSATION_LIST,
        MESSAGE_SEND,
        MESSAGE_EDIT,
        MESSAGE_DELETE,
        MESSAGE_HISTORY,
        MESSAGE_SYNC,
        MESSAGE_READ,
        TYPING_START,
        TYPING_STOP,
    ];

    pub fn check(event: &str, payload: Value, n: usize) -> bool {
        match event {
            CONVERSATION_CREATE => run(payload, n, |r: CreateConversation| {
                let count = r.participant_ids.len();
                assert!(
                    (1..=MAX_PARTICIPANTS).contains(&count),
                    "{count} participants"
                );
                r.participant_ids.iter().for_each(assert_id);
                if let Some(title) = r.title {
                    assert_title(title);
                }
            }),
            CONVERSATION_LIST => run(payload, n, |_: Empty| {}),
            MESSAGE_SEND => run(payload, n, |r: SendMessage| {
                assert_id(&r.conversation_id);
                assert_id(&r.client_msg_id);
                assert_opt_id(&r.reply_to);
                assert_content(r.content);
                if let Some(attachments) = r.attachments {
                    assert_attachments(attachments);
                }
            }),
            MESSAGE_EDIT => run(payload, n, |r: EditMessage| {
                assert_id(&r.message_id);
                assert_content(r.content);
            }),
            MESSAGE_DELETE => run(payload, n, |r: DeleteMessage| assert_id(&r.message_id)),
            MESSAGE_HISTORY => run(payload, n, |r: History| {
                assert_id(&r.conversation_id);
                if let Some(seq) = r.before_seq {
                    assert_seq(seq);
                }
                assert_page(r.limit);
            }),
            MESSAGE_SYNC => run(payload, n, |r: Sync| {
                let count = r.cursors.len();
                assert!(count <= MAX_SYNC_CONVERSATIONS, "{count} cursors");
                for (id, seq) in r.cursors {
                    assert_id(&id);
                    assert_seq(seq);
                }
            }),
            MESSAGE_READ => run(payload, n, |r: Read| {
                assert_id(&r.conversation_id);
                assert_seq(r.seq);
            }),
            TYPING_START | TYPING_STOP => {
                run(payload, n, |r: Typing| assert_id(&r.conversation_id))
            }
            _ => return false,
        }
        true
    }
}

pub mod realtime {
    use switchyard_namespaces::realtime::events::*;
    use switchyard_namespaces::realtime::payloads::*;
    use switchyard_namespaces::wire::{MAX_PRESENCE_USERS, UserIds};

    use super::*;

    /// The events `/realtime` handles, in the order the first input byte picks them.
    pub const EVENTS: &[&str] = &[
        SUBSCRIBE,
        UNSUBSCRIBE,
        PRESENCE_SET,
        PRESENCE_GET,
        PRESENCE_WATCH,
        PRESENCE_UNWATCH,
        PRESENCE_MEMBERS,
        ACTIVITY,
        DRAFT_GET,
        DRAFT_SYNC,
        LATENCY_PING,
        // Last, so the bytes of existing corpus inputs still pick the events they did.
        PRESENCE_STATS,
    ];

    /// Channel lists are bounded; each name is checked later, on its own.
    fn assert_channel_list(list: &ChannelList) {
        let count = list.0.len();
        assert!(
            (1..=MAX_CHANNELS_PER_REQUEST).contains(&count),
            "{count} channels"
        );
    }

    pub fn assert_user_ids(ids: &UserIds) {
        let count = ids.0.len();
        assert!(
            (1..=MAX_PRESENCE_USERS).contains(&count),
            "{count} user ids"
        );
        ids.0.iter().for_each(|id| assert_id_str(id));
    }

    pub fn check(event: &str, payload: Value, n: usize) -> bool {
        match event {
            SUBSCRIBE => run(payload, n, |r: Subscribe| assert_channel_list(&r.channels)),
            UNSUBSCRIBE => run(payload, n, |r: Unsubscribe| {
                assert_channel_list(&r.channels)
            }),
            PRESENCE_SET => run(payload, n, |r: PresenceSet| {
                assert_eq!(ChosenStatus::parse(r.status.as_str()), r.status);
                if let Some(StatusMessage(message)) = r.message {
                    let count = chars(&message);
                    assert!(
                        count <= MAX_STATUS_MESSAGE_CHARS,
                        "status of {count} characters"
                    );
                }
            }),
            PRESENCE_GET | PRESENCE_WATCH | PRESENCE_UNWATCH => {
                run(payload, n, |r: PresenceUsers| assert_user_ids(&r.user_ids))
            }
            PRESENCE_MEMBERS | PRESENCE_STATS => {
                run(payload, n, |r: PresenceMembers| assert_channel(&r.channel))
            }
            ACTIVITY => run(payload, n, |r: Activity| {
                assert_short_name(&r.kind.0);
                assert_opt_id(&r.target);
            }),
            DRAFT_GET => run(payload, n, |r: DraftGet| assert_id(&r.draft_id)),
            // A draft's content has no limit of its own: only the payload size bounds it.
            DRAFT_SYNC => run(payload, n, |r: DraftSync| assert_id(&r.draft_id)),
            LATENCY_PING => run(payload, n, |_: LatencyPing| {}),
            _ => return false,
        }
        true
    }
}

pub mod notifications {
    use switchyard_namespaces::notifications::events::*;
    use switchyard_namespaces::notifications::payloads::*;

    use super::*;

    /// The events `/notifications` handles, in the order the first input byte picks them.
    pub const EVENTS: &[&str] = &[LIST, READ, DEVICE_REGISTER, DEVICE_UNREGISTER];

    fn assert_device_token(token: &DeviceToken) {
        let count = chars(&token.0);
        assert!(
            (1..=MAX_TOKEN_CHARS).contains(&count),
            "token of {count} characters"
        );
        assert!(
            !token.0.chars().any(|c| c.is_whitespace() || c.is_control()),
            "token {:?} has a space or control character",
            token.0
        );
    }

    pub fn check(event: &str, payload: Value, n: usize) -> bool {
        match event {
            LIST => run(payload, n, |r: List| {
                assert_opt_id(&r.before);
                assert_page(r.limit);
            }),
            READ => run(payload, n, |Read(which): Read| match which {
                ReadSelection::All => {}
                ReadSelection::Ids(ids) => {
                    assert!((1..=MAX_READ_IDS).contains(&ids.len()), "{} ids", ids.len());
                    ids.iter().for_each(|id| assert_id_str(id));
                }
            }),
            DEVICE_REGISTER => run(payload, n, |r: DeviceRegister| {
                assert_device_token(&r.token);
                assert!(matches!(r.platform.as_str(), "android" | "ios" | "web"));
                let _: Platform = r.platform;
                assert_opt_id(&r.app_id);
            }),
            DEVICE_UNREGISTER => run(payload, n, |r: DeviceUnregister| {
                assert_device_token(&r.token)
            }),
            _ => return false,
        }
        true
    }
}

/// Runs one namespace target: the first byte picks the event, the rest is its payload.
pub fn fuzz_namespace(events: &[&str], check: fn(&str, Value, usize) -> bool, data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let event = events[usize::from(kind) % events.len()];
    if let Some(payload) = crate::json(rest) {
        assert!(check(event, payload, rest.len()), "{event} is not handled");
    }
}
