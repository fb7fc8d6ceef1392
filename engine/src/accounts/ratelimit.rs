//! Failed-login limits, per account and per client address, in memory: after too many
//! failures in the window, further attempts are refused without checking the password, with a
//! message that says when to try again. The same rules apply to names that do not exist, so the
//! limit reveals nothing about which accounts exist. Accounts are keyed by
//! [`UserName::key`], so every spelling authentication would accept counts against one account.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::names::UserName;

/// The rules: at most `max` failures within `window`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

pub const PER_ACCOUNT: Limit = Limit { max: 5, window: Duration::from_secs(15 * 60) };
pub const PER_ADDRESS: Limit = Limit { max: 20, window: Duration::from_secs(15 * 60) };

pub struct LoginLimiter {
    account: Limit,
    address: Limit,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, VecDeque<Instant>>,
    addresses: HashMap<String, VecDeque<Instant>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(PER_ACCOUNT, PER_ADDRESS)
    }
}

fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

/// Drops failures older than the window; returns how long until the oldest left expires, if
/// the limit is reached.
fn blocked_for(failures: &mut VecDeque<Instant>, limit: Limit, now: Instant) -> Option<Duration> {
    while failures.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
        failures.pop_front();
    }
    if failures.len() >= limit.max {
        failures.front().map(|oldest| limit.window.saturating_sub(now.duration_since(*oldest)))
    } else {
        None
    }
}

impl LoginLimiter {
    pub fn new(account: Limit, address: Limit) -> Self {
        LoginLimiter { account, address, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a login attempt may proceed; the error is the message to show.
    pub fn check(&self, username: &UserName, address: &str, now: Instant) -> Result<(), String> {
        let mut state = self.state();
        let key = username.key();
        if let Some(wait) = state.accounts.get_mut(&key).and_then(|f| blocked_for(f, self.account, now)) {
            return Err(format!(
                "too many failed logins for this account ({} in {} minutes); try again in {} minutes",
                self.account.max,
                minutes(self.account.window),
                minutes(wait)
            ));
        }
        if let Some(wait) = state.addresses.get_mut(address).and_then(|f| blocked_for(f, self.address, now)) {
            return Err(format!(
                "too many failed logins from your address ({} in {} minutes); try again in {} minutes",
                self.address.max,
                minutes(self.address.window),
                minutes(wait)
            ));
        }
        Ok(())
    }

    pub fn record_failure(&self, username: &UserName, address: &str, now: Instant) {
        let mut state = self.state();
        state.accounts.entry(username.key()).or_default().push_back(now);
        state.addresses.entry(address.to_string()).or_default().push_back(now);
        // Keep memory bounded under a spray of random names.
        if state.accounts.len() > 100_000 {
            let window = self.account.window;
            state.accounts.retain(|_, f| f.back().is_some_and(|t| now.duration_since(*t) < window));
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, username: &UserName) {
        self.state().accounts.remove(&username.key());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    #[test]
    fn an_account_is_blocked_after_its_limit_and_freed_after_the_window() {
        let limiter = LoginLimiter::new(Limit { max: 3, window: Duration::from_secs(600) }, PER_ADDRESS);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.check(&n("Alice"), "10.0.0.1", t0).is_ok(), "attempt {i}");
            limiter.record_failure(&n("Alice"), "10.0.0.1", t0);
        }
        let err = limiter.check(&n("alice"), "10.0.0.2", t0 + Duration::from_secs(60)).unwrap_err();
        assert!(err.contains("for this account"), "{err}");
        assert!(err.contains("try again in 9 minutes"), "{err}");
        assert!(limiter.check(&n("bob"), "10.0.0.1", t0).is_ok(), "other accounts are not affected");
        assert!(limiter.check(&n("alice"), "10.0.0.1", t0 + Duration::from_secs(601)).is_ok());
    }

    #[test]
    fn every_spelling_of_a_locked_account_is_locked() {
        let limiter = LoginLimiter::new(Limit { max: 2, window: Duration::from_secs(600) }, PER_ADDRESS);
        let t0 = Instant::now();
        limiter.record_failure(&n("admin"), "a", t0);
        limiter.record_failure(&n("admin"), "b", t0);
        for spelling in ["admin", "admin ", "admin\t", "ADMIN", " Admin\n"] {
            assert!(limiter.check(&n(spelling), "c", t0).is_err(), "{spelling:?}");
        }
    }

    #[test]
    fn an_address_is_blocked_across_accounts() {
        let limiter = LoginLimiter::new(PER_ACCOUNT, Limit { max: 4, window: Duration::from_secs(60) });
        let t0 = Instant::now();
        for name in ["a", "b", "c", "d"] {
            limiter.record_failure(&n(name), "192.0.2.9", t0);
        }
        let err = limiter.check(&n("e"), "192.0.2.9", t0).unwrap_err();
        assert!(err.contains("from your address"), "{err}");
        assert!(limiter.check(&n("e"), "192.0.2.10", t0).is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let limiter = LoginLimiter::new(Limit { max: 2, window: Duration::from_secs(60) }, PER_ADDRESS);
        let t0 = Instant::now();
        limiter.record_failure(&n("carol"), "x", t0);
        limiter.record_success(&n("carol"));
        limiter.record_failure(&n("carol"), "x", t0);
        assert!(limiter.check(&n("carol"), "x", t0).is_ok());
    }
}
