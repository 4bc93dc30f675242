//! What the edge's integration tests share.

use std::path::Path;
use std::process::Command;

/// Names the command (program and arguments, split at whitespace) that runs this target's
/// binaries when the machine cannot, e.g. `qemu-aarch64-static -cpu max -L
/// /usr/aarch64-linux-gnu`: cargo's target runner starts the tests, but not the programs
/// they start.
pub const RUNNER_ENV: &str = "LEUKOSCOPE_TEST_RUNNER";

/// A command that starts `program`, through [`RUNNER_ENV`]'s runner when one is set.
pub fn under_runner(program: &Path) -> Command {
    let runner = std::env::var(RUNNER_ENV).unwrap_or_default();
    let mut parts = runner.split_whitespace();
    match parts.next() {
        Some(runner) => {
            let mut command = Command::new(runner);
            command.args(parts).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The `leukoscope-edge` binary.
#[allow(dead_code)] // Not every test that includes this module starts the binary.
pub fn edge() -> Command {
    under_runner(Path::new(env!("CARGO_BIN_EXE_leukoscope-edge")))
}
