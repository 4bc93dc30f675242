//! Crop folders written to temporary folders: crops grouped by frame and by near-duplicate
//! frame, never chained by their own hashes, and the errors and summary lines of a
//! `crops.csv` that does not match its folder.

use std::path::{Path, PathBuf};

use leukoscope_core::synth::{self, FieldOptions};
use leukoscope_core::taxonomy::Taxonomy;

use crate::dataset::{Dataset, DatasetError, ScanOptions};

const CLASSES: [&str; 4] = ["Benign", "Early", "Pre", "Pro"];
const HEADER: &str = "crop,frame,label,centre_x,centre_y,nucleus_x,nucleus_y,nucleus_w,nucleus_h,nucleus_um2,um_per_px,window_px";

/// A small synthetic smear picture, different for every seed.
fn picture(seed: u64) -> image::RgbImage {
    let options = FieldOptions {
        size: 64,
        ..FieldOptions::default()
    };
    let field = synth::field((seed % 4) as u32, seed, &options).unwrap();
    image::RgbImage::from_raw(
        field.image.width(),
        field.image.height(),
        field.image.as_raw().to_vec(),
    )
    .unwrap()
}

/// The same picture after a re-exposure: a little brighter, a little noise.
fn nudged(image: &image::RgbImage, seed: u64) -> image::RgbImage {
    let mut out = image.clone();
    let mut state = seed;
    for value in out.iter_mut() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let noise = (state >> 61) as i16 - 3;
        *value = (i16::from(*value) + 3 + noise).clamp(0, 255) as u8;
    }
    out
}

fn save(path: &Path, image: &image::RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

/// One frame and the crops cut from it.
struct Frame {
    class: &'static str,
    name: &'static str,
    image: image::RgbImage,
    crops: Vec<image::RgbImage>,
}

/// Writes `frames` under `frames_dir/<class>/<name>.png`, their crops under
/// `root/<class>/<name>-<k>.png`, and `root/crops.csv` as `leukoscope-edge crops` does.
fn crop_folder(root: &Path, frames_dir: &Path, frames: &[Frame]) {
    let mut index = format!("{HEADER}\n");
    for frame in frames {
        let frame_path = frames_dir
            .join(frame.class)
            .join(format!("{}.png", frame.name));
        save(&frame_path, &frame.image);
        for (k, crop) in frame.crops.iter().enumerate() {
            let relative = format!("{}/{}-{k}.png", frame.class, frame.name);
            save(&root.join(&relative), crop);
            index.push_str(&format!(
                "{relative},{},{},10.0,10.0,5,5,8,8,12.5,0.40000,48\n",
                frame_path.display(),
                frame.class
            ));
        }
    }
    std::fs::write(root.join("crops.csv"), index).unwrap();
}

/// One frame per class, each with three crops of different-looking cells; seeds from `seed`.
fn one_frame_per_class(seed: u64) -> Vec<Frame> {
    CLASSES
        .iter()
        .enumerate()
        .map(|(c, class)| {
            let seed = seed + 100 * c as u64;
            Frame {
                class,
                name: ["f0", "f1", "f2", "f3"][c],
                image: picture(seed),
                crops: (1..=3).map(|k| picture(seed + k)).collect(),
            }
        })
        .collect()
}

fn open(root: &Path) -> Result<Dataset, DatasetError> {
    Dataset::open(root, &Taxonomy::b_all_4(), &ScanOptions::default())
}

/// The group of the sample whose file name is `name`.
fn group_of(dataset: &Dataset, name: &str) -> u32 {
    dataset
        .samples
        .iter()
        .find(|s| s.path.file_name().unwrap() == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
        .group
}

#[test]
fn crops_of_one_frame_always_share_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let (root, frames) = (dir.path().join("crops"), dir.path().join("frames"));
    crop_folder(&root, &frames, &one_frame_per_class(1));

    let dataset = open(&root).unwrap();
    assert_eq!(dataset.samples.len(), 12);
    assert_eq!(dataset.groups, 4, "{}", dataset.summary());
    for frame in ["f0", "f1", "f2", "f3"] {
        let group = group_of(&dataset, &format!("{frame}-0.png"));
        for k in 1..3 {
            assert_eq!(group_of(&dataset, &format!("{frame}-{k}.png")), group);
        }
    }
    let [crops] = &dataset.crop_groups[..] else {
        panic!("one crop folder: {:?}", dataset.crop_groups)
    };
    assert_eq!((crops.crops, crops.frames, crops.frame_groups), (12, 4, 4));
    assert_eq!(crops.frames_unread, 0);
    let summary = dataset.summary();
    assert!(
        summary.contains("12 crops cut from 4 frames") && summary.contains("4 groups of frames"),
        "{summary}"
    );

    // The crops' own hashes would have split the frames' crops apart.
    std::fs::remove_file(root.join("crops.csv")).unwrap();
    let by_hash = open(&root).unwrap();
    assert!(by_hash.groups > 4, "{}", by_hash.summary());
    assert!(by_hash.crop_groups.is_empty());
}

#[test]
fn crops_of_near_duplicate_frames_share_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let (root, frames) = (dir.path().join("crops"), dir.path().join("frames"));
    let mut list = one_frame_per_class(1);
    // The Pre field shot again, a little brighter, and cut into other-looking crops.
    let again = nudged(&list[2].image, 7);
    list.push(Frame {
        class: "Pre",
        name: "f2-again",
        image: again,
        crops: vec![picture(901), picture(902)],
    });
    crop_folder(&root, &frames, &list);

    let dataset = open(&root).unwrap();
    assert_eq!(dataset.groups, 4, "{}", dataset.summary());
    let group = group_of(&dataset, "f2-0.png");
    assert_eq!(group_of(&dataset, "f2-again-0.png"), group);
    assert_eq!(group_of(&dataset, "f2-again-1.png"), group);
    assert_ne!(group_of(&dataset, "f1-0.png"), group);
    assert_eq!(dataset.crop_groups[0].frames, 5);
    assert_eq!(dataset.crop_groups[0].frame_groups, 4);
}

