use super::*;

fn parse(text: &str) -> Result<BoardSettings, SettingsError> {
    BoardSettings::parse(text, Path::new("/etc/leukoscope"))
}

fn refused(text: &str) -> String {
    match parse(text) {
        Ok(s) => panic!("accepted {text:?} as {s:?}"),
        Err(e) => e.to_string(),
    }
}

const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

#[test]
fn an_empty_file_takes_every_default() {
    let s = parse("").unwrap();
    assert_eq!(s.camera, CameraSettings::default());
    assert_eq!(s.model, ModelSettings::default());
    assert_eq!(s.storage, StorageSettings::default());
    assert_eq!(s.quality, QualityThresholds::default());
    assert_eq!(s.session, SessionRules::default());
    assert_eq!(s.pins, None);
    assert_eq!(s.backoff(), Backoff::default());
    assert!(s.trust_policy().trusted_keys.is_empty());
    assert_eq!(s.data_dir().root(), Path::new("/var/lib/leukoscope"));
    assert_eq!(
        s.data_dir().journals(),
        Path::new("/var/lib/leukoscope/slides")
    );
    assert_eq!(s.ui, UiSettings::default());
    assert!(s.ui.listen.ip().is_loopback());
}

#[test]
fn the_ui_listens_where_told_with_its_token_file_beside_the_settings() {
    let s = BoardSettings::parse(
        "[ui]\nlisten = \"0.0.0.0:8443\"\ntoken_file = \"ui-token\"\n",
        Path::new("/etc/leukoscope"),
    )
    .unwrap();
    assert_eq!(s.ui.listen.port(), 8443);
    assert_eq!(
        s.ui.token_file.as_deref(),
        Some(Path::new("/etc/leukoscope/ui-token"))
    );
    assert!(parse("[ui]\nlisten = \"localhost\"\n").is_err());
}

#[test]
fn a_minimal_file_gets_defaults_for_the_rest() {
    let s = parse(
        "[camera]\ndevice = \"/dev/v4l/by-id/usb-scope-video-index0\"\num_per_px = 0.35\n\
         [pins]\ngpio_chip = \"/dev/gpiochip0\"\nstatus_led_line = 105\n\
         buzzer_line = 106\nbutton_line = 144\npwm_chip = 0\npwm_channel = 0\n",
    )
    .unwrap();
    assert_eq!(
        s.camera.device,
        Path::new("/dev/v4l/by-id/usb-scope-video-index0")
    );
    assert_eq!(s.camera.width, 1920);
    assert_eq!(s.camera.pixel_format, PixelFormatSetting::Mjpeg);
    let pins = s.pins.unwrap();
    assert_eq!(pins.illumination, 0.8);
    assert_eq!(pins.pwm_period_us, 50);
    assert!(pins.button_active_low);
    assert_eq!((pins.debounce_ms, pins.beep_ms), (30, 120));
}

#[test]
fn the_camera_scale_reaches_detection_and_tracking() {
    let s = parse("[camera]\num_per_px = 0.25\n").unwrap();
    assert_eq!(s.detect.um_per_px, 0.25);
    assert_eq!(s.track.um_per_px, 0.25);
    // The same value repeated under [detect] is harmless.
    let s = parse("[camera]\num_per_px = 0.25\n[detect]\num_per_px = 0.25\n").unwrap();
    assert_eq!(s.detect.um_per_px, 0.25);
}

#[test]
fn a_second_frame_scale_is_refused() {
    let m = refused("[camera]\num_per_px = 0.5\n[detect]\num_per_px = 0.42\n");
    assert!(m.contains("`detect.um_per_px`"), "{m}");
    assert!(m.contains("[camera] only"), "{m}");
    let m = refused("[track]\num_per_px = 0.3\n");
    assert!(m.contains("`track.um_per_px`"), "{m}");
}

