//! Accounts on both engines: users and roles, the password policy, signing
//! in with its throttle, API tokens and sessions (`node/src/accounts/`).
//! Time moves by the node's manual clock, never by sleeping.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::accounts::{
    AccountError, Accounts, AccountsConfig, LoginError, NewUser, PolicyError, SecurityEvent,
    SecurityLog, SIGNED_IN_KEY,
};
use fundsync_node::clock::ManualClock;
use fundsync_node::store::{Db, PoolLimits};
use fundsync_tests::fixtures::{database, Engine, NOW_MS};
use fundsync_tests::on_both;
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore as _;

const GOOD: &str = "tarim-poplar-desert-kettle";
const OTHER: &str = "bosten-lake-reed-harvest";

/// Every event told to the security log, by kind.
#[derive(Debug, Default)]
struct Events(Mutex<Vec<SecurityEvent>>);

impl SecurityLog for Events {
    fn record(&self, _at_ms: i64, event: &SecurityEvent) {
        self.0.lock().expect("events").push(event.clone());
    }
}

impl Events {
    fn kinds(&self) -> Vec<&'static str> {
        self.0
            .lock()
            .expect("events")
            .iter()
            .map(SecurityEvent::kind)
            .collect()
    }
    fn clear(&self) {
        self.0.lock().expect("events").clear();
    }
}

struct Fixture {
    accounts: Accounts,
    clock: Arc<ManualClock>,
    events: Arc<Events>,
    db: Db,
    _dir: tempfile::TempDir,
    _pg: Option<fundsync_tests::pg::TestDb>,
}

async fn fixture(engine: Engine, cfg: AccountsConfig) -> Result<Fixture> {
    let (url, dir, pg) = database(engine).await?;
    let db = Db::open(&url, &PoolLimits::default()).await?;
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let events = Arc::new(Events::default());
    let accounts = Accounts::new(db.clone(), clock.clone(), cfg).with_security_log(events.clone());
    Ok(Fixture {
        accounts,
        clock,
        events,
        db,
        _dir: dir,
        _pg: pg,
    })
}

fn new_user(login: &str, roles: &[Role], password: &str) -> NewUser {
    NewUser {
        login: login.into(),
        name: format!("测试-{login}"),
        password: password.into(),
        department: None,
        roles: roles.to_vec(),
        classified: false,
    }
}

fn addr(s: &str) -> IpAddr {
    s.parse().expect("address")
}

