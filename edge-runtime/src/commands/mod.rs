//! The subcommands of `leukoscope-edge`.

pub mod bench;
pub mod check;
pub mod crops;
pub mod demo;
pub mod eval_detect;
pub mod export;
pub mod panel;
pub mod replay;
pub mod report;
pub mod run;
pub mod scale;
pub mod scope;
pub mod slide;
