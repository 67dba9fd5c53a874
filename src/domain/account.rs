//! What an account is made of, and the rules for each part: a name, an email address, a
//! password, a role. Sign-up takes these and nothing else (data minimisation).

use std::fmt;

use super::validation::ValidationErrors;

/// The lawful basis for processing account data: the resident's contract with the council for
/// the services they ask for.
pub const LAWFUL_BASIS: &str = "contract";

/// A person's name as they want to be addressed. Any script, apostrophes, hyphens and spaces are
/// welcome; control characters and names without a letter are not. Runs of whitespace are
/// collapsed when stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {} characters", AccountName::MAX_CHARS)]
    TooLong,
    #[error("must contain a letter and no control characters")]
    NotAName,
}

impl AccountName {
    pub const MAX_CHARS: usize = 100;
    /// The whole rule as one regular expression, so the OpenAPI document carries exactly what is
    /// enforced: a letter, and no control character other than whitespace (which is collapsed).
    /// The syntax is common to Rust, ECMA-262 and Python.
    pub const PATTERN: &str = concat!(
        r"^[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*\p{L}",
        r"[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*$"
    );

    pub fn parse(raw: &str) -> Result<AccountName, NameError> {
        static RULE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(AccountName::PATTERN).expect("valid"));
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(NameError::TooLong);
        }
        if !RULE.is_match(raw) {
            return Err(NameError::NotAName);
        }
        // Collapse runs of whitespace so "Siân  O'Brien" and "Siân O'Brien" are one name.
        Ok(AccountName(
            raw.split_whitespace().collect::<Vec<_>>().join(" "),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A syntactically valid email address (`PATTERN`). Compared case-insensitively through
/// [`EmailAddress::normalized`].
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {} characters", EmailAddress::MAX_CHARS)]
    TooLong,
    #[error("is not a valid email address")]
    Invalid,
}

impl EmailAddress {
    pub const MAX_CHARS: usize = 254;
    /// The rule, so the OpenAPI document carries it (with `format: email`, whose 64-character
    /// limit on the local part is checked beside it): an RFC 5321 dot-atom local part and a
    /// domain of at least two labels; nothing around them (a form trims what a person typed).
    /// ASCII only (internationalised domains are written in their `xn--` form).
    pub const PATTERN: &str = concat!(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@",
        r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    );

    pub fn parse(raw: &str) -> Result<EmailAddress, EmailError> {
        static RULE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(EmailAddress::PATTERN).expect("valid"));
        if raw.is_empty() {
            return Err(EmailError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        let local_part_fits = raw
            .split_once('@')
            .is_some_and(|(local, _)| local.len() <= 64);
        if !RULE.is_match(raw) || !local_part_fits {
            return Err(EmailError::Invalid);
        }
        Ok(EmailAddress(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for comparison and uniqueness: lower-cased.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Email addresses are personal data: `Debug` shows only the domain.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map_or("?", |(_, d)| d);
        write!(f, "EmailAddress(***@{domain})")
    }
}

/// A password that meets the policy: 12–128 characters and not a well-known one.
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {} characters", Password::MIN_CHARS)]
    TooShort,
    #[error("must be at most {} characters", Password::MAX_CHARS)]
    TooLong,
    #[error("is too common; choose a less guessable password")]
    TooCommon,
}

/// Common passwords of 12 or more characters (shorter ones are refused anyway), from public
/// breach corpora. Compared case-insensitively.
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789012345",
    "1234567890qwerty",
    "qwertyuiopasdfgh",
    "qwertyuiop123",
    "qwerty123456",
    "qwertyuiop1234",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "welcome123456",
    "administrator",
    "changeme1234",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "monkey123456",
    "dragon123456",
    "abc123456789",
    "abcdefghijkl",
    "aaaaaaaaaaaa",
    "111111111111",
    "000000000000",
    "trustno11234",
    "superman1234",
    "starwars1234",
    "whatever1234",
    "qazwsxedcrfv",
    "1q2w3e4r5t6y",
    "zaq12wsxcde3",
    "mynorfolk123",
    "norfolk12345",
    "norwich12345",
    "correcthorsebatterystaple",
    "passw0rd1234",
    "p@ssw0rd1234",
    "letmeinplease",
];

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;
    /// Refused whatever their case.
    pub const COMMON: &[&str] = COMMON_PASSWORDS;

    pub fn parse(raw: &str) -> Result<Password, PasswordError> {
        let length = raw.chars().count();
        if length < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if length > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        let lowered = raw.to_lowercase();
        let one_repeated_char = raw.chars().all(|c| raw.starts_with(c));
        if one_repeated_char || COMMON_PASSWORDS.contains(&lowered.as_str()) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What an account may do. Sign-up only ever makes residents; staff and admins are created by an
/// admin or on the command line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Resident,
    Staff,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "resident" => Some(Role::Resident),
            "staff" => Some(Role::Staff),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Council staff work the queues; admins can do everything staff can.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Staff | Role::Admin)
    }
}

