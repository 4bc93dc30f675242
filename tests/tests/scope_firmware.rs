//! The edge runtime drives the scope controller's firmware through home → autofocus → a
//! 3x3 serpentine of a synthetic smear, over a serial line, and the slide goes through the
//! whole pipeline. Twice:
//!
//! - the firmware's own logic built for the host, on a thread, at the far end of a
//!   pseudo-terminal that the board opens as `run` opens a serial port (always run);
//! - the firmware binary itself under `qemu-system-arm` (mps2-an500, a Cortex-M7), at the
//!   far end of qemu's virtual serial port on a Unix socket, when
//!   `LEUKOSCOPE_SCOPE_FIRMWARE` names its ELF (CI builds it and sets it; the firmware's
//!   defmt log is kept where `LEUKOSCOPE_SCOPE_FIRMWARE_LOG` says).
//!
//! Both stages are the firmware's simulated motors and switches, powered up away from
//! home; the camera shows the smear's field at the position the controller reports,
//! blurred by how far its focus is from the smear.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::protocol::Position;
use leukoscope_core::raster::RgbImage;
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};
use leukoscope_edge::io::scope::{LinkedScope, Scope, ScopeError, ScopeTimeouts, open_serial};
use leukoscope_edge::io::source::{Frame, FrameSource, SourceError};
use leukoscope_edge::records::journal::open_slide_journal;
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::scan::autofocus::FocusSweep;
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanEnd, ScanSettings, SlideScanner};
use leukoscope_edge::scan::quality::QualityThresholds;
use leukoscope_edge::scan::stage_plan::{StageArea, serpentine};
use leukoscope_edge::scan::stage_scan::StageScan;
use leukoscope_scope_controller::axis::StepperAxis;
use leukoscope_scope_controller::controller::Controller;
use leukoscope_scope_controller::firmware::{Firmware, StartButton, Watchdog};
use leukoscope_scope_controller::link::SerialLink;
use leukoscope_scope_controller::sim::{STAGE_AXES, SimLamp, SimLine, SimMotor};
use serialport::{SerialPort, TTYPort};

/// The synthetic frames' scale, in nanometres per pixel.
const NM_PER_PX: i32 = 420;
const FRAME: (u32, u32) = (640, 480);
/// The height at which the smear is sharp.
const SMEAR_Z_NM: i32 = 1_800_000;
/// The firmware's X and Y step, and Z step (`sim::STAGE_AXES`).
const XY_STEP_NM: i32 = 625;
const Z_STEP_NM: i32 = 100;

/// A smear three frames by three, consecutive frames overlapping by a fifth.
fn smear() -> SyntheticSlide {
    SyntheticSlide::new(
        17,
        SlideOptions {
            world_width: FRAME.0 + 2 * 512,
            world_height: FRAME.1 + 2 * 384,
            frame_width: FRAME.0,
            frame_height: FRAME.1,
            step_fraction: 0.8,
            white_cells_per_frame: 5.0,
            ..SlideOptions::default()
        },
    )
    .expect("slide")
}

/// A scope that remembers where it last said it was, for the camera to look there.
struct Watched<S> {
    scope: S,
    at: Rc<Cell<Option<Position>>>,
    path: Vec<Position>,
}

impl<S: Scope> Watched<S> {
    fn saw(&mut self, at: Result<Position, ScopeError>) -> Result<Position, ScopeError> {
        if let Ok(at) = at {
            self.at.set(Some(at));
            self.path.push(at);
        }
        at
    }
}

impl<S: Scope> Scope for Watched<S> {
    fn home(&mut self) -> Result<Position, ScopeError> {
        let at = self.scope.home();
        self.saw(at)
    }
    fn move_to(&mut self, x_nm: i32, y_nm: i32) -> Result<Position, ScopeError> {
        let at = self.scope.move_to(x_nm, y_nm);
        self.saw(at)
    }
    fn focus_to(&mut self, z_nm: i32) -> Result<Position, ScopeError> {
        let at = self.scope.focus_to(z_nm);
        self.saw(at)
    }
    fn lamp(&mut self, permille: u16) -> Result<(), ScopeError> {
        self.scope.lamp(permille)
    }
    fn position(&mut self) -> Result<Position, ScopeError> {
        let at = self.scope.position();
        self.saw(at)
    }
    fn stop(&mut self) -> Result<(), ScopeError> {
        self.scope.stop()
    }
}

