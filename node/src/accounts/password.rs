//! Passwords: argon2id hashes, the policy a new password must meet, login
//! names, and generated passwords.
//!
//! Hashing costs ~19 MiB and tens of milliseconds of one core by design, so
//! it runs on tokio's blocking threads, at most one per core at a time (a
//! semaphore): ten parallel sign-ins queue for the cores instead of
//! starving the runtime's workers that serve everyone else.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// OWASP's recommended argon2id parameters (Password Storage Cheat Sheet):
/// 19 MiB of memory, 2 passes, 1 lane.
pub const ARGON2_M_KIB: u32 = 19_456;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

/// Shortest password accepted.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest password accepted: long enough for any passphrase, short enough
/// that nobody makes the node hash (and zxcvbn analyse) a megabyte.
pub const PASSWORD_CHARS_MAX: usize = 128;

/// Why a password is refused, in English ([`std::fmt::Display`]) and in
/// Chinese ([`PolicyError::zh`], what the pages show by the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the password must have at least {PASSWORD_CHARS_MIN} characters")]
    TooShort,
    #[error("the password must have at most {PASSWORD_CHARS_MAX} characters")]
    TooLong,
    #[error("the password must not be or contain the login name")]
    ContainsLogin,
    #[error("the password is too common or too easy to guess; use a longer passphrase")]
    Common,
}

impl PolicyError {
    pub fn zh(&self) -> String {
        match self {
            PolicyError::TooShort => format!("密码至少 {PASSWORD_CHARS_MIN} 个字符"),
            PolicyError::TooLong => format!("密码最多 {PASSWORD_CHARS_MAX} 个字符"),
            PolicyError::ContainsLogin => "密码不能是或包含登录名".to_owned(),
            PolicyError::Common => "密码过于常见或容易猜到，请换一个更长的密码".to_owned(),
        }
    }
}

/// Checks a new password: length, not the login (nor containing it, in any
/// case), and not common. "Common" is zxcvbn's judgement: its lists of
/// common passwords, English words, names and surnames, keyboard walks,
/// repeats, sequences and dates, with the login and display name as words
/// an attacker knows; a password it scores below 3 of 4 (fewer than 10^8
/// guesses) is refused.
pub fn check_policy(password: &str, login: &str, name: &str) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err(PolicyError::TooShort);
    }
    if chars > PASSWORD_CHARS_MAX {
        return Err(PolicyError::TooLong);
    }
    if !login.is_empty() && password.to_lowercase().contains(&login.to_lowercase()) {
        return Err(PolicyError::ContainsLogin);
    }
    let estimate = zxcvbn::zxcvbn(password, &[login, name]);
    if u8::from(estimate.score()) < 3 {
        return Err(PolicyError::Common);
    }
    Ok(())
}

/// Login names: ASCII lower-case letters, digits, `.`, `_` and `-`, 2 to
/// 32 of them. They are stored, signed into journal entries and shown, so
/// they are plain.
pub const LOGIN_CHARS_MIN: usize = 2;
pub const LOGIN_CHARS_MAX: usize = 32;

/// A login name that is not of that form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a login name is 2 to 32 of a-z, 0-9, '.', '_', '-'")]
pub struct BadLogin;

impl BadLogin {
    pub fn zh(&self) -> &'static str {
        "登录名为 2 至 32 个小写字母、数字或 . _ -"
    }
}

pub fn check_login(login: &str) -> Result<(), BadLogin> {
    let ok = (LOGIN_CHARS_MIN..=LOGIN_CHARS_MAX).contains(&login.len())
        && login.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && login != fundsync_protocol::actor::SYSTEM_LOGIN;
    if ok {
        Ok(())
    } else {
        Err(BadLogin)
    }
}

