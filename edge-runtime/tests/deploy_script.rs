//! `boards/deploy.sh`: its syntax, and the plan it prints with `--dry-run` (which runs no
//! build and no ssh, so the real sequence can be checked on any machine with bash).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/deploy.sh")
}

fn deploy(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The index of the first printed command line (`+ ...`) containing every one of `parts`.
fn command_line(plan: &str, parts: &[&str]) -> usize {
    plan.lines()
        .position(|l| l.starts_with("+ ") && parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no command with {parts:?} in the plan:\n{plan}"))
}

#[test]
fn the_script_parses() {
    let out = Command::new("bash")
        .arg("-n")
        .arg(script())
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_dry_run_prints_the_whole_installation_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("release.lsm");
    std::fs::write(&model, b"not really a model").unwrap();
    let model = model.to_str().unwrap();
    let out = deploy(&[
        "raspberry-pi-5",
        "pi@example.invalid",
        "--model",
        model,
        "--dry-run",
    ]);
    let plan = text(&out.stdout);
    assert!(out.status.success(), "{plan}\n{}", text(&out.stderr));

    let build = command_line(
        &plan,
        &[
            "cargo build --release --locked -p leukoscope-edge",
            "--target aarch64-unknown-linux-gnu",
            "--features linux-board,camera",
        ],
    );
    // The Pi classifies on its CPU: no GPU feature.
    assert!(!plan.lines().nth(build).unwrap().contains("cuda"), "{plan}");
    let strip = command_line(
        &plan,
        &["strip", "aarch64-unknown-linux-gnu/release/leukoscope-edge"],
    );
    let binary = command_line(
        &plan,
        &[
            "scp",
            "pi@example.invalid:.leukoscope-deploy/leukoscope-edge",
        ],
    );
    let settings = command_line(
        &plan,
        &[
            "scp",
            "boards/raspberry-pi-5/board.toml",
            "pi@example.invalid:",
        ],
    );
    let model_copy = command_line(&plan, &["scp", model, "model.lsm"]);
    let unit = command_line(&plan, &["scp", "boards/leukoscope-edge.service"]);
    let install = command_line(&plan, &["ssh", "sudo sh .leukoscope-deploy/install.sh"]);
    let check = command_line(
        &plan,
        &[
            "ssh",
            "sudo -u leukoscope /opt/leukoscope/bin/leukoscope-edge check --board /etc/leukoscope/board.toml",
        ],
    );
    let enable = command_line(
        &plan,
        &["ssh", "systemctl enable --now leukoscope-edge.service"],
    );
    assert!(build < strip && strip < binary, "{plan}");
    for copy in [binary, settings, model_copy, unit] {
        assert!(copy < install, "{plan}");
    }
    assert!(
        install < check && check < enable,
        "the check must come before enable:\n{plan}"
    );

    // The generated install script puts each file where the service expects it.
    for line in [
        "install -m 0644 board.toml /etc/leukoscope/board.toml",
        "install -m 0755 leukoscope-edge /opt/leukoscope/bin/leukoscope-edge",
        "install -m 0644 model.lsm /opt/leukoscope/models/b-all-4-edge-s.lsm",
        "install -m 0644 leukoscope-edge.service /etc/systemd/system/leukoscope-edge.service",
        "systemctl daemon-reload",
    ] {
        assert!(plan.lines().any(|l| l == line), "no `{line}` in:\n{plan}");
    }
    // The board's illumination channel is exported by udev (pwmchip0, channel 0 on the Pi).
    assert!(
        plan.contains(r#"KERNEL=="pwmchip0", ACTION=="add", ATTR{export}="0""#),
        "{plan}"
    );
}

#[test]
fn a_board_with_a_drop_in_ships_it() {
    let out = deploy(&["jetson-orin-nano", "nvidia@example.invalid", "--dry-run"]);
    let plan = text(&out.stdout);
    assert!(out.status.success(), "{plan}\n{}", text(&out.stderr));
    command_line(&plan, &["scp", "leukoscope-edge.service.d/cuda.conf"]);
    assert!(
        plan.lines().any(
            |l| l == "install -m 0644 cuda.conf /etc/systemd/system/leukoscope-edge.service.d/"
        ),
        "{plan}"
    );
    // Without --model the board keeps its model, and nothing installs one.
    assert!(!plan.contains("model.lsm"), "{plan}");
}

#[test]
fn an_unknown_board_is_refused_by_name() {
    let out = deploy(&["beaglebone-ai", "debian@example.invalid", "--dry-run"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("beaglebone-ai"), "{err}");
    assert!(
        err.contains("raspberry-pi-5"),
        "the known boards are listed: {err}"
    );
    assert!(
        !text(&out.stdout).contains("cargo build"),
        "nothing runs after the refusal"
    );
}

#[test]
fn a_board_name_cannot_leave_the_boards_folder() {
    let out = deploy(&["../edge-runtime", "pi@example.invalid", "--dry-run"]);
    assert!(!out.status.success());
}

#[test]
fn a_missing_model_file_is_refused() {
    let out = deploy(&[
        "raspberry-pi-5",
        "pi@example.invalid",
        "--model",
        "/nonexistent/model.lsm",
        "--dry-run",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/model.lsm"));
}

#[test]
fn missing_arguments_print_the_usage() {
    for args in [&[][..], &["raspberry-pi-5"][..], &["--dry-run"][..]] {
        let out = deploy(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = text(&out.stderr);
        assert!(
            err.contains("usage: boards/deploy.sh BOARD user@host"),
            "{args:?}: {err}"
        );
    }
}