#[test]
fn unknown_keys_are_refused_by_name_and_line() {
    let m = refused("[camera]\nwidth = 1280\nexposure_us = 900\n");
    assert!(m.contains("exposure_us"), "{m}");
    assert!(m.contains("line 3"), "{m}");
    assert!(m.starts_with("/etc/leukoscope/board.toml: "), "{m}");
    assert!(!m.contains('\n'), "{m}");
    let m = refused("[camra]\nwidth = 1280\n");
    assert!(m.contains("camra"), "{m}");
    let m = refused(
        "[pins]\ngpio_chip = \"/dev/gpiochip0\"\nstatus_led_line = 1\nbuzzer_line = 2\nbutton_line = 3\npwm_chip = 0\npwm_channel = 0\nled_line = 4\n",
    );
    assert!(m.contains("led_line"), "{m}");
}

#[test]
fn values_out_of_range_are_refused_by_key() {
    let pins = "[pins]\ngpio_chip = \"/dev/gpiochip0\"\nstatus_led_line = 1\nbuzzer_line = 2\nbutton_line = 3\npwm_chip = 0\npwm_channel = 0\n";
    let m = refused(&format!("{pins}illumination = 1.5\n"));
    assert!(m.contains("`pins.illumination` is 1.5"), "{m}");
    let m = refused(&format!("{pins}pwm_period_us = 0\n"));
    assert!(m.contains("`pins.pwm_period_us`"), "{m}");
    let m = refused(&pins.replace("button_line = 3", "button_line = 1"));
    assert!(m.contains("`pins.button_line`"), "{m}");
    let m = refused("[model]\nbatch = 0\n");
    assert!(m.contains("`model.batch` is 0"), "{m}");
    let m = refused("[camera]\nwidth = 8\n");
    assert!(m.contains("`camera.width`"), "{m}");
    let m = refused("[camera]\num_per_px = -0.4\n");
    assert!(m.contains("`camera.um_per_px`"), "{m}");
    let m = refused("[camera]\num_per_px = 1e30\n");
    assert!(
        m.contains("`camera.um_per_px`") && m.contains("between 0.01 and 10"),
        "{m}"
    );
    let m = refused("[camera]\num_per_px = \"wide\"\n");
    assert!(m.contains("neither `auto`"), "{m}");
    let m = refused("[storage]\nmin_free_mb = 0\n");
    assert!(m.contains("`storage.min_free_mb`"), "{m}");
    let m = refused("[session]\nstop_after_cells = 50\n");
    assert!(m.contains("`session.min_cells_for_call`"), "{m}");
    assert!(m.contains("stop_after_cells (50)"), "{m}");
    let m = refused("[session]\nreview_by_hand_above_unfamiliar_share = 1.5\n");
    assert!(
        m.contains("`session.review_by_hand_above_unfamiliar_share` is 1.5"),
        "{m}"
    );
    let m = refused("[reconnect]\nfirst_retry_ms = 500\nmax_retry_ms = 100\n");
    assert!(m.contains("`reconnect.max_retry_ms`"), "{m}");
    assert!(!m.contains('\n'), "{m}");
}

#[test]
fn detector_and_tracker_settings_are_checked_by_their_own_rules() {
    let m = refused("[detect]\nmin_solidity = 2.0\n");
    assert!(m.contains("`detect.min_solidity` is 2"), "{m}");
    let m = refused("[detect]\nnucleus_stain = [0.72, 0.66, 0.20]\n");
    assert!(m.contains("`detect.nucleus_stain`"), "{m}");
    let m = refused("[track]\nmin_overlap = 1.5\n");
    assert!(m.contains("`track.min_overlap` is 1.5"), "{m}");
    // Micrometres far beyond a cell are a wrong unit, not a setting.
    let m = refused("[track]\nmatch_radius_um = 1e30\n");
    assert!(m.contains("`track.match_radius_um`"), "{m}");
    let m = refused("[track]\nborder_margin_um = 5000\n");
    assert!(m.contains("`track.border_margin_um`"), "{m}");
}

