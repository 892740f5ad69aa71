//! Numbers read out of event frames without parsing the JSON and without allocating: the
//! fan-out reads two of them from every one of tens of thousands of deliveries a second.

/// The start of a Socket.IO event `event` (a publication), as every server encodes it.
const EVENT: &str = "[\"event\",";
/// The publication's due time and number, as the publisher writes them into `data`.
const SENT: &str = "\"sent\":";
const SEQ: &str = "\"seq\":";

/// The unsigned integer right after the first `needle` in `raw` (spaces skipped).
/// `None` when the needle is missing, no digit follows, or the number overflows a u64.
pub fn u64_after(raw: &str, needle: &str) -> Option<u64> {
    let at = raw.find(needle)? + needle.len();
    let digits = raw[at..].trim_start_matches(' ').as_bytes();
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 {
        return None;
    }
    digits[..len].iter().try_fold(0u64, |value, digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// The integer after `"key":` in `raw`. Builds its needle on every call: for the modes
/// where a few thousand events a second are read, not the fan-out.
pub fn field_u64(raw: &str, key: &str) -> Option<u64> {
    u64_after(raw, &format!("\"{key}\":"))
}

/// A fan-out delivery's `(sent, seq)` from an event's JSON array text; `None` for any other
/// event, or a publication without both numbers.
pub fn delivery(payload: &str) -> Option<(u64, u64)> {
    if !payload.starts_with(EVENT) {
        return None;
    }
    Some((u64_after(payload, SENT)?, u64_after(payload, SEQ)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = r#"["event",{"channel":"public:b","event":"tick","data":{"sent":1700,"seq":42},"offset":7}]"#;

    #[test]
    fn reads_a_publications_numbers() {
        assert_eq!(delivery(RAW), Some((1700, 42)));
        assert_eq!(field_u64(RAW, "offset"), Some(7));
        assert_eq!(field_u64(RAW, "missing"), None);
    }

    #[test]
    fn skips_spaces_and_refuses_what_is_not_a_number() {
        assert_eq!(u64_after(r#"{"seq": 5}"#, SEQ), Some(5));
        assert_eq!(u64_after(r#"{"seq":"5"}"#, SEQ), None);
        assert_eq!(u64_after(r#"{"seq":-5}"#, SEQ), None);
        assert_eq!(u64_after(r#"{"seq":}"#, SEQ), None);
        assert_eq!(u64_after(r#"{"seq":99999999999999999999}"#, SEQ), None);
        assert_eq!(
            u64_after(r#"{"seq":18446744073709551615}"#, SEQ),
            Some(u64::MAX)
        );
    }

    #[test]
    fn only_publications_with_both_numbers_are_deliveries() {
        assert_eq!(delivery(r#"["message:new",{"sent":1,"seq":2}]"#), None);
        assert_eq!(delivery(r#"["event",{"data":{"sent":1}}]"#), None);
        assert_eq!(delivery(r#"["event",{"data":{"seq":2}}]"#), None);
        assert_eq!(
            delivery(r#"["event",{"data":{"seq":2,"sent":1}}]"#),
            Some((1, 2))
        );
    }
}