async fn users_are_created_listed_and_changed(engine: Engine) -> Result<()> {
    let f = fixture(engine, AccountsConfig::default()).await?;
    let a = &f.accounts;
    let admin = a
        .create_user(new_user("admin", &[Role::Admin], GOOD))
        .await?;
    let mut officer = new_user("wang.li", &[Role::Department, Role::Treasury], OTHER);
    officer.department = Some("农财所".into());
    officer.classified = true;
    let wang = a.create_user(officer).await?;
    ensure!(wang.roles == [Role::Department, Role::Treasury]);
    ensure!(a.users().await? == [admin.clone(), wang.clone()]);
    ensure!(a.user("wang.li").await? == Some(wang.clone()));
    ensure!(a.user_by_id(wang.id).await? == Some(wang.clone()));
    ensure!(a.user("nobody").await?.is_none());
    ensure!(
        wang.scope().department.is_none(),
        "treasury spans departments"
    );
    let actor = wang.actor(Role::Treasury, "10.0.0.7");
    ensure!(actor.login == "wang.li" && actor.role == "treasury" && actor.addr == "10.0.0.7");

    // The same login twice: refused, nothing changed.
    let e = a
        .create_user(new_user("wang.li", &[Role::Lead], GOOD))
        .await;
    ensure!(matches!(e, Err(AccountError::LoginTaken(_))), "{e:?}");
    ensure!(a.users().await?.len() == 2);

    a.grant("wang.li", Role::Auditor).await?;
    a.revoke("wang.li", Role::Treasury).await?;
    a.set_classified("wang.li", false).await?;
    a.set_department("wang.li", Some("社保股")).await?;
    let w = a.user("wang.li").await?.context("wang")?;
    ensure!(
        w.roles == [Role::Department, Role::Auditor],
        "{:?}",
        w.roles
    );
    ensure!(!w.classified && w.department.as_deref() == Some("社保股"));
    let e = a.grant("nobody", Role::Admin).await;
    ensure!(matches!(e, Err(AccountError::NoSuchUser(_))), "{e:?}");

    let from = addr("10.0.0.1");
    a.set_disabled("wang.li", true).await?;
    ensure!(a.user("wang.li").await?.context("wang")?.disabled);
    let e = a.authenticate("wang.li", OTHER, from).await;
    ensure!(matches!(e, Err(LoginError::Disabled)), "{e:?}");
    // Disabled is told only to whoever knows the password.
    let e = a.authenticate("wang.li", GOOD, from).await;
    ensure!(matches!(e, Err(LoginError::BadCredentials)), "{e:?}");
    a.set_disabled("wang.li", false).await?;
    ensure!(a.authenticate("wang.li", OTHER, from).await?.id == wang.id);

    a.reset_password("wang.li", "kashgar-melon-summer-road")
        .await?;
    let e = a.authenticate("wang.li", OTHER, from).await;
    ensure!(matches!(e, Err(LoginError::BadCredentials)), "{e:?}");
    a.authenticate("wang.li", "kashgar-melon-summer-road", from)
        .await?;

    let e = a.change_password(wang.id, OTHER, GOOD).await;
    ensure!(matches!(e, Err(AccountError::WrongPassword)), "{e:?}");
    a.authenticate("wang.li", "kashgar-melon-summer-road", from)
        .await?;
    a.change_password(wang.id, "kashgar-melon-summer-road", GOOD)
        .await?;
    a.authenticate("wang.li", GOOD, from).await?;

    let kinds = f.events.kinds();
    for k in [
        "user_created",
        "role_granted",
        "role_revoked",
        "user_disabled",
        "user_enabled",
        "password_reset",
        "password_changed",
        "login_succeeded",
        "login_failed",
    ] {
        ensure!(kinds.contains(&k), "no {k} in {kinds:?}");
    }
    Ok(())
}

async fn the_policy_refuses_weak_passwords_and_bad_names(engine: Engine) -> Result<()> {
    let f = fixture(engine, AccountsConfig::default()).await?;
    let a = &f.accounts;
    a.create_user(new_user("admin", &[Role::Admin], GOOD))
        .await?;
    let before = a.users().await?;
    for (login, pw, want) in [
        ("zhang.san", "short-pw", PolicyError::TooShort),
        ("zhangsan1234", "zhangsan1234", PolicyError::ContainsLogin),
        ("zhangsan", "My.zhangsan.Pass", PolicyError::ContainsLogin),
        ("zhang.san", "password1234", PolicyError::Common),
        ("zhang.san", "qwertyuiopasdf", PolicyError::Common),
    ] {
        let e = a.create_user(new_user(login, &[Role::Lead], pw)).await;
        match e {
            Err(AccountError::Policy(got)) if got == want => {
                // Both languages say why.
                ensure!(!got.to_string().is_empty() && !got.zh().is_empty());
            }
            other => anyhow::bail!("{login}/{pw}: {other:?}, wanted {want:?}"),
        }
    }
    let e = a
        .create_user(new_user("Zhang San", &[Role::Lead], GOOD))
        .await;
    ensure!(matches!(e, Err(AccountError::BadLogin(_))), "{e:?}");
    let e = a.create_user(new_user("zhang.san", &[], GOOD)).await;
    ensure!(matches!(e, Err(AccountError::NoRole)), "{e:?}");
    let e = a.reset_password("admin", "admin-admin-1").await;
    ensure!(matches!(e, Err(AccountError::Policy(_))), "{e:?}");
    ensure!(a.users().await? == before, "a refusal changed the users");
    a.authenticate("admin", GOOD, addr("10.0.0.1")).await?;
    Ok(())
}

