//! The pages' sessions: a [`tower_sessions::SessionStore`] over the node's
//! own database.
//!
//! A session id is kept only as its SHA-256, so a copy of the database (a
//! backup) holds no cookie anyone could present. The record's `"user_id"`
//! key is copied into a column, so disabling a user or resetting their
//! password ends their sessions ([`Accounts::end_sessions_of`]).
//!
//! Time is the node's [`crate::clock::Clock`]. A session ends
//! `session_idle_ms` after it was last saved (or earlier, at the record's
//! own expiry) and `session_absolute_ms` after sign-in: the first save
//! with a `"user_id"` stamps the record with [`SIGNED_IN_KEY`], which every
//! later save carries (the login page also cycles the id then). A signed-in
//! session is also over when its user is disabled or their password
//! changed after it began, so a request that was running when the
//! administrator acted cannot bring the session back by saving it. A
//! session found ended is deleted when it is asked for, and ended sessions
//! are purged whenever one is created.

use std::fmt;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};

use super::{AccountError, Accounts};
use crate::store::accounts::SessionWrite;

/// The record key whose value (a user id) is copied into the `user_id`
/// column.
pub const USER_ID_KEY: &str = "user_id";

/// The record key the store stamps with the sign-in time (ms), the start of
/// the absolute timeout.
pub const SIGNED_IN_KEY: &str = "signed_in_ms";

/// Sessions in the node's database. Made by [`Accounts::session_store`].
#[derive(Clone)]
pub struct SessionStore {
    accounts: Accounts,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore").finish_non_exhaustive()
    }
}

fn id_digest(id: &Id) -> String {
    hex::encode(Sha256::digest(id.0.to_le_bytes()))
}

fn backend(e: impl fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn ms_of(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl SessionStore {
    pub(super) fn new(accounts: Accounts) -> SessionStore {
        SessionStore { accounts }
    }

    fn idle_ms(&self) -> i64 {
        i64::try_from(self.accounts.config().session_idle_ms).unwrap_or(i64::MAX)
    }

    fn absolute_ms(&self) -> i64 {
        i64::try_from(self.accounts.config().session_absolute_ms).unwrap_or(i64::MAX)
    }

    /// Inserts (`only_new`) or upserts a record; false if `only_new` and
    /// the id is taken.
    async fn write(
        &self,
        record: &Record,
        only_new: bool,
    ) -> std::result::Result<bool, AccountError> {
        let now = self.accounts.now_ms();
        let expires_ms = ms_of(record.expiry_date).min(now.saturating_add(self.idle_ms()));
        let user_id = record
            .data
            .get(USER_ID_KEY)
            .and_then(serde_json::Value::as_i64);
        // Signed in: the sign-in time, stamped on the first save and kept.
        // Anonymous: no absolute limit (nothing to protect), so now.
        let stamped;
        let (data, created_ms) = match user_id {
            Some(_) => {
                match record
                    .data
                    .get(SIGNED_IN_KEY)
                    .and_then(serde_json::Value::as_i64)
                {
                    Some(at) => (&record.data, at),
                    None => {
                        let mut d = record.data.clone();
                        d.insert(SIGNED_IN_KEY.to_owned(), serde_json::json!(now));
                        stamped = d;
                        (&stamped, now)
                    }
                }
            }
            None => (&record.data, now),
        };
        let data = serde_json::to_string(data)
            .map_err(|e| crate::store::StoreError::Corrupt(format!("session record: {e}")))?;
        let digest = id_digest(&record.id);
        let purge = (now, now.saturating_sub(self.absolute_ms()));
        Ok(self
            .accounts
            .store()
            .write_session(
                &SessionWrite {
                    id_sha256: &digest,
                    user_id,
                    data: &data,
                    created_ms,
                    expires_ms,
                },
                only_new,
                purge,
            )
            .await?)
    }

    async fn remove(&self, digest: String) -> std::result::Result<(), AccountError> {
        Ok(self.accounts.store().delete_session(&digest).await?)
    }
}

#[async_trait]
impl tower_sessions::SessionStore for SessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // 128 random bits collide only in theory; a new id then.
        while !self.write(record, true).await.map_err(backend)? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.write(record, false).await.map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let digest = id_digest(id);
        let row = self
            .accounts
            .store()
            .session(&digest)
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let now = self.accounts.now_ms();
        let ends_ms = row
            .expires_ms
            .min(row.created_ms.saturating_add(self.absolute_ms()));
        let user_gone = row.user_id.is_some()
            && (row.disabled.is_none_or(|d| d != 0)
                || row.password_changed_ms.is_none_or(|p| p > row.created_ms));
        if ends_ms <= now || user_gone {
            self.remove(digest).await.map_err(backend)?;
            return Ok(None);
        }
        let data = serde_json::from_str(&row.data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(ends_ms).saturating_mul(1_000_000),
        )
        .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.remove(id_digest(id)).await.map_err(backend)
    }
}
