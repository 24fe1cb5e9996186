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
use crate::store::accounts::FailureCount;

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
        let counted = self.store().failures(&login_key, &addr_key).await?;
        if let Some(until_ms) = counted
            .iter()
            .map(|c| c.locked_until_ms)
            .filter(|u| *u > now)
            .max()
        {
            return Err(LoginError::Locked { until_ms });
        }
        let row = if login_key.ends_with(":?") {
            None
        } else {
            self.store().password_of_login(login).await?
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
        if counted.iter().any(|c| c.subject == login_key) {
            self.store().clear_failures(&login_key).await?;
        }
        self.record(SecurityEvent::LoginSucceeded {
            login: user.login.clone(),
            addr: addr.to_string(),
        });
        Ok(user)
    }

    /// Counts a failure against both subjects; locks those that reach their
    /// limit (`AccountStore::count_failures`).
    async fn count_failure(
        &self,
        login_key: &str,
        addr_key: &str,
        now: i64,
    ) -> Result<(), LoginError> {
        let cfg = &self.inner.cfg;
        let window = i64::try_from(cfg.failure_window_ms).unwrap_or(i64::MAX);
        let lock = i64::try_from(cfg.lock_ms).unwrap_or(i64::MAX);
        let locked = self
            .store()
            .count_failures(
                &[
                    FailureCount {
                        subject: login_key,
                        limit: cfg.lock_failures,
                    },
                    FailureCount {
                        subject: addr_key,
                        limit: cfg.addr_lock_failures,
                    },
                ],
                now,
                now.saturating_sub(window),
                lock,
            )
            .await?;
        for (subject, until_ms) in locked {
            self.record(SecurityEvent::AccountLocked { subject, until_ms });
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
