//! Domain rules in plain Rust: no actix, no diesel. Types here are parsed from untrusted input
//! ("parse, don't validate"): once you hold an `EmailAddress`, it is a valid, normalised one.

pub mod account;
pub mod application;
pub mod attachment;
pub mod data_request;
pub mod deadlines;
pub mod payment;
pub mod services;
pub mod text;
pub mod validation;

/// A stored value that names none of an enum's variants: a corrupt row, never a silent default.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// `TryFrom<String>` for an enum with `parse`, so that persistence reads stored text as the enum
/// and refuses anything else.
macro_rules! parsed_from_text {
    ($type:ty, $what:literal) => {
        impl TryFrom<String> for $type {
            type Error = $crate::domain::UnknownValue;
            fn try_from(value: String) -> Result<Self, $crate::domain::UnknownValue> {
                <$type>::parse(&value).ok_or($crate::domain::UnknownValue { what: $what, value })
            }
        }
    };
}
pub(crate) use parsed_from_text;

#[cfg(test)]
mod tests {
    use super::account::Role;
    use super::application::Status;

    #[test]
    fn stored_text_is_read_strictly() {
        assert_eq!(
            Status::try_from("under_review".to_owned()).unwrap(),
            Status::UnderReview
        );
        assert_eq!(Role::try_from("admin".to_owned()).unwrap(), Role::Admin);
        let corrupt = Status::try_from("Submitted ".to_owned()).unwrap_err();
        assert_eq!(
            corrupt.to_string(),
            r#""Submitted " is not a known application status"#
        );
        assert!(Role::try_from("root".to_owned()).is_err());
    }
}
