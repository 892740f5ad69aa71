//! Channel names and who may subscribe to what (PROTOCOL.md §3).

use serde::{Deserialize, Serialize};

use crate::Identity;

pub const MAX_CHANNEL_CHARS: usize = 200;

/// A channel name `scope:id`: 3..=200 characters from a URL- and log-safe set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ChannelName(String);

impl TryFrom<String> for ChannelName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-:.@=/+".contains(c);
        let Some((scope, id)) = value.split_once(':') else {
            return Err(format!("channel `{}` is not scope:id", shorten(&value)));
        };
        if value.len() > MAX_CHANNEL_CHARS
            || scope.is_empty()
            || id.is_empty()
            || !value.chars().all(allowed)
        {
            return Err(format!(
                "channel `{}` must be scope:id, at most {MAX_CHANNEL_CHARS} characters of A-Z a-z 0-9 _ - : . @ = / +",
                shorten(&value)
            ));
        }
        Ok(Self(value))
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

impl ChannelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The room a channel's subscribers join.
pub fn channel_room(channel: &str) -> String {
    format!("ch:{channel}")
}

/// Who a rule lets in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Allow {
    /// Any authenticated user.
    Any,
    /// Users holding this role.
    Role(String),
    /// Nobody through this rule (only the token's `channels` claim can grant it).
    Claims,
}

impl TryFrom<String> for Allow {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "any" => Ok(Self::Any),
            "claims" => Ok(Self::Claims),
            other => match other.strip_prefix("role:") {
                Some(role) if !role.is_empty() => Ok(Self::Role(role.to_owned())),
                _ => Err(format!(
                    "allow must be any, claims or role:NAME, not `{other}`"
                )),
            },
        }
    }
}

impl From<Allow> for String {
    fn from(allow: Allow) -> String {
        match allow {
            Allow::Any => "any".into(),
            Allow::Role(role) => format!("role:{role}"),
            Allow::Claims => "claims".into(),
        }
    }
}

/// `pattern` may use `*` (any run of characters) and `{sub}` (the user's own id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRule {
    pub pattern: String,
    pub allow: Allow,
}

impl ChannelRule {
    fn new(pattern: &str, allow: Allow) -> Self {
        Self {
            pattern: pattern.into(),
            allow,
        }
    }
}

/// The contract's defaults: `public:*`, `user:{sub}`, `pitch:*`, `feature:*`, `task:*` for
/// anyone (so `user:` only for its owner), `admin:*` for admins.
pub fn default_rules() -> Vec<ChannelRule> {
    vec![
        ChannelRule::new("public:*", Allow::Any),
        ChannelRule::new("user:{sub}", Allow::Any),
        ChannelRule::new("pitch:*", Allow::Any),
        ChannelRule::new("feature:*", Allow::Any),
        ChannelRule::new("task:*", Allow::Any),
        ChannelRule::new("admin:*", Allow::Role("admin".into())),
    ]
}

/// May `who` subscribe to `channel`? A matching rule that allows them, or a pattern in
/// their token's `channels` claim, is enough.
pub fn may_subscribe(rules: &[ChannelRule], who: &Identity, channel: &str) -> bool {
    let by_rule = rules.iter().any(|rule| {
        let pattern = rule.pattern.replace("{sub}", &who.user_id);
        glob_match(&pattern, channel)
            && match &rule.allow {
                Allow::Any => true,
                Allow::Role(role) => who.has_role(role),
                Allow::Claims => false,
            }
    });
    by_rule
        || who
            .channels
            .iter()
            .any(|pattern| glob_match(pattern, channel))
}

/// `*` matches any run of characters, everything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, roles: &[&str], channels: &[&str]) -> Identity {
        Identity {
            user_id: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            name: None,
            expires_at: 0,
        }
    }

    #[test]
    fn default_rules_follow_the_contract() {
        let rules = default_rules();
        let alice = user("alice", &[], &[]);
        for ok in [
            "public:lobby",
            "user:alice",
            "pitch:1",
            "feature:x",
            "task:42",
        ] {
            assert!(may_subscribe(&rules, &alice, ok), "{ok}");
        }
        for denied in ["user:bob", "admin:ops", "private:x", "user:alice2"] {
            assert!(!may_subscribe(&rules, &alice, denied), "{denied}");
        }
        assert!(may_subscribe(
            &rules,
            &user("root", &["admin"], &[]),
            "admin:ops"
        ));
    }

    #[test]
    fn token_channel_patterns_grant_more() {
        let rules = default_rules();
        let carol = user("carol", &[], &["team:7:*", "admin:readonly"]);
        assert!(may_subscribe(&rules, &carol, "team:7:chat"));
        assert!(may_subscribe(&rules, &carol, "admin:readonly"));
        assert!(!may_subscribe(&rules, &carol, "team:8:chat"));
    }

    #[test]
    fn globs_match_whole_strings() {
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a:*:z", "a:b:c:z"));
        assert!(!glob_match("a*c", "abcd"));
        assert!(!glob_match("abc", "ab"));
    }

    #[test]
    fn channel_names_are_validated() {
        for ok in ["public:lobby", "task:2024-01/x", "user:a@b.c"] {
            assert!(ChannelName::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        let long = format!("public:{}", "x".repeat(MAX_CHANNEL_CHARS));
        for bad in [
            "nocolon",
            ":x",
            "x:",
            "public:sp ace",
            "public:\u{0}",
            "public:é",
            long.as_str(),
        ] {
            assert!(ChannelName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_parses_from_settings_text() {
        assert_eq!(
            Allow::try_from("role:ops".to_string()),
            Ok(Allow::Role("ops".into()))
        );
        assert!(Allow::try_from("role:".to_string()).is_err());
        assert!(Allow::try_from("everyone".to_string()).is_err());
    }
}
