//! The ledger: a node's journal and everything derived from it.
//!
//! Callers hand the ledger entry bodies; it checks the rules, appends entries
//! and updates the derived tables in one transaction ([`work`]), each entry
//! kind's rules and projection in one file under `kinds/`. Reads go to the
//! derived tables ([`query`]). The ledger writes every table it derives, and
//! knows nothing of the features built on it.

mod cache;
mod down;
pub mod enroll;
pub mod error;
pub mod form_keys;
mod kinds;
mod lookup;
mod own;
pub mod query;
pub mod relay;
pub mod replica;
pub mod restored;
pub(crate) mod rows;
pub mod rules;
mod state;
mod tx;
pub mod verify;
pub mod work;

use std::sync::Arc;

use fundsync_protocol::{Actor, Body, Level, NodeCode};
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub use error::LedgerError;
pub use form_keys::{FormKey, FormResult, Keyed};
pub use rules::{DateWindow, LedgerRules};
pub use state::{Head, Work};
pub use work::{ChainPos, Outcome, Prepared};

use crate::catalog;
use crate::clock::Clock;
use crate::store::Db;

/// The actor of what is done at the node's own console, with its files and
/// no account (`fundsync import`, `fundsync revoke`): whoever can run those
/// commands can read the database anyway.
pub fn console_actor() -> Actor {
    Actor {
        login: "console".to_owned(),
        name: "本机控制台".to_owned(),
        role: "console".to_owned(),
        addr: String::new(),
    }
}

/// Who this node is: its division code, name, level and parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Identity {
    pub code: NodeCode,
    pub name: String,
    pub level: Level,
    pub parent: Option<NodeCode>,
}

/// A node's ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Db,
    me: Arc<Identity>,
    clock: Arc<dyn Clock>,
    /// The node's own rules for what it records (not for what it receives).
    rules: LedgerRules,
    /// Descendants' entries just received, for the pusher to relay.
    relay: relay::RelayCache,
    /// Own entries just committed, for the pusher to send.
    own: relay::OwnCache,
    /// The acknowledgement mark and whether this database was restored
    /// behind it ([`restored`]).
    mark: Arc<restored::AckMark>,
}

