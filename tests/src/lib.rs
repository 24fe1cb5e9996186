//! Test support for fundsync's integration tests and benchmarks: throwaway
//! PostgreSQL databases ([`pg`]), ledgers and nodes on either engine
//! ([`fixtures`]), entry bodies ([`build`]) and [`on_both!`], which makes a
//! SQLite and a PostgreSQL test of one scenario; a real browser through
//! WebDriver ([`webdriver`]); the randomized fault harness on a tree of
//! `fundsync` processes ([`chaos`]).

pub mod both;
pub mod build;
pub mod chaos;
pub mod cluster;
pub mod fixtures;
pub mod pg;
pub mod webdriver;
