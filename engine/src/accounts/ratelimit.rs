//! Failed-login limits, per account and per client address, kept in the database so that
//! every okrflow process over it counts the same failures: after too many in the window,
//! further attempts are refused without checking the password, with a message that says when
//! to try again. The same rules apply to names that do not exist, so the limit reveals nothing
//! about which accounts exist. Accounts are keyed by [`UserName::key`], so every spelling
//! authentication would accept counts against one account.

use std::time::Duration;

use super::names::UserName;
use crate::db::Database;

/// The rules: at most `max` failures within `window`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

pub const PER_ACCOUNT: Limit = Limit { max: 5, window: Duration::from_secs(15 * 60) };
pub const PER_ADDRESS: Limit = Limit { max: 20, window: Duration::from_secs(15 * 60) };

#[derive(Clone)]
pub struct LoginLimiter {
    account: Limit,
    address: Limit,
    db: Database,
}

fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl LoginLimiter {
    pub fn new(db: Database, account: Limit, address: Limit) -> Self {
        LoginLimiter { account, address, db }
    }

    /// How long until the oldest failure of `key` within the window expires, if the limit is
    /// reached.
    async fn blocked_for(&self, scope: &str, key: &str, limit: Limit, now_ms: i64) -> Result<Option<Duration>, String> {
        let row: (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), MIN(at_ms) FROM login_failures WHERE scope = $1 AND key = $2 AND at_ms > $3",
        )
        .bind(scope)
        .bind(key)
        .bind(now_ms - ms(limit.window))
        .fetch_one(self.db.pool())
        .await
        .map_err(|e| format!("cannot check the login limits: {e}"))?;
        match row {
            (n, Some(oldest)) if n as usize >= limit.max => {
                let left = ms(limit.window) - (now_ms - oldest);
                Ok(Some(Duration::from_millis(left.max(0) as u64)))
            }
            _ => Ok(None),
        }
    }

    /// Whether a login attempt may proceed; the error is the message to show.
    pub async fn check(&self, username: &UserName, address: &str, now_ms: i64) -> Result<(), String> {
        if let Some(wait) = self.blocked_for("account", &username.key(), self.account, now_ms).await? {
            return Err(format!(
                "too many failed logins for this account ({} in {} minutes); try again in {} minutes",
                self.account.max,
                minutes(self.account.window),
                minutes(wait)
            ));
        }
        if let Some(wait) = self.blocked_for("address", address, self.address, now_ms).await? {
            return Err(format!(
                "too many failed logins from your address ({} in {} minutes); try again in {} minutes",
                self.address.max,
                minutes(self.address.window),
                minutes(wait)
            ));
        }
        Ok(())
    }

    /// Counts a failure against the account and the address.
    pub async fn record_failure(&self, username: &UserName, address: &str, now_ms: i64) {
        let done = sqlx::query(
            "INSERT INTO login_failures (scope, key, at_ms) VALUES ('account', $1, $3), ('address', $2, $3)",
        )
        .bind(username.key())
        .bind(address)
        .bind(now_ms)
        .execute(self.db.pool())
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not count a failed login");
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub async fn record_success(&self, username: &UserName) {
        let done = sqlx::query("DELETE FROM login_failures WHERE scope = 'account' AND key = $1")
            .bind(username.key())
            .execute(self.db.pool())
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not clear an account's failed logins");
        }
    }

    /// Forgets failures older than every window (housekeeping); returns how many.
    pub async fn prune(&self, now_ms: i64) -> Result<u64, sqlx::Error> {
        let window = self.account.window.max(self.address.window);
        Ok(sqlx::query("DELETE FROM login_failures WHERE at_ms <= $1")
            .bind(now_ms - ms(window))
            .execute(self.db.pool())
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;

    fn n(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    both_backends! {
        async fn an_account_is_blocked_after_its_limit_and_freed_after_the_window(db) {
            let limiter = LoginLimiter::new(db.clone(), Limit { max: 3, window: Duration::from_secs(600) }, PER_ADDRESS);
            let t0 = 1_000_000;
            for i in 0..3 {
                assert!(limiter.check(&n("Alice"), "10.0.0.1", t0).await.is_ok(), "attempt {i}");
                limiter.record_failure(&n("Alice"), "10.0.0.1", t0).await;
            }
            let err = limiter.check(&n("alice"), "10.0.0.2", t0 + 60_000).await.unwrap_err();
            assert!(err.contains("for this account"), "{err}");
            assert!(err.contains("try again in 9 minutes"), "{err}");
            assert!(limiter.check(&n("bob"), "10.0.0.1", t0).await.is_ok(), "other accounts are not affected");
            assert!(limiter.check(&n("alice"), "10.0.0.1", t0 + 601_000).await.is_ok());
            assert_eq!(limiter.prune(t0 + 15 * 60_000 + 1).await.unwrap(), 6);
        }

        async fn every_spelling_of_a_locked_account_is_locked(db) {
            let limiter = LoginLimiter::new(db.clone(), Limit { max: 2, window: Duration::from_secs(600) }, PER_ADDRESS);
            let t0 = 1_000_000;
            limiter.record_failure(&n("admin"), "a", t0).await;
            limiter.record_failure(&n("admin"), "b", t0).await;
            for spelling in ["admin", "admin ", "admin\t", "ADMIN", " Admin\n"] {
                assert!(limiter.check(&n(spelling), "c", t0).await.is_err(), "{spelling:?}");
            }
        }

        async fn an_address_is_blocked_across_accounts(db) {
            let limiter = LoginLimiter::new(db.clone(), PER_ACCOUNT, Limit { max: 4, window: Duration::from_secs(60) });
            let t0 = 1_000_000;
            for name in ["a", "b", "c", "d"] {
                limiter.record_failure(&n(name), "192.0.2.9", t0).await;
            }
            let err = limiter.check(&n("e"), "192.0.2.9", t0).await.unwrap_err();
            assert!(err.contains("from your address"), "{err}");
            assert!(limiter.check(&n("e"), "192.0.2.10", t0).await.is_ok());
        }

        async fn success_clears_the_account(db) {
            let limiter = LoginLimiter::new(db.clone(), Limit { max: 2, window: Duration::from_secs(60) }, PER_ADDRESS);
            let t0 = 1_000_000;
            limiter.record_failure(&n("carol"), "x", t0).await;
            limiter.record_success(&n("carol")).await;
            limiter.record_failure(&n("carol"), "x", t0).await;
            assert!(limiter.check(&n("carol"), "x", t0).await.is_ok());
        }

        async fn two_processes_share_the_count(db) {
            // Two limiters over one database, as two okrflow processes would have.
            let one = LoginLimiter::new(db.clone(), Limit { max: 2, window: Duration::from_secs(60) }, PER_ADDRESS);
            let other = LoginLimiter::new(db.clone(), Limit { max: 2, window: Duration::from_secs(60) }, PER_ADDRESS);
            let t0 = 1_000_000;
            one.record_failure(&n("dave"), "x", t0).await;
            other.record_failure(&n("dave"), "y", t0).await;
            assert!(one.check(&n("dave"), "z", t0).await.is_err());
            assert!(other.check(&n("dave"), "z", t0).await.is_err());
        }
    }
}
