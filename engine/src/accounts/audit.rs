//! The audit log: who did what, when, from where, and how it went, for every state-changing
//! action. Kept in the database; read by admins with filters, a page at a time. Every entry is
//! bounded in size (long fields are cut with a marker) and old entries are pruned by age and
//! count, so that callers, anonymous ones included, cannot grow it without limit.

use std::borrow::Cow;

use sqlx::Row;

use super::{AccountError, AuditEntry, AuditQuery};
use crate::db::{Database, Sql};

/// The most entries one query returns: the hard page size of the audit page and its function.
pub const MAX_LIMIT: usize = 200;
/// Entries older than this are pruned.
pub const RETENTION: chrono::Duration = chrono::Duration::days(90);
/// And never more than this many are kept.
pub const MAX_ROWS: i64 = 100_000;
/// The longest actor, action, target and address kept; longer ones are cut.
pub const MAX_FIELD_CHARS: usize = 256;
/// The longest detail kept.
pub const MAX_DETAIL_CHARS: usize = 1_024;

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

/// `text` cut to `max` characters, with a marker saying how much was cut.
pub fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            let cut = text[end..].chars().count();
            Cow::Owned(format!("{}… [{cut} more characters cut]", &text[..end]))
        }
    }
}

pub async fn record(db: &Database, r: Record<'_>) -> Result<(), AccountError> {
    insert(db.pool(), r).await.map_err(AccountError::from)
}

/// Records an action inside the caller's transaction, so the record and the change it
/// describes are written together or not at all.
pub async fn record_in(conn: &mut sqlx::AnyConnection, r: Record<'_>) -> Result<(), sqlx::Error> {
    insert(&mut *conn, r).await
}

async fn insert<'e>(executor: impl sqlx::Executor<'e, Database = sqlx::Any>, r: Record<'_>) -> Result<(), sqlx::Error> {
    fn field(text: &str) -> Cow<'_, str> {
        bounded(text, MAX_FIELD_CHARS)
    }
    let (actor, action, target, ip) = (field(r.actor), field(r.action), field(r.target), field(r.ip));
    let detail = bounded(r.detail, MAX_DETAIL_CHARS);
    sqlx::query(
        "INSERT INTO audit_log (ts_ms, actor, action, target, ip, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(actor.as_ref())
    .bind(action.as_ref())
    .bind(target.as_ref())
    .bind(ip.as_ref())
    .bind(r.outcome.as_str())
    .bind(detail.as_ref())
    .execute(executor)
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

/// Deletes entries older than `before_ms`, then all but the newest `keep_rows`; returns how
/// many went.
pub async fn prune(db: &Database, before_ms: i64, keep_rows: i64) -> Result<u64, AccountError> {
    let old = sqlx::query("DELETE FROM audit_log WHERE ts_ms < $1").bind(before_ms).execute(db.pool()).await?;
    let extra =
        sqlx::query("DELETE FROM audit_log WHERE id <= (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET $1)")
            .bind(keep_rows)
            .execute(db.pool())
            .await?;
    Ok(old.rows_affected() + extra.rows_affected())
}

/// Entries matching the filters, newest first, at most [`MAX_LIMIT`]. `action` matches a
/// prefix ("user." finds all user changes); `before_id` pages back.
pub async fn query(db: &Database, q: &AuditQuery) -> Result<Vec<AuditEntry>, AccountError> {
    let mut sql = Sql::new("SELECT * FROM audit_log WHERE 1=1");
    if let Some(actor) = q.actor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND actor = ").bind(actor.to_string());
    }
    if let Some(action) = q.action.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND substr(action, 1, length(").bind(action.to_string());
        sql.push(")) = ").bind(action.to_string());
    }
    if let Some(outcome) = q.outcome.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        sql.push(" AND outcome = ").bind(outcome.to_string());
    }
    if let Some(before) = q.before_id {
        sql.push(" AND id < ").bind(before);
    }
    let limit = if q.limit == 0 { MAX_LIMIT } else { q.limit.min(MAX_LIMIT) };
    sql.push(" ORDER BY id DESC LIMIT ").bind(limit as i64);
    let rows = sql.fetch_all(db).await?;
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
    use crate::db::testing::both_backends;

    both_backends! {
        async fn records_are_filtered_by_actor_action_prefix_and_outcome(db) {
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

        async fn long_fields_are_cut_with_a_marker(db) {
            let huge = "x".repeat(2_000_000);
            let r = Record {
                actor: &huge,
                action: "login.failed",
                target: &huge,
                ip: "",
                outcome: Outcome::Failed,
                detail: &huge,
            };
            record(&db, r).await.unwrap();
            let e = &query(&db, &AuditQuery::default()).await.unwrap()[0];
            assert!(e.target.starts_with(&"x".repeat(MAX_FIELD_CHARS)), "the start is kept");
            assert!(
                e.target.ends_with(&format!("… [{} more characters cut]", 2_000_000 - MAX_FIELD_CHARS)),
                "{}",
                e.target
            );
            assert!(e.actor.chars().count() < MAX_FIELD_CHARS + 40);
            assert!(e.detail.chars().count() < MAX_DETAIL_CHARS + 40);
            assert_eq!(bounded("short", 10), "short");
            assert_eq!(bounded("ééé", 2), "éé… [1 more characters cut]");
        }

        async fn pruning_removes_old_entries_and_caps_the_count(db) {
            for i in 0..10 {
                let target = format!("t{i}");
                record(&db, Record { actor: "a", action: "x", target: &target, ..Default::default() }).await.unwrap();
            }
            sqlx::query("UPDATE audit_log SET ts_ms = 0 WHERE target = 't0'").execute(db.pool()).await.unwrap();
            let now = chrono::Utc::now().timestamp_millis();
            assert_eq!(prune(&db, now - RETENTION.num_milliseconds(), 4).await.unwrap(), 6);
            let left: Vec<_> = query(&db, &AuditQuery::default()).await.unwrap().into_iter().map(|e| e.target).collect();
            assert_eq!(left, ["t9", "t8", "t7", "t6"]);
        }

        async fn a_query_returns_one_page_at_most(db) {
            for _ in 0..(MAX_LIMIT + 5) {
                record(&db, Record { actor: "a", action: "x", ..Default::default() }).await.unwrap();
            }
            let all = query(&db, &AuditQuery { limit: 1_000_000, ..Default::default() }).await.unwrap();
            assert_eq!(all.len(), MAX_LIMIT);
            let older =
                query(&db, &AuditQuery { before_id: Some(all[MAX_LIMIT - 1].id), ..Default::default() }).await.unwrap();
            assert_eq!(older.len(), 5);
        }
    }
}
