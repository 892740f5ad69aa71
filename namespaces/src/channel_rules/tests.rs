//! Unit tests of the channel rules: the defaults, `{sub}` as literal text, token grants.

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

fn rule(pattern: &str) -> ChannelRule {
    ChannelRule::new(pattern, Allow::Any).expect("valid pattern")
}

#[test]
fn default_rules_follow_the_contract() {
    let rules = default_rules();
    assert_eq!(rules.len(), 6);
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
fn sub_is_literal_text_not_a_glob() {
    let rules = default_rules();
    for sub in ["*", "b*", "*b", "**", "user:*", "bo*b"] {
        let who = user(sub, &[], &[]);
        for other in ["user:bob", "user:b", "user:", "user:alice"] {
            assert!(!may_subscribe(&rules, &who, other), "{sub} reached {other}");
        }
    }
    // A star sub matches only the channel spelled with that very star.
    assert!(may_subscribe(&rules, &user("*", &[], &[]), "user:*"));
    assert!(rule("user:{sub}").pattern.matches("b*", "user:b*"));
    assert!(!rule("user:{sub}").pattern.matches("b*", "user:bob"));
}

#[test]
fn custom_sub_rules_are_literal_around_their_stars() {
    let team = rule("team:{sub}:*");
    assert!(team.pattern.matches("ann", "team:ann:chat"));
    assert!(team.pattern.matches("ann", "team:ann:"));
    assert!(!team.pattern.matches("ann", "team:anna:chat"));
    assert!(!team.pattern.matches("*", "team:ann:chat"));
    assert!(!team.pattern.matches("a*", "team:ann:chat"));
    assert!(team.pattern.matches("a*", "team:a*:chat"));
    let twice = rule("dm:{sub}:{sub}");
    assert!(twice.pattern.matches("x", "dm:x:x"));
    assert!(!twice.pattern.matches("x", "dm:x:y"));
}

#[test]
fn patterns_only_know_the_sub_placeholder() {
    for bad in ["user:{id}", "user:{sub", "user:sub}", "{", "a}b"] {
        assert!(
            RulePattern::try_from(bad.to_string()).is_err(),
            "{bad} accepted"
        );
    }
    let parsed: ChannelRule =
        serde_json::from_value(serde_json::json!({"pattern": "team:{sub}:*", "allow": "any"}))
            .expect("a valid rule");
    assert_eq!(parsed.pattern.as_str(), "team:{sub}:*");
    assert_eq!(
        serde_json::to_value(&parsed).expect("serializes")["pattern"],
        "team:{sub}:*"
    );
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
    assert!(glob_match("", ""));
    assert!(!glob_match("", "a"));
}

#[test]
fn allow_parses_from_settings_text() {
    assert_eq!(
        Allow::try_from("role:ops".to_string()),
        Ok(Allow::Role("ops".into()))
    );
    assert!(Allow::try_from("role:".to_string()).is_err());
    assert!(Allow::try_from("everyone".to_string()).is_err());
    assert_eq!(Allow::try_from("backend".to_string()), Ok(Allow::Backend));
    assert_eq!(String::from(Allow::Backend), "backend");
}

/// Every string over `alphabet` of up to `max` symbols.
fn strings(alphabet: &[&str], max: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..max {
        last = last
            .iter()
            .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// Whole-string glob by dynamic programming over `pattern` with `{sub}` written out as
/// literal characters: slow and obviously right.
fn reference(pattern: &str, sub: &str, text: &str) -> bool {
    let mut tokens: Vec<Option<char>> = Vec::new();
    for (i, chunk) in pattern.split("{sub}").enumerate() {
        if i > 0 {
            tokens.extend(sub.chars().map(Some));
        }
        tokens.extend(chunk.chars().map(|c| (c != '*').then_some(c)));
    }
    let text: Vec<char> = text.chars().collect();
    let mut row: Vec<bool> = (0..=text.len()).map(|j| j == 0).collect();
    for tok in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match tok {
                None => row[j] || (j > 0 && next[j - 1]),
                Some(c) => j > 0 && row[j - 1] && text[j - 1] == c,
            };
        }
        row = next;
    }
    row[text.len()]
}

#[test]
fn small_patterns_match_exactly_like_the_reference() {
    let patterns = strings(&["a", ":", "*", "{sub}"], 4);
    let texts = strings(&["a", ":", "*"], 5);
    for pattern in &patterns {
        let compiled = RulePattern::try_from(pattern.clone()).expect("valid");
        for sub in ["", "a", "*", "a*", "{sub}"] {
            for text in &texts {
                assert_eq!(
                    compiled.matches(sub, text),
                    reference(pattern, sub, text),
                    "{pattern:?} sub {sub:?} on {text:?}"
                );
            }
        }
    }
}

#[test]
fn join_leave_comes_from_the_first_rule_that_sets_it() {
    let rules: Vec<ChannelRule> = serde_json::from_value(serde_json::json!([
        {"pattern": "public:*", "allow": "any"},
        {"pattern": "stage:*", "allow": "any", "joinLeave": false},
        {"pattern": "room:{sub}", "allow": "any", "joinLeave": true},
        {"pattern": "*", "allow": "claims", "joinLeave": true},
    ]))
    .expect("valid rules");
    assert_eq!(join_leave(&rules, "ann", "stage:main"), Some(false));
    assert_eq!(join_leave(&rules, "ann", "room:ann"), Some(true));
    // `room:{sub}` is not bob's room; the catch-all decides.
    assert_eq!(join_leave(&rules, "bob", "room:ann"), Some(true));
    assert_eq!(join_leave(&rules[..2], "ann", "public:lobby"), None);
    let back = serde_json::to_value(&rules[1]).expect("serializes");
    assert_eq!(back["joinLeave"], false);
    assert!(
        serde_json::to_value(&rules[0])
            .expect("serializes")
            .get("joinLeave")
            .is_none()
    );
}

#[test]
fn a_backend_rule_asks_only_when_nothing_else_allows() {
    let rules: Vec<ChannelRule> = serde_json::from_value(serde_json::json!([
        {"pattern": "doc:*", "allow": "backend"},
        {"pattern": "doc:public-*", "allow": "any"},
    ]))
    .expect("rules");
    assert!(any_backend_rule(&rules));
    assert!(!any_backend_rule(&default_rules()));
    let alice = user("alice", &[], &[]);
    assert_eq!(
        rule_verdict(&rules, &alice, "doc:7"),
        RuleVerdict::AskBackend
    );
    assert!(
        !may_subscribe(&rules, &alice, "doc:7"),
        "only the hook allows"
    );
    assert_eq!(
        rule_verdict(&rules, &alice, "doc:public-1"),
        RuleVerdict::Allowed
    );
    assert_eq!(rule_verdict(&rules, &alice, "wiki:1"), RuleVerdict::Denied);
    let granted = user("alice", &[], &["doc:7"]);
    assert_eq!(
        rule_verdict(&rules, &granted, "doc:7"),
        RuleVerdict::Allowed,
        "a grant needs no hook"
    );
}
