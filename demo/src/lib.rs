//! The 2020 Bayingol demo: the scenario as data ([`plan`], loaded from
//! `data/`) and the cluster that replays it ([`run`]). A crate of its own so
//! that the production library (`fundsync-node`) carries neither the
//! scenario nor `anyhow`; the `fundsync demo` command (`cli/`) calls it.

#![forbid(unsafe_code)]

pub mod plan;
pub mod run;
