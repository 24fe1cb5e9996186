//! The 2020 Bayingol demo.
pub mod plan;
