//! [`Accounts`]: the accounts capability as the web layer uses it. Each method is a whole
//! action: it checks the actor's right, does the work and writes the audit record, so the
//! login form, Basic authentication, the Account and Users pages and any REST route behave
//! the same.

use super::audit::{self, Outcome};
use super::names::UserName;
use super::ratelimit::{self, LoginLimiter};
use super::sessions::{self, NewSession};
use super::users::{self, Ended};
use super::{tokens, AccountError, AuditEntry, AuditQuery, AuthMethod, Principal, Role, TokenView, UserView};
use crate::actor::Actor;
use crate::db::Database;

/// The longest audit filter accepted, in characters.
pub const MAX_FILTER_CHARS: usize = 100;
/// The longest expiry of an API token, in days.
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// A successful login: who, and the session to hand to the browser.
pub struct LoggedIn {
    pub user: UserView,
    pub session: NewSession,
}

#[derive(Clone)]
pub struct Accounts {
    db: Database,
    limiter: LoginLimiter,
}

/// Writes the audit record of an action by `actor`; a failure to write is logged, never fatal.
pub async fn record(db: &Database, actor: &Actor, action: &str, target: &str, outcome: Outcome, detail: &str) {
    let r = audit::Record { actor: actor.name(), action, target, ip: actor.address(), outcome, detail };
    audit::record_or_log(db, r).await;
}

impl Accounts {
    pub fn new(db: Database) -> Accounts {
        let limiter = LoginLimiter::new(db.clone(), ratelimit::PER_ACCOUNT, ratelimit::PER_ADDRESS);
        Accounts { db, limiter }
    }

    async fn audit(&self, actor: &Actor, action: &str, target: &str, outcome: Outcome, detail: &str) {
        record(&self.db, actor, action, target, outcome, detail).await;
    }

    /// Records an action the web layer refused (an access denial), in the actor's name.
    pub async fn record_denied(&self, actor: &Actor, target: &str, why: &str) {
        self.audit(actor, "access.denied", target, Outcome::Denied, why).await;
    }