/// A camera over the stage: the smear's field whose centre is nearest the stage's
/// position, one pixel of blur per 2 um of defocus.
struct Camera {
    at: Rc<Cell<Option<Position>>>,
    smear: SyntheticSlide,
    shots: HashMap<(u32, u32), RgbImage>,
    taken: u64,
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let at = self.at.get().expect("the stage said where it is");
        let centre = |i: u32| {
            let [x, y] = self.smear.stage(i).expect("a field");
            (
                (x as i32 + FRAME.0 as i32 / 2) * NM_PER_PX,
                (y as i32 + FRAME.1 as i32 / 2) * NM_PER_PX,
            )
        };
        let field = (0..self.smear.frame_count())
            .min_by_key(|&i| {
                let (x, y) = centre(i);
                i64::from(x - at.x_nm).abs() + i64::from(y - at.y_nm).abs()
            })
            .expect("fields");
        let tenths = ((at.z_nm - SMEAR_Z_NM).unsigned_abs() / 200).min(80);
        let smear = &self.smear;
        let image = self
            .shots
            .entry((field, tenths))
            .or_insert_with(|| {
                let sharp = smear.frame(field).expect("frame").image;
                if tenths == 0 {
                    return sharp;
                }
                let img =
                    image::RgbImage::from_raw(sharp.width(), sharp.height(), sharp.into_raw())
                        .expect("sizes match");
                let out = image::imageops::blur(&img, tenths as f32 / 10.0);
                RgbImage::from_raw(out.width(), out.height(), out.into_raw()).expect("sizes")
            })
            .clone();
        self.taken += 1;
        Ok(Some(Frame {
            index: self.taken,
            image,
            captured: Instant::now(),
            origin: format!("camera frame {}", self.taken),
            stage_um: None,
        }))
    }

    fn describe(&self) -> String {
        "a camera over a synthetic smear".into()
    }
}

/// The smear's serpentine of fields, in stage nanometres.
fn plan() -> Vec<(i32, i32)> {
    let area = StageArea {
        x0_nm: 0,
        y0_nm: 0,
        x1_nm: (FRAME.0 + 2 * 512) as i32 * NM_PER_PX,
        y1_nm: (FRAME.1 + 2 * 384) as i32 * NM_PER_PX,
    };
    let field = (
        i64::from(FRAME.0) * i64::from(NM_PER_PX),
        i64::from(FRAME.1) * i64::from(NM_PER_PX),
    );
    serpentine(area, field, 0.2).expect("a plan")
}

/// Scans the slide with the controller at the far end of `scope`'s link, and checks what
/// a technician would: every field read in focus, the stage's path the plan's.
fn scan_through<L: Read + Write>(mut scope: LinkedScope<L>) {
    let info = scope.info();
    assert_eq!(info.link_timeout, Duration::from_secs(1));
    // As `run` sets it, at [scope] lamp's default.
    scope.lamp(800).expect("the lamp is set");
    let at = Rc::new(Cell::new(None));
    let watched = Watched {
        scope,
        at: at.clone(),
        path: Vec::new(),
    };
    let camera = Camera {
        at,
        smear: smear(),
        shots: HashMap::new(),
        taken: 0,
    };
    let plan = plan();
    assert_eq!(plan.len(), 9);
    let mut scan = StageScan::new(
        watched,
        camera,
        plan.clone(),
        // The scope's nominal slide height, 25 um off this slide's.
        SMEAR_Z_NM + 25_000,
        FocusSweep::default(),
        QualityThresholds::default(),
        NM_PER_PX as f32 / 1000.0,
    );
    let model = ModelArtifact::decode(
        include_bytes!("../../edge-runtime/demo/synthetic-demo-int8.lsm"),
        &TrustPolicy::any(),
    )
    .expect("the demo model verifies");
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path()), "stage").expect("journal");
    let mut settings = ScanSettings::default();
    settings.set_given_scale(NM_PER_PX as f32 / 1000.0);
    let mut scanner = SlideScanner::new(
        "stage",
        &model,
        settings,
        journal,
        earlier,
        Resume::Continue,
    )
    .expect("scanner");
    let started = Instant::now();
    let end = scanner
        .scan(&mut scan, |_, _| Control::Continue)
        .expect("scanned");
    assert_eq!(end, ScanEnd::SourceDone);
    assert_eq!(scanner.tally().frames(), 9);
    assert_eq!(scanner.tally().accepted, 9, "every field in focus");
    assert!(
        scanner.cells().len() >= 20,
        "{} cells",
        scanner.cells().len()
    );
    assert_eq!(scan.focusing_frames(), 38 + 8 * 17);
    let path = std::mem::take(&mut scan.scope().path);
    // Homed first, from wherever the stage stood at power-up.
    let first = path.iter().find(|p| p.homed).expect("homed");
    assert_eq!((first.x_nm, first.y_nm, first.z_nm), (0, 0, 0));
    let last = path.last().expect("moved");
    assert!(last.homed);
    assert!(
        (last.z_nm - SMEAR_Z_NM).abs() <= 500 + Z_STEP_NM,
        "focus ended at {} nm",
        last.z_nm
    );
    // The fields visited, in the plan's order, each within half a step of its target.
    let mut visited: Vec<(i32, i32)> = Vec::new();
    for p in path
        .iter()
        .filter(|p| p.homed && (p.x_nm, p.y_nm) != (0, 0))
    {
        if visited.last() != Some(&(p.x_nm, p.y_nm)) {
            visited.push((p.x_nm, p.y_nm));
        }
    }
    assert_eq!(visited.len(), plan.len(), "{visited:?}");
    for (got, want) in visited.iter().zip(&plan) {
        assert!(
            (got.0 - want.0).abs() <= XY_STEP_NM / 2 && (got.1 - want.1).abs() <= XY_STEP_NM / 2,
            "visited {got:?} for {want:?}"
        );
    }
    eprintln!(
        "scanned 9 fields, {} cells, {} focusing frames, {} stage answers in {:.1} s",
        scanner.cells().len(),
        scan.focusing_frames(),
        path.len(),
        started.elapsed().as_secs_f32()
    );
}

