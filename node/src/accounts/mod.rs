//! Accounts at every node: the people who use its pages and API, their
//! roles ([`crate::access::Role`]), department and 涉密 grant, passwords
//! (argon2id), the sign-in throttle, sessions (a [`tower_sessions`] store in
//! the node's own database) and API tokens.
//!
//! A node's accounts are its own: these tables are not derived from the
//! journal and never replicated. What happens to them is told to one hook,
//! [`SecurityLog`], which by default writes a `security` log line and which
//! the node points at the journal, so the ancestors see who signed in where.
//!
//! Layer 3, beside `warnings` and `import`. It runs no SQL: its tables
//! (users, user_roles, api_tokens, login_failures, sessions) are read and
//! written through the store ([`AccountStore`], `store/accounts.rs`), in
//! short transactions of their own that never wait in the ledger's writer. The HTTP side (the login page, cookies, the
//! permission check) is `http::auth`'s.
//!
//! Wiring, for that side: [`Accounts::of_ledger`] at start-up; the pages'
//! sessions are `tower_sessions::SessionManagerLayer::new(accounts.session_store())`
//! with the signed-in user's id under the record key [`USER_ID_KEY`]
//! (cycle the id at sign-in); the idle and absolute timeouts are enforced
//! by the store itself ([`AccountsConfig::session_idle_ms`],
//! [`AccountsConfig::session_absolute_ms`]), so the layer's own expiry only
//! sets the cookie's. An API call's `Authorization: Bearer` secret is
//! [`Accounts::token_user`]'s; a refusal or logout is told with
//! [`Accounts::record`].

mod journal;
mod login;
pub mod password;
mod sessions;
mod tokens;

use std::fmt;
use std::sync::Arc;

use fundsync_protocol::wire::ErrorCode;
use fundsync_protocol::Actor;
use zeroize::{Zeroize, Zeroizing};

use crate::access::{Role, Scope};
use crate::clock::Clock;
use crate::store::accounts::{AccountStore, UserInsert, UserKey, UserRoleRow};
use crate::store::{Db, StoreError};

pub use journal::{JournalLog, ACTING};
pub use login::LoginError;
pub use password::{BadLogin, PolicyError};
pub use sessions::{SessionStore, SIGNED_IN_KEY, USER_ID_KEY};
pub use tokens::{NewToken, TokenInfo, TOKEN_PREFIX};

crate::settings::settings! {
    /// The `[accounts]` section of the configuration: sessions, the sign-in
    /// throttle and API tokens.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct AccountsConfig, raw AccountsConfigRaw {
        /// A session unused this long ends (ms).
        pub session_idle_ms: u64 = 30 * 60 * 1000,
        /// A session ends this long after sign-in, used or not (ms).
        pub session_absolute_ms: u64 = 12 * 3600 * 1000,
        /// Failed sign-ins to one account, within failure_window_ms, after
        /// which the account is locked for lock_ms.
        pub lock_failures: u32 = 5,
        /// Failed sign-ins from one client address (an IPv6 /64), within
        /// failure_window_ms, after which the address is locked for lock_ms.
        pub addr_lock_failures: u32 = 20,
        /// How long a lock lasts (ms).
        pub lock_ms: u64 = 15 * 60 * 1000,
        /// The window in which failed sign-ins are counted (ms).
        pub failure_window_ms: u64 = 15 * 60 * 1000,
        /// Days an API token is valid when its creator gives none.
        pub token_days_default: u32 = 90,
        /// Most days an API token may be valid.
        pub token_days_max: u32 = 366,
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        <AccountsConfig as crate::settings::Settings>::from_raw(AccountsConfigRaw::default())
            .unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

/// A person with an account at this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub login: String,
    /// The display name, e.g. 张三.
    pub name: String,
    /// The 归口 department whose categories a department officer sees.
    pub department: Option<String>,
    /// Sorted, without repeats.
    pub roles: Vec<Role>,
    /// Granted 涉密 (classified) categories.
    pub classified: bool,
    pub disabled: bool,
}

