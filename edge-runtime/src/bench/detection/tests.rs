use super::*;
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/opencv_detect_peer.py")
}

/// Small synthetic frames (480x320) that each hold at least one whole white cell,
/// with that many cells.
fn frames_with_cells(count: usize) -> Vec<(RgbImage, usize)> {
    let options = SlideOptions {
        world_width: 1440,
        world_height: 960,
        frame_width: 480,
        frame_height: 320,
        white_cells_per_frame: 4.0,
        ..SlideOptions::default()
    };
    let slide = SyntheticSlide::new(7, options).expect("valid slide options");
    (0..slide.frame_count())
        .map(|i| slide.frame(i).expect("frame in range"))
        .map(|f| {
            let whole = f.cells.iter().filter(|c| c.fully_visible).count();
            (f.image, whole)
        })
        .filter(|(_, whole)| *whole > 0)
        .take(count)
        .collect()
}

#[test]
fn frames_survive_the_png_round_trip() {
    let mut frames: Vec<RgbImage> = frames_with_cells(2).into_iter().map(|f| f.0).collect();
    // An odd size, so a row-length mistake cannot hide.
    let mut odd = RgbImage::filled(7, 5, [1, 2, 3]);
    odd.put(6, 4, [250, 0, 128]);
    frames.push(odd);
    let dir = FrameDir::new().expect("temporary folder");
    let paths = write_frames(&frames, &dir.0).expect("frames written");
    assert_eq!(paths.len(), frames.len());
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(sorted, paths, "file names must sort in frame order");
    for (frame, path) in frames.iter().zip(&paths) {
        let back = leukoscope_core::files::load_rgb(path).expect("frame reads back");
        assert_eq!(&back, frame, "{}", path.display());
    }
    let kept = dir.0.clone();
    drop(dir);
    assert!(!kept.exists(), "the frame folder is removed");
}

#[test]
fn peer_output_is_parsed_and_checked() {
    let stdout = "warming up\n{\"per_frame_ms\": [4.0, 2.0, 3.0, 1.0], \"cells\": [5, 0], \
                  \"opencv\": \"4.10.0\", \"threads\": 1, \"frames\": 2, \"iters\": 2}\n";
    let peer = parse_peer_output(stdout, 2).expect("valid output");
    assert_eq!(peer.opencv, "4.10.0");
    assert_eq!(peer.threads, 1);
    assert_eq!(peer.cells, vec![5, 0]);
    // Sorted 1, 2, 3, 4: index round(3 * 0.5) = 2, round(3 * 0.99) = 3.
    assert!((peer.p50_ms - 3.0).abs() < 1e-9, "{}", peer.p50_ms);
    assert!((peer.p99_ms - 4.0).abs() < 1e-9, "{}", peer.p99_ms);

    let malformed = [
        ("", 2),
        ("Traceback (most recent call last):", 2),
        ("{\"per_frame_ms\": [1.0, 2.0], \"cells\": [1, 2]", 2),
        // Counts for the wrong number of frames.
        (
            "{\"per_frame_ms\": [1.0], \"cells\": [1], \"opencv\": \"4\", \"threads\": 1}",
            2,
        ),
        // Three times for two frames is no whole pass.
        (
            "{\"per_frame_ms\": [1.0, 2.0, 3.0], \"cells\": [1, 2], \"opencv\": \"4\", \"threads\": 1}",
            2,
        ),
        (
            "{\"per_frame_ms\": [-1.0, 2.0], \"cells\": [1, 2], \"opencv\": \"4\", \"threads\": 1}",
            2,
        ),
        (
            "{\"per_frame_ms\": [1.0, 2.0], \"cells\": [1, -2], \"opencv\": \"4\", \"threads\": 1}",
            2,
        ),
    ];
    for (stdout, frames) in malformed {
        let err = parse_peer_output(stdout, frames).expect_err(stdout);
        assert!(
            matches!(err, DetectionBenchError::PeerOutput { .. }),
            "{stdout}: {err}"
        );
    }
}

#[test]
fn without_python_ours_is_measured_and_the_peer_is_missing() {
    let frames: Vec<RgbImage> = frames_with_cells(2).into_iter().map(|f| f.0).collect();
    let bench = compare_detection(
        &frames,
        &DetectorConfig::default(),
        "/nonexistent/python",
        &peer_script(),
        2,
    )
    .expect("ours runs without the peer");
    assert_eq!(bench.frames, 2);
    assert!(bench.ours_p50_ms > 0.0 && bench.ours_p50_ms.is_finite());
    assert!(bench.ours_p99_ms >= bench.ours_p50_ms);
    assert_eq!(bench.ours_cells.len(), 2);
    assert!(bench.peer.is_none() && bench.ratio().is_none());
    let why = bench.peer_missing.as_deref().expect("a reason");
    assert!(why.contains("/nonexistent/python"), "{why}");
    assert!(bench.table().contains("not measured"), "{}", bench.table());

    assert!(matches!(
        compare_detection(
            &[],
            &DetectorConfig::default(),
            "python3",
            &peer_script(),
            1
        ),
        Err(DetectionBenchError::NoFrames)
    ));
    assert!(matches!(
        compare_detection(
            &frames,
            &DetectorConfig::default(),
            "python3",
            &peer_script(),
            0
        ),
        Err(DetectionBenchError::NoIterations)
    ));
}

#[test]
fn opencv_finds_the_cells_we_find() {
    let has_cv2 = Command::new("python3")
        .args(["-c", "import cv2, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cv2 {
        eprintln!(
            "SKIPPED opencv_finds_the_cells_we_find: python3 cannot import cv2 \
             (pip install opencv-python-headless numpy)"
        );
        return;
    }
    let frames = frames_with_cells(3);
    assert_eq!(frames.len(), 3, "the slide has too few frames with cells");
    let images: Vec<RgbImage> = frames.iter().map(|f| f.0.clone()).collect();
    let bench = compare_detection(
        &images,
        &DetectorConfig::default(),
        "python3",
        &peer_script(),
        1,
    )
    .expect("both run");
    let peer = bench.peer.as_ref().unwrap_or_else(|| {
        panic!("peer missing: {:?}", bench.peer_missing);
    });
    eprintln!("{}", bench.table());
    for (i, (_, whole)) in frames.iter().enumerate() {
        assert!(
            bench.ours_cells[i] > 0,
            "frame {i} has {whole} cells: {bench:?}"
        );
        assert!(peer.cells[i] > 0, "frame {i} has {whole} cells: {bench:?}");
    }
    assert!(bench.cells_mean_abs_diff().is_some());
}
