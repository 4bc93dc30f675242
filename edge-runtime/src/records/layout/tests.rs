use std::fs;
use std::time::{Duration, SystemTime};

use super::*;

#[test]
fn every_slide_file_has_one_place() {
    let data = DataDir::new("/var/lib/leukoscope");
    assert_eq!(
        data.journal("S-1"),
        Path::new("/var/lib/leukoscope/slides/S-1.journal")
    );
    assert_eq!(
        data.review_journal("S-1"),
        Path::new("/var/lib/leukoscope/slides/S-1.review")
    );
    assert_eq!(
        data.report("S-1"),
        Path::new("/var/lib/leukoscope/reports/S-1")
    );
    assert_eq!(
        data.cell_images("S-1").path(7),
        Path::new("/var/lib/leukoscope/cells/S-1/cell-0007.jpg")
    );
}

#[test]
fn slide_ids_cannot_leave_the_data_folder() {
    for good in ["S-0042", "a", "slide_1.b", &"x".repeat(64)] {
        assert!(is_slide_id(good), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        ".hidden",
        "../etc",
        "a/b",
        "a\\b",
        "S 1",
        "é",
        &"x".repeat(65),
    ] {
        assert!(!is_slide_id(bad), "{bad}");
    }
}

#[test]
fn slide_journals_are_listed_newest_first_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    assert_eq!(
        data.slide_journals().unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    fs::create_dir_all(data.journals()).unwrap();
    let now = SystemTime::now();
    for (slide, age) in [("old", 30), ("new", 0), ("mid", 10)] {
        let file = fs::File::create(data.journal(slide)).unwrap();
        file.set_modified(now - Duration::from_secs(age)).unwrap();
    }
    fs::write(data.review_journal("new"), b"").unwrap();
    fs::write(data.journals().join("notes.txt"), b"").unwrap();
    let slides: Vec<_> = data
        .slide_journals()
        .unwrap()
        .into_iter()
        .map(|f| f.slide)
        .collect();
    assert_eq!(slides, ["new", "mid", "old"]);
}
