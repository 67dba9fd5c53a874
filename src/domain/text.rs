//! Free text people write — staff notes, reasons, the details of a data request — and the rules
//! it meets. Each rule is a length range and one regular expression, so the OpenAPI document can
//! carry exactly what is enforced (the patterns' syntax is common to Rust, ECMA-262 and Python).

use std::sync::LazyLock;

use regex::Regex;

/// A length range (in characters, as sent) and a pattern. Stored trimmed; blank optional text is
/// stored as none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    pub min_chars: usize,
    pub max_chars: usize,
    pub pattern: &'static str,
}

/// Anything but NUL, which PostgreSQL text cannot hold and no one types.
pub const ANY_TEXT: &str = r"^[^\u0000]*$";
/// As `ANY_TEXT`, with at least one character that is not a space or a control character.
pub const VISIBLE_TEXT: &str = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0][^\u0000]*$";

/// A note on an application, or a decision's reason where one is optional.
pub const NOTE: TextRule = TextRule {
    min_chars: 0,
    max_chars: 2000,
    pattern: ANY_TEXT,
};

/// A reason that must be given (refusing or extending a data request).
pub const REQUIRED_REASON: TextRule = TextRule {
    min_chars: 1,
    max_chars: 2000,
    pattern: VISIBLE_TEXT,
};

/// Why a member of staff looks at someone's data, for the audit log.
pub const ACCESS_REASON: TextRule = TextRule {
    min_chars: 5,
    max_chars: 500,
    pattern: VISIBLE_TEXT,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must be at least {0} characters")]
    TooShort(usize),
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must contain a visible character and no NUL character")]
    Unreadable,
}

impl TextRule {
    /// The text, trimmed; `None` when it is blank and blank is allowed.
    pub fn parse(&self, raw: &str) -> Result<Option<String>, TextError> {
        static ANY: LazyLock<Regex> = LazyLock::new(|| Regex::new(ANY_TEXT).expect("valid"));
        static VISIBLE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(VISIBLE_TEXT).expect("valid"));
        let length = raw.chars().count();
        if length < self.min_chars {
            return Err(TextError::TooShort(self.min_chars));
        }
        if length > self.max_chars {
            return Err(TextError::TooLong(self.max_chars));
        }
        let rule = if self.pattern == VISIBLE_TEXT {
            &VISIBLE
        } else {
            &ANY
        };
        if !rule.is_match(raw) {
            return Err(TextError::Unreadable);
        }
        let trimmed = raw.trim();
        Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
    }

    /// `parse` for an optional field.
    pub fn parse_optional(&self, raw: Option<&str>) -> Result<Option<String>, TextError> {
        Ok(raw.map(|raw| self.parse(raw)).transpose()?.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_trimmed_and_blank_is_none() {
        assert_eq!(NOTE.parse("  Fine. \n"), Ok(Some("Fine.".into())));
        assert_eq!(NOTE.parse("   "), Ok(None));
        assert_eq!(NOTE.parse_optional(None), Ok(None));
        assert_eq!(NOTE.parse(&"a".repeat(2001)), Err(TextError::TooLong(2000)));
        assert_eq!(NOTE.parse("a\u{0}b"), Err(TextError::Unreadable));
    }

    #[test]
    fn a_required_reason_must_say_something() {
        assert_eq!(REQUIRED_REASON.parse(""), Err(TextError::TooShort(1)));
        assert_eq!(REQUIRED_REASON.parse(" \n\t "), Err(TextError::Unreadable));
        assert_eq!(REQUIRED_REASON.parse(" ok "), Ok(Some("ok".into())));
        assert_eq!(ACCESS_REASON.parse("abc"), Err(TextError::TooShort(5)));
        assert_eq!(
            ACCESS_REASON.parse("fraud check"),
            Ok(Some("fraud check".into()))
        );
    }
}
