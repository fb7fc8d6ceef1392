//! [`ErrorKind`]: what kind of failure an action met, shared by every capability's error type,
//! and the one place a kind becomes an HTTP status. Plain data: the browser bundle uses it too.

use serde::{Deserialize, Serialize};

/// The kinds of failure. Each capability's error says which kind it is ([`Failure::kind`]);
/// the web layer answers every error of a kind the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorKind {
    /// The request breaks a rule (a bad name, a value out of range): 400.
    Invalid,
    /// Nobody is logged in, or the credentials are wrong: 401.
    Unauthenticated,
    /// Logged in, but the role does not allow it: 403.
    Forbidden,
    /// The thing named does not exist: 404.
    NotFound,
    /// The resource exists but does not answer this method: 405.
    MethodNotAllowed,
    /// It clashes with what exists (a name taken): 409.
    Conflict,
    /// Past a size limit: 413.
    TooLarge,
    /// A type or content that is not accepted: 415.
    Unsupported,
    /// Too many attempts; try later: 429.
    RateLimited,
    /// okrflow failed (a bug or a broken store): 500.
    Internal,
    /// Something okrflow depends on does not answer (the database): 503.
    Unavailable,
    /// The disk could not take it: 507.
    InsufficientStorage,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Invalid,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::Conflict,
        ErrorKind::TooLarge,
        ErrorKind::Unsupported,
        ErrorKind::RateLimited,
        ErrorKind::Internal,
        ErrorKind::Unavailable,
        ErrorKind::InsufficientStorage,
    ];

    /// The HTTP status a failure of this kind is answered with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unsupported => 415,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
            ErrorKind::InsufficientStorage => 507,
        }
    }

    /// The kind a status stands for (an answer read back, e.g. by the browser); unknown 4xx are
    /// `Invalid`, unknown 5xx `Internal`.
    pub fn from_status(status: u16) -> ErrorKind {
        ErrorKind::ALL.into_iter().find(|k| k.status() == status).unwrap_or(if status < 500 {
            ErrorKind::Invalid
        } else {
            ErrorKind::Internal
        })
    }

    /// The name in JSON answers: `not_found`, `too_large`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::InsufficientStorage => "insufficient_storage",
        }
    }

    /// okrflow's fault rather than the caller's: logged as an error where it is answered.
    pub fn is_server_error(self) -> bool {
        self.status() >= 500
    }
}

/// A capability's error: its message names the thing and the rule, its kind says how to answer.
pub trait Failure: std::fmt::Display {
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_status_and_name_and_reads_back() {
        let mut statuses: Vec<u16> = ErrorKind::ALL.iter().map(|k| k.status()).collect();
        statuses.dedup();
        assert_eq!(statuses.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_status(kind.status()), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.is_server_error(), kind.status() >= 500);
        }
        assert_eq!(ErrorKind::from_status(418), ErrorKind::Invalid);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::Internal);
    }
}
