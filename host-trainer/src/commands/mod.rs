//! The subcommands of `leukoscope-train`.

pub mod bench;
pub mod demo;
pub mod eval;
pub mod run;
pub mod train;