/// The firmware's serial port on the host: the master side of a pseudo-terminal, whose
/// other side the board opens as it opens a USB serial adapter.
struct PtyUart(TTYPort);

impl embedded_io::ErrorType for PtyUart {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::ReadReady for PtyUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.0
            .bytes_to_read()
            .map(|n| n > 0)
            .map_err(|_| embedded_io::ErrorKind::Other)
    }
}

impl embedded_io::Read for PtyUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.read(buf).map_err(|_| embedded_io::ErrorKind::Other)
    }
}

impl embedded_io::Write for PtyUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0
            .write_all(buf)
            .map(|()| buf.len())
            .map_err(|_| embedded_io::ErrorKind::Other)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The host has no watchdog to feed, and its delays are the simulated motors' (none).
struct Nothing;

impl Watchdog for Nothing {
    fn feed(&mut self) {}
}

impl embedded_hal::delay::DelayNs for Nothing {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// The firmware's logic running on a thread: the pseudo-terminal the board opens, its
/// start button (held while true), the flag that ends it, and the thread, which gives back
/// each motor's steps and the lamp's setting.
struct HostFirmware {
    device: String,
    button: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<([u32; 3], u16)>,
}

impl HostFirmware {
    fn stop(self) -> ([u32; 3], u16) {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().expect("the firmware ran")
    }
}

fn firmware_on_a_terminal() -> HostFirmware {
    let (controller, board) = TTYPort::pair().expect("a pseudo-terminal");
    let device = board.name().expect("the terminal's name");
    drop(board);
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let held = Arc::new(AtomicBool::new(false));
    let button_held = held.clone();
    let firmware = std::thread::spawn(move || {
        // Powered up as on the mps2 binary: 3 mm, 2 mm and 1.2 mm from the switches.
        let motors = [
            SimMotor::at(4_800),
            SimMotor::at(3_200),
            SimMotor::at(12_000),
        ];
        let axis = |i: usize| {
            let m = &motors[i];
            StepperAxis::new(m.step_pin(), m.dir_pin(), m.switch_pin(), STAGE_AXES[i])
        };
        let (enable, lamp, led) = (SimLine::default(), SimLamp::default(), SimLine::default());
        let button = SimLine(Cell::new(true));
        let mut firmware = Firmware::new(
            SerialLink::new(PtyUart(controller)),
            Controller::new([axis(0), axis(1), axis(2)], &enable, &lamp, 1_000),
            &led,
            StartButton::new(&button, true),
            Nothing,
            Nothing,
        );
        let start = Instant::now();
        while !finished.load(Ordering::Relaxed) {
            // Wired to ground when held, pulled up when not.
            button.0.set(!button_held.load(Ordering::Relaxed));
            if let Err(e) = firmware.poll(start.elapsed().as_micros() as u64) {
                panic!("the firmware's port failed: {e:?}");
            }
        }
        (motors.map(|m| m.steps()), lamp.0.get())
    });
    HostFirmware {
        device,
        button: held,
        done,
        thread: firmware,
    }
}

#[test]
fn the_board_scans_a_slide_through_the_firmwares_logic_on_the_host() {
    let firmware = firmware_on_a_terminal();
    // As `run` opens a board's controller.
    let scope = open_serial(
        Path::new(&firmware.device),
        115_200,
        ScopeTimeouts::default(),
    )
    .expect("the controller answers on its serial port");
    scan_through(scope);
    let (steps, lamp) = firmware.stop();
    assert!(steps.iter().all(|&s| s > 1_000), "steps {steps:?}");
    assert_eq!(lamp, 800);
}

#[test]
fn a_board_without_buttons_starts_the_next_slide_on_the_scopes_start_button() {
    let firmware = firmware_on_a_terminal();
    let mut scope = open_serial(
        Path::new(&firmware.device),
        115_200,
        ScopeTimeouts::default(),
    )
    .expect("the controller answers");
    // The UI's Start, pressed while waiting: the wait ends without a press.
    let mut asked = 0;
    let pressed = scope
        .wait_for_press(|| {
            asked += 1;
            asked == 3
        })
        .expect("waits");
    assert!(!pressed);
    // The technician presses the scope's button for 100 ms, after 300 ms.
    let button = firmware.button.clone();
    let presser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        button.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100));
        button.store(false, Ordering::Relaxed);
    });
    let started = Instant::now();
    let pressed = scope
        .wait_for_press(|| {
            std::thread::sleep(Duration::from_millis(20));
            started.elapsed() > Duration::from_secs(10)
        })
        .expect("waits");
    presser.join().expect("pressed");
    assert!(pressed, "gave up after {:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(scope.presses().expect("presses"), 1);
    firmware.stop();
}

