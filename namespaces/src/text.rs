//! Free text a client or a service sends: a string with a character limit, checked while
//! the payload is parsed, so an oversized one is `invalid_payload` naming its field.

/// Declares `pub struct $name(pub String)`: at most `$max` characters (may be empty);
/// `$field` names it in the error.
macro_rules! text_at_most {
    ($(#[$doc:meta])* $name:ident, $max:expr, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(pub String);

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                if value.chars().count() > $max {
                    return Err(format!(concat!($field, " is at most {} characters"), $max));
                }
                Ok(Self(value))
            }
        }

        impl $name {
            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}

pub(crate) use text_at_most;
