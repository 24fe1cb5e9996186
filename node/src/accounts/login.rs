//! Signing in: the password check and the throttle.
//!
//! Failures are counted per login name (typed, existing or not) and per
//! client address (an IPv6 address by its /64, which one client usually
//! holds whole), in a window of `failure_window_ms`; a subject that reaches
//! its limit is locked for `lock_ms`. While the login or the address is
//! locked, nothing is checked, not even the password. A success clears the
//! login's count, not the address's: one good password among many guesses
//! from one place does not let the guessing go on.
//!
//! An unknown login and a wrong password get the same answer, after the
//! same work (a dummy hash is verified), and a disabled account is said to
//! be disabled only to whoever knows its password.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::{AccountError, Accounts, SecurityEvent, User};

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown login or wrong password: the same answer for both.
    #[error("wrong login name or password")]
    BadCredentials,
    /// Too many failures for this login or from this address.
    #[error("too many failed sign-ins; try again later")]
    Locked { until_ms: i64 },
    /// The password was right, the account is disabled.
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<sqlx::Error> for LoginError {
    fn from(e: sqlx::Error) -> Self {
        LoginError::Account(e.into())
    }
}

impl From<crate::store::StoreError> for LoginError {
    fn from(e: crate::store::StoreError) -> Self {
        LoginError::Account(e.into())
    }
}

impl LoginError {
    /// The message in Chinese, for the login page.
    pub fn zh(&self) -> String {
        match self {
            LoginError::BadCredentials => "登录名或密码不正确".to_owned(),
            LoginError::Locked { .. } => "登录失败次数过多，账户已暂时锁定，请稍后再试".to_owned(),
            LoginError::Disabled => "账户已停用，请联系系统管理员".to_owned(),
            LoginError::Account(e) => e.zh(),
        }
    }

    /// The API's error code.
    pub fn code(&self) -> fundsync_protocol::wire::ErrorCode {
        use fundsync_protocol::wire::ErrorCode;
        match self {
            LoginError::BadCredentials | LoginError::Disabled => ErrorCode::Unauthenticated,
            LoginError::Locked { .. } => ErrorCode::Locked,
            LoginError::Account(e) => e.code(),
        }
    }
}

pub(super) fn login_subject(login: &str) -> String {
    format!("login:{login}")
}

/// The address a failure is counted against: IPv4 whole, IPv6 by /64.
pub(super) fn addr_subject(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("addr:{a}"),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => format!("addr:{v4}"),
            None => {
                let s = a.segments();
                format!("addr:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Accounts {
    /// Checks a login name and password from `addr`. See the module's doc
    /// for the throttle.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        addr: IpAddr,
    ) -> Result<User, LoginError> {
        let now = self.now_ms();
        // A login that cannot exist is throttled under one name, so junk
        // does not fill the table with subjects.
        let login_key = if super::password::check_login(login).is_ok() {
            login_subject(login)
        } else {
            login_subject("?")
        };
        let addr_key = addr_subject(addr);
        let counted: Vec<(String, i64)> = sqlx::query_as(
            "SELECT subject, locked_until_ms FROM login_failures WHERE subject = $1 OR subject = $2",
        )
        .bind(&login_key)
        .bind(&addr_key)
        .fetch_all(self.db().read())
        .await?;
        if let Some(until_ms) = counted.iter().map(|c| c.1).filter(|u| *u > now).max() {
            return Err(LoginError::Locked { until_ms });
        }
        #[derive(sqlx::FromRow)]
        struct Hash {
            id: i64,
            password_hash: String,
        }
        let row: Option<Hash> = if login_key.ends_with(":?") {
            None
        } else {
            sqlx::query_as("SELECT id, password_hash FROM users WHERE login = $1")
                .bind(login)
                .fetch_optional(self.db().read())
                .await?
        };
        let (id, phc) = match row {
            Some(r) => (Some(r.id), Some(r.password_hash)),
            None => (None, None),
        };
        let ok = self
            .inner
            .hasher
            .verify(Zeroizing::new(password.to_owned()), phc)
            .await
            .map_err(AccountError::from)?;
        let user = match id {
            Some(id) if ok => self.user_by_id(id).await?,
            _ => None,
        };
        let Some(user) = user else {
            self.record(SecurityEvent::LoginFailed {
                // As typed, but bounded: the log is not a place to store
                // whatever a client sends.
                login: login
                    .chars()
                    .take(super::password::LOGIN_CHARS_MAX)
                    .collect(),
                addr: addr.to_string(),
            });
            self.count_failure(&login_key, &addr_key, now).await?;
            return Err(LoginError::BadCredentials);
        };
        if user.disabled {
            self.record(SecurityEvent::LoginFailed {
                login: login.to_owned(),
                addr: addr.to_string(),
            });
            return Err(LoginError::Disabled);
        }
        // Only when there is a count: on SQLite a write waits for the file's
        // lock, which a running import holds.
        if counted.iter().any(|c| c.0 == login_key) {
            let mut tx = self.db().begin_aside().await?;
            sqlx::query("DELETE FROM login_failures WHERE subject = $1")
                .bind(&login_key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        self.record(SecurityEvent::LoginSucceeded {
            login: user.login.clone(),
            addr: addr.to_string(),
        });
        Ok(user)
    }

    /// Counts a failure against both subjects; locks those that reach their
    /// limit. Each count is one upsert that reads and writes the row
    /// atomically, so failures racing in parallel are all counted.
    async fn count_failure(
        &self,
        login_key: &str,
        addr_key: &str,
        now: i64,
    ) -> Result<(), LoginError> {
        let cfg = &self.inner.cfg;
        let window = i64::try_from(cfg.failure_window_ms).unwrap_or(i64::MAX);
        let lock = i64::try_from(cfg.lock_ms).unwrap_or(i64::MAX);
        let mut locked = Vec::new();
        let mut tx = self.db().begin_aside().await?;
        for (subject, limit) in [
            (login_key, cfg.lock_failures),
            (addr_key, cfg.addr_lock_failures),
        ] {
            // The count goes on while its window is open and no lock has run
            // out; otherwise it starts again at 1.
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
            .bind(subject)
            .bind(now)
            .bind(now.saturating_sub(window))
            .fetch_one(&mut *tx)
            .await?;
            if failures >= i64::from(limit.max(1)) && locked_until_ms == 0 {
                let until_ms = now.saturating_add(lock);
                sqlx::query("UPDATE login_failures SET locked_until_ms = $1 WHERE subject = $2")
                    .bind(until_ms)
                    .bind(subject)
                    .execute(&mut *tx)
                    .await?;
                locked.push(SecurityEvent::AccountLocked {
                    subject: subject.to_owned(),
                    until_ms,
                });
            }
        }
        // Counts of subjects quiet for a window, and locks that ran out,
        // are forgotten, so the table holds only what is current.
        sqlx::query("DELETE FROM login_failures WHERE first_ms <= $1 AND locked_until_ms <= $2")
            .bind(now.saturating_sub(window))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for e in locked {
            self.record(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_by_v4_and_v6_slash_64() {
        let v4: IpAddr = "10.1.2.3".parse().expect("ip");
        assert_eq!(addr_subject(v4), "addr:10.1.2.3");
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("ip");
        assert_eq!(addr_subject(mapped), "addr:10.1.2.3");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(addr_subject(a), addr_subject(b));
        assert_eq!(addr_subject(a), "addr:2001:db8:1:2::/64");
    }
}