#[test]
fn a_settings_file_that_is_not_a_regular_file_is_named_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("board.toml");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
        let e = BoardSettings::load(path).expect_err("not a settings file");
        let message = format!("{:#}", anyhow::Error::from(e));
        assert!(message.contains("not a regular file"), "{message}");
    }
}

#[test]
fn a_pins_section_must_name_its_lines() {
    let m = refused("[pins]\ngpio_chip = \"/dev/gpiochip0\"\n");
    assert!(m.contains("status_led_line"), "{m}");
}

#[test]
fn trusted_keys_are_hex_and_make_the_policy() {
    let s = parse(&format!("[model]\ntrusted_keys = [\"{KEY}\"]\n")).unwrap();
    let key: PublicKey = KEY.parse().unwrap();
    assert_eq!(s.trust_policy(), TrustPolicy::only(vec![key]));
    let m = refused("[model]\ntrusted_keys = [\"not-a-key\"]\n");
    assert!(m.contains("model.trusted_keys"), "{m}");
    assert!(m.contains("not-a-key"), "{m}");
    assert!(m.contains("line 2"), "{m}");
    assert!(!m.contains('\n'), "{m}");
    // One digit short.
    let m = refused(&format!("[model]\ntrusted_keys = [\"{}\"]\n", &KEY[1..]));
    assert!(m.contains("model.trusted_keys"), "{m}");
}

#[test]
fn wrong_types_and_enum_values_are_refused() {
    let m = refused("[model]\ndevice = \"tpu\"\n");
    assert!(m.contains("tpu"), "{m}");
    assert!(m.contains("device"), "{m}");
    let m = refused("[camera]\npixel_format = \"MJPG\"\n");
    assert!(m.contains("pixel_format"), "{m}");
    let m = refused("[camera]\nwidth = \"1920\"\n");
    assert!(m.contains("width"), "{m}");
    let m = refused("[camera\n");
    assert!(m.contains("line 1"), "{m}");
}

#[test]
fn relative_paths_are_taken_from_the_files_folder() {
    let s = BoardSettings::parse(
        "[model]\npath = \"models/m.lsm\"\n[storage]\ndir = \"data\"\n",
        Path::new("/srv/bench"),
    )
    .unwrap();
    assert_eq!(s.model.path, Path::new("/srv/bench/models/m.lsm"));
    assert_eq!(s.storage.dir, Path::new("/srv/bench/data"));
    assert_eq!(s.data_dir().journals(), Path::new("/srv/bench/data/slides"));
    // Absolute paths stay as they are.
    let s = BoardSettings::parse("[storage]\ndir = \"/data\"\n", Path::new("/srv/bench")).unwrap();
    assert_eq!(s.storage.dir, Path::new("/data"));
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("board.toml");
    std::fs::write(&path, "[model]\npath = \"m.lsm\"\n").unwrap();
    let s = BoardSettings::load(&path).unwrap();
    assert_eq!(s.model.path, dir.path().join("m.lsm"));

    std::fs::write(&path, "[model]\nbatch = 300\n").unwrap();
    let m = BoardSettings::load(&path).unwrap_err().to_string();
    assert!(m.contains(&path.display().to_string()), "{m}");
    assert!(m.contains("`model.batch`"), "{m}");

    let missing = dir.path().join("nope.toml");
    let e = BoardSettings::load(&missing).unwrap_err();
    assert!(matches!(e, SettingsError::Read { .. }), "{e:?}");
    assert!(e.to_string().contains("nope.toml"), "{e}");
    // The system's reason comes once, as the source.
    let chain = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(chain.matches("No such file").count(), 1, "{chain}");
}

#[test]
fn reconnect_settings_make_the_backoff() {
    let s = parse("[reconnect]\nfirst_retry_ms = 100\nmax_retry_ms = 1000\ngive_up_after_s = 60\n")
        .unwrap();
    let b = s.backoff();
    assert_eq!(b.initial, Duration::from_millis(100));
    assert_eq!(b.factor, 2);
    assert_eq!(b.max, Duration::from_secs(1));
    assert_eq!(b.patience, Some(Duration::from_secs(60)));
    assert_eq!(b.delay(3), Duration::from_millis(400));
}

