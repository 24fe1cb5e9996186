//! Test support for fundsync's integration tests and benchmarks: throwaway
//! PostgreSQL databases ([`pg`]) and ledgers and nodes on either engine
//! ([`fixtures`]).

pub mod cluster;
pub mod fixtures;
pub mod pg;