super::parsed_from_text!(Role, "role");

/// A sign-up that passed every rule.
#[derive(Debug)]
pub struct NewAccount {
    pub name: AccountName,
    pub email: EmailAddress,
    pub password: Password,
}

impl NewAccount {
    /// Checks every field and reports all problems at once.
    pub fn parse(
        name: &str,
        email: &str,
        password: &str,
        accept_terms: bool,
    ) -> Result<NewAccount, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = errors.check("name", AccountName::parse(name));
        let email = errors.check("email", EmailAddress::parse(email));
        let password = errors.check("password", Password::parse(password));
        if !accept_terms {
            errors.add(
                "accept_terms",
                "must be true: the terms must be accepted to open an account",
            );
        }
        match (name, email, password) {
            (Some(name), Some(email), Some(password)) if errors.is_empty() => Ok(NewAccount {
                name,
                email,
                password,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_names_with_apostrophes_and_hyphens_are_welcome() {
        for name in [
            "Siân O'Brien-Ng",
            "Zoë",
            "李小龍",
            "Ōtake Ayaka",
            "Mary-Jane d’Arcy",
            "Ng",
        ] {
            assert_eq!(AccountName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn names_are_trimmed_and_inner_whitespace_collapsed() {
        assert_eq!(
            AccountName::parse("  Siân   Jones \n").unwrap().as_str(),
            "Siân Jones"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(AccountName::parse(""), Err(NameError::Empty));
        assert_eq!(AccountName::parse("   "), Err(NameError::NotAName));
        assert_eq!(
            AccountName::parse(&"a".repeat(101)),
            Err(NameError::TooLong)
        );
        assert!(AccountName::parse(&"a".repeat(100)).is_ok());
        assert_eq!(AccountName::parse("Bob\u{0007}"), Err(NameError::NotAName));
        assert_eq!(
            AccountName::parse("Bob\u{0000}Smith"),
            Err(NameError::NotAName)
        );
        assert_eq!(AccountName::parse("1234 !!"), Err(NameError::NotAName));
        // The length is the length sent, before whitespace is collapsed.
        assert_eq!(
            AccountName::parse(&format!("Jo{}Bloggs", " ".repeat(95))),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn emails_keep_their_case_and_compare_without_it() {
        let email = EmailAddress::parse("Sian.Jones@Example.ORG").unwrap();
        assert_eq!(email.as_str(), "Sian.Jones@Example.ORG");
        assert_eq!(email.normalized(), "sian.jones@example.org");
        // Surrounding space is the form's to trim: the rule is exactly the documented pattern.
        assert_eq!(
            EmailAddress::parse(" a@example.org"),
            Err(EmailError::Invalid)
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "plainaddress",
            "@example.org",
            "a@",
            "a@localhost",
            "a b@example.org",
            "a@@example.org",
            ".a@example.org",
            "a..b@example.org",
            "a.@example.org",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(EmailError::Invalid), "{bad}");
        }
        assert_eq!(EmailAddress::parse(""), Err(EmailError::Empty));
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(EmailAddress::parse(&long_local), Err(EmailError::Invalid));
        assert!(EmailAddress::parse(&format!("{}@example.org", "a".repeat(64))).is_ok());
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn email_debug_hides_the_local_part() {
        let email = EmailAddress::parse("sian@example.org").unwrap();
        assert_eq!(format!("{email:?}"), "EmailAddress(***@example.org)");
    }

    #[test]
    fn password_policy() {
        assert!(matches!(
            Password::parse("short"),
            Err(PasswordError::TooShort)
        ));
        assert!(matches!(
            Password::parse(&"ab".repeat(65)),
            Err(PasswordError::TooLong)
        ));
        assert!(matches!(
            Password::parse("Password1234"),
            Err(PasswordError::TooCommon)
        ));
        assert!(matches!(
            Password::parse("zzzzzzzzzzzzzz"),
            Err(PasswordError::TooCommon)
        ));
        assert!(Password::parse("correct horse battery").is_ok());
        // Length counts characters, not bytes.
        assert!(Password::parse("ŵŵŵŵŵŵxŵŵŵŵŵ").is_ok());
        assert!(matches!(
            Password::parse("ŵŵŵŵŵŵŵŵŵŵŵ"),
            Err(PasswordError::TooShort)
        ));
    }

    #[test]
    fn new_account_reports_every_problem() {
        let errors = NewAccount::parse("", "nope", "short", false).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "password", "accept_terms"]);
    }

    #[test]
    fn roles() {
        assert!(Role::Admin.is_staff() && Role::Staff.is_staff() && !Role::Resident.is_staff());
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
