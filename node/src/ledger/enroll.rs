//! Enrolment tokens, inside a write transaction: the parent keeps a token's
//! secret hash until a child uses it, once, before it expires.

use fundsync_protocol::NodeCode;

use super::{LedgerError, Work};

#[derive(sqlx::FromRow)]
struct TokenRow {
    child: String,
    expires_ms: i64,
    used_ms: Option<i64>,
}

impl Work<'_> {
    /// Stores a token for `child` by its secret's hash, valid until
    /// `expires_ms`.
    pub async fn add_enroll_token(
        &mut self,
        child: NodeCode,
        secret_hash: Vec<u8>,
        expires_ms: i64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO enroll_tokens (child, secret_hash, expires_ms) VALUES ($1, $2, $3)",
        )
        .bind(child.as_str())
        .bind(secret_hash)
        .bind(expires_ms)
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Uses up the token with this secret hash if it was made for `child`,
    /// has not expired at `now_ms` and was not used before. Returns whether
    /// it was; a token that was not is left as it was.
    pub async fn use_enroll_token(
        &mut self,
        child: NodeCode,
        secret_hash: Vec<u8>,
        now_ms: i64,
    ) -> Result<bool, LedgerError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT child, expires_ms, used_ms FROM enroll_tokens WHERE secret_hash = $1",
        )
        .bind(secret_hash.clone())
        .fetch_optional(self.conn().await?)
        .await?;
        let valid = row.is_some_and(|t| {
            t.child == child.as_str() && t.expires_ms > now_ms && t.used_ms.is_none()
        });
        if valid {
            sqlx::query("UPDATE enroll_tokens SET used_ms = $1 WHERE secret_hash = $2")
                .bind(now_ms)
                .bind(secret_hash)
                .execute(self.conn().await?)
                .await?;
        }
        Ok(valid)
    }
}
