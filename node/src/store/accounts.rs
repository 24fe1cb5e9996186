//! The accounts' tables (users, user_roles, api_tokens, login_failures,
//! sessions; migration 0006): every statement `accounts/` needs, one method
//! per operation, each its own short transaction where it writes.
//!
//! These tables are the node's own (not derived from the journal, never
//! replicated), so their writes never go through the ledger's one writer:
//! they run on a read connection with the dialect's write begin
//! ([`Db::begin_aside`]), and a sign-in does not queue behind an import. The
//! statements are the same on both engines (`ON CONFLICT … DO UPDATE`,
//! `RETURNING` and `excluded.` are understood by SQLite ≥ 3.35 and
//! PostgreSQL alike); where the engines differ is the column types, which
//! are each engine's migration. The policy (who may sign in, when a session
//! ended, what a password must be) is `accounts/`'s: this file only stores
//! and reads.

use super::{Db, StoreError};

/// The accounts' statements, over one database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AccountStore {
    db: Db,
}

/// A `users` row (what is shown of a user; never the hash).
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub department: Option<String>,
    pub classified: i64,
    pub disabled: i64,
}

/// A `users` row joined with one of its roles (none: `NULL`). A user's
/// rows come together, roles in order.
#[derive(Debug, sqlx::FromRow)]
pub struct UserRoleRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub role: Option<String>,
}

/// Which users [`AccountStore::users`] reads.
#[derive(Debug, Clone, Copy)]
pub enum UserKey<'a> {
    Login(&'a str),
    Id(i64),
    All,
}

/// A user to insert; `password_hash` is a PHC string.
#[derive(Debug)]
pub struct UserInsert<'a> {
    pub login: &'a str,
    pub name: &'a str,
    pub department: Option<&'a str>,
    pub classified: bool,
    pub password_hash: &'a str,
    pub now_ms: i64,
}

/// A user's id and password hash, for the sign-in check.
#[derive(Debug, sqlx::FromRow)]
pub struct PasswordRow {
    pub id: i64,
    pub password_hash: String,
}

/// A `login_failures` subject's lock (0: none).
#[derive(Debug, sqlx::FromRow)]
pub struct FailureRow {
    pub subject: String,
    pub locked_until_ms: i64,
}

/// A session as loaded, with its user's state.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub data: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub user_id: Option<i64>,
    /// Of the session's user, if it has one and they exist.
    pub disabled: Option<i64>,
    pub password_changed_ms: Option<i64>,
}

/// A session to write.
#[derive(Debug)]
pub struct SessionWrite<'a> {
    pub id_sha256: &'a str,
    pub user_id: Option<i64>,
    pub data: &'a str,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// A token as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// A live token's user, one row per role.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenUserRow {
    #[sqlx(flatten)]
    pub user: UserRoleRow,
    pub token_id: i64,
    pub last_used_ms: Option<i64>,
}

/// What [`AccountStore::revoke_token`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// No token of that id belongs to that user.
    NoSuchToken,
    /// It was revoked before; nothing changed.
    Already,
    /// Revoked now.
    Now,
}

/// One subject's failed sign-in to count, and its limit.
#[derive(Debug, Clone, Copy)]
pub struct FailureCount<'a> {
    pub subject: &'a str,
    /// Failures in the window at which the subject is locked (at least 1).
    pub limit: u32,
}

const USER_COLUMNS: &str = "u.id, u.login, u.name, u.department, u.classified, u.disabled, r.role";

impl AccountStore {
    pub fn new(db: Db) -> AccountStore {
        AccountStore { db }
    }

    /// Runs one statement in a short transaction of its own, aside from
    /// the ledger's writer ([`Db::begin_aside`]).
    async fn aside<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_aside().await?;
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserts a user with its roles, in one transaction; `None` (nothing
    /// written) when the login is taken.
    pub async fn insert_user(
        &self,
        u: &UserInsert<'_>,
        roles: &[&str],
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.db.begin_aside().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (login, name, department, classified, disabled, password_hash, \
             created_ms, password_changed_ms) VALUES ($1, $2, $3, $4, 0, $5, $6, $6) \
             ON CONFLICT (login) DO NOTHING RETURNING id",
        )
        .bind(u.login)
        .bind(u.name)
        .bind(u.department)
        .bind(i64::from(u.classified))
        .bind(u.password_hash)
        .bind(u.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        for r in roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(*r)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Users joined with their roles, ordered by user then role.
    pub async fn users(&self, key: UserKey<'_>) -> Result<Vec<UserRoleRow>, StoreError> {
        let filter = match key {
            UserKey::Login(_) => "WHERE u.login = $1",
            UserKey::Id(_) => "WHERE u.id = $1",
            UserKey::All => "",
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u LEFT JOIN user_roles r ON r.user_id = u.id \
             {filter} ORDER BY u.id, r.role"
        );
        let q = sqlx::query_as::<_, UserRoleRow>(&sql);
        let q = match key {
            UserKey::Login(l) => q.bind(l.to_owned()),
            UserKey::Id(id) => q.bind(id),
            UserKey::All => q,
        };
        Ok(q.fetch_all(self.db.read()).await?)
    }

    /// A user's password hash.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self.db.read())
                .await?,
        )
    }