impl Ledger {
    /// Records the node's identity and loads the shipped fund catalog.
    /// Running it again with the same identity changes nothing.
    pub async fn init(db: &Db, id: &Identity) -> Result<(), LedgerError> {
        if let Some(stored) = Self::stored_identity(db).await? {
            if &stored != id {
                return Err(LedgerError::WrongNode {
                    stored: format!("{} {} ({})", stored.code, stored.name, stored.level),
                    configured: format!("{} {} ({})", id.code, id.name, id.level),
                });
            }
            return Ok(());
        }
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "INSERT INTO node_identity (id, code, name, level, parent) VALUES (1, $1, $2, $3, $4)",
        )
        .bind(id.code.as_str())
        .bind(&id.name)
        .bind(id.level.as_str())
        .bind(id.parent.map(|p| p.as_str().to_owned()))
        .execute(&mut *tx)
        .await?;
        kinds::child_registered::insert_self(&mut tx, id).await?;
        for c in catalog::shipped() {
            kinds::category_defined::insert_shipped(&mut tx, &c).await?;
        }
        tx.commit().await?;
        db.committed();
        Ok(())
    }

    /// Brings the shipped rows of the category table up to this program's
    /// catalog: a row the catalog added since the node was set up is
    /// loaded, a shipped row whose name changed is renamed; the categories
    /// nodes defined (entries) are left alone. `server::open_ledger` runs
    /// it at every start, so an upgraded node has the same list as a node
    /// set up new. Returns how many rows it added or renamed.
    pub async fn refresh_shipped_catalog(&self) -> Result<usize, LedgerError> {
        let mut tx = self.db.begin_write().await?;
        let mut changed = 0;
        for c in catalog::shipped() {
            #[derive(sqlx::FromRow)]
            struct Stored {
                name: String,
                defined_by: Option<String>,
            }
            let row: Option<Stored> =
                sqlx::query_as("SELECT name, defined_by FROM fund_categories WHERE code = $1")
                    .bind(&c.code)
                    .fetch_optional(&mut *tx)
                    .await?;
            match row.map(|r| (r.name, r.defined_by)) {
                None => {
                    kinds::category_defined::insert_shipped(&mut tx, &c).await?;
                    changed += 1;
                }
                Some((name, None)) if name != c.name => {
                    sqlx::query("UPDATE fund_categories SET name = $1 WHERE code = $2")
                        .bind(&c.name)
                        .bind(&c.code)
                        .execute(&mut *tx)
                        .await?;
                    changed += 1;
                }
                Some(_) => {}
            }
        }
        if changed > 0 {
            tx.commit().await?;
            self.db.committed();
        }
        Ok(changed)
    }

    async fn stored_identity(db: &Db) -> Result<Option<Identity>, LedgerError> {
        let row = sqlx::query("SELECT code, name, level, parent FROM node_identity WHERE id = 1")
            .fetch_optional(db.read())
            .await?;
        let Some(r) = row else { return Ok(None) };
        let corrupt =
            |what: &str| LedgerError::Store(crate::store::StoreError::Corrupt(what.to_owned()));
        Ok(Some(Identity {
            code: r
                .try_get::<String, _>(0)?
                .parse()
                .map_err(|_| corrupt("identity code"))?,
            name: r.try_get(1)?,
            level: r
                .try_get::<String, _>(2)?
                .parse()
                .map_err(|_| corrupt("identity level"))?,
            parent: r
                .try_get::<Option<String>, _>(3)?
                .map(|p| p.parse())
                .transpose()
                .map_err(|_| corrupt("identity parent"))?,
        }))
    }

    /// Opens an initialised ledger. When `expect` is given, the stored
    /// identity must be that node.
    pub async fn open(
        db: Db,
        expect: Option<NodeCode>,
        clock: Arc<dyn Clock>,
    ) -> Result<Ledger, LedgerError> {
        let me = Self::stored_identity(&db)
            .await?
            .ok_or(LedgerError::NotInitialised)?;
        if let Some(code) = expect {
            if code != me.code {
                return Err(LedgerError::WrongNode {
                    stored: me.code.to_string(),
                    configured: code.to_string(),
                });
            }
        }
        Ok(Ledger {
            db,
            me: Arc::new(me),
            clock,
            rules: LedgerRules::default(),
            relay: relay::RelayCache::default(),
            own: relay::OwnCache::default(),
            mark: Arc::default(),
        })
    }

    /// The same ledger, recording under `rules` from now on (this handle
    /// and its clones made after; the default is [`LedgerRules::default`]).
    pub fn with_rules(mut self, rules: LedgerRules) -> Ledger {
        self.rules = rules;
        self
    }

    /// The rules this handle records under.
    pub fn rules(&self) -> &LedgerRules {
        &self.rules
    }

    pub fn identity(&self) -> &Identity {
        &self.me
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Descendants' entries just received and committed, not yet relayed.
    pub fn relay_cache(&self) -> &relay::RelayCache {
        &self.relay
    }

    /// This node's own entries just committed, not yet sent up.
    pub fn own_cache(&self) -> &relay::OwnCache {
        &self.own
    }

    /// Starts a write transaction; see [`Work`].
    pub async fn begin(&self) -> Result<Work<'_>, LedgerError> {
        let mut work = Work::begin(&self.db, &self.me, self.clock.now_ms()).await?;
        work.rules = self.rules;
        work.restored = self.mark.restored();
        // Only a node with a parent sends its own entries anywhere.
        if self.me.parent.is_some() {
            work.keep_own_in(self.own.clone());
        }
        Ok(work)
    }

    /// Records bodies in order, all or none, each attributed to `actor`
    /// (the person who asked, or [`Actor::system`] for the node itself).
    pub async fn submit(
        &self,
        bodies: &[Body],
        actor: &Actor,
    ) -> Result<Vec<Outcome>, LedgerError> {
        let mut work = self.begin().await?;
        let mut out = Vec::with_capacity(bodies.len());
        for b in bodies {
            out.push(work.record(b.clone(), actor).await?);
        }
        work.commit().await?;
        Ok(out)
    }

    /// Records one body, attributed to `actor`.
    pub async fn submit_one(&self, body: Body, actor: &Actor) -> Result<Outcome, LedgerError> {
        let mut v = self.submit(std::slice::from_ref(&body), actor).await?;
        v.pop().ok_or(LedgerError::Overflow)
    }
}
