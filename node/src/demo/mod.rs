//! The 2020 Bayingol demo: the scenario as data ([`plan`]) and the cluster
//! that replays it ([`run`]).
pub mod plan;
pub mod run;
