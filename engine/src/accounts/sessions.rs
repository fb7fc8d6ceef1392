//! Server-side browser sessions. The cookie holds a random secret; the database holds only its
//! hash, the user, and when it expires: after 12 idle hours, and 7 days after login at most.

use std::time::Duration;

use sqlx::Row;

use super::{secret, AccountError, AuthMethod, Principal, Role};
use crate::db::Database;

pub const IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's expiry is pushed forward at most this often, to spare the database a write per
/// request.
const RENEW_EVERY_MS: i64 = 60_000;

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// A new session: the cookie value (shown to the browser once) and when it expires.
pub struct NewSession {
    pub cookie: String,
    pub expires_at_ms: i64,
}

pub async fn create(
    db: &Database,
    user_id: i64,
    ip: &str,
    user_agent: &str,
    now_ms: i64,
) -> Result<NewSession, AccountError> {
    let cookie = secret::new_secret("");
    let expires_at_ms = now_ms + ms(IDLE_TIMEOUT);
    let agent: String = user_agent.chars().take(256).collect();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at_ms, expires_at_ms, last_seen_ms, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(secret::hash_secret(&cookie))
    .bind(user_id)
    .bind(now_ms)
    .bind(expires_at_ms)
    .bind(now_ms)
    .bind(ip)
    .bind(agent)
    .execute(db.pool())
    .await?;
    Ok(NewSession { cookie, expires_at_ms })
}

/// The user behind a session cookie, if the session is live and the user enabled. Renews the
/// idle expiry (within the absolute maximum).
pub async fn lookup(db: &Database, cookie: &str, now_ms: i64) -> Result<Option<Principal>, AccountError> {
    let hash = secret::hash_secret(cookie);
    let row = sqlx::query(
        "SELECT s.user_id, s.created_at_ms, s.last_seen_ms, u.username, u.role \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at_ms > $2 AND u.disabled = 0",
    )
    .bind(&hash)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let created: i64 = row.try_get("created_at_ms")?;
    let last_seen: i64 = row.try_get("last_seen_ms")?;
    if now_ms - last_seen >= RENEW_EVERY_MS {
        let expires = (now_ms + ms(IDLE_TIMEOUT)).min(created + ms(MAX_AGE));
        sqlx::query("UPDATE sessions SET last_seen_ms = $1, expires_at_ms = $2 WHERE id_hash = $3")
            .bind(now_ms)
            .bind(expires)
            .bind(&hash)
            .execute(db.pool())
            .await?;
    }
    let role: String = row.try_get("role")?;
    Ok(Some(Principal {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        via: AuthMethod::Session,
    }))
}

/// Logout: ends this session.
pub async fn delete(db: &Database, cookie: &str) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(secret::hash_secret(cookie)).execute(db.pool()).await?;
    Ok(())
}

/// "Log out everywhere": ends every session of the user; returns how many.
pub async fn delete_all_for_user(db: &Database, user_id: i64) -> Result<u64, AccountError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(db.pool()).await?.rows_affected())
}

pub async fn prune_expired(db: &Database, now_ms: i64) -> Result<u64, AccountError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
        .bind(now_ms)
        .execute(db.pool())
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users;
    use crate::db::testing::both_backends;

    both_backends! {
        async fn sessions_expire_when_idle_and_end_on_logout(db) {
            let u = users::create(&db, "erin", "a long password", Role::Editor).await.unwrap();
            let t0 = 1_000_000;
            let s = create(&db, u.id, "127.0.0.1", "test", t0).await.unwrap();
            let who = lookup(&db, &s.cookie, t0 + 1).await.unwrap().expect("live");
            assert_eq!((who.username.as_str(), who.role), ("erin", Role::Editor));
            assert!(lookup(&db, "forged", t0).await.unwrap().is_none());
            assert!(lookup(&db, &s.cookie, t0 + ms(IDLE_TIMEOUT) + 1).await.unwrap().is_none(), "idle expiry");

            let s2 = create(&db, u.id, "", "", t0).await.unwrap();
            delete(&db, &s2.cookie).await.unwrap();
            assert!(lookup(&db, &s2.cookie, t0).await.unwrap().is_none(), "logout");
        }

        async fn use_extends_a_session_but_never_past_the_maximum_age(db) {
            let u = users::create(&db, "finn", "a long password", Role::Viewer).await.unwrap();
            let t0 = 0;
            let s = create(&db, u.id, "", "", t0).await.unwrap();
            let mut t = t0;
            // Active every 11 hours: alive well past 12 hours, dead after 7 days.
            while t + ms(Duration::from_secs(11 * 3600)) < ms(MAX_AGE) {
                t += ms(Duration::from_secs(11 * 3600));
                assert!(lookup(&db, &s.cookie, t).await.unwrap().is_some(), "alive at {t}");
            }
            assert!(lookup(&db, &s.cookie, ms(MAX_AGE) + 1).await.unwrap().is_none());
        }

        async fn log_out_everywhere_and_disabling_end_all_sessions(db) {
            let u = users::create(&db, "gus", "a long password", Role::Viewer).await.unwrap();
            let a = create(&db, u.id, "", "", 0).await.unwrap();
            let b = create(&db, u.id, "", "", 0).await.unwrap();
            assert_eq!(delete_all_for_user(&db, u.id).await.unwrap(), 2);
            assert!(lookup(&db, &a.cookie, 1).await.unwrap().is_none());
            assert!(lookup(&db, &b.cookie, 1).await.unwrap().is_none());
            let c = create(&db, u.id, "", "", 0).await.unwrap();
            users::create(&db, "keeper", "a long password", Role::Admin).await.unwrap();
            users::set_disabled(&db, u.id, true).await.unwrap();
            assert!(lookup(&db, &c.cookie, 1).await.unwrap().is_none());
        }
    }
}