impl User {
    /// Which fund categories this user sees and acts on.
    pub fn scope(&self) -> Scope {
        Scope::of(&self.roles, self.department.as_deref(), self.classified)
    }

    /// The fund categories this user may see (department and 涉密 scope),
    /// or `None` for all of them: what the lists are narrowed to.
    pub async fn visible_categories(
        &self,
        ledger: &crate::ledger::Ledger,
    ) -> Result<Option<Vec<String>>, crate::ledger::LedgerError> {
        let scope = self.scope();
        if scope == Scope::all() {
            return Ok(None);
        }
        Ok(Some(
            ledger
                .categories()
                .await?
                .into_iter()
                .filter(|c| scope.covers(&c.department, c.classified))
                .map(|c| c.code)
                .collect(),
        ))
    }

    /// This user acting in `role` from `addr`, as recorded in an entry.
    pub fn actor(&self, role: Role, addr: &str) -> Actor {
        Actor {
            login: self.login.clone(),
            name: self.name.clone(),
            role: role.as_str().to_owned(),
            addr: addr.to_owned(),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A user to create. The password is wiped from memory when this is
/// dropped.
pub struct NewUser {
    pub login: String,
    pub name: String,
    pub password: String,
    pub department: Option<String>,
    pub roles: Vec<Role>,
    pub classified: bool,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("login", &self.login)
            .field("name", &self.name)
            .field("department", &self.department)
            .field("roles", &self.roles)
            .field("classified", &self.classified)
            .finish_non_exhaustive()
    }
}

impl Drop for NewUser {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// Longest display name and department (characters).
pub const NAME_CHARS_MAX: usize = 64;

/// Why an account operation was refused or failed. [`fmt::Display`] is
/// English (the API's message); [`AccountError::zh`] is what the pages show.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    BadLogin(#[from] BadLogin),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("the name must have 1 to {NAME_CHARS_MAX} characters")]
    BadName,
    #[error("a user must have at least one role")]
    NoRole,
    #[error("the login {0:?} is taken")]
    LoginTaken(String),
    #[error("no such user {0:?}")]
    NoSuchUser(String),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no such token")]
    NoSuchToken,
    #[error("a token is valid for 1 to {0} days")]
    TokenDays(u32),
    #[error("the token name must have 1 to {NAME_CHARS_MAX} characters")]
    BadTokenName,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] password::HashError),
}

impl AccountError {
    /// The message in Chinese, for the pages.
    pub fn zh(&self) -> String {
        match self {
            AccountError::BadLogin(e) => e.zh().to_owned(),
            AccountError::Policy(e) => e.zh(),
            AccountError::BadName => format!("姓名为 1 至 {NAME_CHARS_MAX} 个字符"),
            AccountError::NoRole => "至少选择一个角色".to_owned(),
            AccountError::LoginTaken(l) => format!("登录名 {l} 已被使用"),
            AccountError::NoSuchUser(l) => format!("没有用户 {l}"),
            AccountError::WrongPassword => "当前密码不正确".to_owned(),
            AccountError::NoSuchToken => "没有这个令牌".to_owned(),
            AccountError::TokenDays(max) => format!("令牌有效期为 1 至 {max} 天"),
            AccountError::BadTokenName => format!("令牌名称为 1 至 {NAME_CHARS_MAX} 个字符"),
            AccountError::Store(_) | AccountError::Hash(_) => "系统错误，请稍后再试".to_owned(),
        }
    }

    /// The form field the error belongs next to, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AccountError::BadLogin(_) | AccountError::LoginTaken(_) => Some("login"),
            AccountError::Policy(_) => Some("password"),
            AccountError::WrongPassword => Some("old_password"),
            AccountError::BadName => Some("name"),
            AccountError::NoRole => Some("roles"),
            AccountError::TokenDays(_) => Some("days"),
            AccountError::BadTokenName => Some("name"),
            _ => None,
        }
    }

    /// The API's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AccountError::BadLogin(_)
            | AccountError::Policy(_)
            | AccountError::BadName
            | AccountError::NoRole
            | AccountError::WrongPassword
            | AccountError::TokenDays(_)
            | AccountError::BadTokenName => ErrorCode::InvalidInput,
            AccountError::LoginTaken(_) => ErrorCode::Conflict,
            AccountError::NoSuchUser(_) | AccountError::NoSuchToken => ErrorCode::NotFound,
            AccountError::Store(_) | AccountError::Hash(_) => ErrorCode::Internal,
        }
    }
}