async fn sign_in_is_throttled_per_login_and_per_address(engine: Engine) -> Result<()> {
    let cfg = AccountsConfig {
        lock_failures: 3,
        addr_lock_failures: 5,
        ..AccountsConfig::default()
    };
    let lock_ms = i64::try_from(cfg.lock_ms)?;
    let f = fixture(engine, cfg).await?;
    let a = &f.accounts;
    a.create_user(new_user("treasury", &[Role::Treasury], GOOD))
        .await?;
    a.create_user(new_user("auditor", &[Role::Auditor], OTHER))
        .await?;
    let here = addr("10.0.0.1");

    // Unknown login and wrong password: one answer.
    let unknown = a.authenticate("nobody", GOOD, here).await;
    let wrong = a.authenticate("treasury", OTHER, here).await;
    ensure!(
        matches!(unknown, Err(LoginError::BadCredentials)),
        "{unknown:?}"
    );
    ensure!(
        matches!(wrong, Err(LoginError::BadCredentials)),
        "{wrong:?}"
    );
    ensure!(
        unknown.as_ref().err().map(ToString::to_string)
            == wrong.as_ref().err().map(ToString::to_string)
    );

    // A success clears the login's count.
    a.authenticate("treasury", GOOD, here).await?;
    for _ in 0..2 {
        let e = a
            .authenticate("treasury", "wrong-password-1", addr("10.0.0.2"))
            .await;
        ensure!(matches!(e, Err(LoginError::BadCredentials)), "{e:?}");
    }
    f.events.clear();
    // The third failure locks the account, from any address, even with
    // the right password.
    let e = a
        .authenticate("treasury", "wrong-password-1", addr("10.0.0.3"))
        .await;
    ensure!(matches!(e, Err(LoginError::BadCredentials)), "{e:?}");
    ensure!(
        f.events.kinds().contains(&"account_locked"),
        "{:?}",
        f.events.kinds()
    );
    let e = a.authenticate("treasury", GOOD, addr("10.0.0.4")).await;
    let Err(LoginError::Locked { until_ms }) = e else {
        anyhow::bail!("not locked: {e:?}");
    };
    ensure!(until_ms == NOW_MS + lock_ms, "{until_ms}");
    // Another account is not locked.
    a.authenticate("auditor", OTHER, addr("10.0.0.4")).await?;
    f.clock.advance(lock_ms - 1);
    let e = a.authenticate("treasury", GOOD, here).await;
    ensure!(matches!(e, Err(LoginError::Locked { .. })), "{e:?}");
    f.clock.advance(1);
    a.authenticate("treasury", GOOD, here).await?;

    // Per address: five failures from one /64, whatever the logins, lock
    // the address for every login, the right password included.
    let v6 = |i: u16| addr(&format!("2001:db8:7:1::{i:x}"));
    for i in 0..5u16 {
        let e = a
            .authenticate(&format!("guess{i}"), "wrong-password-1", v6(i))
            .await;
        ensure!(matches!(e, Err(LoginError::BadCredentials)), "{e:?}");
    }
    let e = a.authenticate("auditor", OTHER, v6(99)).await;
    ensure!(matches!(e, Err(LoginError::Locked { .. })), "{e:?}");
    a.authenticate("auditor", OTHER, addr("2001:db8:7:2::1"))
        .await?;
    f.clock.advance(lock_ms);
    a.authenticate("auditor", OTHER, v6(99)).await?;
    Ok(())
}

