//! The board's settings: `board.toml`, read once when the program starts.
//!
//! One file describes one board: its camera and the frame scale at the objective used, the
//! model it runs and the keys whose signatures it trusts, where it keeps its journal and
//! reports, the quality, detection, tracking and stop-rule thresholds, and how its status
//! LED, buzzer, button and illumination are wired. Every section and key is optional; a
//! missing one takes its default, so a development laptop can run with an almost empty
//! file. Unknown keys are refused, so a misspelt key is an error rather than a setting
//! silently ignored.
//!
//! [`BoardSettings::load`] reads, parses and checks the file in one go: a board that starts
//! has settings that make sense, and a board that does not says which key of which file is
//! wrong, in one line.
//!
//! The commented files under `boards/` (one per supported board) explain every key;
//! `docs/boards.md` is the guide around them.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use leukoscope_core::artifact::{PublicKey, TrustPolicy};
use leukoscope_core::files::{ReadError, read_capped};
use serde::{Deserialize, Deserializer};

pub use self::scope::ScopeSettings;
use crate::io::source::Backoff;
use crate::records::layout::DataDir;
use crate::scan::detect::{CellDetector, DetectError, DetectorConfig};
use crate::scan::quality::QualityThresholds;
use crate::scan::scale::ScaleSetting;
use crate::scan::session::SessionRules;
use crate::scan::track::{CellTracker, TrackError, TrackerConfig};

/// Everything a board's `board.toml` sets.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoardSettings {
    /// `[board]`: what the board is called in logs and reports.
    pub board: BoardInfo,
    /// `[camera]`: the V4L2 camera and the scale of its frames.
    pub camera: CameraSettings,
    /// `[reconnect]`: how a camera lost mid-slide is waited for.
    pub reconnect: ReconnectSettings,
    /// `[model]`: the model file, the keys it must be signed with, and how it runs.
    pub model: ModelSettings,
    /// `[storage]`: where the journal and reports go.
    pub storage: StorageSettings,
    /// `[quality]`: the quality gate's thresholds.
    pub quality: QualityThresholds,
    /// `[detect]`: cell detection. Its `um_per_px` is copied from `[camera]`.
    pub detect: DetectorConfig,
    /// `[track]`: frame registration and cell matching. Its `um_per_px` is copied from
    /// `[camera]`.
    pub track: TrackerConfig,
    /// `[session]`: when a slide is done and when it is flagged.
    pub session: SessionRules,
    /// `[pins]`: the status LED, buzzer, button and illumination; absent on a board
    /// without them (a development laptop).
    pub pins: Option<PinSettings>,
    /// `[ui]`: the technician's web UI.
    pub ui: UiSettings,
    /// `[scope]`: the controller of a motorized stage; absent when the slide is moved by
    /// hand.
    pub scope: Option<ScopeSettings>,
}

/// `[ui]`: where the technician's web UI listens and who may use it over the network.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// Address and port (default `127.0.0.1:8080`: the board's own screen only). Any
    /// other address serves the clinic's network and needs `token_file`.
    pub listen: std::net::SocketAddr,
    /// A file holding the access token that phones and tablets on the network log in with
    /// (at least 16 characters; surrounding whitespace ignored). A relative path is taken
    /// from the folder holding `board.toml`.
    pub token_file: Option<PathBuf>,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            token_file: None,
        }
    }
}

/// `[board]`: names for logs and reports.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoardInfo {
    /// Short name, as reports print it (default "leukoscope").
    pub name: String,
    /// A sentence about the board (default empty).
    pub description: String,
}

impl Default for BoardInfo {
    fn default() -> Self {
        BoardInfo {
            name: "leukoscope".into(),
            description: String::new(),
        }
    }
}

/// Pixel formats a camera can be asked for, as `board.toml` spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormatSetting {
    /// `"mjpeg"`: compressed; full HD fits through USB 2 at a useful frame rate.
    #[default]
    Mjpeg,
    /// `"yuyv"`: uncompressed; no JPEG artefacts, but only a few full-HD frames a second
    /// over USB 2.
    Yuyv,
}

