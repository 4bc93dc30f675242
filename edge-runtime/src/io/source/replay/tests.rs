use std::time::Duration;

use super::super::ErrorKind;
use super::super::clock::fake::FakeClock;
use super::*;

#[test]
fn natural_order_reads_numbers_as_numbers() {
    let mut names = vec![
        "frame10.png",
        "frame2.png",
        "frame1.png",
        "frame02.png",
        "a.png",
        "frame.png",
        "frame99999999999999999999999.png",
        "frame100.png",
        "frame2b.png",
    ];
    names.sort_by(|a, b| natural_order(a, b));
    assert_eq!(
        names,
        [
            "a.png",
            "frame.png",
            "frame1.png",
            "frame2.png",
            "frame02.png",
            "frame2b.png",
            "frame10.png",
            "frame100.png",
            "frame99999999999999999999999.png",
        ]
    );
    assert_eq!(natural_order("x1", "x1"), Ordering::Equal);
    assert_eq!(natural_order("x", "x1"), Ordering::Less);
}

fn save(dir: &Path, name: &str, shade: u8) {
    image::RgbImage::from_pixel(4, 2, image::Rgb([shade, shade, shade]))
        .save(dir.join(name))
        .unwrap();
}

#[test]
fn plays_in_name_order_skipping_bad_files_at_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), "f10.png", 10);
    save(dir.path(), "f2.png", 2);
    save(dir.path(), "f1.jpg", 1);
    std::fs::write(dir.path().join("f3.png"), b"not a picture").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"slide 7").unwrap();
    save(dir.path(), ".hidden.png", 0);
    std::fs::create_dir(dir.path().join("f4.png")).unwrap();

    let clock = FakeClock::new();
    let rate = Rate::per_second(10.0).unwrap();
    let mut replay = ReplaySource::with_clock(dir.path(), rate, &clock).unwrap();
    assert_eq!(replay.ignored(), 2);
    assert!(replay.describe().contains("4 frames, at 10.0 frames/s"));

    let mut played = Vec::new();
    let mut skipped = Vec::new();
    loop {
        match replay.next_frame() {
            Ok(Some(frame)) => played.push((frame.index, frame.origin)),
            Ok(None) => break,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Skip);
                assert!(e.to_string().contains("f3.png"), "{e}");
                skipped.push(e);
            }
        }
    }
    assert_eq!(
        played,
        [
            (0, "f1.jpg".to_owned()),
            (1, "f2.png".to_owned()),
            (3, "f10.png".to_owned())
        ]
    );
    assert_eq!((skipped.len(), replay.skipped()), (1, 1));
    // Four files at 10 per second: the first at once, then three waits of 100 ms.
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(100); 3]);
    assert!(replay.next_frame().unwrap().is_none());
}

#[test]
fn a_missing_folder_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let err = ReplaySource::open(&dir.path().join("gone"), Rate::Unlimited).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
    assert!(err.to_string().contains("gone"));
}