async fn tokens_are_made_used_and_refused(engine: Engine) -> Result<()> {
    let f = fixture(engine, AccountsConfig::default()).await?;
    let a = &f.accounts;
    let u = a
        .create_user(new_user("operator", &[Role::Operator], GOOD))
        .await?;
    let other = a
        .create_user(new_user("lead", &[Role::Lead], OTHER))
        .await?;
    let t = a.create_token(u.id, "nightly export", Some(30)).await?;
    ensure!(
        t.secret.starts_with("fst_") && t.secret.len() == 47,
        "{}",
        t.secret.len()
    );
    ensure!(t.expires_ms == NOW_MS + 30 * 86_400_000);
    ensure!(a.token_user(&t.secret).await? == Some(u.clone()));
    // Only the hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT secret_sha256 FROM api_tokens")
        .fetch_all(f.db.read())
        .await?;
    ensure!(stored.len() == 1 && !stored[0].contains(&t.secret[4..]));

    // Malformed and unknown secrets.
    for bad in [
        "",
        "fst_",
        "Bearer x",
        &t.secret[..46],
        &format!("{}x", t.secret.as_str()),
        &t.secret.replace("fst_", "fsx_"),
    ] {
        ensure!(a.token_user(bad).await?.is_none(), "{bad:?} accepted");
    }
    let mut unknown = t.secret.to_string();
    let last = if unknown.ends_with('A') { "B" } else { "A" };
    unknown.replace_range(46.., last);
    ensure!(a.token_user(&unknown).await?.is_none());

    // Days: default, too many, zero.
    let d = a.create_token(u.id, "default", None).await?;
    ensure!(d.expires_ms == NOW_MS + 90 * 86_400_000);
    for days in [0, 367] {
        let e = a.create_token(u.id, "x", Some(days)).await;
        ensure!(matches!(e, Err(AccountError::TokenDays(366))), "{e:?}");
    }
    let e = a.create_token(u.id, "  ", Some(1)).await;
    ensure!(matches!(e, Err(AccountError::BadTokenName)), "{e:?}");

    // Revoked: another user cannot revoke it; its owner can.
    let e = a.revoke_token(other.id, t.id).await;
    ensure!(matches!(e, Err(AccountError::NoSuchToken)), "{e:?}");
    ensure!(a.token_user(&t.secret).await?.is_some());
    a.revoke_token(u.id, t.id).await?;
    ensure!(
        a.token_user(&t.secret).await?.is_none(),
        "a revoked token works"
    );
    let list = a.tokens(u.id).await?;
    ensure!(list.len() == 2, "{list:?}");
    let revoked = list.iter().find(|i| i.id == t.id).context("listed")?;
    ensure!(revoked.revoked_ms == Some(NOW_MS) && revoked.name == "nightly export");

    // Disabled user: refused; enabled again: works.
    ensure!(a.token_user(&d.secret).await?.is_some());
    a.set_disabled("operator", true).await?;
    ensure!(
        a.token_user(&d.secret).await?.is_none(),
        "a disabled user's token works"
    );
    a.set_disabled("operator", false).await?;
    ensure!(a.token_user(&d.secret).await?.is_some());

    // Expired.
    f.clock.advance(90 * 86_400_000);
    ensure!(
        a.token_user(&d.secret).await?.is_none(),
        "an expired token works"
    );

    // The last use is noted, in the background.
    fundsync_tests::cluster::eventually(
        std::time::Duration::from_secs(10),
        "the token's last use noted",
        || async {
            Ok(a.tokens(u.id)
                .await?
                .iter()
                .find(|i| i.id == d.id)
                .and_then(|i| i.last_used_ms))
        },
    )
    .await?;
    let kinds = f.events.kinds();
    ensure!(
        kinds.contains(&"token_created") && kinds.contains(&"token_revoked"),
        "{kinds:?}"
    );
    Ok(())
}

fn record(user_id: Option<i64>, expiry_ms: i64) -> Result<Record> {
    let mut data = std::collections::HashMap::new();
    if let Some(id) = user_id {
        data.insert("user_id".to_owned(), serde_json::json!(id));
    }
    data.insert("csrf".to_owned(), serde_json::json!("abc"));
    Ok(Record {
        id: Id::default(),
        data,
        expiry_date: time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(expiry_ms) * 1_000_000,
        )?,
    })
}