    /// The id and password hash of the user with this login.
    pub async fn password_of_login(&self, login: &str) -> Result<Option<PasswordRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM users WHERE login = $1")
                .bind(login)
                .fetch_optional(self.db.read())
                .await?,
        )
    }

    /// Disables (ending the user's sessions in the same transaction) or
    /// enables a user.
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<(), StoreError> {
        let mut tx = self.db.begin_aside().await?;
        sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            delete_sessions_of(&mut tx, user_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new password hash and, in the same transaction, ends the
    /// user's sessions and forgets the failures counted against
    /// `login_subject` (a new password lifts a lock on the account).
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        now_ms: i64,
        login_subject: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_aside().await?;
        sqlx::query("UPDATE users SET password_hash = $1, password_changed_ms = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now_ms)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        delete_sessions_of(&mut tx, user_id).await?;
        sqlx::query("DELETE FROM login_failures WHERE subject = $1")
            .bind(login_subject)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives a user a role (nothing if they hold it).
    pub async fn grant_role(&self, user_id: i64, role: &str) -> Result<(), StoreError> {
        self.aside(
            sqlx::query(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) \
             ON CONFLICT (user_id, role) DO NOTHING",
            )
            .bind(user_id)
            .bind(role),
        )
        .await?;
        Ok(())
    }

    /// Takes a role from a user (nothing if they do not hold it).
    pub async fn revoke_role(&self, user_id: i64, role: &str) -> Result<(), StoreError> {
        self.aside(
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
                .bind(user_id)
                .bind(role),
        )
        .await?;
        Ok(())
    }

    pub async fn set_classified(&self, user_id: i64, classified: bool) -> Result<(), StoreError> {
        self.aside(
            sqlx::query("UPDATE users SET classified = $1 WHERE id = $2")
                .bind(i64::from(classified))
                .bind(user_id),
        )
        .await?;
        Ok(())
    }

    pub async fn set_department(
        &self,
        user_id: i64,
        department: Option<&str>,
    ) -> Result<(), StoreError> {
        self.aside(
            sqlx::query("UPDATE users SET department = $1 WHERE id = $2")
                .bind(department.map(str::to_owned))
                .bind(user_id),
        )
        .await?;
        Ok(())
    }

    /// Ends every session of a user.
    pub async fn end_sessions_of(&self, user_id: i64) -> Result<(), StoreError> {
        let mut tx = self.db.begin_aside().await?;
        delete_sessions_of(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    // Sessions.

    /// Inserts a session (`only_new`: false, nothing written, if the id is
    /// taken; sessions ended before are purged first: those expired at
    /// `purge.0`, and signed-in ones created at or before `purge.1`) or
    /// upserts it.
    pub async fn write_session(
        &self,
        s: &SessionWrite<'_>,
        only_new: bool,
        purge: (i64, i64),
    ) -> Result<bool, StoreError> {
        let conflict = if only_new {
            "DO NOTHING"
        } else {
            "DO UPDATE SET user_id = excluded.user_id, data = excluded.data, \
             created_ms = excluded.created_ms, expires_ms = excluded.expires_ms"
        };
        let mut tx = self.db.begin_aside().await?;
        if only_new {
            sqlx::query(
                "DELETE FROM sessions WHERE expires_ms <= $1 \
                 OR (user_id IS NOT NULL AND created_ms <= $2)",
            )
            .bind(purge.0)
            .bind(purge.1)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query(&format!(
            "INSERT INTO sessions (id_sha256, user_id, data, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_sha256) {conflict}"
        ))
        .bind(s.id_sha256)
        .bind(s.user_id)
        .bind(s.data)
        .bind(s.created_ms)
        .bind(s.expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// A session by the SHA-256 of its id, with its user's state.
    pub async fn session(&self, id_sha256: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.data, s.created_ms, s.expires_ms, s.user_id, u.disabled, \
             u.password_changed_ms FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.id_sha256 = $1",
        )
        .bind(id_sha256)
        .fetch_optional(self.db.read())
        .await?)
    }

    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.aside(sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(id_sha256))
            .await?;
        Ok(())
    }

    // API tokens.

    /// Stores a token (its secret's SHA-256); its id.
    pub async fn insert_token(
        &self,
        user_id: i64,
        name: &str,
        secret_sha256: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.db.begin_aside().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, secret_sha256, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(secret_sha256)
        .bind(now_ms)
        .bind(expires_ms)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A user's tokens, newest first.
    pub async fn tokens(&self, user_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_ms, expires_ms, last_used_ms, revoked_ms FROM api_tokens \
             WHERE user_id = $1 ORDER BY id DESC",
        )
        .bind(user_id)
        .fetch_all(self.db.read())
        .await?)
    }

    /// Revokes a user's token at `now_ms`, unless it is someone else's or
    /// revoked already.
    pub async fn revoke_token(
        &self,
        user_id: i64,
        token_id: i64,
        now_ms: i64,
    ) -> Result<Revoked, StoreError> {
        let mut tx = self.db.begin_aside().await?;
        let found: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_ms FROM api_tokens WHERE id = $1 AND user_id = $2")
                .bind(token_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match found {
            None => return Ok(Revoked::NoSuchToken),
            Some(Some(_)) => return Ok(Revoked::Already),
            Some(None) => {}
        }
        sqlx::query("UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Revoked::Now)
    }

    /// The user of a live token (not revoked, not expired at `now_ms`), one
    /// row per role: one indexed read.
    pub async fn token_user(
        &self,
        secret_sha256: &str,
        now_ms: i64,
    ) -> Result<Vec<TokenUserRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.login, u.name, u.department, u.classified, u.disabled, r.role, \
             t.id AS token_id, t.last_used_ms \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN user_roles r ON r.user_id = u.id \
             WHERE t.secret_sha256 = $1 AND t.revoked_ms IS NULL AND t.expires_ms > $2 \
             ORDER BY r.role",
        )
        .bind(secret_sha256)
        .bind(now_ms)
        .fetch_all(self.db.read())
        .await?)
    }

    /// Notes a token's last use.
    pub async fn token_used(&self, token_id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.aside(
            sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(token_id),
        )
        .await?;
        Ok(())
    }

    // The sign-in throttle.

    /// The locks of these subjects (those with a count).
    pub async fn failures(&self, a: &str, b: &str) -> Result<Vec<FailureRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT subject, locked_until_ms FROM login_failures WHERE subject = $1 OR subject = $2",
        )
        .bind(a)
        .bind(b)
        .fetch_all(self.db.read())
        .await?)
    }

    /// Forgets a subject's count.
    pub async fn clear_failures(&self, subject: &str) -> Result<(), StoreError> {
        self.aside(sqlx::query("DELETE FROM login_failures WHERE subject = $1").bind(subject))
            .await?;
        Ok(())
    }

    /// Counts one failure against each subject, in one transaction, and
    /// locks until `now_ms + lock_ms` each that reaches its limit; returns
    /// those locked now, with the end of their lock. A count goes on while
    /// its window (since `window_start_ms`) is open and no lock has run
    /// out; otherwise it starts again at 1. Each count is one upsert that
    /// reads and writes the row atomically, so failures racing in parallel
    /// are all counted. Counts quiet for a window and locks that ran out
    /// are forgotten.
    pub async fn count_failures(
        &self,
        subjects: &[FailureCount<'_>],
        now_ms: i64,
        window_start_ms: i64,
        lock_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut locked = Vec::new();
        let mut tx = self.db.begin_aside().await?;
        for s in subjects {
            let (failures, locked_until_ms): (i64, i64) = sqlx::query_as(
                "INSERT INTO login_failures (subject, failures, first_ms, locked_until_ms) \
                 VALUES ($1, 1, $2, 0) ON CONFLICT (subject) DO UPDATE SET \
                 failures = CASE WHEN login_failures.first_ms > $3 \
                     AND login_failures.locked_until_ms = 0 \
                     THEN login_failures.failures + 1 ELSE 1 END, \
                 first_ms = CASE WHEN login_failures.first_ms > $3 \
                     AND login_failures.locked_until_ms = 0 \
                     THEN login_failures.first_ms ELSE $2 END, \
                 locked_until_ms = CASE WHEN login_failures.first_ms > $3 \
                     AND login_failures.locked_until_ms = 0 \
                     THEN login_failures.locked_until_ms ELSE 0 END \
                 RETURNING failures, locked_until_ms",
            )
            .bind(s.subject)
            .bind(now_ms)
            .bind(window_start_ms)
            .fetch_one(&mut *tx)
            .await?;
            if failures >= i64::from(s.limit.max(1)) && locked_until_ms == 0 {
                let until_ms = now_ms.saturating_add(lock_ms);
                sqlx::query("UPDATE login_failures SET locked_until_ms = $1 WHERE subject = $2")
                    .bind(until_ms)
                    .bind(s.subject)
                    .execute(&mut *tx)
                    .await?;
                locked.push((s.subject.to_owned(), until_ms));
            }
        }
        sqlx::query("DELETE FROM login_failures WHERE first_ms <= $1 AND locked_until_ms <= $2")
            .bind(window_start_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(locked)
    }
}

async fn delete_sessions_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