/// The boards described under `boards/`, each as (folder name, settings).
fn shipped_boards() -> Vec<(String, BoardSettings)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
    let mut boards = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let file = dir.join("board.toml");
        if file.is_file() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let settings = BoardSettings::load(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
            boards.push((name, settings));
        }
    }
    boards.sort_by(|a, b| a.0.cmp(&b.0));
    boards
}

#[test]
fn every_shipped_board_loads() {
    let boards = shipped_boards();
    let names: Vec<&str> = boards.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["jetson-nano", "jetson-orin-nano", "raspberry-pi-5"] {
        assert!(
            names.contains(&expected),
            "no boards/{expected}/board.toml in {names:?}"
        );
    }
    for (name, s) in &boards {
        // Shipped boards install their model and data where deploy.sh puts them.
        assert!(
            s.model.path.starts_with("/opt/leukoscope/models"),
            "{name}: {:?}",
            s.model.path
        );
        assert_eq!(s.storage.dir, Path::new("/var/lib/leukoscope"), "{name}");
        assert!(s.pins.is_some(), "{name} has no [pins]");
        assert_eq!(s.board.name, *name, "{name}: [board] name");
    }
    // The shipped model is int8-only, which the GPU path (float) refuses.
    for (name, s) in &boards {
        assert_eq!(s.model.device, ClassifyDevice::Cpu, "{name}");
    }
}

#[cfg(feature = "linux-board")]
#[test]
fn pins_become_the_linux_board_config() {
    use crate::io::board_io::ButtonWiring;
    let s = parse(
        "[pins]\ngpio_chip = \"/dev/gpiochip4\"\nstatus_led_line = 17\nbuzzer_line = 27\n\
         button_line = 22\nbutton_active_low = false\npwm_chip = 2\npwm_channel = 1\n\
         pwm_period_us = 40\ndebounce_ms = 20\nbeep_ms = 90\n",
    )
    .unwrap();
    let c = s.linux_board_config().unwrap();
    assert_eq!(c.gpio_chip, Path::new("/dev/gpiochip4"));
    assert_eq!(
        (c.status_led_line, c.buzzer_line, c.button_line),
        (17, 27, 22)
    );
    assert_eq!((c.pwm_chip, c.pwm_channel), (2, 1));
    assert_eq!(c.pwm_period, Duration::from_micros(40));
    assert_eq!(c.board.button, ButtonWiring::ActiveHigh);
    assert_eq!(c.board.debounce, Duration::from_millis(20));
    assert_eq!(c.board.beep, Duration::from_millis(90));
    assert!(parse("").unwrap().linux_board_config().is_none());
}

#[cfg(feature = "camera")]
#[test]
fn camera_settings_become_the_camera_config() {
    use crate::io::source::PixelFormat;
    let s = parse("[camera]\nwidth = 1280\nheight = 720\npixel_format = \"yuyv\"\nfps = 15\ntimeout_ms = 500\nbuffers = 6\n")
        .unwrap();
    let c = s.camera_config();
    assert_eq!(
        (c.width, c.height, c.fps, c.buffers),
        (1280, 720, Some(15), 6)
    );
    assert_eq!(c.format, PixelFormat::Yuyv);
    assert_eq!(c.timeout, Duration::from_millis(500));
}

