//! Idempotency keys of the pages' forms, so a refresh or a double click
//! records once.
//!
//! Every form a page renders carries a random key. The entries a confirmed
//! form records are stored under its key, per login (`form_keys`, migration
//! 0008), in the same write transaction that records them: a second POST
//! with the key, even one racing the first, waits for the one writer, finds
//! the row and records nothing. The table is the node's own (not
//! replicated, not derived from the journal); rows older than
//! [`FORM_KEY_TTL_MS`] are pruned whenever a keyed form is recorded, and a
//! page refuses a form whose key was issued longer ago than that.

use fundsync_protocol::{Actor, Body, EntryId};

use super::rows::parse_id;
use super::{Ledger, LedgerError, Outcome};

/// How long a form's key holds (a day): a form older than this is refused
/// as stale by the page, so a pruned key can never record twice.
pub const FORM_KEY_TTL_MS: i64 = 24 * 3600 * 1000;

/// Longest key stored, in bytes (a page's keys are 49).
pub const FORM_KEY_BYTES_MAX: usize = 80;

/// Who submitted which form under which key.
#[derive(Debug, Clone, Copy)]
pub struct FormKey<'a> {
    /// The signed-in person's login: keys are per person.
    pub login: &'a str,
    pub key: &'a str,
    /// Which form (e.g. `allocation`), for the result page.
    pub form: &'a str,
}

/// What an earlier submission under a key recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormResult {
    pub form: String,
    pub created_ms: i64,
    pub entries: Vec<EntryId>,
}

/// What [`Ledger::submit_keyed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyed {
    /// The bodies were recorded (or found recorded already) now.
    Recorded(Vec<Outcome>),
    /// The key was used before: nothing was recorded now.
    Repeated(FormResult),
}

#[derive(sqlx::FromRow)]
struct FormKeyRow {
    form: String,
    created_ms: i64,
    entries: String,
}

impl TryFrom<FormKeyRow> for FormResult {
    type Error = LedgerError;
    fn try_from(r: FormKeyRow) -> Result<FormResult, LedgerError> {
        Ok(FormResult {
            form: r.form,
            created_ms: r.created_ms,
            entries: r
                .entries
                .split(',')
                .filter(|s| !s.is_empty())
                .map(parse_id)
                .collect::<Result<_, _>>()?,
        })
    }
}

const SELECT_KEY: &str =
    "SELECT form, created_ms, entries FROM form_keys WHERE login = $1 AND form_key = $2";

impl Ledger {
    /// Records `bodies` like [`Ledger::submit`], under a form's key: if
    /// `key.login` used `key.key` before, records nothing and returns what
    /// that submission recorded. The key is written in the transaction
    /// that records the entries, so exactly one of any number of
    /// submissions with one key records.
    pub async fn submit_keyed(
        &self,
        key: &FormKey<'_>,
        bodies: &[Body],
        actor: &Actor,
    ) -> Result<Keyed, LedgerError> {
        let mut work = self.begin().await?;
        let earlier: Option<FormKeyRow> = sqlx::query_as(SELECT_KEY)
            .bind(key.login)
            .bind(key.key)
            .fetch_optional(&mut *work.conn().await?)
            .await?;
        if let Some(r) = earlier {
            // `work` is dropped: the transaction is rolled back.
            return Ok(Keyed::Repeated(r.try_into()?));
        }
        let mut out = Vec::with_capacity(bodies.len());
        for b in bodies {
            out.push(work.record(b.clone(), actor).await?);
        }
        let now_ms = work.now_ms;
        let entries = out
            .iter()
            .map(|o| o.id().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let conn = work.conn().await?;
        sqlx::query("DELETE FROM form_keys WHERE created_ms < $1")
            .bind(now_ms.saturating_sub(FORM_KEY_TTL_MS))
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO form_keys (login, form_key, form, created_ms, entries) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.login)
        .bind(key.key)
        .bind(key.form)
        .bind(now_ms)
        .bind(entries)
        .execute(&mut *conn)
        .await?;
        work.commit().await?;
        Ok(Keyed::Recorded(out))
    }

    /// What `login` recorded under `key`, if anything.
    pub async fn form_result(
        &self,
        login: &str,
        key: &str,
    ) -> Result<Option<FormResult>, LedgerError> {
        let row: Option<FormKeyRow> = sqlx::query_as(SELECT_KEY)
            .bind(login)
            .bind(key)
            .fetch_optional(self.db().read())
            .await?;
        row.map(FormResult::try_from).transpose()
    }

    /// Checks `bodies` as [`Ledger::submit`] would record them, and records
    /// nothing: every rule runs in a write transaction that is then rolled
    /// back. A form's confirmation page is shown only for what the ledger
    /// would take now (it may still refuse at the confirmation, if
    /// something was recorded in between).
    pub async fn rehearse(&self, bodies: &[Body], actor: &Actor) -> Result<(), LedgerError> {
        let mut work = self.begin().await?;
        for b in bodies {
            work.record(b.clone(), actor).await?;
        }
        // Dropped without a commit: rolled back.
        drop(work);
        Ok(())
    }
}