/// `[camera]`: which camera, how to run it, and the scale of its frames.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraSettings {
    /// The V4L2 device (default `/dev/video0`); a `/dev/v4l/by-id/...` path survives
    /// replugging.
    pub device: PathBuf,
    /// Frame width asked for, 16 to 8192 (default 1920).
    pub width: u32,
    /// Frame height asked for, 16 to 8192 (default 1080).
    pub height: u32,
    /// `"mjpeg"` (default) or `"yuyv"`.
    pub pixel_format: PixelFormatSetting,
    /// Frames per second asked for; absent keeps the driver's choice (default).
    pub fps: Option<u32>,
    /// Micrometres per pixel of the frames at the objective used, or `"auto"` (default):
    /// measured from each slide's red cells in its first frames. The only place the frame
    /// scale is set: detection and tracking take it from here.
    pub um_per_px: ScaleSetting,
    /// How long to wait for a frame before taking the camera for gone (default 2000 ms).
    pub timeout_ms: u64,
    /// Memory-mapped capture buffers, 1 to 32 (default 4).
    pub buffers: u32,
}

impl Default for CameraSettings {
    fn default() -> Self {
        CameraSettings {
            device: PathBuf::from("/dev/video0"),
            width: 1920,
            height: 1080,
            pixel_format: PixelFormatSetting::Mjpeg,
            fps: None,
            um_per_px: ScaleSetting::Auto,
            timeout_ms: 2000,
            buffers: 4,
        }
    }
}

/// `[reconnect]`: the wait between attempts to reopen a lost camera doubles from
/// `first_retry_ms` up to `max_retry_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconnectSettings {
    /// Wait before the first retry (default 250 ms).
    pub first_retry_ms: u64,
    /// Longest wait between retries (default 8000 ms).
    pub max_retry_ms: u64,
    /// Give up after the camera has been gone this long; absent (the default) waits for
    /// as long as it takes, the operator can still stop the slide.
    pub give_up_after_s: Option<u64>,
}

impl Default for ReconnectSettings {
    fn default() -> Self {
        ReconnectSettings {
            first_retry_ms: 250,
            max_retry_ms: 8000,
            give_up_after_s: None,
        }
    }
}

/// Where the model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifyDevice {
    /// `"cpu"` (default): the int8 engine on the CPU cores.
    #[default]
    Cpu,
    /// `"cuda"`: an NVIDIA GPU, for a build with GPU classification.
    Cuda,
}

/// `[model]`: the model file, whose signatures to trust, and how to run it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// The `.lsm` file (default `/opt/leukoscope/models/b-all-4-edge-s.lsm`); a relative
    /// path is taken from the folder holding `board.toml`.
    pub path: PathBuf,
    /// A second `.lsm` file, a B-ALL subtype model (taxonomy `b-all-4`), that names the
    /// subtype of the cells the model at `path` counts as blasts; signed, like it, by one
    /// of `trusted_keys`. Unset (the default): no subtype is named. A relative path is
    /// taken from the folder holding `board.toml`.
    pub subtype_path: Option<PathBuf>,
    /// ed25519 public keys, 64 hex digits each, one of which must have signed the model.
    /// Empty (the default) accepts unsigned models: for development only.
    #[serde(deserialize_with = "hex_keys")]
    pub trusted_keys: Vec<PublicKey>,
    /// `"cpu"` (default) or `"cuda"`.
    pub device: ClassifyDevice,
    /// Worker threads for classification; 0 (the default) uses every core.
    pub threads: usize,
    /// Cells classified together, 1 to 256 (default 16).
    pub batch: usize,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            path: PathBuf::from("/opt/leukoscope/models/b-all-4-edge-s.lsm"),
            subtype_path: None,
            trusted_keys: Vec::new(),
            device: ClassifyDevice::Cpu,
            threads: 0,
            batch: 16,
        }
    }
}

/// `[storage]`: where slides are journalled and reported.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// The data folder (default `/var/lib/leukoscope`); journals go to `slides/` and
    /// reports to `reports/` under it. A relative path is taken from the folder holding
    /// `board.toml`.
    pub dir: PathBuf,
    /// A slide is not started with less free space than this on that disk, in MiB
    /// (default 256); 1 to 1048576.
    pub min_free_mb: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            dir: PathBuf::from("/var/lib/leukoscope"),
            min_free_mb: 256,
        }
    }
}

