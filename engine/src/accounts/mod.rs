//! Accounts and access: users and their roles, browser sessions, API tokens, the audit log and
//! the login rate limit.
//!
//! The plain types here ([`Role`], [`UserView`], …) compile for the browser too. With `runtime`:
//! - [`password`]: argon2id hashing and verification, with equal work for unknown users.
//! - [`names`]: [`names::UserName`], the one normalisation and length cap of user names.
//! - [`users`]: create, list, re-role, disable, reset, change own password; the first admin.
//! - [`sessions`]: server-side sessions behind an opaque cookie, with expiry and logout.
//! - [`tokens`]: named API tokens, shown once, stored hashed, with last use and expiry.
//! - [`audit`]: who did what, when, from where; entries bounded in size, pruned by age and count.
//! - [`ratelimit`]: failed-login limits per account and per address.
//! - [`secret`]: random secrets and their one-way hashes.
//! - [`Accounts`] (handle.rs): every accounts action as the web layer calls it, with the
//!   caller's right checked and the audit record written.

use serde::{Deserialize, Serialize};

#[cfg(feature = "runtime")]
pub mod audit;
#[cfg(feature = "runtime")]
mod handle;
#[cfg(feature = "runtime")]
pub mod names;
#[cfg(feature = "runtime")]
pub mod password;
#[cfg(feature = "runtime")]
pub mod ratelimit;
#[cfg(feature = "runtime")]
pub mod secret;
#[cfg(feature = "runtime")]
pub mod sessions;
#[cfg(feature = "runtime")]
pub mod tokens;
#[cfg(feature = "runtime")]
pub mod users;

#[cfg(feature = "runtime")]
pub use error::AccountError;
#[cfg(feature = "runtime")]
pub use handle::{record, Accounts, LoggedIn, MAX_FILTER_CHARS, MAX_TOKEN_DAYS};

/// What a user may do. Ordered: each role can do everything the one before it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also uploads, triggers runs, logs experiments.
    Editor,
    /// Also manages users, services, pipeline definitions that run programs, and settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A user as pages and admins see it: never the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at_ms: i64,
}

/// Who is making a request, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// How they proved it.
    pub via: AuthMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    Session,
    Token,
    Password,
}

/// An API token as its owner sees it in a list: never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub revoked: bool,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub ts_ms: i64,
    /// The username, or "anonymous".
    pub actor: String,
    /// What was done, e.g. "login", "login.failed", "user.create", "token.revoke".
    pub action: String,
    /// What it was done to, e.g. a username or a token name.
    pub target: String,
    /// The client address.
    pub ip: String,
    /// "ok", "denied" or "failed".
    pub outcome: String,
    pub detail: String,
}

/// Filters for the audit page; all optional, results newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub before_id: Option<i64>,
    pub limit: usize,
}

#[cfg(feature = "runtime")]
mod error {
    /// What can go wrong with accounts; each message names the thing and the rule.
    #[derive(Debug, thiserror::Error)]
    pub enum AccountError {
        /// A caller's mistake (bad name, weak password, unknown user…): a 4xx.
        #[error("{0}")]
        Invalid(String),
        /// Wrong credentials; deliberately the same message for unknown users.
        #[error("wrong username or password")]
        BadCredentials,
        /// Too many failed logins.
        #[error("{0}")]
        RateLimited(String),
        #[error("{0} not found")]
        NotFound(String),
        #[error("{0}")]
        Conflict(String),
        #[error("database error: {0}")]
        Db(#[from] sqlx::Error),
        #[error("password hashing failed: {0}")]
        Hash(String),
        #[error(transparent)]
        Denied(#[from] crate::actor::Denied),
    }

    impl crate::error::Failure for AccountError {
        fn kind(&self) -> crate::error::ErrorKind {
            use crate::error::ErrorKind;
            match self {
                AccountError::Invalid(_) => ErrorKind::Invalid,
                AccountError::BadCredentials => ErrorKind::Unauthenticated,
                AccountError::RateLimited(_) => ErrorKind::RateLimited,
                AccountError::NotFound(_) => ErrorKind::NotFound,
                AccountError::Conflict(_) => ErrorKind::Conflict,
                AccountError::Db(e) => crate::db::error_kind(e),
                AccountError::Hash(_) => ErrorKind::Internal,
                AccountError::Denied(d) => d.kind(),
            }
        }
    }
}