    /// Checks a name and password within the login limits. Wrong credentials count against the
    /// name and the address and are audited (`how` says where they came from); a refusal by
    /// the limits is not audited: no password was checked, and a flood of rows would push the
    /// real history out of the bounded audit log.
    async fn check_password(
        &self,
        actor: &Actor,
        raw_name: &str,
        password: &str,
        how: &str,
    ) -> Result<UserView, AccountError> {
        // One normalisation for the limiter, authentication and the audit log, before any of
        // them counts or stores the name.
        let name = UserName::parse(raw_name)?;
        let now = crate::now_ms();
        if let Err(message) = self.limiter.check(&name, actor.address(), now).await {
            tracing::info!(user = name.as_str(), address = actor.address(), "login refused: {message}");
            return Err(AccountError::RateLimited(message));
        }
        match users::authenticate(&self.db, &name, password).await {
            Ok(user) => {
                self.limiter.record_success(&name).await;
                Ok(user)
            }
            Err(AccountError::BadCredentials) => {
                self.limiter.record_failure(&name, actor.address(), now).await;
                let nobody = Actor::anonymous(actor.address());
                self.audit(&nobody, "login.failed", name.as_str(), Outcome::Failed, how).await;
                Err(AccountError::BadCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// The login form: checks the password and opens a session.
    pub async fn login(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        agent: &str,
    ) -> Result<LoggedIn, AccountError> {
        let user = self.check_password(actor, username, password, "wrong username or password").await?;
        let session = sessions::create(&self.db, user.id, actor.address(), agent, crate::now_ms()).await?;
        let who = Actor::user(principal(&user, AuthMethod::Session), actor.address());
        self.audit(&who, "login", &user.username, Outcome::Ok, "").await;
        Ok(LoggedIn { user, session })
    }

    /// Basic authentication with a user name and password, under the same limits as the form.
    pub async fn authenticate_password(
        &self,
        address: &str,
        username: &str,
        password: &str,
    ) -> Result<Principal, AccountError> {
        let actor = Actor::anonymous(address);
        let user = self.check_password(&actor, username, password, "Basic authentication").await?;
        Ok(principal(&user, AuthMethod::Password))
    }

    /// The user behind a session cookie, when it is live (renewing it).
    pub async fn session(&self, cookie: &str) -> Result<Option<Principal>, AccountError> {
        sessions::lookup(&self.db, cookie, crate::now_ms()).await
    }

    /// The owner of an API token, when it is valid.
    pub async fn token(&self, secret: &str) -> Result<Option<Principal>, AccountError> {
        tokens::verify(&self.db, secret, crate::now_ms()).await
    }

    /// Ends the session behind `cookie`, if any.
    pub async fn logout(&self, actor: &Actor, cookie: Option<&str>) -> Result<(), AccountError> {
        if let Some(cookie) = cookie {
            sessions::delete(&self.db, cookie).await?;
        }
        if actor.principal.is_some() {
            self.audit(actor, "logout", actor.name(), Outcome::Ok, "").await;
        }
        Ok(())
    }

    /// Ends every session of the caller; returns how many.
    pub async fn logout_everywhere(&self, actor: &Actor) -> Result<u64, AccountError> {
        let me = actor.require(Role::Viewer)?;
        let ended = sessions::delete_all_for_user(&self.db, me.user_id).await?;
        self.audit(actor, "logout.everywhere", &me.username, Outcome::Ok, &format!("{ended} sessions ended")).await;
        Ok(ended)
    }

    /// The caller's own password change, which ends their sessions and revokes their tokens.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
        confirm: &str,
    ) -> Result<Ended, AccountError> {
        let me = actor.require(Role::Viewer)?;
        if new != confirm {
            return Err(AccountError::Invalid("the new password and its confirmation differ".into()));
        }
        match users::change_own_password(&self.db, me.user_id, current, new).await {
            Ok(ended) => {
                self.audit(actor, "password.change", &me.username, Outcome::Ok, &ended.to_string()).await;
                Ok(ended)
            }
            Err(e) => {
                self.audit(actor, "password.change", &me.username, Outcome::Failed, &e.to_string()).await;
                Err(e)
            }
        }
    }

    /// The caller's API tokens.
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<TokenView>, AccountError> {
        let me = actor.require(Role::Viewer)?;
        tokens::list(&self.db, me.user_id).await
    }

    /// Creates an API token for the caller, expiring after `days` (1 to [`MAX_TOKEN_DAYS`]) or
    /// never; returns the secret, shown this once.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        days: Option<u32>,
    ) -> Result<(String, TokenView), AccountError> {
        let me = actor.require(Role::Viewer)?;
        if let Some(d) = days.filter(|d| !(1..=MAX_TOKEN_DAYS).contains(d)) {
            return Err(AccountError::Invalid(format!(
                "token expiry {d} days must be 1 to {MAX_TOKEN_DAYS} days, or none"
            )));
        }
        let now = crate::now_ms();
        let expires = days.map(|d| now + i64::from(d) * 86_400_000);
        let (secret, token) = tokens::create(&self.db, me.user_id, name, expires, now).await?;
        self.audit(actor, "token.create", &token.name, Outcome::Ok, "").await;
        Ok((secret, token))
    }

    /// Revokes one of the caller's tokens; returns its name.
    pub async fn revoke_token(&self, actor: &Actor, id: i64) -> Result<String, AccountError> {
        let me = actor.require(Role::Viewer)?;
        let name = tokens::revoke(&self.db, me.user_id, id, crate::now_ms()).await?;
        self.audit(actor, "token.revoke", &name, Outcome::Ok, "").await;
        Ok(name)
    }

    pub async fn users(&self, actor: &Actor) -> Result<Vec<UserView>, AccountError> {
        actor.require(Role::Admin)?;
        users::list(&self.db).await
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserView, AccountError> {
        actor.require(Role::Admin)?;
        match users::create(&self.db, username, password, role).await {
            Ok(user) => {
                self.audit(actor, "user.create", &user.username, Outcome::Ok, role.as_str()).await;
                Ok(user)
            }
            Err(e) => {
                self.audit(actor, "user.create", username, Outcome::Failed, &e.to_string()).await;
                Err(e)
            }
        }
    }

    pub async fn set_role(&self, actor: &Actor, id: i64, role: Role) -> Result<UserView, AccountError> {
        actor.require(Role::Admin)?;
        let user = users::set_role(&self.db, id, role).await?;
        self.audit(actor, "user.role", &user.username, Outcome::Ok, role.as_str()).await;
        Ok(user)
    }

    /// Disables or enables an account; nobody disables their own.
    pub async fn set_disabled(&self, actor: &Actor, id: i64, disabled: bool) -> Result<UserView, AccountError> {
        let me = actor.require(Role::Admin)?;
        if disabled && id == me.user_id {
            return Err(AccountError::Invalid("you cannot disable your own account".into()));
        }
        let user = users::set_disabled(&self.db, id, disabled).await?;
        let action = if disabled { "user.disable" } else { "user.enable" };
        self.audit(actor, action, &user.username, Outcome::Ok, "").await;
        Ok(user)
    }

    /// An admin's reset of someone's password (ending their sessions and tokens).
    pub async fn reset_password(&self, actor: &Actor, id: i64, password: &str) -> Result<Ended, AccountError> {
        actor.require(Role::Admin)?;
        let user = users::get(&self.db, id).await?;
        let ended = users::set_password(&self.db, id, password).await?;
        self.audit(actor, "user.reset_password", &user.username, Outcome::Ok, &ended.to_string()).await;
        Ok(ended)
    }

    /// A page of the audit log, for admins.
    pub async fn audit_log(&self, actor: &Actor, query: &AuditQuery) -> Result<Vec<AuditEntry>, AccountError> {
        actor.require(Role::Admin)?;
        for (name, value) in [("actor", &query.actor), ("action", &query.action), ("outcome", &query.outcome)] {
            if value.as_deref().is_some_and(|v| v.chars().count() > MAX_FILTER_CHARS) {
                return Err(AccountError::Invalid(format!(
                    "{name} filter is longer than {MAX_FILTER_CHARS} characters"
                )));
            }
        }
        if let Some(id) = query.before_id.filter(|id| *id < 1) {
            return Err(AccountError::Invalid(format!("before_id must be 1 to {}; got {id}", i64::MAX)));
        }
        audit::query(&self.db, query).await
    }

    /// Prunes old failed logins (housekeeping).
    pub async fn prune_login_failures(&self, now_ms: i64) -> Result<u64, sqlx::Error> {
        self.limiter.prune(now_ms).await
    }
}

fn principal(user: &UserView, via: AuthMethod) -> Principal {
    Principal { user_id: user.id, username: user.username.clone(), role: user.role, via }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;
    use crate::error::{ErrorKind, Failure};

    fn actions(entries: &[AuditEntry]) -> Vec<String> {
        entries.iter().rev().map(|e| format!("{} {} {} {}", e.actor, e.action, e.target, e.outcome)).collect()
    }

    both_backends! {
        async fn each_action_checks_the_role_and_is_audited_once(db) {
            let accounts = Accounts::new(db.clone());
            let admin_user = users::create(&db, "root", "a long password", Role::Admin).await.unwrap();
            let nobody = Actor::anonymous("10.0.0.9");
            let login = accounts.login(&nobody, "ROOT ", "a long password", "test").await.unwrap();
            assert_eq!(login.user.id, admin_user.id);
            let admin = Actor::user(principal(&admin_user, AuthMethod::Session), "10.0.0.9");
            let bob = accounts.create_user(&admin, "bob", "another long one", Role::Viewer).await.unwrap();
            let viewer = Actor::user(principal(&bob, AuthMethod::Session), "10.0.0.8");

            let refused = accounts.create_user(&viewer, "eve", "a long password", Role::Admin).await.unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Forbidden);
            assert_eq!(refused.to_string(), "this needs the admin role; you are viewer");
            assert_eq!(accounts.users(&nobody).await.unwrap_err().kind(), ErrorKind::Unauthenticated);
            let own = accounts.set_disabled(&admin, admin_user.id, true).await.unwrap_err();
            assert_eq!(own.kind(), ErrorKind::Invalid);

            let (secret, token) = accounts.create_token(&viewer, "ci", Some(30)).await.unwrap();
            assert_eq!(accounts.token(&secret).await.unwrap().unwrap().username, "bob");
            assert_eq!(accounts.create_token(&viewer, "x", Some(0)).await.unwrap_err().kind(), ErrorKind::Invalid);
            assert_eq!(accounts.revoke_token(&viewer, token.id).await.unwrap(), "ci");
            assert!(accounts.token(&secret).await.unwrap().is_none());

            let Err(wrong) = accounts.login(&nobody, "bob", "not it", "test").await else { panic!("a wrong password logged in") };
            assert_eq!(wrong.kind(), ErrorKind::Unauthenticated);
            let basic = accounts.authenticate_password("10.0.0.7", "bob", "another long one").await.unwrap();
            assert_eq!(basic.via, AuthMethod::Password);
            let ended = accounts.change_password(&viewer, "another long one", "a third password", "a third password").await.unwrap();
            assert_eq!(ended.sessions, 0);
            let differ = accounts.change_password(&viewer, "x", "abc", "abd").await.unwrap_err();
            assert_eq!(differ.kind(), ErrorKind::Invalid);

            let log = accounts.audit_log(&admin, &AuditQuery::default()).await.unwrap();
            assert_eq!(actions(&log), [
                "root login root ok",
                "root user.create bob ok",
                "bob token.create ci ok",
                "bob token.revoke ci ok",
                "anonymous login.failed bob failed",
                "bob password.change bob ok",
            ]);
            assert_eq!(log[0].ip, "10.0.0.8");
            let long = AuditQuery { actor: Some("x".repeat(101)), ..Default::default() };
            assert_eq!(accounts.audit_log(&admin, &long).await.unwrap_err().kind(), ErrorKind::Invalid);
            assert_eq!(accounts.audit_log(&viewer, &AuditQuery::default()).await.unwrap_err().kind(), ErrorKind::Forbidden);
        }
    }
}
