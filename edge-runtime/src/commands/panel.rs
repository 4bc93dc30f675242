//! The operator's controls for `run`: the board's status LED, buzzer, illumination and
//! start/stop button when the board has them (feature `linux-board` and `[pins]` in
//! `board.toml`), else the console alone.

use std::cell::RefCell;
use std::rc::Rc;
#[cfg(feature = "linux-board")]
use std::time::{Duration, Instant};

use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::io::source::FrameSource;
#[cfg(feature = "camera")]
use leukoscope_edge::io::source::{CameraSource, LinkEvent, Reconnecting};

/// The controls.
pub struct Panel {
    #[cfg(feature = "linux-board")]
    board: Option<(leukoscope_edge::io::board_io::linux::LinuxBoard, Instant)>,
}

impl Panel {
    /// Claims the board's pins if it has them and this build drives them.
    pub fn open(settings: &BoardSettings) -> anyhow::Result<Panel> {
        #[cfg(feature = "linux-board")]
        {
            let board = match settings.linux_board_config() {
                Some(config) => {
                    let mut io = leukoscope_edge::io::board_io::linux::open_linux_board(&config)?;
                    let illumination = settings.pins.as_ref().map_or(0.8, |p| p.illumination);
                    io.set_illumination((illumination * 100.0).round() as u8)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Some((io, Instant::now()))
                }
                None => None,
            };
            Ok(Panel { board })
        }
        #[cfg(not(feature = "linux-board"))]
        {
            if settings.pins.is_some() {
                eprintln!(
                    "warning: board.toml sets [pins] but this build does not drive them (rebuild with --features linux-board)"
                );
            }
            Ok(Panel {})
        }
    }

    /// Whether there is a start/stop button (else `run` scans one slide and exits).
    pub fn has_controls(&self) -> bool {
        #[cfg(feature = "linux-board")]
        {
            self.board.is_some()
        }
        #[cfg(not(feature = "linux-board"))]
        {
            false
        }
    }

    /// Shows "ready" and waits for the start button, or for `ui_start` (polled) to say the
    /// UI's Start was pressed; `true` to start a slide. Without a button a slide starts at
    /// once.
    #[allow(unused_mut, unused_variables)]
    pub fn wait_for_start(&mut self, mut ui_start: impl FnMut() -> bool) -> anyhow::Result<bool> {
        #[cfg(feature = "linux-board")]
        if let Some((io, t0)) = &mut self.board {
            use leukoscope_edge::io::board_io::Status;
            io.set_status(Status::Ready, t0.elapsed())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("ready: press the start button to scan a slide");
            loop {
                let now = t0.elapsed();
                io.tick(now).map_err(|e| anyhow::anyhow!("{e}"))?;
                if io.button_pressed(now).map_err(|e| anyhow::anyhow!("{e}"))? || ui_start() {
                    return Ok(true);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(true)
    }

    /// Shows "working".
    pub fn working(&mut self) -> anyhow::Result<()> {
        self.show(false)
    }

    /// Shows "attention" (camera lost, an error).
    pub fn attention(&mut self) -> anyhow::Result<()> {
        self.show(true)
    }

    #[allow(unused_variables)]
    fn show(&mut self, attention: bool) -> anyhow::Result<()> {
        #[cfg(feature = "linux-board")]
        if let Some((io, t0)) = &mut self.board {
            use leukoscope_edge::io::board_io::Status;
            let status = if attention {
                Status::Attention
            } else {
                Status::Working
            };
            io.set_status(status, t0.elapsed())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    /// Whether the stop button was pressed since the last call; keeps the LED blinking.
    pub fn stop_pressed(&mut self) -> bool {
        #[cfg(feature = "linux-board")]
        if let Some((io, t0)) = &mut self.board {
            let now = t0.elapsed();
            let _ = io.tick(now);
            return io.button_pressed(now).unwrap_or(false);
        }
        false
    }

    /// A slide finished: a beep, and "attention" when a reader must look at it soon.
    #[allow(unused_variables)]
    pub fn slide_done(&mut self, needs_reader: bool) -> anyhow::Result<()> {
        #[cfg(feature = "linux-board")]
        if let Some((io, t0)) = &mut self.board {
            io.beep(t0.elapsed()).map_err(|e| anyhow::anyhow!("{e}"))?;
            if needs_reader {
                return self.attention();
            }
        }
        Ok(())
    }

    /// The board's camera, riding out disconnections: the log and the LED say when it is
    /// lost and back.
    #[allow(unused_variables)]
    pub fn camera(
        panel: &Rc<RefCell<Panel>>,
        settings: &BoardSettings,
    ) -> anyhow::Result<Box<dyn FrameSource>> {
        #[cfg(feature = "camera")]
        {
            let camera = CameraSource::open(settings.camera_config())?;
            let panel = panel.clone();
            let observer = move |event: &LinkEvent| {
                eprintln!("camera: {event:?}");
                let mut panel = panel.borrow_mut();
                let _ = match event {
                    LinkEvent::Restored { .. } => panel.working(),
                    _ => panel.attention(),
                };
            };
            Ok(Box::new(Reconnecting::new(
                camera,
                settings.backoff(),
                observer,
            )))
        }
        #[cfg(not(feature = "camera"))]
        anyhow::bail!(
            "this build reads no cameras: rebuild with --features camera, or give --frames DIR"
        )
    }
}