#[test]
fn crops_of_different_frames_do_not_chain_however_alike_they_look() {
    let dir = tempfile::tempdir().unwrap();
    let (root, frames) = (dir.path().join("crops"), dir.path().join("frames"));
    // Eight different fields, two per class, each cut into one crop of the same-looking
    // cell (one picture, re-exposed).
    let cell = picture(500);
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let list: Vec<Frame> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Frame {
            class: CLASSES[i / 2],
            name,
            image: picture(10 * i as u64 + 3),
            crops: vec![nudged(&cell, i as u64)],
        })
        .collect();
    crop_folder(&root, &frames, &list);

    let dataset = open(&root).unwrap();
    assert_eq!(dataset.groups, 8, "{}", dataset.summary());

    // By their own hashes they would be one chain.
    std::fs::remove_file(root.join("crops.csv")).unwrap();
    assert_eq!(open(&root).unwrap().groups, 1);
}

#[test]
fn a_malformed_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (root, frames) = (dir.path().join("crops"), dir.path().join("frames"));
    crop_folder(&root, &frames, &one_frame_per_class(1));
    let index = root.join("crops.csv");
    let good = std::fs::read_to_string(&index).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();

    // Too few fields on line 3.
    let mut short = lines.clone();
    short[2] = "Benign/f0-1.png,/frames/f0.png".into();
    std::fs::write(&index, short.join("\n")).unwrap();
    let err = open(&root).unwrap_err();
    assert!(
        matches!(&err, DatasetError::CropIndex { line: Some(3), .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("crops.csv line 3"), "{err}");

    // An empty frame names the crop.
    let mut no_frame = lines.clone();
    no_frame[4] = "Early/f1-0.png,,Early,10.0,10.0,5,5,8,8,12.5,0.40000,48".into();
    std::fs::write(&index, no_frame.join("\n")).unwrap();
    let err = open(&root).unwrap_err().to_string();
    assert!(
        err.contains("line 5") && err.contains("crop Early/f1-0.png: the frame is empty"),
        "{err}"
    );

    // A crop outside the folder, a crop listed twice, a header without a frame column.
    lines[6] = lines[6].replacen("Early/", "../", 1);
    std::fs::write(&index, lines.join("\n")).unwrap();
    let err = open(&root).unwrap_err().to_string();
    assert!(
        err.contains("line 7") && err.contains("not a path inside the folder"),
        "{err}"
    );
    let mut twice: Vec<String> = good.lines().map(str::to_owned).collect();
    twice[3] = twice[2].clone();
    std::fs::write(&index, twice.join("\n")).unwrap();
    let err = open(&root).unwrap_err().to_string();
    assert!(
        err.contains("line 4") && err.contains("listed again"),
        "{err}"
    );
    std::fs::write(&index, "crop,label\nBenign/f0-0.png,Benign\n").unwrap();
    let err = open(&root).unwrap_err().to_string();
    assert!(
        err.contains("line 1") && err.contains("no frame column"),
        "{err}"
    );
}

#[test]
fn unlisted_images_are_an_error_and_rows_without_a_crop_a_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let (root, frames) = (dir.path().join("crops"), dir.path().join("frames"));
    crop_folder(&root, &frames, &one_frame_per_class(1));

    save(&root.join("Pro/stray.png"), &picture(77));
    let err = open(&root).unwrap_err();
    assert!(
        matches!(&err, DatasetError::CropNotListed { images: 1, first, .. } if first.ends_with("Pro/stray.png")),
        "{err:?}"
    );
    std::fs::remove_file(root.join("Pro/stray.png")).unwrap();

    std::fs::remove_file(root.join("Early/f1-2.png")).unwrap();
    let dataset = open(&root).unwrap();
    assert_eq!(dataset.samples.len(), 11);
    assert_eq!(dataset.crop_groups[0].rows_without_crop, 1);
    let summary = dataset.summary();
    assert!(
        summary.contains("1 rows of") && summary.contains("(first: Early/f1-2.png); left out"),
        "{summary}"
    );
}