async fn sessions_are_stored_hashed_and_end(engine: Engine) -> Result<()> {
    let f = fixture(engine, AccountsConfig::default()).await?;
    let a = &f.accounts;
    let cfg = a.config().clone();
    let idle = i64::try_from(cfg.session_idle_ms)?;
    let absolute = i64::try_from(cfg.session_absolute_ms)?;
    let u = a.create_user(new_user("lead", &[Role::Lead], GOOD)).await?;
    let store = a.session_store();
    let far = NOW_MS + 10 * absolute;

    // Save, load, delete.
    let mut r = record(Some(u.id), far)?;
    store.create(&mut r).await?;
    let mut back = store.load(&r.id).await?.context("loaded")?;
    // Stamped with the sign-in time (the start of the absolute timeout).
    let signed_in = back.data.remove(SIGNED_IN_KEY);
    ensure!(
        signed_in == Some(serde_json::json!(NOW_MS)),
        "{signed_in:?}"
    );
    ensure!(back.data == r.data);
    let ids: Vec<String> = sqlx::query_scalar("SELECT id_sha256 FROM sessions")
        .fetch_all(f.db.read())
        .await?;
    ensure!(ids.len() == 1 && ids[0] != r.id.to_string() && ids[0].len() == 64);
    store.delete(&r.id).await?;
    ensure!(store.load(&r.id).await?.is_none());

    // Idle: a save keeps it alive, idle_ms without one ends it.
    let mut r = record(Some(u.id), far)?;
    store.create(&mut r).await?;
    f.clock.advance(idle - 1);
    ensure!(store.load(&r.id).await?.is_some());
    store.save(&r).await?;
    f.clock.advance(idle - 1);
    ensure!(
        store.load(&r.id).await?.is_some(),
        "a saved session ended early"
    );
    f.clock.advance(1);
    ensure!(store.load(&r.id).await?.is_none(), "an idle session lives");

    // The record's own expiry, when earlier, ends it too.
    let mut r = record(None, f.clock_now() + 1000)?;
    store.create(&mut r).await?;
    f.clock.advance(1000);
    ensure!(store.load(&r.id).await?.is_none());

    // Absolute: saved every few minutes, it still ends after absolute_ms.
    let mut r = record(Some(u.id), far)?;
    store.create(&mut r).await?;
    let started = f.clock_now();
    while f.clock_now() + idle / 2 < started + absolute {
        f.clock.advance(idle / 2);
        // As tower-sessions does: the record as loaded, its expiry set
        // again from the layer's, then saved.
        let mut loaded = store.load(&r.id).await?.context("alive")?;
        loaded.expiry_date = record(None, far)?.expiry_date;
        store.save(&loaded).await?;
    }
    f.clock.set(started + absolute);
    ensure!(
        store.load(&r.id).await?.is_none(),
        "a session outlived absolute_ms"
    );

    // Ended with the user: end_sessions_of, disabling, a password reset.
    let mut mine = record(Some(u.id), far)?;
    let mut anon = record(None, far)?;
    store.create(&mut mine).await?;
    store.create(&mut anon).await?;
    a.end_sessions_of(u.id).await?;
    ensure!(store.load(&mine.id).await?.is_none() && store.load(&anon.id).await?.is_some());
    store.create(&mut mine).await?;
    a.set_disabled("lead", true).await?;
    ensure!(
        store.load(&mine.id).await?.is_none(),
        "disabling kept a session"
    );
    a.set_disabled("lead", false).await?;
    store.create(&mut mine).await?;
    a.reset_password("lead", OTHER).await?;
    ensure!(
        store.load(&mine.id).await?.is_none(),
        "a reset kept a session"
    );
    // A request that loaded the session before the reset and saves it
    // afterwards does not bring it back.
    let mut racing = record(Some(u.id), far)?;
    store.create(&mut racing).await?;
    let loaded = store.load(&racing.id).await?.context("loaded")?;
    f.clock.advance(1);
    a.reset_password("lead", GOOD).await?;
    store.save(&loaded).await?;
    ensure!(
        store.load(&racing.id).await?.is_none(),
        "a save resurrected a session"
    );
    store.create(&mut racing).await?;
    let loaded = store.load(&racing.id).await?.context("loaded")?;
    a.set_disabled("lead", true).await?;
    store.save(&loaded).await?;
    ensure!(
        store.load(&racing.id).await?.is_none(),
        "a save resurrected a session"
    );
    a.set_disabled("lead", false).await?;
    // A user id saved later (at sign-in) is picked up too.
    let mut later = record(None, far)?;
    store.create(&mut later).await?;
    later
        .data
        .insert("user_id".to_owned(), serde_json::json!(u.id));
    store.save(&later).await?;
    a.end_sessions_of(u.id).await?;
    ensure!(store.load(&later.id).await?.is_none());
    Ok(())
}

impl Fixture {
    fn clock_now(&self) -> i64 {
        use fundsync_node::clock::Clock as _;
        self.clock.now_ms()
    }
}

on_both!(
    users_are_created_listed_and_changed,
    the_policy_refuses_weak_passwords_and_bad_names,
    sign_in_is_throttled_per_login_and_per_address,
    tokens_are_made_used_and_refused,
    sessions_are_stored_hashed_and_end,
);