/// A strong random password for `init`, `user add` without a file and the
/// demo: 20 characters from an alphabet without look-alikes (no 0/O, 1/l/I),
/// about 113 bits.
pub fn generate() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = Zeroizing::new([0u8; 64]);
    let mut out = Zeroizing::new(String::with_capacity(24));
    loop {
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        out.clear();
        // Rejection sampling: 57 symbols; bytes ≥ 228 (= 4·57) are skipped
        // so every symbol is equally likely.
        for b in bytes.iter().copied().filter(|b| *b < 228) {
            if out.len() == 20 {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
        }
        if out.len() == 20 && check_policy(&out, "", "").is_ok() {
            return out;
        }
    }
}

/// Why hashing failed: a bug or a corrupt stored hash, never the user's
/// input.
#[derive(Debug, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct HashError(pub String);

/// Hashes and verifies on the blocking threads, at most one per core.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds.
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .unwrap_or_else(|_| unreachable!("OWASP's parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a password nobody knows, verified against when the login does
/// not exist, so an unknown login costs what a wrong password costs.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(&generate()).unwrap_or_default())
}

fn hash_now(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

fn verify_now(password: &str, phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|e| HashError(e.to_string()))?;
    // The parameters come from the stored string, so hashes made before a
    // change of parameters keep verifying.
    match argon2().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(HashError(e.to_string())),
    }
}

impl Hasher {
    /// At most one hash fewer than the cores at a time (at least one), so
    /// that a burst of sign-ins always leaves a core to everyone else: on
    /// two cores, a read during ten parallel sign-ins waited 47× its idle
    /// p99 with both cores hashing (BENCHMARKS.md).
    pub fn new() -> Hasher {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Hasher {
            permits: Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, HashError> {
        self.blocking(move || hash_now(&password)).await
    }

    /// Whether `password` matches `phc`; with `None`, verifies against a
    /// dummy hash and answers false, taking as long as a real check.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        phc: Option<String>,
    ) -> Result<bool, HashError> {
        self.blocking(move || match phc {
            Some(phc) => verify_now(&password, &phc),
            None => {
                let _ = verify_now(&password, dummy_hash());
                Ok(false)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_login_and_common_passwords() {
        assert_eq!(
            check_policy("short", "wang", ""),
            Err(PolicyError::TooShort)
        );
        assert_eq!(
            check_policy("wangxiaoming", "wangxiaoming", ""),
            Err(PolicyError::ContainsLogin)
        );
        assert_eq!(
            check_policy("my-WANG.LI-is-fine-9", "wang.li", ""),
            Err(PolicyError::ContainsLogin)
        );
        for common in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "iloveyou1234",
        ] {
            assert_eq!(
                check_policy(common, "wang", ""),
                Err(PolicyError::Common),
                "{common}"
            );
        }
        assert_eq!(
            check_policy(&"x".repeat(129), "wang", ""),
            Err(PolicyError::TooLong)
        );
        assert_eq!(
            check_policy("tarim-poplar-desert-kettle", "wang", ""),
            Ok(())
        );
    }

    #[test]
    fn login_names_are_plain() {
        for ok in ["admin", "wang.li", "a1", "x_y-z"] {
            assert_eq!(check_login(ok), Ok(()), "{ok}");
        }
        for bad in ["a", "Admin", "王", "a b", "system", &"a".repeat(33), ""] {
            assert_eq!(check_login(bad), Err(BadLogin), "{bad}");
        }
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 20);
        assert_ne!(*a, *b);
        assert_eq!(check_policy(&a, "admin", "系统管理员"), Ok(()));
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_at_owasp_parameters() {
        let h = Hasher::new();
        let phc = h
            .hash(Zeroizing::new("tarim-poplar-desert-kettle".into()))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h
            .verify(
                Zeroizing::new("tarim-poplar-desert-kettle".into()),
                Some(phc.clone())
            )
            .await
            .expect("verify"));
        assert!(!h
            .verify(
                Zeroizing::new("tarim-poplar-desert-kettlE".into()),
                Some(phc)
            )
            .await
            .expect("verify"));
        assert!(!h
            .verify(Zeroizing::new("anything".into()), None)
            .await
            .expect("dummy"));
    }
}