#[test]
fn crops_whose_frames_are_gone_are_grouped_by_frame_path_and_the_summary_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (root, frames) = (dir.path().join("crops"), dir.path().join("frames"));
    crop_folder(&root, &frames, &one_frame_per_class(1));
    std::fs::remove_dir_all(&frames).unwrap();

    let dataset = open(&root).unwrap();
    assert_eq!(dataset.groups, 4, "{}", dataset.summary());
    assert_eq!(
        group_of(&dataset, "f3-0.png"),
        group_of(&dataset, "f3-2.png")
    );
    let crops = &dataset.crop_groups[0];
    assert_eq!((crops.frames_unread, crops.frame_groups), (4, 4));
    let first: &PathBuf = &crops.first_unread.as_ref().unwrap().0;
    assert!(first.ends_with("Benign/f0.png"), "{first:?}");
    let summary = dataset.summary();
    assert!(
        summary.contains("4 of 4 frames could not be read")
            && summary.contains("grouped by frame path only"),
        "{summary}"
    );
}

/// Two crop folders, `one` and `two`, cut from different frames under `root`.
fn two_crop_folders(root: &Path) -> (PathBuf, PathBuf) {
    let frames = root.join("frames");
    let (one, two) = (root.join("one"), root.join("two"));
    crop_folder(&one, &frames.join("one"), &one_frame_per_class(1));
    crop_folder(&two, &frames.join("two"), &one_frame_per_class(1000));
    (one, two)
}

/// The two folders of [`two_crop_folders`] opened as the sources `one` and `two`.
fn open_as_sources(one: &Path, two: &Path) -> Dataset {
    let sources: Vec<crate::dataset::Source> = [
        format!("one={}", one.display()),
        format!("two={}", two.display()),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    Dataset::open_sources(&sources, &Taxonomy::b_all_4(), &ScanOptions::default()).unwrap()
}

#[test]
fn crop_folders_among_sources_are_described_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = two_crop_folders(dir.path());
    let dataset = open_as_sources(&one, &two);
    assert_eq!(dataset.groups, 8);
    assert_eq!(dataset.crop_groups.len(), 2);
    assert_eq!(dataset.crop_groups[1].source, 1);
    let summary = dataset.summary();
    assert!(
        summary.contains("crops of one grouped by frame")
            && summary.contains("crops of two grouped by frame"),
        "{summary}"
    );
    // Every group lies in one source.
    for sample in &dataset.samples {
        assert_eq!(sample.group / 4, sample.source);
    }
}

#[test]
fn the_window_the_crops_were_cut_at_gives_one_scale_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = two_crop_folders(dir.path());
    let both = || open_as_sources(&one, &two);
    // 48 pixels at 0.4 um/px in both.
    let window = both().crop_window_um().unwrap().unwrap();
    assert!((window - 19.2).abs() < 1e-3, "{window}");

    // One folder cut wider: one model cannot match both.
    let index = two.join("crops.csv");
    let rows = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, rows.replace(",0.40000,48", ",0.40000,60")).unwrap();
    match both().crop_window_um() {
        Err(DatasetError::CropWindows {
            narrow_um, wide_um, ..
        }) => assert!((narrow_um - 19.2).abs() < 1e-3 && (wide_um - 24.0).abs() < 1e-3),
        other => panic!("{other:?}"),
    }

    // An index that does not say leaves the scale to the trainer's default.
    let header = HEADER.replace(",um_per_px,window_px", ",scale,side");
    std::fs::write(&index, rows.replacen(HEADER, &header, 1)).unwrap();
    assert_eq!(both().crop_window_um().unwrap(), None);

    // A window that is not a number is named with its crop and line.
    std::fs::write(&index, rows.replacen(",0.40000,48", ",0.40000,wide", 1)).unwrap();
    let err = Dataset::open(&two, &Taxonomy::b_all_4(), &ScanOptions::default()).unwrap_err();
    assert!(
        matches!(err, DatasetError::CropIndex { line: Some(2), .. })
            && err
                .to_string()
                .contains("\"wide\" is not a positive number"),
        "{err}"
    );
}
