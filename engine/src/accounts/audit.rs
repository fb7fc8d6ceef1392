//! The audit log: who did what, when, from where, and how it went, for every state-changing
//! action. Kept in the database; read by admins with filters.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{AccountError, AuditEntry, AuditQuery};
use crate::db::Database;

pub const MAX_LIMIT: usize = 500;

/// One action to record.
#[derive(Clone, Debug, Default)]
pub struct Record<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub ip: &'a str,
    pub outcome: Outcome,
    pub detail: &'a str,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

pub async fn record(db: &Database, r: Record<'_>) -> Result<(), AccountError> {
    sqlx::query(
        "INSERT INTO audit_log (ts_ms, actor, action, target, ip, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(r.actor)
    .bind(r.action)
    .bind(r.target)
    .bind(r.ip)
    .bind(r.outcome.as_str())
    .bind(r.detail)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records an action; a failure to record is logged as an error (with the action), never
/// hidden and never fatal to the action itself.
pub async fn record_or_log(db: &Database, r: Record<'_>) {
    let action = r.action.to_string();
    if let Err(e) = record(db, r).await {
        tracing::error!(action, "could not write the audit log: {e}");
    }
}

/// Entries matching the filters, newest first. `action` matches a prefix ("user." finds all
/// user changes).
pub async fn query(db: &Database, q: &AuditQuery) -> Result<Vec<AuditEntry>, AccountError> {
    let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM audit_log WHERE 1=1");
    if let Some(actor) = q.actor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND actor = ").push_bind(actor.to_string());
    }
    if let Some(action) = q.action.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND substr(action, 1, length(").push_bind(action.to_string());
        sql.push(")) = ").push_bind(action.to_string());
    }
    if let Some(outcome) = q.outcome.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND outcome = ").push_bind(outcome.to_string());
    }
    if let Some(before) = q.before_id {
        sql.push(" AND id < ").push_bind(before);
    }
    let limit = if q.limit == 0 { 100 } else { q.limit.min(MAX_LIMIT) };
    sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64);
    let rows = sql.build().fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                ts_ms: r.try_get("ts_ms")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                ip: r.try_get("ip")?,
                outcome: r.try_get("outcome")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AccountError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_db;

    #[tokio::test]
    async fn records_are_filtered_by_actor_action_prefix_and_outcome() {
        let (_dir, db) = test_db().await;
        let rec = |actor, action, outcome| Record { actor, action, target: "t", ip: "127.0.0.1", outcome, detail: "" };
        record(&db, rec("admin", "user.create", Outcome::Ok)).await.unwrap();
        record(&db, rec("anonymous", "login.failed", Outcome::Failed)).await.unwrap();
        record(&db, rec("admin", "user.disable", Outcome::Ok)).await.unwrap();
        record(&db, rec("bob", "user.create", Outcome::Denied)).await.unwrap();

        let q = |actor: Option<&str>, action: Option<&str>, outcome: Option<&str>| AuditQuery {
            actor: actor.map(String::from),
            action: action.map(String::from),
            outcome: outcome.map(String::from),
            ..Default::default()
        };
        let got = query(&db, &q(Some("admin"), None, None)).await.unwrap();
        assert_eq!(got.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["user.disable", "user.create"]);
        assert_eq!(query(&db, &q(None, Some("user."), None)).await.unwrap().len(), 3);
        assert_eq!(query(&db, &q(None, None, Some("denied"))).await.unwrap()[0].actor, "bob");
        assert_eq!(query(&db, &q(None, Some("%"), None)).await.unwrap().len(), 0, "no wildcards");
    }
}
