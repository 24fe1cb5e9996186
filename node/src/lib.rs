//! fundsync node: one program for region, prefecture and county.
//!
//! Layers, bottom up (a module imports only from its own layer or below;
//! `node/tests/layers.rs` checks it, ARCHITECTURE.md says why):
//!
//! 1. [`clock`], [`store`], [`catalog`], [`pki`], [`telemetry`], [`access`]
//! 2. [`ledger`]: the journal, the rules and the derived tables
//! 3. [`warnings`], [`import`], [`accounts`]: users, roles, passwords,
//!    sessions and API tokens (their tables through `store::accounts`)
//! 4. [`config`]
//! 5. [`sync`] (all but `sync::server`): the link to the parent, its state,
//!    health reports, enrolment, bundles
//! 6. [`http`]: the shared HTTP plumbing
//! 7. [`api`], [`web`], `sync::server`: the three HTTP surfaces
//! 8. [`server`]: reads the configuration, composes the routers, runs it all
//!
//! The `fundsync` binary (`cli/`) only parses the command line; the demo is
//! its own crate (`demo/`).

#![forbid(unsafe_code)]

pub mod access;
pub mod accounts;
pub mod api;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod http;
pub mod import;
pub mod ledger;
pub mod link;
pub mod net;
pub mod openapi;
pub mod pki;
pub mod server;
pub mod settings;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod warnings;
pub mod web;
