//! API tokens, for scripts and automation: `Authorization: Bearer fst_…`.
//!
//! A token's secret is 32 random bytes, shown once as `fst_` and their
//! URL-safe base64, and stored only as its SHA-256. A password needs a slow
//! hash because people choose guessable ones; a secret of 256 random bits
//! cannot be guessed, so a fast hash is as safe, and it lets every API
//! call find its token with one indexed look-up instead of an argon2 run
//! (the budget is 1 ms per call). The prefix makes a leaked token
//! recognisable to secret scanners and tells a token from a password.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AccountError, Accounts, SecurityEvent, User, UserRoleRow, NAME_CHARS_MAX};

/// What every token's secret starts with.
pub const TOKEN_PREFIX: &str = "fst_";

/// Bytes of randomness in a secret.
const SECRET_BYTES: usize = 32;

/// How often the last use of a token is written at most (ms): a script
/// calling every second must not make every call a write.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// A token just made. `secret` is shown to its owner once and kept nowhere.
#[derive(Debug)]
pub struct NewToken {
    pub id: i64,
    pub secret: Zeroizing<String>,
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

/// The SHA-256 of a secret, as stored (hex).
fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `s` has the form of a secret: the prefix and 43 base64url
/// characters (32 bytes, no padding).
fn well_formed(s: &str) -> bool {
    s.strip_prefix(TOKEN_PREFIX).is_some_and(|b| {
        b.len() == 43
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    })
}

#[derive(sqlx::FromRow)]
struct TokenUserRow {
    #[sqlx(flatten)]
    user: UserRoleRow,
    token_id: i64,
    last_used_ms: Option<i64>,
}

impl Accounts {
    /// Makes a token for a user, valid `days` (the configured default when
    /// `None`, at most `token_days_max`).
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        days: Option<u32>,
    ) -> Result<NewToken, AccountError> {
        let cfg = self.config();
        let days = days.unwrap_or(cfg.token_days_default);
        if days == 0 || days > cfg.token_days_max {
            return Err(AccountError::TokenDays(cfg.token_days_max));
        }
        let name = name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > NAME_CHARS_MAX || name.chars().any(char::is_control) {
            return Err(AccountError::BadTokenName);
        }
        let user = self
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(user_id.to_string()))?;
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        let mut secret = Zeroizing::new(String::with_capacity(48));
        secret.push_str(TOKEN_PREFIX);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut secret);
        let now = self.now_ms();
        let expires_ms = now.saturating_add(i64::from(days).saturating_mul(86_400_000));
        let mut tx = self.db().begin_aside().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, secret_sha256, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(digest(&secret))
        .bind(now)
        .bind(expires_ms)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.record(SecurityEvent::TokenCreated {
            login: user.login,
            token_id: id,
            name: name.to_owned(),
            expires_ms,
        });
        Ok(NewToken {
            id,
            secret,
            expires_ms,
        })
    }

    /// A user's tokens, newest first, revoked and expired ones included.
    pub async fn tokens(&self, user_id: i64) -> Result<Vec<TokenInfo>, AccountError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_ms, expires_ms, last_used_ms, revoked_ms FROM api_tokens \
             WHERE user_id = $1 ORDER BY id DESC",
        )
        .bind(user_id)
        .fetch_all(self.db().read())
        .await?)
    }

    /// Revokes one of a user's tokens. Revoking a revoked token changes
    /// nothing; another user's token is no such token.
    pub async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<(), AccountError> {
        let mut tx = self.db().begin_aside().await?;
        let found: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_ms FROM api_tokens WHERE id = $1 AND user_id = $2")
                .bind(token_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match found {
            None => return Err(AccountError::NoSuchToken),
            Some(Some(_)) => return Ok(()),
            Some(None) => {}
        }
        sqlx::query("UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2")
            .bind(self.now_ms())
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let login = self
            .user_by_id(user_id)
            .await?
            .map(|u| u.login)
            .unwrap_or_default();
        self.record(SecurityEvent::TokenRevoked { login, token_id });
        Ok(())
    }

    /// The user a bearer secret belongs to; `None` when the secret is
    /// malformed, unknown, expired or revoked, or its user is disabled. One
    /// indexed read (the token's hash, joined with its user and roles);
    /// the last use is written in the background, at most once a minute.
    pub async fn token_user(&self, secret: &str) -> Result<Option<User>, AccountError> {
        if !well_formed(secret) {
            return Ok(None);
        }
        let now = self.now_ms();
        let rows: Vec<TokenUserRow> = sqlx::query_as(
            "SELECT u.id, u.login, u.name, u.department, u.classified, u.disabled, r.role, \
             t.id AS token_id, t.last_used_ms \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN user_roles r ON r.user_id = u.id \
             WHERE t.secret_sha256 = $1 AND t.revoked_ms IS NULL AND t.expires_ms > $2 \
             ORDER BY r.role",
        )
        .bind(digest(secret))
        .bind(now)
        .fetch_all(self.db().read())
        .await?;
        let Some((token_id, last_used)) = rows.first().map(|r| (r.token_id, r.last_used_ms)) else {
            return Ok(None);
        };
        let user = super::users_of(rows.into_iter().map(|r| r.user).collect())?.pop();
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        if last_used.is_none_or(|t| now.saturating_sub(t) >= LAST_USED_EVERY_MS) {
            let db = self.db().clone();
            tokio::spawn(async move {
                let done = async {
                    let mut tx = db.begin_aside().await?;
                    sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
                        .bind(now)
                        .bind(token_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok::<(), AccountError>(())
                };
                if let Err(e) = done.await {
                    tracing::warn!(error = %e, token_id, "could not note a token's last use");
                }
            });
        }
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_one_form() {
        let s = format!("{TOKEN_PREFIX}{}", "A".repeat(43));
        assert!(well_formed(&s));
        assert!(!well_formed(&s[1..]));
        assert!(!well_formed(&format!("{s}A")));
        assert!(!well_formed(&format!("{TOKEN_PREFIX}{}=", "A".repeat(42))));
        assert!(!well_formed(""));
    }
}
