//! fundsync node: one program for region, prefecture and county.
//!
//! Layers, bottom up: [`store`] (SQLite or PostgreSQL behind one SQL
//! implementation), [`ledger`] (the journal, the rules and the derived
//! tables), [`import`] (CSV vouchers), [`api`] (HTTP/JSON), and [`server`]
//! (`serve(config, listener, shutdown)`). The `fundsync` binary (`cli/`)
//! only parses the command line.

#![forbid(unsafe_code)]

pub mod api;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod import;
pub mod ledger;
pub mod net;
pub mod pki;
pub mod server;
pub mod settings;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod warnings;
pub mod web;
