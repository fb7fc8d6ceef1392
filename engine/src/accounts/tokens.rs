//! API tokens: named per user, shown once at creation, stored as a SHA-256 hash, with the time
//! of last use and an optional expiry. Revocation takes effect on the next request.

use sqlx::Row;

use super::{secret, AccountError, AuthMethod, Principal, Role, TokenView};
use crate::db::Database;

/// Every token starts with this, so a leaked one is recognisable (e.g. by secret scanners).
pub const PREFIX: &str = "okf_";
pub const MAX_NAME_CHARS: usize = 64;
/// How many characters of a token lists show.
const SHOWN: usize = 10;

fn view(row: &sqlx::any::AnyRow) -> Result<TokenView, sqlx::Error> {
    Ok(TokenView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        last_used_ms: row.try_get("last_used_ms")?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at_ms")?.is_some(),
    })
}

/// Creates a token; returns the secret (to show once) and its listing.
pub async fn create(
    db: &Database,
    user_id: i64,
    name: &str,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<(String, TokenView), AccountError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(AccountError::Invalid(format!("token name must be 1 to {MAX_NAME_CHARS} characters; got {n}")));
    }
    if let Some(at) = expires_at_ms.filter(|at| *at <= now_ms) {
        return Err(AccountError::Invalid(format!("token expiry {at} is in the past")));
    }
    let token = secret::new_secret(PREFIX);
    let prefix: String = token.chars().take(SHOWN).collect();
    let result = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(secret::hash_secret(&token))
    .bind(&prefix)
    .bind(now_ms)
    .bind(expires_at_ms)
    .fetch_one(db.pool())
    .await;
    let id: i64 = match result {
        Ok(row) => row.try_get("id")?,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AccountError::Conflict(format!("you already have a token named '{name}'")))
        }
        Err(e) => return Err(e.into()),
    };
    let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1").bind(id).fetch_one(db.pool()).await?;
    Ok((token, view(&row)?))
}

pub async fn list(db: &Database, user_id: i64) -> Result<Vec<TokenView>, AccountError> {
    let rows = sqlx::query("SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at_ms DESC, id DESC")
        .bind(user_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(view).collect::<Result<_, _>>()?)
}

/// Revokes one of `user_id`'s tokens; returns its name.
pub async fn revoke(db: &Database, user_id: i64, token_id: i64, now_ms: i64) -> Result<String, AccountError> {
    let name: Option<String> = sqlx::query_scalar(
        "UPDATE api_tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $1) WHERE id = $2 AND user_id = $3 RETURNING name",
    )
    .bind(now_ms)
    .bind(token_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    name.ok_or_else(|| AccountError::NotFound(format!("token {token_id}")))
}

/// How stale a token's "last used" may grow before a use writes it again. A client such as
/// MLflow's sends hundreds of requests a second with one token; writing the time on each would
/// be a database write per read, for a figure people read to the day.
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The user behind a token, if it is live and the user enabled; records its use (to within
/// [`LAST_USED_RESOLUTION_MS`]).
pub async fn verify(db: &Database, token: &str, now_ms: i64) -> Result<Option<Principal>, AccountError> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT t.id, t.user_id, t.last_used_ms, u.username, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at_ms IS NULL AND (t.expires_at_ms IS NULL OR t.expires_at_ms > $2) \
         AND u.disabled = 0",
    )
    .bind(secret::hash_secret(token))
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let last_used: Option<i64> = row.try_get("last_used_ms")?;
    if last_used.is_none_or(|t| now_ms - t >= LAST_USED_RESOLUTION_MS || now_ms < t) {
        sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(row.try_get::<i64, _>("id")?)
            .execute(db.pool())
            .await?;
    }
    let role: String = row.try_get("role")?;
    Ok(Some(Principal {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        via: AuthMethod::Token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users;
    use crate::db::testing::both_backends;

    both_backends! {
        async fn tokens_work_until_revoked_or_expired_and_are_stored_hashed(db) {
            let u = users::create(&db, "hana", "a long password", Role::Editor).await.unwrap();
            let (secret, listed) = create(&db, u.id, "ci", None, 10).await.unwrap();
            assert!(secret.starts_with(PREFIX));
            assert!(secret.starts_with(&listed.prefix));
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE token_hash = $1")
                .bind(&secret)
                .fetch_one(db.pool())
                .await
                .unwrap();
            assert_eq!(stored, 0, "the secret itself is never stored");

            let who = verify(&db, &secret, 20).await.unwrap().expect("valid");
            assert_eq!(who.via, AuthMethod::Token);
            assert_eq!(list(&db, u.id).await.unwrap()[0].last_used_ms, Some(20));
            // Uses within the resolution leave the time; the first one past it moves it.
            verify(&db, &secret, 20 + LAST_USED_RESOLUTION_MS - 1).await.unwrap().expect("valid");
            assert_eq!(list(&db, u.id).await.unwrap()[0].last_used_ms, Some(20));
            verify(&db, &secret, 20 + LAST_USED_RESOLUTION_MS).await.unwrap().expect("valid");
            assert_eq!(list(&db, u.id).await.unwrap()[0].last_used_ms, Some(20 + LAST_USED_RESOLUTION_MS));

            assert_eq!(revoke(&db, u.id, listed.id, 30).await.unwrap(), "ci");
            assert!(verify(&db, &secret, 31).await.unwrap().is_none(), "revocation is immediate");
            assert!(verify(&db, &secret, 20 + LAST_USED_RESOLUTION_MS).await.unwrap().is_none());

            let (short, _) = create(&db, u.id, "short-lived", Some(100), 10).await.unwrap();
            assert!(verify(&db, &short, 99).await.unwrap().is_some());
            assert!(verify(&db, &short, 100).await.unwrap().is_none());
        }

        async fn names_are_checked_and_others_cannot_revoke(db) {
            let a = users::create(&db, "ivan", "a long password", Role::Editor).await.unwrap();
            let b = users::create(&db, "jade", "a long password", Role::Editor).await.unwrap();
            assert!(create(&db, a.id, "  ", None, 0).await.is_err());
            let (_, t) = create(&db, a.id, "laptop", None, 0).await.unwrap();
            assert!(create(&db, a.id, "laptop", None, 0).await.unwrap_err().to_string().contains("already have"));
            assert!(matches!(revoke(&db, b.id, t.id, 1).await, Err(AccountError::NotFound(_))));
            assert!(create(&db, a.id, "old", Some(5), 10).await.unwrap_err().to_string().contains("in the past"));
        }
    }
}
