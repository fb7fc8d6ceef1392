//! User names as people and clients type them: normalised once, here, so that the login
//! limiter, authentication, account creation and the audit log all see the same name, and
//! capped in length before anything stores or counts them.

use super::AccountError;

pub const MAX_USERNAME_CHARS: usize = 64;

/// A user name from a login form or a Basic header: surrounding whitespace (spaces, tabs,
/// newlines, no-break spaces) and control characters removed, 1 to [`MAX_USERNAME_CHARS`]
/// characters, no control characters inside. It may still name no account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserName(String);

fn is_padding(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

impl UserName {
    /// Normalises and checks a name; the error names the field and the rule.
    pub fn parse(raw: &str) -> Result<UserName, AccountError> {
        let name = raw.trim_matches(is_padding);
        // Counting stops just past the limit: the size of a hostile input costs nothing here.
        let n = name.chars().take(MAX_USERNAME_CHARS + 1).count();
        if n == 0 {
            return Err(AccountError::Invalid("username is empty".into()));
        }
        if n > MAX_USERNAME_CHARS {
            return Err(AccountError::Invalid(format!(
                "username is longer than {MAX_USERNAME_CHARS} characters; at most {MAX_USERNAME_CHARS} are allowed"
            )));
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(AccountError::Invalid(format!(
                "username contains the control character U+{:04X}; control characters are not allowed",
                c as u32
            )));
        }
        Ok(UserName(name.to_string()))
    }

    /// A name for a new account: as [`UserName::parse`], and only letters, digits, '.', '_'
    /// and '-'.
    pub fn parse_new(raw: &str) -> Result<UserName, AccountError> {
        let name = UserName::parse(raw)?;
        if let Some(c) = name.0.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
            return Err(AccountError::Invalid(format!(
                "username '{}' contains '{c}'; use letters, digits, '.', '_' and '-' only",
                name.0
            )));
        }
        Ok(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What two spellings of one account share: the database compares names with SQLite's
    /// NOCASE, which folds ASCII letters only, so this folds exactly those.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_name_normalise_to_one_key() {
        for spelling in ["admin", "admin ", "\tadmin", "ADMIN\r\n", "\u{a0}Admin\u{3000}", "admin\u{0}"] {
            let name = UserName::parse(spelling).unwrap();
            assert_eq!(name.key(), "admin", "{spelling:?}");
        }
        assert_eq!(UserName::parse("  Ann ").unwrap().as_str(), "Ann", "the spelling is kept, trimmed");
    }

    #[test]
    fn long_empty_and_control_names_are_refused_naming_the_rule() {
        let long = UserName::parse(&"a".repeat(2_000_000)).unwrap_err().to_string();
        assert!(long.contains("username is longer than 64 characters"), "{long}");
        assert!(long.len() < 200, "the message does not repeat the input");
        assert!(UserName::parse(&"é".repeat(64)).is_ok(), "64 characters, not bytes");
        assert!(UserName::parse(" \t ").unwrap_err().to_string().contains("empty"));
        let inner = UserName::parse("ad\tmin").unwrap_err().to_string();
        assert!(inner.contains("U+0009"), "{inner}");
    }

    #[test]
    fn new_account_names_allow_a_small_alphabet() {
        assert!(UserName::parse_new("a.b_c-9").is_ok());
        let err = UserName::parse_new("../etc").unwrap_err().to_string();
        assert!(err.contains("contains '/'"), "{err}");
        assert!(UserName::parse_new("ad min").is_err());
    }
}