/// `[pins]`: how the board's controls are wired.
///
/// The chip, the three GPIO lines and the PWM channel have no default: a wrong line can
/// drive a pin wired to something else, so a `[pins]` section must name them all.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSettings {
    /// The GPIO character device holding the three lines (`/dev/gpiochipN`).
    pub gpio_chip: PathBuf,
    /// Line offset of the status LED on that chip.
    pub status_led_line: u32,
    /// Line offset of the buzzer.
    pub buzzer_line: u32,
    /// Line offset of the start/stop button.
    pub button_line: u32,
    /// True (the default) when the button pulls the line to ground when pressed.
    #[serde(default = "default_true")]
    pub button_active_low: bool,
    /// The sysfs PWM chip (`/sys/class/pwm/pwmchipN`) driving the illumination.
    pub pwm_chip: u32,
    /// The channel on that chip.
    pub pwm_channel: u32,
    /// PWM period in microseconds (default 50, 20 kHz); must be far shorter than the
    /// camera's exposure or the flicker shows as bands.
    #[serde(default = "default_pwm_period_us")]
    pub pwm_period_us: u64,
    /// Illumination brightness while scanning, 0 to 1 (default 0.8).
    #[serde(default = "default_illumination")]
    pub illumination: f32,
    /// How long the button must read the same before a press counts (default 30 ms).
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
    /// Length of one beep (default 120 ms).
    #[serde(default = "default_beep_ms")]
    pub beep_ms: u64,
}

fn default_true() -> bool {
    true
}

fn default_pwm_period_us() -> u64 {
    50
}

fn default_illumination() -> f32 {
    0.8
}

fn default_debounce_ms() -> u64 {
    30
}

fn default_beep_ms() -> u64 {
    120
}

/// Largest `board.toml` read: a real one is a few kilobytes.
pub const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// Why a `board.toml` was refused. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    // The system's reason is the source, not part of this message: `{:#}` prints the chain
    // on one line ("...: No such file or directory"), and would print it twice otherwise.
    #[error("cannot read the board settings {} (check the path given to --board)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why: missing, not a regular file, or larger than any settings file.
        #[source]
        source: ReadError,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and the text of that line.
        message: String,
    },
    /// A value is out of range or contradicts another.
    #[error("{}: `{key}` {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, as `section.key`.
        key: String,
        /// What is wrong and what it must be.
        problem: String,
    },
}

