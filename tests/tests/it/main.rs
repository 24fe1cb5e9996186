//! fundsync's integration tests, one binary with a module per topic (each
//! test file used to be a binary of its own, each linking all of
//! `fundsync-node`).
//!
//! Filter by module: `cargo nextest run -p fundsync-tests -E 'test(/^sync::/)'`,
//! or by name: `cargo nextest run -p fundsync-tests ledger_props`.

mod access;
mod accounts;
mod api;
mod attribution;
mod carryover;
mod chaos;
mod demo;
mod desk;
mod disclosure;
mod evaluation;
mod evaluation_forms;
mod export;
mod followup;
mod import;
mod ledger_conformance;
mod ledger_dates;
mod ledger_props;
mod openapi;
mod pg_harness;
mod projects;
mod search;
mod sync;
mod targets;
mod transport;
mod verify;
mod warnings;
mod web;
