//! `login`: what signing in and API tokens cost at the chosen argon2id
//! parameters (m=19456 KiB, t=2, p=1): sign-ins one at a time, ten at
//! once, a cheap read of the accounts while those ten run (does hashing
//! stall the runtime?), and the token look-up every API call makes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, AccountsConfig, NewUser};
use fundsync_node::clock::SystemClock;
use fundsync_node::store::{Db, PoolLimits};
use fundsync_tests::fixtures::{database, Engine};

use super::common::*;

const PASSWORD: &str = "tarim-poplar-desert-kettle";

fn row(what: &str, s: &Stats, target_ms: Option<u64>) {
    let (t, v) = match target_ms {
        Some(t) => (format!("< {t} ms"), verdict(s.p99 < t * 1000)),
        None => (String::new(), ""),
    };
    println!(
        "{what:<52} {:>6} {:>9} {:>9} {:>9} {t:>10} {v}",
        s.n,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

/// `bench login`.
pub async fn login(engine: Engine, samples: usize) -> Result<()> {
    println!("\nscenario login ({engine:?}): argon2id m=19456 KiB, t=2, p=1; {samples} samples");
    println!(
        "{:<52} {:>6} {:>9} {:>9} {:>9} {:>10}",
        "", "n", "p50 ms", "p99 ms", "max ms", "target"
    );
    let (url, _dir, _pg) = database(engine).await?;
    let db = Db::open(&url, &PoolLimits::default()).await?;
    let cfg = AccountsConfig {
        addr_lock_failures: u32::MAX,
        ..AccountsConfig::default()
    };
    let accounts = Accounts::new(db, Arc::new(SystemClock), cfg);
    for i in 0..10 {
        accounts
            .create_user(NewUser {
                login: format!("user{i}"),
                name: format!("用户{i}"),
                password: PASSWORD.into(),
                department: None,
                roles: vec![Role::Lead],
                classified: false,
            })
            .await?;
    }
    let addr = "127.0.0.1".parse()?;

    let mut one = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        accounts.authenticate("user0", PASSWORD, addr).await?;
        one.push(micros(t.elapsed()));
    }
    row("authenticate, one at a time", &stats(&one), Some(300));

    let mut wrong = Vec::with_capacity(samples.min(50));
    for i in 0..samples.min(50) {
        let t = Instant::now();
        let _ = accounts
            .authenticate(&format!("nobody{i}"), PASSWORD, addr)
            .await;
        wrong.push(micros(t.elapsed()));
    }
    row(
        "authenticate, unknown login (dummy hash)",
        &stats(&wrong),
        None,
    );

    // A cheap read, alone and while ten sign-ins run at once.
    let probe = |n: usize| {
        let accounts = accounts.clone();
        async move {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                accounts.user("user3").await?;
                v.push(micros(t.elapsed()));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(v)
        }
    };
    let idle = stats(&probe(200).await?);
    row("user look-up, idle", &idle, None);
    let rounds = (samples / 10).max(3);
    let busy_probe = tokio::spawn(probe(200));
    let mut parallel = Vec::new();
    for _ in 0..rounds {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..10 {
            let a = accounts.clone();
            set.spawn(async move {
                let t = Instant::now();
                a.authenticate(&format!("user{i}"), PASSWORD, addr).await?;
                anyhow::Ok(micros(t.elapsed()))
            });
        }
        while let Some(r) = set.join_next().await {
            parallel.push(r??);
        }
    }
    let busy = stats(&busy_probe.await??);
    row("authenticate, 10 in parallel", &stats(&parallel), None);
    row(
        "user look-up, during 10 parallel sign-ins",
        &busy,
        Some((2 * idle.p99).div_ceil(1000).max(1)),
    );

    let u = accounts
        .user("user1")
        .await?
        .ok_or_else(|| anyhow::anyhow!("user1"))?;
    let token = accounts.create_token(u.id, "bench", Some(1)).await?;
    let mut tok = Vec::with_capacity(samples * 10);
    for _ in 0..samples * 10 {
        let t = Instant::now();
        accounts.token_user(&token.secret).await?;
        tok.push(micros(t.elapsed()));
    }
    row("token look-up (each API call)", &stats(&tok), Some(1));
    Ok(())
}