/// Something that happened to accounts, sessions or permissions, for the
/// security log (登录日志, 操作日志). Holds no secret: no password, no token
/// secret, no session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityEvent {
    LoginSucceeded {
        login: String,
        addr: String,
    },
    /// `login` as typed (it may not exist).
    LoginFailed {
        login: String,
        addr: String,
    },
    /// `subject` is `login:NAME` or `addr:ADDRESS`.
    AccountLocked {
        subject: String,
        until_ms: i64,
    },
    LoggedOut {
        login: String,
        addr: String,
    },
    TokenCreated {
        login: String,
        token_id: i64,
        name: String,
        expires_ms: i64,
    },
    TokenRevoked {
        login: String,
        token_id: i64,
    },
    UserCreated {
        login: String,
        roles: Vec<Role>,
    },
    UserDisabled {
        login: String,
    },
    UserEnabled {
        login: String,
    },
    PasswordReset {
        login: String,
    },
    PasswordChanged {
        login: String,
    },
    RoleGranted {
        login: String,
        role: Role,
    },
    RoleRevoked {
        login: String,
        role: Role,
    },
    /// Raised by the HTTP layer: `login` (empty when anonymous) lacked
    /// `permission` for `path`.
    PermissionDenied {
        login: String,
        addr: String,
        permission: String,
        path: String,
    },
}

impl SecurityEvent {
    /// The event's stable name, e.g. `login_failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            SecurityEvent::LoginSucceeded { .. } => "login_succeeded",
            SecurityEvent::LoginFailed { .. } => "login_failed",
            SecurityEvent::AccountLocked { .. } => "account_locked",
            SecurityEvent::LoggedOut { .. } => "logged_out",
            SecurityEvent::TokenCreated { .. } => "token_created",
            SecurityEvent::TokenRevoked { .. } => "token_revoked",
            SecurityEvent::UserCreated { .. } => "user_created",
            SecurityEvent::UserDisabled { .. } => "user_disabled",
            SecurityEvent::UserEnabled { .. } => "user_enabled",
            SecurityEvent::PasswordReset { .. } => "password_reset",
            SecurityEvent::PasswordChanged { .. } => "password_changed",
            SecurityEvent::RoleGranted { .. } => "role_granted",
            SecurityEvent::RoleRevoked { .. } => "role_revoked",
            SecurityEvent::PermissionDenied { .. } => "permission_denied",
        }
    }
}

/// Where security events go. Called synchronously at each event, after
/// the change committed; an implementation that writes somewhere slow
/// (the journal) hands the event to a task of its own.
pub trait SecurityLog: Send + Sync + fmt::Debug + 'static {
    fn record(&self, at_ms: i64, event: &SecurityEvent);
}

/// The default [`SecurityLog`]: a line at `info` under the target
/// `security`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSecurityLog;

impl SecurityLog for TracingSecurityLog {
    fn record(&self, at_ms: i64, event: &SecurityEvent) {
        tracing::info!(target: "security", at_ms, event = event.kind(), detail = ?event);
    }
}

/// The accounts of one node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: AccountStore,
    clock: Arc<dyn Clock>,
    cfg: AccountsConfig,
    hasher: password::Hasher,
    log: Arc<dyn SecurityLog>,
}

