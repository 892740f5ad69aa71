//! Who may subscribe to what, and which channels are told presence (PROTOCOL.md §3): the
//! configured channel rules, compiled once into literal / `*` / `{sub}` pieces, and the
//! token's own `channels` patterns. `/realtime` and presence both read them.
//!
//! `{sub}` is the user's id as literal text: pasting it into the pattern before matching
//! made a token with `sub = "*"` match every user's channel.

use serde::{Deserialize, Serialize};

use crate::Identity;

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
    /// The app's backend decides, through its subscribe hook (PROTOCOL.md §9).
    Backend,
}

impl TryFrom<String> for Allow {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "any" => Ok(Self::Any),
            "claims" => Ok(Self::Claims),
            "backend" => Ok(Self::Backend),
            other => match other.strip_prefix("role:") {
                Some(role) if !role.is_empty() => Ok(Self::Role(role.to_owned())),
                _ => Err(format!(
                    "allow must be any, claims, backend or role:NAME, not `{other}`"
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
            Allow::Backend => "backend".into(),
        }
    }
}

/// One piece of a compiled rule pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// Any run of characters.
    Star,
    /// The user's id, matched as literal text whatever characters it holds.
    Sub,
}

/// A rule's pattern as written in the settings, compiled into [`Piece`]s when the settings
/// are read, so a mistyped placeholder fails the start instead of never matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RulePattern {
    source: String,
    pieces: Vec<Piece>,
}

impl TryFrom<String> for RulePattern {
    type Error = String;
    fn try_from(source: String) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = source.as_str();
        while let Some(c) = rest.chars().next() {
            let (piece, len) = match c {
                '*' => (Piece::Star, 1),
                '{' if rest.starts_with("{sub}") => (Piece::Sub, "{sub}".len()),
                '{' | '}' => {
                    return Err(format!(
                        "channel rule `{source}`: `{{` and `}}` only appear as `{{sub}}`"
                    ));
                }
                _ => {
                    let len = rest.find(['*', '{', '}']).unwrap_or(rest.len());
                    (Piece::Text(rest[..len].to_owned()), len)
                }
            };
            pieces.push(piece);
            rest = &rest[len..];
        }
        Ok(Self { source, pieces })
    }
}

impl From<RulePattern> for String {
    fn from(pattern: RulePattern) -> String {
        pattern.source
    }
}

impl RulePattern {
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the pattern, with `{sub}` standing for `sub` literally, match all of `channel`?
    pub fn matches(&self, sub: &str, channel: &str) -> bool {
        let tokens: Vec<Token> = self
            .pieces
            .iter()
            .flat_map(|piece| -> Box<dyn Iterator<Item = Token> + '_> {
                match piece {
                    Piece::Text(text) => Box::new(text.chars().map(Token::Char)),
                    Piece::Star => Box::new(std::iter::once(Token::Any)),
                    Piece::Sub => Box::new(sub.chars().map(Token::Char)),
                }
            })
            .collect();
        match_tokens(&tokens, channel)
    }
}

/// `pattern` may use `*` (any run of characters) and `{sub}` (the user's own id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRule {
    pub pattern: RulePattern,
    pub allow: Allow,
    /// `joinLeave`: `true` tells `presence:join`/`presence:leave` and status changes in the
    /// rule's channels whatever their size, `false` never (a big broadcast channel whose
    /// members need no roster); absent, `presence_channel_limit` decides. As Centrifugo's
    /// per-namespace `join_leave`.
    #[serde(default, rename = "joinLeave", skip_serializing_if = "Option::is_none")]
    pub join_leave: Option<bool>,
}

impl ChannelRule {
    /// A rule from a pattern the code writes (the defaults, tests); settings go through
    /// `Deserialize`, which reports a bad pattern instead.
    pub fn new(pattern: &str, allow: Allow) -> Result<Self, String> {
        Ok(Self {
            pattern: RulePattern::try_from(pattern.to_owned())?,
            allow,
            join_leave: None,
        })
    }