#[test]
fn the_frame_scale_may_be_measured_from_the_red_cells() {
    let s = BoardSettings::parse(
        "[camera]\num_per_px = \"auto\"\n",
        Path::new("/etc/leukoscope"),
    )
    .expect("auto is a scale");
    assert_eq!(s.camera.um_per_px, ScaleSetting::Auto);
    // Detection and tracking keep their defaults until a slide is measured.
    assert_eq!(s.detect.um_per_px, DetectorConfig::default().um_per_px);
    let s = BoardSettings::parse("[camera]\num_per_px = 0.1\n", Path::new("/etc/leukoscope"))
        .expect("a number is a scale");
    assert_eq!(s.camera.um_per_px, ScaleSetting::Given(0.1));
    assert_eq!((s.detect.um_per_px, s.track.um_per_px), (0.1, 0.1));
    // A board file that says nothing of the scale measures it.
    let s = BoardSettings::parse("[board]\nname = \"x\"\n", Path::new("/etc/leukoscope"))
        .expect("no scale is auto");
    assert_eq!(s.camera.um_per_px, ScaleSetting::Auto);
    // A scale under [track] with the camera on auto is a second scale.
    let m = refused("[track]\num_per_px = 0.3\n");
    assert!(m.contains("camera.um_per_px is \"auto\""), "{m}");
}

const SCOPE: &str = "[camera]\nwidth = 640\nheight = 480\num_per_px = 0.42\n[scope]\ndevice = \"/dev/leukoscope-scope\"\narea_um = [0, 0, 698.88, 524.16]\nfocus_from_um = 1825\n";

#[test]
fn a_scope_section_gives_the_serpentine_of_fields_and_its_defaults() {
    let board = parse(SCOPE).expect("valid");
    assert_eq!(parse("").expect("valid").scope, None);
    let scope = board.scope.expect("a scope");
    assert_eq!(scope.device, Path::new("/dev/leukoscope-scope"));
    assert_eq!((scope.baud, scope.overlap, scope.lamp), (115_200, 0.2, 0.8));
    assert_eq!(scope.focus_from_nm(), 1_825_000);
    assert_eq!(scope.lamp_permille(), 800);
    // A 640 x 480 frame at 0.42 um/px is 268.8 x 201.6 um: the area takes 3 x 3 fields.
    let plan = scope.plan((640, 480), 0.42).expect("a plan");
    assert_eq!(plan.len(), 9);
    assert_eq!(plan[0], (134_400, 100_800));
    // Serpentine: the second row runs back.
    assert!(plan[3].0 > plan[5].0 && plan[3].1 > plan[2].1);
}

#[test]
fn a_scope_is_refused_without_a_measured_scale_or_with_a_bad_area() {
    let m = refused(&SCOPE.replace("um_per_px = 0.42", "um_per_px = \"auto\""));
    assert!(
        m.contains("`scope`") && m.contains("camera.um_per_px"),
        "{m}"
    );
    let m = refused(&SCOPE.replace("[0, 0, 698.88, 524.16]", "[700, 0, 0, 524]"));
    assert!(
        m.contains("`scope.area_um`") && m.contains("swapped"),
        "{m}"
    );
    let m = refused(&SCOPE.replace("[0, 0, 698.88, 524.16]", "[-5, 0, 0, 524]"));
    assert!(m.contains("`scope.area_um`"), "{m}");
    let m = refused(&format!("{SCOPE}overlap = 0.95\n"));
    assert!(
        m.contains("`scope.area_um`") && m.contains("overlap"),
        "{m}"
    );
    let m = refused(&format!("{SCOPE}lamp = 2\n"));
    assert!(m.contains("`scope.lamp` is 2"), "{m}");
    let m = refused(&SCOPE.replace("device = \"/dev/leukoscope-scope\"\n", ""));
    assert!(m.contains("device"), "{m}");
}

#[test]
fn every_shipped_boards_commented_scope_section_is_valid_once_uncommented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
    for (name, _) in shipped_boards() {
        let text = std::fs::read_to_string(root.join(&name).join("board.toml")).expect("read");
        let start = text
            .find("# [scope]")
            .unwrap_or_else(|| panic!("{name}: no [scope]"));
        let scope: String = text[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let board = parse(&format!("[camera]\num_per_px = 0.42\n{scope}"))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{scope}"));
        let scope = board.scope.expect("a scope");
        assert_eq!(scope.device, Path::new("/dev/leukoscope-scope"), "{name}");
        assert!(
            scope.plan((1920, 1080), 0.42).expect("a plan").len() > 100,
            "{name}"
        );
    }
}
