//! Users: creation with validated names and passwords, listing, roles, disabling, password
//! resets and changes, authentication, and the first admin on an empty database.

use std::path::{Path, PathBuf};

use sqlx::Row;

use super::names::UserName;
pub use super::names::MAX_USERNAME_CHARS;
use super::password::{check_new_password, hash_password, verify_against_dummy, verify_password};
use super::{secret, AccountError, Role, UserView};
use crate::db::Database;
/// The name of the first admin created on an empty database.
pub const FIRST_ADMIN: &str = "admin";
/// Where a generated first-admin password is written, inside the data directory.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn view(row: &sqlx::any::AnyRow) -> Result<UserView, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserView {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

const COLUMNS: &str = "id, username, role, disabled, created_at_ms";

pub async fn create(db: &Database, username: &str, password: &str, role: Role) -> Result<UserView, AccountError> {
    let name = UserName::parse_new(username)?;
    let username = name.as_str();
    check_new_password(password)?;
    let hash = hash_password(password)?;
    let now = now_ms();
    let result = sqlx::query(
        "INSERT INTO users (username, password_hash, role, disabled, created_at_ms, password_changed_at_ms) \
         VALUES ($1, $2, $3, 0, $4, $5) RETURNING id",
    )
    .bind(username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(now)
    .bind(now)
    .fetch_one(db.pool())
    .await;
    match result {
        Ok(row) => get(db, row.try_get("id")?).await,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AccountError::Conflict(format!("a user named '{username}' already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn get(db: &Database, id: i64) -> Result<UserView, AccountError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| AccountError::NotFound(format!("user {id}")))?;
    Ok(view(&row)?)
}

/// The user with this name (normalised as a login would); `None` for a name no account can have.
pub async fn find(db: &Database, username: &str) -> Result<Option<UserView>, AccountError> {
    let Ok(name) = UserName::parse(username) else { return Ok(None) };
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1)"))
        .bind(name.as_str())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(view).transpose()?)
}

pub async fn list(db: &Database) -> Result<Vec<UserView>, AccountError> {
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY lower(username)")).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(view).collect::<Result<_, _>>()?)
}

pub async fn count(db: &Database) -> Result<i64, AccountError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(db.pool()).await?)
}

/// Refuses a change that would leave no enabled admin: nobody could manage users any more.
async fn ensure_another_admin(db: &Database, user: &UserView, what: &str) -> Result<(), AccountError> {
    if user.role != Role::Admin || user.disabled {
        return Ok(());
    }
    let admins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != $1")
            .bind(user.id)
            .fetch_one(db.pool())
            .await?;
    if admins == 0 {
        return Err(AccountError::Invalid(format!("cannot {what} '{}': it is the last enabled admin", user.username)));
    }
    Ok(())
}

pub async fn set_role(db: &Database, id: i64, role: Role) -> Result<UserView, AccountError> {
    let user = get(db, id).await?;
    if role != Role::Admin {
        ensure_another_admin(db, &user, "demote").await?;
    }
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(role.as_str()).bind(id).execute(db.pool()).await?;
    get(db, id).await
}

/// Disabling also ends the user's sessions; their tokens stop working while disabled.
pub async fn set_disabled(db: &Database, id: i64, disabled: bool) -> Result<UserView, AccountError> {
    let user = get(db, id).await?;
    if disabled {
        ensure_another_admin(db, &user, "disable").await?;
    }
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
        .bind(disabled as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    get(db, id).await
}

/// What a password change ended: the user's other ways in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ended {
    pub sessions: u64,
    pub tokens: u64,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} session{} and {} API token{} ended",
            self.sessions,
            plural(self.sessions),
            self.tokens,
            plural(self.tokens)
        )
    }
}

/// Sets a new password (an admin's reset, or after the user proved the old one), ends every
/// session of the user and revokes their API tokens: whoever knew the old password may have
/// made either.
pub async fn set_password(db: &Database, id: i64, new_password: &str) -> Result<Ended, AccountError> {
    check_new_password(new_password)?;
    let hash = hash_password(new_password)?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let done = sqlx::query("UPDATE users SET password_hash = $1, password_changed_at_ms = $2 WHERE id = $3")
        .bind(&hash)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AccountError::NotFound(format!("user {id}")));
    }
    let sessions =
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
    let tokens = sqlx::query("UPDATE api_tokens SET revoked_at_ms = $1 WHERE user_id = $2 AND revoked_at_ms IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Ended { sessions, tokens })
}

/// A user's own change: the current password must be right.
pub async fn change_own_password(
    db: &Database,
    id: i64,
    current: &str,
    new_password: &str,
) -> Result<Ended, AccountError> {
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| AccountError::NotFound(format!("user {id}")))?;
    if !verify_password(current, &hash) {
        return Err(AccountError::Invalid("the current password is wrong".into()));
    }
    set_password(db, id, new_password).await
}

/// Checks a username and password. Unknown, disabled and wrong all answer
/// [`AccountError::BadCredentials`] after the same argon2 work. The name is a [`UserName`], the
/// same the login limiter counted.
pub async fn authenticate(db: &Database, username: &UserName, password: &str) -> Result<UserView, AccountError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS}, password_hash FROM users WHERE lower(username) = lower($1)"))
        .bind(username.as_str())
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        verify_against_dummy(password);
        return Err(AccountError::BadCredentials);
    };
    let user = view(&row)?;
    let hash: String = row.try_get("password_hash")?;
    // Verify even for disabled users, so their answer takes as long as anyone's.
    let ok = verify_password(password, &hash);
    if ok && !user.disabled {
        Ok(user)
    } else {
        Err(AccountError::BadCredentials)
    }
}