    /// The same rule, telling joins and leaves always (`true`) or never (`false`).
    pub fn with_join_leave(self, join_leave: bool) -> Self {
        Self {
            join_leave: Some(join_leave),
            ..self
        }
    }
}

/// The contract's defaults: `public:*`, `user:{sub}`, `pitch:*`, `feature:*`, `task:*` for
/// anyone (so `user:` only for its owner), `admin:*` for admins.
pub fn default_rules() -> Vec<ChannelRule> {
    [
        ("public:*", Allow::Any),
        ("user:{sub}", Allow::Any),
        ("pitch:*", Allow::Any),
        ("feature:*", Allow::Any),
        ("task:*", Allow::Any),
        ("admin:*", Allow::Role("admin".into())),
    ]
    .into_iter()
    .filter_map(|(pattern, allow)| ChannelRule::new(pattern, allow).ok())
    .collect()
}

/// What the rules say about one user and one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleVerdict {
    Allowed,
    /// No rule or grant allows it, but a matching rule says `backend`: its hook decides.
    AskBackend,
    Denied,
}

/// May `who` subscribe to `channel`? A matching rule that allows them, or a pattern in
/// their token's `channels` claim (or the connect hook's grants), is enough; failing
/// that, a matching `backend` rule leaves it to the backend. The claim's patterns are the
/// token issuer's own grants: plain globs, with no `{sub}`.
pub fn rule_verdict(rules: &[ChannelRule], who: &Identity, channel: &str) -> RuleVerdict {
    let matching = || {
        rules
            .iter()
            .filter(|rule| rule.pattern.matches(&who.user_id, channel))
    };
    let by_rule = matching().any(|rule| match &rule.allow {
        Allow::Any => true,
        Allow::Role(role) => who.has_role(role),
        Allow::Claims | Allow::Backend => false,
    });
    let granted = || {
        who.channels
            .iter()
            .any(|pattern| glob_match(pattern, channel))
    };
    if by_rule || granted() {
        RuleVerdict::Allowed
    } else if matching().any(|rule| rule.allow == Allow::Backend) {
        RuleVerdict::AskBackend
    } else {
        RuleVerdict::Denied
    }
}

/// Whether the rules and grants alone let `who` subscribe to `channel` (a `backend` rule
/// does not: only its hook can).
pub fn may_subscribe(rules: &[ChannelRule], who: &Identity, channel: &str) -> bool {
    rule_verdict(rules, who, channel) == RuleVerdict::Allowed
}

/// Whether any rule leaves a channel to the backend's subscribe hook.
pub fn any_backend_rule(rules: &[ChannelRule]) -> bool {
    rules.iter().any(|rule| rule.allow == Allow::Backend)
}

/// Whether `channel` is told who joins and leaves by rule: the `joinLeave` of the first
/// rule that sets one and whose pattern matches (`{sub}` standing for `user_id`, the user
/// told about); `None` when no such rule does, and the channel's size decides.
pub fn join_leave(rules: &[ChannelRule], user_id: &str, channel: &str) -> Option<bool> {
    rules
        .iter()
        .filter(|rule| rule.join_leave.is_some())
        .find(|rule| rule.pattern.matches(user_id, channel))
        .and_then(|rule| rule.join_leave)
}

/// `*` matches any run of characters, everything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let tokens: Vec<Token> = pattern
        .chars()
        .map(|c| if c == '*' { Token::Any } else { Token::Char(c) })
        .collect();
    match_tokens(&tokens, text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
}

/// Whole-string glob match, backtracking to the last `*` only: linear in practice, at
/// worst pattern × text, never exponential.
fn match_tokens(p: &[Token], text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(Token::Any) => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(Token::Char(c)) if *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    pi = star + 1;
                    ti = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|tok| *tok == Token::Any)
}

#[cfg(test)]
mod tests;
