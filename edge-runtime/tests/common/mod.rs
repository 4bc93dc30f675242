//! What the edge's integration tests share.

use std::process::Command;

/// The `leukoscope-edge` binary, through `LEUKOSCOPE_TEST_RUNNER` when one is set (under
/// qemu-user without binfmt_misc the Arm binary needs it; see `journal_survives_kill.rs`).
pub fn edge() -> Command {
    let binary = env!("CARGO_BIN_EXE_leukoscope-edge");
    match std::env::var("LEUKOSCOPE_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut parts = runner.split_whitespace();
            let mut command = Command::new(parts.next().expect("a runner"));
            command.args(parts).arg(binary);
            command
        }
        _ => Command::new(binary),
    }
}