impl BoardSettings {
    /// Reads, parses and checks a `board.toml`; relative paths in it are taken from the
    /// folder that holds it.
    pub fn load(path: &Path) -> Result<BoardSettings, SettingsError> {
        let bytes =
            read_capped(path, MAX_SETTINGS_BYTES).map_err(|source| SettingsError::Read {
                path: path.to_owned(),
                source,
            })?;
        let text = String::from_utf8(bytes).map_err(|_| SettingsError::Parse {
            path: path.to_owned(),
            message: "not UTF-8 text".into(),
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse_named(&text, base_dir, path)
    }

    /// Parses and checks settings given as text, as [`BoardSettings::load`] does a file
    /// in `base_dir`; errors name `base_dir/board.toml`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<BoardSettings, SettingsError> {
        Self::parse_named(text, base_dir, &base_dir.join("board.toml"))
    }

    fn parse_named(
        text: &str,
        base_dir: &Path,
        path: &Path,
    ) -> Result<BoardSettings, SettingsError> {
        let mut settings: BoardSettings =
            toml::from_str(text).map_err(|e| SettingsError::Parse {
                path: path.to_owned(),
                message: one_line(text, &e),
            })?;
        // The text parsed as a typed struct above, so it parses as a plain table too; the
        // table tells which keys the file itself sets, which the struct (with its
        // defaults filled in) cannot.
        let table: toml::Table = text.parse().map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: one_line(text, &e),
        })?;
        settings.take_frame_scale(&table).map_err(|e| e.at(path))?;
        // `join` keeps an absolute path as it is.
        settings.model.path = base_dir.join(&settings.model.path);
        settings.model.subtype_path = settings.model.subtype_path.map(|p| base_dir.join(p));
        settings.storage.dir = base_dir.join(&settings.storage.dir);
        settings.ui.token_file = settings.ui.token_file.map(|f| base_dir.join(f));
        settings.validate().map_err(|e| e.at(path))?;
        Ok(settings)
    }

    /// Copies `camera.um_per_px` into detection and tracking, refusing a different value
    /// set there: two scales for one camera would measure cells with one and match them
    /// with the other. With `"auto"` they keep their default until a slide's red cells
    /// have been measured.
    fn take_frame_scale(&mut self, table: &toml::Table) -> Result<(), Problem> {
        let scale = self.camera.um_per_px.given();
        for (section, given) in [
            ("detect", self.detect.um_per_px),
            ("track", self.track.um_per_px),
        ] {
            let set_here = table
                .get(section)
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key("um_per_px"));
            if set_here && scale != Some(given) {
                let camera = scale.map_or_else(|| "\"auto\"".to_string(), |s| s.to_string());
                return Err(Problem::new(
                    format!("{section}.um_per_px"),
                    format!(
                        "is {given} but camera.um_per_px is {camera}; set the frame scale under [camera] only and remove it from [{section}]"
                    ),
                ));
            }
        }
        if let Some(scale) = scale {
            self.detect.um_per_px = scale;
            self.track.um_per_px = scale;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), Problem> {
        let c = &self.camera;
        check(
            "camera.width",
            c.width,
            (16..=8192).contains(&c.width),
            "between 16 and 8192",
        )?;
        check(
            "camera.height",
            c.height,
            (16..=8192).contains(&c.height),
            "between 16 and 8192",
        )?;
        if let Some(um) = c.um_per_px.given() {
            check(
                "camera.um_per_px",
                um,
                um.is_finite() && (0.01..=10.0).contains(&um),
                "\"auto\" or micrometres per pixel between 0.01 and 10",
            )?;
        }
        if let Some(fps) = c.fps {
            check(
                "camera.fps",
                fps,
                fps > 0,
                "at least 1, or left out to keep the driver's rate",
            )?;
        }
        check(
            "camera.timeout_ms",
            c.timeout_ms,
            c.timeout_ms > 0,
            "at least 1",
        )?;
        check(
            "camera.buffers",
            c.buffers,
            (1..=32).contains(&c.buffers),
            "between 1 and 32",
        )?;

        let r = &self.reconnect;
        check(
            "reconnect.first_retry_ms",
            r.first_retry_ms,
            r.first_retry_ms > 0,
            "at least 1",
        )?;
        check(
            "reconnect.max_retry_ms",
            r.max_retry_ms,
            r.max_retry_ms >= r.first_retry_ms,
            "at least reconnect.first_retry_ms",
        )?;
        if let Some(s) = r.give_up_after_s {
            check(
                "reconnect.give_up_after_s",
                s,
                s > 0,
                "at least 1, or left out to wait for as long as it takes",
            )?;
        }

        let m = &self.model;
        check(
            "model.path",
            m.path.display(),
            m.path.file_name().is_some(),
            "the path of a .lsm file",
        )?;
        if let Some(subtype) = &m.subtype_path {
            check(
                "model.subtype_path",
                subtype.display(),
                subtype.file_name().is_some(),
                "the path of a .lsm file, or left out",
            )?;
        }
        check(
            "model.batch",
            m.batch,
            (1..=256).contains(&m.batch),
            "between 1 and 256",
        )?;
        check(
            "model.threads",
            m.threads,
            m.threads <= 1024,
            "0 (every core) or a thread count up to 1024",
        )?;

        let s = &self.storage;
        check(
            "storage.min_free_mb",
            s.min_free_mb,
            (1..=MAX_FREE_MB).contains(&s.min_free_mb),
            "between 1 (so a slide is never started on a full disk) and 1048576 (1 TiB)",
        )?;

        self.validate_quality()?;
        self.validate_session()?;

        // The detector and tracker check their own settings; building them is cheap (no
        // frame buffers are allocated before the first frame).
        CellDetector::new(self.detect).map_err(detect_problem)?;
        CellTracker::new(self.track).map_err(track_problem)?;

        if let Some(p) = &self.pins {
            check(
                "pins.illumination",
                p.illumination,
                (0.0..=1.0).contains(&p.illumination),
                "between 0 and 1",
            )?;
            check(
                "pins.pwm_period_us",
                p.pwm_period_us,
                p.pwm_period_us > 0,
                "at least 1",
            )?;
            check(
                "pins.buzzer_line",
                p.buzzer_line,
                p.buzzer_line != p.status_led_line,
                "a different line from pins.status_led_line",
            )?;
            check(
                "pins.button_line",
                p.button_line,
                p.button_line != p.status_led_line && p.button_line != p.buzzer_line,
                "a different line from pins.status_led_line and pins.buzzer_line",
            )?;
        }
        self.validate_scope()
    }

    fn validate_scope(&self) -> Result<(), Problem> {
        let Some(s) = &self.scope else {
            return Ok(());
        };
        check("scope.baud", s.baud, s.baud > 0, "at least 1")?;
        check(
            "scope.lamp",
            s.lamp,
            (0.0..=1.0).contains(&s.lamp),
            "between 0 and 1",
        )?;
        check(
            "scope.focus_from_um",
            s.focus_from_um,
            s.focus_from_um.is_finite() && s.focus_from_um >= 0.0,
            "a height above the focus switch, in micrometres",
        )?;
        check(
            "scope.area_um",
            format!("{:?}", s.area_um),
            s.area_um.iter().all(|v| v.is_finite() && *v >= 0.0),
            "four positions from home, in micrometres",
        )?;
        let Some(um_per_px) = self.camera.um_per_px.given() else {
            return Err(Problem::new(
                "scope",
                "needs the frames' scale to lay fields side by side: set camera.um_per_px (measured with a stage micrometer) instead of \"auto\"",
            ));
        };
        s.plan((self.camera.width, self.camera.height), um_per_px)
            .map(drop)
            .map_err(|e| Problem::new("scope.area_um", e.to_string()))
    }

    fn validate_quality(&self) -> Result<(), Problem> {
        let q = &self.quality;
        let share =
            |key: &'static str, v: f32| check(key, v, (0.0..=1.0).contains(&v), "between 0 and 1");
        check(
            "quality.analysis_um_per_px",
            q.analysis_um_per_px,
            (0.1..=20.0).contains(&q.analysis_um_per_px),
            "between 0.1 and 20",
        )?;
        check(
            "quality.min_focus",
            q.min_focus,
            q.min_focus.is_finite() && q.min_focus >= 0.0,
            "at least 0",
        )?;
        share("quality.min_focus_ratio", q.min_focus_ratio)?;
        check(
            "quality.focus_reference_frames",
            q.focus_reference_frames,
            (1..=1000).contains(&q.focus_reference_frames),
            "between 1 and 1000",
        )?;
        check(
            "quality.min_structure",
            q.min_structure,
            q.min_structure.is_finite() && q.min_structure >= 0.0,
            "at least 0",
        )?;
        check(
            "quality.min_brightness",
            q.min_brightness,
            (0.0..=255.0).contains(&q.min_brightness),
            "between 0 and 255",
        )?;
        share("quality.max_clipped", q.max_clipped)?;
        share("quality.min_stained", q.min_stained)?;
        share("quality.stained_transmission", q.stained_transmission)?;
        share("quality.max_rejected_share", q.max_rejected_share)
    }

    fn validate_session(&self) -> Result<(), Problem> {
        let s = &self.session;
        check(
            "session.stop_after_cells",
            s.stop_after_cells,
            s.stop_after_cells >= 1,
            "at least 1",
        )?;
        check(
            "session.max_fields",
            s.max_fields,
            s.max_fields >= 1,
            "at least 1",
        )?;
        if let Some(t) = s.unidentified_below {
            check(
                "session.unidentified_below",
                t,
                (0.0..=1.0).contains(&t),
                "between 0 and 1, or left out to use the model's calibration",
            )?;
        }
        check(
            "session.refer_above_malignant_share",
            s.refer_above_malignant_share,
            (0.0..=1.0).contains(&s.refer_above_malignant_share),
            "between 0 and 1",
        )?;
        check(
            "session.review_by_hand_above_unidentified_share",
            s.review_by_hand_above_unidentified_share,
            (0.0..=1.0).contains(&s.review_by_hand_above_unidentified_share),
            "between 0 and 1",
        )?;
        check(
            "session.review_by_hand_above_unfamiliar_share",
            s.review_by_hand_above_unfamiliar_share,
            (0.0..=1.0).contains(&s.review_by_hand_above_unfamiliar_share),
            "between 0 and 1",
        )?;
        // A call resting on more cells than a slide ever counts could never be made.
        check(
            "session.min_cells_for_call",
            s.min_cells_for_call,
            s.min_cells_for_call >= 1 && s.min_cells_for_call <= s.stop_after_cells,
            &format!(
                "between 1 and session.stop_after_cells ({})",
                s.stop_after_cells
            ),
        )
    }

    /// How long to wait between attempts to reopen a lost camera: doubling from
    /// `reconnect.first_retry_ms` to `reconnect.max_retry_ms`, giving up after
    /// `reconnect.give_up_after_s` if set.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: Duration::from_millis(self.reconnect.first_retry_ms),
            factor: 2,
            max: Duration::from_millis(self.reconnect.max_retry_ms),
            patience: self.reconnect.give_up_after_s.map(Duration::from_secs),
        }
    }

    /// The models this board accepts: those signed by one of `model.trusted_keys`.
    ///
    /// With no key listed the policy accepts unsigned models too (a signature that is
    /// present must still verify): fine on a development bench, never in a clinic.
    pub fn trust_policy(&self) -> TrustPolicy {
        TrustPolicy::only(self.model.trusted_keys.clone())
    }

    /// The camera's settings for the V4L2 frame source.
    #[cfg(feature = "camera")]
    pub fn camera_config(&self) -> crate::io::source::CameraConfig {
        use crate::io::source::{CameraConfig, PixelFormat};
        let c = &self.camera;
        CameraConfig {
            device: c.device.clone(),
            width: c.width,
            height: c.height,
            format: match c.pixel_format {
                PixelFormatSetting::Mjpeg => PixelFormat::Mjpeg,
                PixelFormatSetting::Yuyv => PixelFormat::Yuyv,
            },
            fps: c.fps,
            buffers: c.buffers,
            timeout: Duration::from_millis(c.timeout_ms),
        }
    }

    /// The pins for the Linux board I/O; `None` when the file has no `[pins]`.
    #[cfg(feature = "linux-board")]
    pub fn linux_board_config(&self) -> Option<crate::io::board_io::linux::LinuxBoardConfig> {
        use crate::io::board_io::linux::LinuxBoardConfig;
        use crate::io::board_io::{BoardConfig, ButtonWiring};
        let p = self.pins.as_ref()?;
        Some(LinuxBoardConfig {
            gpio_chip: p.gpio_chip.clone(),
            status_led_line: p.status_led_line,
            buzzer_line: p.buzzer_line,
            button_line: p.button_line,
            pwm_chip: p.pwm_chip,
            pwm_channel: p.pwm_channel,
            pwm_period: Duration::from_micros(p.pwm_period_us),
            board: BoardConfig {
                button: if p.button_active_low {
                    ButtonWiring::ActiveLow
                } else {
                    ButtonWiring::ActiveHigh
                },
                debounce: Duration::from_millis(p.debounce_ms),
                beep: Duration::from_millis(p.beep_ms),
            },
        })
    }

    /// The board's data folder (`storage.dir`): journals, reports and cell pictures.
    pub fn data_dir(&self) -> DataDir {
        DataDir::new(&self.storage.dir)
    }
}