/// Folds rows of users joined with their roles (ordered by user) into users.
fn users_of(rows: Vec<UserRoleRow>) -> Result<Vec<User>, AccountError> {
    let mut out: Vec<User> = Vec::new();
    for r in rows {
        let role = r
            .role
            .map(|s| {
                s.parse::<Role>()
                    .map_err(|e| StoreError::Corrupt(format!("user_roles: {e}")))
            })
            .transpose()?;
        match out.last_mut() {
            Some(u) if u.id == r.user.id => u.roles.extend(role),
            _ => out.push(User {
                id: r.user.id,
                login: r.user.login,
                name: r.user.name,
                department: r.user.department,
                roles: role.into_iter().collect(),
                classified: r.user.classified != 0,
                disabled: r.user.disabled != 0,
            }),
        }
    }
    for u in &mut out {
        u.roles.sort();
        u.roles.dedup();
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let n = name.trim().chars().count();
    if n == 0 || n > NAME_CHARS_MAX || name.chars().any(char::is_control) {
        return Err(AccountError::BadName);
    }
    Ok(())
}

impl Accounts {
    pub fn new(db: Db, clock: Arc<dyn Clock>, cfg: AccountsConfig) -> Accounts {
        Accounts {
            inner: Arc::new(Inner {
                store: db.accounts(),
                clock,
                cfg,
                hasher: password::Hasher::new(),
                log: Arc::new(TracingSecurityLog),
            }),
        }
    }

    /// The accounts in a ledger's database, on the ledger's clock (what a
    /// running node uses).
    pub fn of_ledger(ledger: &crate::ledger::Ledger, cfg: AccountsConfig) -> Accounts {
        Accounts::new(ledger.db().clone(), ledger.clock().clone(), cfg)
    }

    /// The same accounts, telling their events to `log` instead.
    pub fn with_security_log(self, log: Arc<dyn SecurityLog>) -> Accounts {
        let i = &self.inner;
        Accounts {
            inner: Arc::new(Inner {
                store: i.store.clone(),
                clock: i.clock.clone(),
                cfg: i.cfg.clone(),
                hasher: i.hasher.clone(),
                log,
            }),
        }
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.inner.cfg
    }

    fn store(&self) -> &AccountStore {
        &self.inner.store
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Tells the security log: the one place every event goes through. The
    /// HTTP layer calls it for what only it sees (logouts, refusals).
    pub fn record(&self, event: SecurityEvent) {
        self.inner.log.record(self.now_ms(), &event);
    }

    /// Creates a user, checking the login name, the name and the password
    /// policy.
    pub async fn create_user(&self, u: NewUser) -> Result<User, AccountError> {
        password::check_login(&u.login)?;
        check_name(&u.name)?;
        if let Some(d) = &u.department {
            check_name(d)?;
        }
        if u.roles.is_empty() {
            return Err(AccountError::NoRole);
        }
        password::check_policy(&u.password, &u.login, &u.name)?;
        if self.user(&u.login).await?.is_some() {
            return Err(AccountError::LoginTaken(u.login.clone()));
        }
        let hash = self
            .inner
            .hasher
            .hash(Zeroizing::new(u.password.clone()))
            .await?;
        let mut roles = u.roles.clone();
        roles.sort();
        roles.dedup();
        let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let id = self
            .store()
            .insert_user(
                &UserInsert {
                    login: &u.login,
                    name: u.name.trim(),
                    department: u.department.as_deref().map(str::trim),
                    classified: u.classified,
                    password_hash: &hash,
                    now_ms: self.now_ms(),
                },
                &role_names,
            )
            .await?
            .ok_or_else(|| AccountError::LoginTaken(u.login.clone()))?;
        self.record(SecurityEvent::UserCreated {
            login: u.login.clone(),
            roles: roles.clone(),
        });
        Ok(User {
            id,
            login: u.login.clone(),
            name: u.name.trim().to_owned(),
            department: u.department.as_deref().map(|d| d.trim().to_owned()),
            roles,
            classified: u.classified,
            disabled: false,
        })
    }

    async fn users_where(&self, key: UserKey<'_>) -> Result<Vec<User>, AccountError> {
        users_of(self.store().users(key).await?)
    }

    /// The user with this login, disabled or not.
    pub async fn user(&self, login: &str) -> Result<Option<User>, AccountError> {
        Ok(self.users_where(UserKey::Login(login)).await?.pop())
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, AccountError> {
        Ok(self.users_where(UserKey::Id(id)).await?.pop())
    }

    /// Every user, in the order they were created.
    pub async fn users(&self) -> Result<Vec<User>, AccountError> {
        self.users_where(UserKey::All).await
    }

    async fn existing(&self, login: &str) -> Result<User, AccountError> {
        self.user(login)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(login.to_owned()))
    }

    /// Disables or enables a user; disabling ends their sessions (their
    /// tokens stop working too, since [`Accounts::token_user`] refuses a
    /// disabled user's).
    pub async fn set_disabled(&self, login: &str, disabled: bool) -> Result<(), AccountError> {
        let u = self.existing(login).await?;
        self.store().set_disabled(u.id, disabled).await?;
        self.record(if disabled {
            SecurityEvent::UserDisabled { login: u.login }
        } else {
            SecurityEvent::UserEnabled { login: u.login }
        });
        Ok(())
    }

    async fn store_password(&self, u: &User, new: &str) -> Result<(), AccountError> {
        password::check_policy(new, &u.login, &u.name)?;
        let hash = self
            .inner
            .hasher
            .hash(Zeroizing::new(new.to_owned()))
            .await?;
        self.store()
            .set_password(u.id, &hash, self.now_ms(), &login::login_subject(&u.login))
            .await?;
        Ok(())
    }

    /// Sets a user's password, by an administrator: policy-checked; ends
    /// the user's sessions and lifts a lock on the account.
    pub async fn reset_password(&self, login: &str, new: &str) -> Result<(), AccountError> {
        let u = self.existing(login).await?;
        self.store_password(&u, new).await?;
        self.record(SecurityEvent::PasswordReset { login: u.login });
        Ok(())
    }

    /// A user changes their own password, giving the current one. Ends
    /// every session of theirs: the page signs them in again afterwards.
    pub async fn change_password(
        &self,
        user_id: i64,
        old: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let u = self
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| AccountError::NoSuchUser(user_id.to_string()))?;
        let phc = self.store().password_hash(user_id).await?;
        if !self
            .inner
            .hasher
            .verify(Zeroizing::new(old.to_owned()), phc)
            .await?
        {
            return Err(AccountError::WrongPassword);
        }
        self.store_password(&u, new).await?;
        self.record(SecurityEvent::PasswordChanged { login: u.login });
        Ok(())
    }

    /// Gives a user a role (nothing happens if they hold it).
    pub async fn grant(&self, login: &str, role: Role) -> Result<(), AccountError> {
        let u = self.existing(login).await?;
        if u.has(role) {
            return Ok(());
        }
        self.store().grant_role(u.id, role.as_str()).await?;
        self.record(SecurityEvent::RoleGranted {
            login: u.login,
            role,
        });
        Ok(())
    }

    /// Takes a role from a user (nothing happens if they do not hold it). A
    /// user may be left with no role: they can sign in and change their
    /// password, nothing else.
    pub async fn revoke(&self, login: &str, role: Role) -> Result<(), AccountError> {
        let u = self.existing(login).await?;
        if !u.has(role) {
            return Ok(());
        }
        self.store().revoke_role(u.id, role.as_str()).await?;
        self.record(SecurityEvent::RoleRevoked {
            login: u.login,
            role,
        });
        Ok(())
    }

    /// Grants or withdraws the 涉密 categories.
    pub async fn set_classified(&self, login: &str, classified: bool) -> Result<(), AccountError> {
        let u = self.existing(login).await?;
        self.store().set_classified(u.id, classified).await?;
        Ok(())
    }

    /// Sets (or clears) the user's department.
    pub async fn set_department(
        &self,
        login: &str,
        department: Option<&str>,
    ) -> Result<(), AccountError> {
        if let Some(d) = department {
            check_name(d)?;
        }
        let u = self.existing(login).await?;
        self.store()
            .set_department(u.id, department.map(str::trim))
            .await?;
        Ok(())
    }

    /// The sessions of this node's pages, for `tower_sessions`'
    /// `SessionManagerLayer`.
    pub fn session_store(&self) -> SessionStore {
        SessionStore::new(self.clone())
    }

    /// Ends every session of a user.
    pub async fn end_sessions_of(&self, user_id: i64) -> Result<(), AccountError> {
        self.store().end_sessions_of(user_id).await?;
        Ok(())
    }
}
