//! `leukoscope-edge scope`: the scope controller by hand, for whoever installs a motorized
//! stage: home it, move it, focus it, set the lamp, ask where it is. It is how the scan
//! area and the nominal focus of `[scope]` are found: move to the smear's corners and to
//! a sharp image, and read the positions.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use leukoscope_core::protocol::Position;
use leukoscope_edge::io::scope::{Scope, ScopeTimeouts, open_serial};
use leukoscope_edge::io::settings::BoardSettings;

/// Options of `scope`.
#[derive(Args)]
pub struct ScopeArgs {
    /// The board's settings: the controller of its `[scope]`.
    #[arg(long, required_unless_present = "device")]
    pub board: Option<PathBuf>,
    /// The controller's serial port, without a board file.
    #[arg(long, conflicts_with = "board")]
    pub device: Option<PathBuf>,
    /// Its line speed, with --device.
    #[arg(long, default_value_t = 115_200, requires = "device")]
    pub baud: u32,
    #[command(subcommand)]
    pub action: ScopeAction,
}

/// What to do with the controller.
#[derive(Subcommand)]
pub enum ScopeAction {
    /// Drive every axis to its limit switch (the focus first, away from the slide) and
    /// call that zero.
    Home,
    /// Print where the axes are, in micrometres from home.
    Where,
    /// Move the stage to X, Y micrometres from home.
    Move {
        /// Left-right.
        x_um: f64,
        /// Front-back.
        y_um: f64,
    },
    /// Move the focus to Z micrometres from its switch.
    Focus {
        /// Height.
        z_um: f64,
    },
    /// Set the lamp, 0 (off) to 1 (full).
    Lamp {
        /// Brightness.
        level: f64,
    },
    /// Stop every axis.
    Stop,
    /// Print how many times the controller's start button was pressed since power-up.
    Presses,
}

fn nm(um: f64) -> anyhow::Result<i32> {
    let nm = (um * 1_000.0).round();
    anyhow::ensure!(
        nm.is_finite() && nm.abs() <= f64::from(i32::MAX),
        "{um} um is beyond any stage"
    );
    Ok(nm as i32)
}

fn show(at: Position) {
    println!(
        "at x {:.3} um, y {:.3} um, z {:.3} um{}",
        f64::from(at.x_nm) / 1_000.0,
        f64::from(at.y_nm) / 1_000.0,
        f64::from(at.z_nm) / 1_000.0,
        if at.homed {
            ""
        } else {
            " (not homed: counted from power-up)"
        }
    );
}

pub fn scope(options: ScopeArgs) -> anyhow::Result<()> {
    let (device, baud) = match (&options.board, options.device) {
        (Some(board), _) => {
            let settings = BoardSettings::load(board)?;
            let scope = settings
                .scope
                .with_context(|| format!("{} has no [scope] section", board.display()))?;
            (scope.device, scope.baud)
        }
        (None, Some(device)) => (device, options.baud),
        (None, None) => anyhow::bail!("give --board or --device"),
    };
    let mut controller = open_serial(&device, baud, ScopeTimeouts::default())
        .with_context(|| format!("the scope controller on {}", device.display()))?;
    let [major, minor, patch] = controller.info().firmware;
    println!(
        "controller firmware {major}.{minor}.{patch} on {}",
        device.display()
    );
    match options.action {
        ScopeAction::Home => show(controller.home()?),
        ScopeAction::Where => show(controller.position()?),
        ScopeAction::Move { x_um, y_um } => show(controller.move_to(nm(x_um)?, nm(y_um)?)?),
        ScopeAction::Focus { z_um } => show(controller.focus_to(nm(z_um)?)?),
        ScopeAction::Lamp { level } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&level),
                "the lamp level is 0 to 1, not {level}"
            );
            controller.lamp((level * 1_000.0).round() as u16)?;
            println!("lamp at {:.0} %", level * 100.0);
        }
        ScopeAction::Stop => {
            controller.stop()?;
            println!("stopped");
        }
        ScopeAction::Presses => {
            println!("start button pressed {} times", controller.presses()?);
        }
    }
    Ok(())
}
