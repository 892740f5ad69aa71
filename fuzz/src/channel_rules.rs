//! Channel rules with arbitrary patterns, subs and channels
//! (`switchyard_namespaces::channel_rules`): `{sub}` is the user's id as literal text, so
//! no sub (not even one of `*` and `{sub}`, which authentication refuses anyway) makes a
//! rule match another user's channel.
//!
//! Input: UTF-8 (lossy) lines `pattern`, `sub`, `other`, `channel`; missing ones are empty.

use switchyard_namespaces::Identity;
use switchyard_namespaces::channel_rules::{RulePattern, default_rules, may_subscribe};

pub fn fuzz(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or_default().to_owned();
    let (pattern, sub, other, channel) = (next(), next(), next(), next());

    own_channel_only(&sub, &other);
    let Ok(compiled) = RulePattern::try_from(pattern.clone()) else {
        let rest = pattern.replace("{sub}", "");
        assert!(rest.contains(['{', '}']), "refused {pattern:?}");
        return;
    };
    assert_eq!(compiled.as_str(), pattern, "the settings text is kept");
    let tokens = expand(&pattern, &sub);
    for candidate in [channel.clone(), fill(&tokens, &channel), fill(&tokens, "")] {
        assert_eq!(
            compiled.matches(&sub, &candidate),
            reference(&tokens, &candidate),
            "pattern {pattern:?} sub {sub:?} channel {candidate:?}"
        );
    }
    assert!(
        compiled.matches(&sub, &fill(&tokens, &channel)),
        "its own expansion"
    );
}

/// The default rules give `user:{other}` to `sub` only when they are the same id.
fn own_channel_only(sub: &str, other: &str) {
    let who = Identity {
        user_id: sub.to_owned(),
        roles: Vec::new(),
        channels: Vec::new(),
        name: None,
        expires_at: 0,
    };
    let channel = format!("user:{other}");
    assert_eq!(
        may_subscribe(&default_rules(), &who, &channel),
        sub == other,
        "sub {sub:?} on {channel:?}"
    );
}

#[derive(Clone, Copy, PartialEq)]
enum Tok {
    Char(char),
    Any,
}

/// The pattern with `{sub}` written out as the sub's characters, each standing for itself.
fn expand(pattern: &str, sub: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    for (i, chunk) in pattern.split("{sub}").enumerate() {
        if i > 0 {
            out.extend(sub.chars().map(Tok::Char));
        }
        out.extend(
            chunk
                .chars()
                .map(|c| if c == '*' { Tok::Any } else { Tok::Char(c) }),
        );
    }
    out
}

/// A channel the tokens must match: every `*` replaced by `filler`.
fn fill(tokens: &[Tok], filler: &str) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Tok::Char(c) => c.to_string(),
            Tok::Any => filler.to_owned(),
        })
        .collect()
}

/// Whole-string match by dynamic programming: slow and obviously right.
fn reference(tokens: &[Tok], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    // row[j]: tokens so far match text[..j].
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for tok in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match tok {
                Tok::Any => row[j] || (j > 0 && next[j - 1]),
                Tok::Char(c) => j > 0 && row[j - 1] && text[j - 1] == *c,
            };
        }
        row = next;
    }
    row[text.len()]
}