/// What the first start did about the first admin.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Users exist already; nothing was done.
    NotNeeded,
    /// Created with the password from the environment.
    FromEnvironment,
    /// Created with a generated password, written to this file (mode 0600).
    Generated { password: String, file: PathBuf },
}

/// On an empty database, creates the admin "admin" with `password` or a generated one.
pub async fn ensure_first_admin(
    db: &Database,
    data_dir: &Path,
    password: Option<&str>,
) -> Result<FirstAdmin, AccountError> {
    if count(db).await? > 0 {
        return Ok(FirstAdmin::NotNeeded);
    }
    match password {
        Some(password) => {
            create(db, FIRST_ADMIN, password, Role::Admin)
                .await
                .map_err(|e| AccountError::Invalid(format!("OKRFLOW_ADMIN_PASSWORD: {e}")))?;
            Ok(FirstAdmin::FromEnvironment)
        }
        None => {
            let password = secret::new_password();
            let file = data_dir.join(INITIAL_PASSWORD_FILE);
            write_owner_only(&file, &format!("{password}\n"))
                .map_err(|e| AccountError::Invalid(format!("cannot write {}: {e}", file.display())))?;
            create(db, FIRST_ADMIN, &password, Role::Admin).await?;
            Ok(FirstAdmin::Generated { password, file })
        }
    }
}

/// Writes a file readable and writable by its owner only.
fn write_owner_only(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // An older file keeps its mode on open; set it explicitly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;

    both_backends! {
        async fn create_authenticate_and_reject_the_same_way(db) {
            let alice = create(&db, "alice", "a long password", Role::Editor).await.unwrap();
            assert_eq!(alice.role, Role::Editor);
            let name = |n: &str| UserName::parse(n).unwrap();
            assert_eq!(authenticate(&db, &name("alice"), "a long password").await.unwrap().id, alice.id);
            assert_eq!(authenticate(&db, &name("ALICE\t"), "a long password").await.unwrap().id, alice.id);
            let wrong = authenticate(&db, &name("alice"), "nope nope nope").await.unwrap_err().to_string();
            let unknown = authenticate(&db, &name("mallory"), "nope nope nope").await.unwrap_err().to_string();
            assert_eq!(wrong, unknown);
            set_disabled(&db, alice.id, true).await.unwrap();
            let disabled = authenticate(&db, &name("alice"), "a long password").await.unwrap_err().to_string();
            assert_eq!(disabled, unknown);
        }

        async fn bad_names_and_duplicates_are_refused_with_the_rule(db) {
            let err = create(&db, "../etc", "a long password", Role::Viewer).await.unwrap_err().to_string();
            assert!(err.contains("contains '/'"), "{err}");
            create(&db, "bob", "a long password", Role::Viewer).await.unwrap();
            let err = create(&db, "BOB", "a long password", Role::Viewer).await.unwrap_err().to_string();
            assert!(err.contains("already exists"), "{err}");
        }

        async fn the_last_admin_cannot_be_demoted_or_disabled(db) {
            let root = create(&db, "root", "a long password", Role::Admin).await.unwrap();
            assert!(set_role(&db, root.id, Role::Viewer).await.unwrap_err().to_string().contains("last enabled admin"));
            assert!(set_disabled(&db, root.id, true).await.is_err());
            create(&db, "second", "a long password", Role::Admin).await.unwrap();
            assert_eq!(set_role(&db, root.id, Role::Viewer).await.unwrap().role, Role::Viewer);
        }

        async fn the_first_admin_gets_a_generated_password_in_an_owner_only_file(db, dir) {
            let FirstAdmin::Generated { password, file } = ensure_first_admin(&db, &dir, None).await.unwrap() else {
                panic!("expected a generated password");
            };
            assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), password);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            }
            assert!(authenticate(&db, &UserName::parse(FIRST_ADMIN).unwrap(), &password).await.is_ok());
            assert_eq!(ensure_first_admin(&db, &dir, None).await.unwrap(), FirstAdmin::NotNeeded);
        }

        async fn changing_a_password_needs_the_current_one(db) {
            let u = create(&db, "dana", "first password", Role::Viewer).await.unwrap();
            let err = change_own_password(&db, u.id, "wrong password", "second password").await.unwrap_err();
            assert!(err.to_string().contains("current password is wrong"));
            change_own_password(&db, u.id, "first password", "second password").await.unwrap();
            assert!(authenticate(&db, &UserName::parse("dana").unwrap(), "second password").await.is_ok());
        }

        async fn a_new_password_ends_sessions_and_revokes_api_tokens(db) {
            use crate::accounts::{sessions, tokens};
            let u = create(&db, "eli", "first password", Role::Editor).await.unwrap();
            let (token, _) = tokens::create(&db, u.id, "ci", None, now_ms()).await.unwrap();
            let session = sessions::create(&db, u.id, "", "", now_ms()).await.unwrap();
            let ended = change_own_password(&db, u.id, "first password", "second password").await.unwrap();
            assert_eq!(ended, Ended { sessions: 1, tokens: 1 });
            assert_eq!(ended.to_string(), "1 session and 1 API token ended");
            assert!(tokens::verify(&db, &token, now_ms()).await.unwrap().is_none());
            assert!(sessions::lookup(&db, &session.cookie, now_ms()).await.unwrap().is_none());
            assert_eq!(set_password(&db, u.id, "third password").await.unwrap(), Ended::default(), "nothing left to end");
        }
    }
}