/// A ledger restored behind its acknowledgement mark holds the security
/// events it is told, at most `held_max` of them (10,000 in a node; 3
/// here); beyond, they are counted. Once it records again the held ones are
/// written in the order they happened, exactly once, then one entry saying
/// how many were not; later events are written at once.
#[tokio::test]
async fn security_events_held_while_restored_are_capped_and_counted() -> Result<()> {
    use fundsync_node::accounts::JournalLog;
    use fundsync_node::ledger::query::SecurityFilter;
    use fundsync_tests::fixtures::{code, county, ledger};

    let t = ledger(Engine::Sqlite, &county("652822", "轮台县")).await?;
    let l = t.ledger.clone();
    let dir = tempfile::tempdir()?;
    let mark = dir.path().join("acked-own-head");
    std::fs::write(&mark, format!("652822 100 {}\n", "00".repeat(32)))?;
    ensure!(
        l.attach_ack_mark(mark.clone()).await?.is_some(),
        "the ledger restored behind the mark"
    );
    let log = JournalLog::start_holding_at_most(l.clone(), fundsync_protocol::Actor::system(), 3);
    // Account changes (a failed sign-in's actor is refused by the ledger:
    // see `failed_sign_ins_never_reach_the_journal` below).
    let created = |i: u32| SecurityEvent::UserCreated {
        login: format!("ren-{i}"),
        roles: vec![Role::Treasury],
    };
    for i in 1..=5 {
        log.record(NOW_MS, &created(i));
    }
    log.flush().await;
    let all = SecurityFilter {
        origin: Some(code("652822")),
        limit: 100,
        ..Default::default()
    };
    let head = l.own_head().await?;
    ensure!(
        l.security_log(&all).await?.is_empty(),
        "an event entered a restored journal"
    );

    // The refusal lifts (here: the mark gone); what waited is written.
    std::fs::remove_file(&mark)?;
    ensure!(l.attach_ack_mark(mark.clone()).await?.is_none());
    log.flush().await;
    let mut rows = l.security_log(&all).await?;
    rows.sort_by_key(|r| r.seq);
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    ensure!(subjects == ["ren-1", "ren-2", "ren-3", "*"], "{rows:?}");
    let note = &rows[3];
    ensure!(
        note.event == "login_failed"
            && note.detail.starts_with("2 more security events")
            && note.detail.contains("the 3 held"),
        "{note:?}"
    );
    ensure!(
        rows[0].seq == i64::try_from(head.0 + 1)?,
        "written after the head {head:?}: {rows:?}"
    );

    // Once: nothing is written again; a later event goes in at once.
    log.record(NOW_MS, &created(6));
    log.flush().await;
    let mut again = l.security_log(&all).await?;
    again.sort_by_key(|r| r.seq);
    ensure!(
        again.len() == 5 && again[..4] == rows[..] && again[4].subject == "ren-6",
        "{again:?}"
    );
    Ok(())
}

/// Found while testing the above: a failed sign-in (as any sign-in,
/// sign-out or refusal) names an actor with an empty role, which every
/// entry's actor check refuses ("actor.role must not be empty"), so it is
/// logged only and never becomes a journal entry, restored or not. This
/// test states today's behaviour; fixing it makes refusals journal
/// entries, which the rejection tests' "ledger unchanged" checks must then
/// allow for (see the report of issue 17's restored-state tests).
#[tokio::test]
async fn failed_sign_ins_never_reach_the_journal() -> Result<()> {
    use fundsync_node::accounts::JournalLog;
    use fundsync_node::ledger::query::SecurityFilter;
    use fundsync_tests::fixtures::{code, county, ledger};

    let t = ledger(Engine::Sqlite, &county("652822", "轮台县")).await?;
    let l = t.ledger.clone();
    let log = JournalLog::start(l.clone(), fundsync_protocol::Actor::system());
    log.record(
        NOW_MS,
        &SecurityEvent::LoginFailed {
            login: "nobody".into(),
            addr: "10.0.0.9".into(),
        },
    );
    log.record(
        NOW_MS,
        &SecurityEvent::UserCreated {
            login: "ren".into(),
            roles: vec![Role::Treasury],
        },
    );
    log.flush().await;
    let rows = l
        .security_log(&SecurityFilter {
            origin: Some(code("652822")),
            limit: 100,
            ..Default::default()
        })
        .await?;
    let events: Vec<&str> = rows.iter().map(|r| r.event.as_str()).collect();
    ensure!(events == ["user_created"], "{rows:?}");
    Ok(())
}
