//! Scratch Postgres databases for tests: each test creates its own on the server named by
//! `OKRFLOW_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`, the local
//! server of the development and CI machines) and drops it when done, so runs never see each
//! other's data. Databases left by a test process that was killed are dropped by the next one.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection};

/// The environment variable naming the Postgres server tests may create databases on.
pub const ENV: &str = "OKRFLOW_TEST_POSTGRES";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "okrflow_test_";

/// A database of its own on the test server, dropped (with any open connections) on drop.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn admin_url() -> String {
    std::env::var(ENV).ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string())
}

async fn admin(admin_url: &str) -> Result<PgConnection, String> {
    let options: sqlx::postgres::PgConnectOptions =
        admin_url.parse().map_err(|e| format!("{ENV}={}: {e}", super::redact_password(admin_url)))?;
    options.disable_statement_logging().connect().await.map_err(|e| {
        format!(
            "the tests need a Postgres server they may create databases on: {} ({e}); set {ENV} to another",
            super::redact_password(admin_url)
        )
    })
}

impl ScratchDatabase {
    /// Creates `okrflow_test_<pid>_<n>` and returns its handle; its URL is the admin URL with
    /// the database name replaced.
    pub async fn create() -> Result<ScratchDatabase, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        let admin_url = admin_url();
        let mut conn = admin(&admin_url).await?;
        SWEPT.get_or_init(|| sweep_dead(&admin_url)).await;
        let name = format!("{PREFIX}{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        // Two statements, not one string: Postgres runs a multi-statement string as one
        // transaction, where neither may run.
        for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
            sqlx::raw_sql(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("cannot create the test database {name}: {e}"))?;
        }
        let _ = conn.close().await;
        let url = with_database(&admin_url, &name);
        Ok(ScratchDatabase { admin_url, name, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The URL with its path (the database) replaced by `name`, its parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// Drops the test databases of processes that no longer run (a killed test run leaves them).
async fn sweep_dead(admin_url: &str) {
    let Ok(mut conn) = admin(admin_url).await else { return };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'okrflow\\_test\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.trim_start_matches(PREFIX).split('_').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
        }
    }
    let _ = conn.close().await;
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Dropping runs outside any runtime (or inside one that must not block): a thread of its
        // own with a small runtime of its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = admin(&admin_url).await {
                    let _ =
                        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