/// Largest `storage.min_free_mb` (1 TiB): far beyond any board's disk, and small enough
/// that the same amount in bytes fits a `u64`.
const MAX_FREE_MB: u64 = 1 << 20;

/// A refused value before the file's path is attached.
struct Problem {
    key: String,
    problem: String,
}

impl Problem {
    fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            problem: problem.into(),
        }
    }

    fn at(self, path: &Path) -> SettingsError {
        SettingsError::Invalid {
            path: path.to_owned(),
            key: self.key,
            problem: self.problem,
        }
    }
}

fn check(key: &str, value: impl Display, ok: bool, expected: &str) -> Result<(), Problem> {
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            key,
            format!("is {value}, but it must be {expected}"),
        ))
    }
}

fn detect_problem(e: DetectError) -> Problem {
    match e {
        DetectError::BadSetting {
            key,
            value,
            expected,
        } => Problem::new(
            format!("detect.{key}"),
            format!("is {value}, but it must be {expected}"),
        ),
        DetectError::Stains { reason } => Problem::new(
            "detect.nucleus_stain",
            format!(
                "cannot be told apart from detect.counterstain ({reason}); give two clearly different optical-density colours"
            ),
        ),
    }
}

fn track_problem(e: TrackError) -> Problem {
    match e {
        TrackError::BadSetting {
            key,
            value,
            expected,
        } => Problem::new(
            format!("track.{key}"),
            format!("is {value}, but it must be {expected}"),
        ),
    }
}

/// The TOML error in one line: where, what, and the text of the offending line, which
/// names the key even when the message alone (a bad value) does not.
fn one_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', "; ");
    let Some(start) = error.span().map(|s| s.start) else {
        return message;
    };
    let Some(before) = text.get(..start) else {
        return message;
    };
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = text[line_start..line_end].trim();
    if line.is_empty() {
        format!("line {line_no}: {message}")
    } else {
        format!("line {line_no}: {message} (in `{line}`)")
    }
}

/// `model.trusted_keys` from 64-hex-digit strings.
fn hex_keys<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PublicKey>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|t| {
            t.parse::<PublicKey>().map_err(|e| {
                serde::de::Error::custom(format!(
                    "model.trusted_keys: {e}; copy the release public key exactly as published"
                ))
            })
        })
        .collect()
}

mod scope;
#[cfg(test)]
mod tests;
