//! `leukoscope-edge check`: the board's self-test. Each part prints one line; the first
//! failure ends the check with a one-line reason and a non-zero exit.

use std::path::PathBuf;

use anyhow::Context;
use leukoscope_core::engine::Engine;
use leukoscope_edge::io::model::{DEVELOPMENT_KEY_WARNING, is_demonstration, is_development_key};
use leukoscope_edge::io::scope::{ScopeTimeouts, open_serial};
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::scan::pipeline::subtypes_of;

use super::bench::kernels;
use super::run::{check_storage, free_bytes};
use super::slide::{ModelChoice, SubtypeChoice, load_chosen_model, load_chosen_subtype};

/// Options of `check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The board's settings.
    #[arg(long)]
    pub board: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelChoice,
    #[command(flatten)]
    pub subtype: SubtypeChoice,
}

pub fn check(options: CheckArgs) -> anyhow::Result<()> {
    let board = options
        .board
        .as_deref()
        .map(BoardSettings::load)
        .transpose()?;
    if let (Some(board), Some(path)) = (&board, &options.board) {
        println!("board      {} ({})", board.board.name, path.display());
    }
    let subtype =
        load_chosen_subtype(options.subtype, &options.model.trusted_keys, board.as_ref())?;
    let (model_path, verified) = load_chosen_model(options.model, board.as_ref())?;
    let a = &verified.artifact;
    let classes: Vec<&str> = a.taxonomy.classes.iter().map(|c| c.name.as_str()).collect();
    println!("model      {}", model_path.display());
    if is_demonstration(a) {
        println!("           SYNTHETIC DEMONSTRATION MODEL - not for patients");
    }
    println!("digest     {}", verified.digest);
    match verified.signed_by {
        Some(key) if is_development_key(&key.to_string()) => {
            println!("signed by  {key}");
            println!("           {}", DEVELOPMENT_KEY_WARNING.to_uppercase());
        }
        Some(key) => println!("signed by  {key}"),
        None => println!("signed by  nobody (unsigned)"),
    }
    println!(
        "network    {} ({} input {}x{} at {} um/px, {:.1} M MACs, {:.2} M parameters)",
        a.spec.name,
        a.spec.input.kind.as_str(),
        a.spec.input.width,
        a.spec.input.height,
        a.spec.input.um_per_px,
        a.spec.macs()? as f64 / 1e6,
        a.spec.params()? as f64 / 1e6,
    );
    println!("classes    {} ({})", a.taxonomy.name, classes.join(", "));
    // Compiling the engine proves the board can run it, not only read it.
    let engine = Engine::new(a)?;
    println!(
        "engine     {} ({}), {:.2} MB of arena per thread{}",
        engine.precision().as_str(),
        kernels(&engine),
        engine.arena_bytes() as f64 / 1e6,
        a.quantized
            .as_ref()
            .map_or(String::new(), |q| format!(", calibrated {}", q.calibrator)),
    );
    match &a.familiarity {
        Some(profile) => println!(
            "familiar   cells beyond distance {:.3} of the {} classes it learnt from go to no class",
            profile.unfamiliar_above,
            profile.centres.len() / (profile.features as usize).max(1)
        ),
        None => println!(
            "familiar   no profile: cells unlike those it learnt from are not told apart (leukoscope-train familiar)"
        ),
    }
    match &subtype {
        Some(subtype) => {
            let names = subtypes_of(&subtype.artifact.taxonomy)?;
            Engine::new(&subtype.artifact)?;
            println!(
                "subtype    blasts typed by {} ({}: {}), digest {}, {}",
                subtype.artifact.spec.name,
                subtype.artifact.taxonomy.name,
                names.join(", "),
                subtype.digest,
                subtype
                    .signed_by
                    .map_or("unsigned".to_string(), |key| format!("signed by {key}"))
            );
        }
        None => println!("subtype    none: reports name no B-ALL subtype (model.subtype_path)"),
    }
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    println!(
        "trained by {} at {}",
        or_unknown(&a.provenance.tool),
        or_unknown(&a.provenance.created)
    );
    for metric in &a.provenance.metrics {
        println!("           {} = {:.4}", metric.name, metric.value);
    }
    if let Some(board) = &board {
        check_camera(board)?;
        check_pins(board)?;
        check_scope(board)?;
        check_storage(board)?;
        println!(
            "storage    {} ({} MB free)",
            board.storage.dir.display(),
            free_bytes(&board.storage.dir)? / (1024 * 1024)
        );
    }
    println!("ok");
    Ok(())
}

/// Opens the camera and reads one frame.
#[allow(unused_variables)]
fn check_camera(board: &BoardSettings) -> anyhow::Result<()> {
    #[cfg(feature = "camera")]
    {
        use leukoscope_edge::io::source::{CameraSource, FrameSource};
        let mut camera = CameraSource::open(board.camera_config())?;
        let frame = camera
            .next_frame()
            .with_context(|| format!("camera {}: no frame", board.camera.device.display()))?
            .ok_or_else(|| anyhow::anyhow!("camera {}: no frame", board.camera.device.display()))?;
        println!(
            "camera     {} ({}x{})",
            board.camera.device.display(),
            frame.image.width(),
            frame.image.height()
        );
        Ok(())
    }
    #[cfg(not(feature = "camera"))]
    anyhow::bail!(
        "camera {}: this build reads no cameras (rebuild with --features camera)",
        board.camera.device.display()
    )
}

/// Says hello to the scope controller, if the board has one, and counts the fields of
/// its plan.
fn check_scope(board: &BoardSettings) -> anyhow::Result<()> {
    let Some(scope) = &board.scope else {
        println!("scope      none: the slide is moved by hand");
        return Ok(());
    };
    // Validated with the settings: a scope needs a measured scale and a plan.
    let fields = board.camera.um_per_px.given().map_or(Ok(0), |um| {
        scope
            .plan((board.camera.width, board.camera.height), um)
            .map(|p| p.len())
    })?;
    let controller = open_serial(&scope.device, scope.baud, ScopeTimeouts::default())
        .with_context(|| format!("the scope controller on {}", scope.device.display()))?;
    let info = controller.info();
    let [major, minor, patch] = info.firmware;
    println!(
        "scope      {} at {} baud: firmware {major}.{minor}.{patch}, protocol {}, link timeout {} ms; {fields} fields a slide",
        scope.device.display(),
        scope.baud,
        info.protocol,
        info.link_timeout.as_millis()
    );
    Ok(())
}

/// Claims the board's pins, if it has any.
fn check_pins(board: &BoardSettings) -> anyhow::Result<()> {
    let Some(pins) = &board.pins else {
        println!("pins       none configured");
        return Ok(());
    };
    #[cfg(feature = "linux-board")]
    {
        let config = board
            .linux_board_config()
            .context("pins are set but give no board config")?;
        leukoscope_edge::io::board_io::linux::open_linux_board(&config)?;
        println!(
            "pins       {}: LED {}, buzzer {}, button {}, PWM {}/{}",
            pins.gpio_chip.display(),
            pins.status_led_line,
            pins.buzzer_line,
            pins.button_line,
            pins.pwm_chip,
            pins.pwm_channel
        );
        Ok(())
    }
    #[cfg(not(feature = "linux-board"))]
    anyhow::bail!(
        "pins on {}: this build drives no pins (rebuild with --features linux-board)",
        pins.gpio_chip.display()
    )
}