#[test]
fn the_scope_command_homes_moves_focuses_and_names_a_refusal() {
    let edge = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join("leukoscope-edge")))
        .filter(|edge| edge.is_file())
        .expect("leukoscope-edge beside the tests (cargo test --workspace builds it)");
    let firmware = firmware_on_a_terminal();
    let device = firmware.device.clone();
    let scope = |args: &[&str]| {
        let out = Command::new(&edge)
            .args(["scope", "--device", &device])
            .args(args)
            .output()
            .expect("leukoscope-edge runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = scope(&["where"]);
    assert!(ok && text.contains("not homed"), "{text}");
    assert!(text.contains("controller firmware 0.1.0"), "{text}");
    let (ok, text) = scope(&["home"]);
    assert!(
        ok && text.contains("at x 0.000 um, y 0.000 um, z 0.000 um\n"),
        "{text}"
    );
    let (ok, text) = scope(&["move", "1000", "250.3"]);
    // 250.3 um is 400.48 steps of 625 nm: the nearest is 250.000 um.
    assert!(
        ok && text.contains("at x 1000.000 um, y 250.000 um"),
        "{text}"
    );
    let (ok, text) = scope(&["focus", "1825"]);
    assert!(ok && text.contains("z 1825.000 um"), "{text}");
    let (ok, text) = scope(&["focus", "6000"]);
    assert!(
        !ok && text.contains("OutOfRange") && text.contains("Z"),
        "{text}"
    );
    let (ok, text) = scope(&["lamp", "0.5"]);
    assert!(ok && text.contains("lamp at 50 %"), "{text}");
    let (ok, text) = scope(&["presses"]);
    assert!(
        ok && text.contains("start button pressed 0 times"),
        "{text}"
    );
    let (_, lamp) = firmware.stop();
    assert_eq!(lamp, 500);
}

/// qemu, killed when the test ends however it ends.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_board_scans_a_slide_through_the_firmware_under_qemu() {
    let Some(elf) = std::env::var_os("LEUKOSCOPE_SCOPE_FIRMWARE") else {
        eprintln!(
            "not run: LEUKOSCOPE_SCOPE_FIRMWARE does not name the mps2 firmware (CI builds it: \
             cargo build -p leukoscope-scope-controller --features mps2 --target thumbv7em-none-eabihf --release)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("scope.sock");
    let log = std::env::var_os("LEUKOSCOPE_SCOPE_FIRMWARE_LOG")
        .map_or_else(|| dir.path().join("firmware.defmt"), Into::into);
    let qemu = Command::new("qemu-system-arm")
        .args(["-M", "mps2-an500", "-display", "none", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("unix:{},server=on,wait=on", socket.display()))
        .arg("-kernel")
        .arg(Path::new(&elf))
        .stdout(std::fs::File::create(&log).expect("the log file"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qemu-system-arm runs (apt install qemu-system-arm)");
    let _qemu = Qemu(qemu);
    let started = Instant::now();
    let link = loop {
        match UnixStream::connect(&socket) {
            Ok(link) => break link,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("qemu's serial port never opened: {e}"),
        }
    };
    link.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("a timeout");
    let scope =
        LinkedScope::connect(link, ScopeTimeouts::default()).expect("the controller answers");
    scan_through(scope);
    eprintln!("the firmware's defmt log: {}", log.display());
}
