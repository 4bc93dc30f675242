//! The readers, the checks and the splits on small datasets written to temporary folders.

use std::collections::HashSet;
use std::path::Path;

use leukoscope_core::synth::{self, FieldOptions};
use leukoscope_core::taxonomy::Taxonomy;

use super::*;

/// A synthetic smear field of `class`, small enough to keep the tests quick.
fn field(class: u32, seed: u64) -> image::RgbImage {
    let options = FieldOptions {
        size: 64,
        ..FieldOptions::default()
    };
    let field = synth::field(class, seed, &options).unwrap();
    image::RgbImage::from_raw(
        field.image.width(),
        field.image.height(),
        field.image.as_raw().to_vec(),
    )
    .unwrap()
}

/// The same field after a re-exposure: a little brighter, a little noise.
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

/// Saves `image` at `root/relative` in the format its extension names.
fn save(root: &Path, relative: &str, image: &image::RgbImage) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(&path).unwrap();
}

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn open(root: &Path, taxonomy: &Taxonomy) -> Result<Dataset, DatasetError> {
    Dataset::open(root, taxonomy, &ScanOptions::default())
}

fn file_names(dataset: &Dataset) -> Vec<String> {
    dataset
        .samples
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// One image in each b-all-4 class folder, seeds `seed..seed + 4`.
fn four_classes(root: &Path, seed: u64, extension: &str) {
    for (class, folder) in ["Benign", "Early", "Pre", "Pro"].iter().enumerate() {
        let image = field(class as u32, seed + class as u64);
        save(
            root,
            &format!("{folder}/{folder}_{seed}.{extension}"),
            &image,
        );
    }
}

#[test]
fn folders_are_read_and_bad_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save(root, "Benign/a.png", &field(0, 1));
    save(root, "Benign/sub/b.jpg", &field(0, 2));
    save(root, "Early/c.bmp", &field(1, 3));
    save(root, "Early/d.tif", &field(1, 4));
    save(root, "Pre/e.png", &field(2, 5));
    save(root, "Pro/f.jpeg", &field(3, 6));
    save(root, "Pro/g.png", &field(3, 7));
    let png = std::fs::read(root.join("Pro/g.png")).unwrap();
    write(root, "Pro/truncated.png", &png[..png.len() / 2]);
    let jpeg = std::fs::read(root.join("Pro/f.jpeg")).unwrap();
    write(root, "Pro/truncated.jpg", &jpeg[..jpeg.len() / 2]);
    for (file, cut) in [
        ("Early/c.bmp", "Early/cut.bmp"),
        ("Early/d.tif", "Early/cut.tif"),
    ] {
        let bytes = std::fs::read(root.join(file)).unwrap();
        write(root, cut, &bytes[..bytes.len() / 2]);
    }
    write(
        root,
        "Pre/corrupt.png",
        &[0x89, b'P', b'N', b'G', 1, 2, 3, 4, 5],
    );
    write(root, "Benign/notes.jpg", b"not an image at all");
    write(root, "Early/readme.txt", b"class notes");
    write(root, "Benign/.DS_Store", b"finder");
    write(root, "README.md", b"# data");
    save(root, "stray.png", &field(0, 8));

    let dataset = open(root, &Taxonomy::b_all_4()).unwrap();
    assert_eq!(dataset.format, DatasetFormat::Folders);
    assert_eq!(
        file_names(&dataset),
        [
            "a.png", "b.jpg", "c.bmp", "d.tif", "e.png", "f.jpeg", "g.png"
        ]
    );
    assert_eq!(dataset.class_counts(), vec![2, 2, 1, 2]);
    assert_eq!(dataset.groups, 7, "seven different fields");
    assert!(dataset.samples.iter().all(|s| s.subject.is_none()));
    let mut skipped: Vec<String> = dataset
        .skipped
        .iter()
        .map(|s| s.path.strip_prefix(root).unwrap().display().to_string())
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            "Benign/notes.jpg",
            "Early/cut.bmp",
            "Early/cut.tif",
            "Early/readme.txt",
            "Pre/corrupt.png",
            "Pro/truncated.jpg",
            "Pro/truncated.png",
            "stray.png"
        ]
    );
    assert!(dataset.skipped.iter().all(|s| !s.reason.is_empty()));
    assert_eq!(dataset.fingerprint.images, 7);
    let summary = dataset.summary();
    for expected in [
        "7 images",
        "7 groups",
        "8 files skipped",
        "Pro-B",
        "truncated.png",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing from:\n{summary}"
        );
    }
}

#[test]
fn unknown_folder_names_fail_before_any_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    four_classes(dir.path(), 1, "png");
    save(dir.path(), "Blasts/x.png", &field(3, 9));
    let err = open(dir.path(), &Taxonomy::b_all_4()).unwrap_err();
    assert!(matches!(err, DatasetError::UnknownLabel { ref label, .. } if label == "Blasts"));
    let message = err.to_string();
    for expected in ["Blasts", "b-all-4", "Early", "Pro-B"] {
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn one_class_empty_classes_and_no_images_are_errors() {
    let taxonomy = Taxonomy::b_all_4();

    let one = tempfile::tempdir().unwrap();
    save(one.path(), "Benign/a.png", &field(0, 1));
    save(one.path(), "Benign/b.png", &field(0, 2));
    let err = open(one.path(), &taxonomy).unwrap_err();
    assert!(
        matches!(err, DatasetError::OneClass { ref class, images: 2, .. } if class == "Benign"),
        "{err}"
    );

    // A class whose folder holds only a broken file, and a class with no folder at all.
    let empty = tempfile::tempdir().unwrap();
    four_classes(empty.path(), 1, "png");
    std::fs::remove_dir_all(empty.path().join("Pre")).unwrap();
    std::fs::remove_dir_all(empty.path().join("Pro")).unwrap();
    write(empty.path(), "Pro/broken.png", b"\x89PNG broken");
    let err = open(empty.path(), &taxonomy).unwrap_err();
    let DatasetError::EmptyClass { ref classes, .. } = err else {
        panic!("expected EmptyClass, got {err}");
    };
    assert_eq!(classes, "Pre-B, Pro-B (1 files, none readable)");
    assert!(err.to_string().contains("add images"), "{err}");

    // A backbone pretrained on labs lacking some kinds needs two of them; evaluation none.
    let with = |classes| ScanOptions {
        classes,
        ..ScanOptions::default()
    };
    let several = Dataset::open(empty.path(), &taxonomy, &with(ClassCoverage::Several)).unwrap();
    assert_eq!(several.samples.len(), 2);
    let err = Dataset::open(one.path(), &taxonomy, &with(ClassCoverage::Several)).unwrap_err();
    assert!(matches!(err, DatasetError::OneClass { .. }), "{err}");
    let any = Dataset::open(one.path(), &taxonomy, &with(ClassCoverage::Any)).unwrap();
    assert_eq!(any.samples.len(), 2);

    let nothing = tempfile::tempdir().unwrap();
    let err = open(nothing.path(), &taxonomy).unwrap_err();
    assert!(
        matches!(err, DatasetError::NoImages { skipped: 0, .. }),
        "{err}"
    );
    write(nothing.path(), "Benign/broken.jpg", b"nope");
    let err = open(nothing.path(), &taxonomy).unwrap_err();
    assert!(
        matches!(err, DatasetError::NoImages { skipped: 1, .. }),
        "{err}"
    );

    let missing = nothing.path().join("no-such-folder");
    let err = open(&missing, &taxonomy).unwrap_err();
    assert!(matches!(err, DatasetError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("no-such-folder"), "{err}");

    write(nothing.path(), "list.txt", b"a.png,Benign");
    let err = open(&nothing.path().join("list.txt"), &taxonomy).unwrap_err();
    assert!(matches!(err, DatasetError::FormatMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("list.txt is not a dataset: expected"),
        "{err}"
    );
    let as_csv = ScanOptions {
        format: DatasetFormat::Csv,
        ..ScanOptions::default()
    };
    let err = Dataset::open(nothing.path(), &taxonomy, &as_csv).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::FormatMismatch {
                format: DatasetFormat::Csv,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn cnmc_folds_give_labels_and_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files = [
        ("training_data/fold_0/all/UID_11_1_1_all.bmp", 1),
        ("training_data/fold_0/all/UID_11_2_1_all.bmp", 2),
        ("training_data/fold_0/hem/UID_H10_43_1_hem.bmp", 3),
        ("training_data/fold_1/all/UID_12_1_1_all.bmp", 4),
        ("training_data/fold_1/hem/UID_H10_44_2_hem.bmp", 5),
        ("training_data/fold_1/hem/UID_H11_1_1_hem.bmp", 6),
    ];
    for (path, seed) in files {
        save(root, path, &field(3, seed));
    }
    write(
        root,
        "training_data/notes.txt",
        b"ignored: outside the folds",
    );

    let binary = Taxonomy::all_binary();
    let dataset = open(root, &binary).unwrap();
    assert_eq!(dataset.format, DatasetFormat::Cnmc);
    let subjects: Vec<&str> = dataset
        .samples
        .iter()
        .map(|s| s.subject.as_deref().unwrap())
        .collect();
    assert_eq!(subjects, ["11", "11", "H10", "12", "H10", "H11"]);
    let labels: Vec<u32> = dataset.samples.iter().map(|s| s.label).collect();
    assert_eq!(labels, [1, 1, 0, 1, 0, 0]);
    let groups: Vec<u32> = dataset.samples.iter().map(|s| s.group).collect();
    assert_eq!(groups, [0, 0, 1, 2, 1, 3], "one group per subject");
    assert_eq!(dataset.groups, 4);

    // The subtype taxonomy has no `all`/`hem`: named, before anything is decoded.
    let err = open(root, &Taxonomy::b_all_4()).unwrap_err();
    assert!(
        matches!(err, DatasetError::UnknownLabel { ref label, .. } if label == "all"),
        "{err}"
    );

    // Asking for C-NMC where there is none says what was expected.
    let other = tempfile::tempdir().unwrap();
    four_classes(other.path(), 1, "png");
    let as_cnmc = ScanOptions {
        format: DatasetFormat::Cnmc,
        ..ScanOptions::default()
    };
    let err = Dataset::open(other.path(), &binary, &as_cnmc).unwrap_err();
    assert!(err.to_string().contains("fold_0/all"), "{err}");
}

#[test]
fn all_idb_suffixes_are_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save(root, "Im001_1.jpg", &field(3, 1));
    save(root, "Im002_1.tif", &field(2, 2));
    save(root, "Im003_0.tif", &field(0, 3));
    save(root, "Im004_0.png", &field(0, 4));
    save(root, "other.jpg", &field(0, 5));
    write(root, "notes.txt", b"ignored");

    let dataset = open(root, &Taxonomy::all_binary()).unwrap();
    assert_eq!(dataset.format, DatasetFormat::AllIdb);
    assert_eq!(
        file_names(&dataset),
        ["Im001_1.jpg", "Im002_1.tif", "Im003_0.tif", "Im004_0.png"]
    );
    let labels: Vec<u32> = dataset.samples.iter().map(|s| s.label).collect();
    assert_eq!(labels, [1, 1, 0, 0]);
    assert!(dataset.samples.iter().all(|s| s.subject.is_none()));
    assert_eq!(dataset.skipped.len(), 1);
    assert!(dataset.skipped[0].path.ends_with("other.jpg"));

    let err = open(root, &Taxonomy::b_all_4()).unwrap_err();
    assert!(
        matches!(err, DatasetError::UnknownLabel { ref label, .. } if label == "_1"),
        "{err}"
    );
}

#[test]
fn csv_lists_with_and_without_header_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        save(
            root,
            &format!("img/{name}.png"),
            &field(i as u32, 10 + i as u64),
        );
    }
    let taxonomy = Taxonomy::b_all_4();

    // Header, group column (one empty), a missing file, a repeated row; paths relative to
    // the CSV's own folder.
    write(
        root,
        "lists/with-groups.csv",
        b"path,label,group\n../img/a.png,Benign,p1\n../img/b.png,Early,p1\n\n../img/c.png,Pre,\n../img/d.png,Pro,p2\n../img/missing.png,Pro,p3\n../img/d.png,Pro,p2\n",
    );
    let dataset = open(&root.join("lists/with-groups.csv"), &taxonomy).unwrap();
    assert_eq!(dataset.format, DatasetFormat::Csv);
    assert_eq!(file_names(&dataset), ["a.png", "b.png", "c.png", "d.png"]);
    assert_eq!(dataset.class_counts(), vec![1, 1, 1, 1]);
    let subjects: Vec<Option<&str>> = dataset
        .samples
        .iter()
        .map(|s| s.subject.as_deref())
        .collect();
    assert_eq!(subjects, [Some("p1"), Some("p1"), None, Some("p2")]);
    let groups: Vec<u32> = dataset.samples.iter().map(|s| s.group).collect();
    assert_eq!(groups, [0, 0, 1, 2]);
    assert_eq!(dataset.skipped.len(), 2, "{:?}", dataset.skipped);
    assert!(
        dataset
            .skipped
            .iter()
            .any(|s| s.path.ends_with("missing.png"))
    );
    assert!(
        dataset
            .skipped
            .iter()
            .any(|s| s.reason.contains("listed again on line 8"))
    );

    // No header, no group column, aliases as labels.
    write(
        root,
        "plain.csv",
        b"img/a.png,hematogones\nimg/b.png,Early\nimg/c.png,Pre-B\nimg/d.png, pro\n",
    );
    let dataset = open(&root.join("plain.csv"), &taxonomy).unwrap();
    assert_eq!(dataset.class_counts(), vec![1, 1, 1, 1]);
    assert_eq!(dataset.groups, 4);
    assert!(dataset.samples.iter().all(|s| s.subject.is_none()));
    assert!(dataset.skipped.is_empty());

    write(
        root,
        "bad-label.csv",
        b"path,label\nimg/a.png,Benign\nimg/b.png,Blast\n",
    );
    let err = open(&root.join("bad-label.csv"), &taxonomy).unwrap_err();
    assert!(
        matches!(err, DatasetError::UnknownLabel { ref label, .. } if label == "Blast"),
        "{err}"
    );
    assert!(err.to_string().contains("line 3"), "{err}");

    write(root, "bad-row.csv", b"img/a.png,Benign\nimg/b.png\n");
    let err = open(&root.join("bad-row.csv"), &taxonomy).unwrap_err();
    assert!(
        matches!(err, DatasetError::Csv { line: Some(2), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("path,label[,group]"), "{err}");
}

#[test]
fn near_duplicates_share_a_group_and_distinct_fields_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a = field(0, 1);
    save(root, "Benign/a.png", &a);
    std::fs::copy(root.join("Benign/a.png"), root.join("Benign/a_copy.png")).unwrap();
    save(root, "Benign/a_nudged.png", &nudged(&a, 1));
    save(root, "Benign/a_resaved.jpg", &a);
    save(root, "Benign/b.png", &field(0, 2));
    let c = field(1, 3);
    save(root, "Early/c.png", &c);
    // A near copy filed under another class is still the same field.
    save(root, "Pre/c_nudged.png", &nudged(&c, 2));
    save(root, "Pre/d.png", &field(2, 4));
    save(root, "Pro/e.png", &field(3, 5));

    let dataset = open(root, &Taxonomy::b_all_4()).unwrap();
    let group = |name: &str| {
        dataset
            .samples
            .iter()
            .find(|s| s.path.ends_with(name))
            .map(|s| s.group)
            .unwrap()
    };
    let a_group = group("Benign/a.png");
    for copy in [
        "Benign/a_copy.png",
        "Benign/a_nudged.png",
        "Benign/a_resaved.jpg",
    ] {
        assert_eq!(group(copy), a_group, "{copy}");
    }
    assert_eq!(group("Pre/c_nudged.png"), group("Early/c.png"));
    let distinct: HashSet<u32> = [
        "Benign/a.png",
        "Benign/b.png",
        "Early/c.png",
        "Pre/d.png",
        "Pro/e.png",
    ]
    .into_iter()
    .map(group)
    .collect();
    assert_eq!(distinct.len(), 5);
    assert_eq!(dataset.groups, 5);
    assert_eq!(dataset.group_sizes().iter().max(), Some(&4));

    // At distance 0 only identical hashes and identical bytes are joined.
    let strict = ScanOptions {
        near_duplicate_distance: 0,
        ..ScanOptions::default()
    };
    let dataset = Dataset::open(root, &Taxonomy::b_all_4(), &strict).unwrap();
    let copy_group = dataset
        .samples
        .iter()
        .filter(|s| s.path.ends_with("Benign/a.png") || s.path.ends_with("Benign/a_copy.png"))
        .map(|s| s.group)
        .collect::<HashSet<_>>();
    assert_eq!(copy_group.len(), 1);
}

#[test]
fn the_fingerprint_follows_content_not_location() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("one");
    four_classes(&root, 1, "bmp");
    four_classes(&root, 5, "bmp");
    let taxonomy = Taxonomy::b_all_4();
    let first = open(&root, &taxonomy).unwrap().fingerprint;
    assert_eq!(first.images, 8);
    assert_eq!(open(&root, &taxonomy).unwrap().fingerprint, first);

    let moved = dir.path().join("two");
    std::fs::rename(&root, &moved).unwrap();
    let after_move = open(&moved, &taxonomy).unwrap().fingerprint;
    assert_eq!(after_move.sha256, first.sha256);
    assert_eq!(after_move.images, first.images);

    // One pixel byte changed (a BMP has no checksum, so it still decodes).
    let file = moved.join("Pre/Pre_5.bmp");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let changed = open(&moved, &taxonomy).unwrap().fingerprint;
    assert_eq!(changed.images, 8);
    assert_ne!(changed.sha256, first.sha256);

    // A renamed file is a different dataset entry too.
    std::fs::rename(&file, moved.join("Pre/renamed.bmp")).unwrap();
    assert_ne!(
        open(&moved, &taxonomy).unwrap().fingerprint.sha256,
        changed.sha256
    );
}

#[test]
fn formats_parse_from_their_cli_words() {
    for (format, name) in DatasetFormat::ALL {
        assert_eq!(name.parse::<DatasetFormat>(), Ok(format));
        assert_eq!(format.to_string(), name);
        assert_eq!(
            serde_json::to_string(&format).unwrap(),
            format!("\"{name}\"")
        );
    }
    assert_eq!("C-NMC".parse(), Ok(DatasetFormat::Cnmc));
    assert_eq!(" AllIDB ".parse(), Ok(DatasetFormat::AllIdb));
    let err = "imagenet".parse::<DatasetFormat>().unwrap_err();
    assert!(err.to_string().contains("all-idb"), "{err}");
}

/// A dataset in memory (no files): `groups[g]` lists the labels of group `g`'s samples.
fn in_memory(groups: &[Vec<u32>]) -> Dataset {
    let samples = groups
        .iter()
        .enumerate()
        .flat_map(|(g, labels)| {
            labels.iter().enumerate().map(move |(i, &label)| Sample {
                path: format!("g{g}/s{i}.png").into(),
                label,
                group: g as u32,
                subject: None,
                source: 0,
            })
        })
        .collect();
    Dataset {
        root: "memory".into(),
        taxonomy: Taxonomy::b_all_4(),
        format: DatasetFormat::Folders,
        sources: vec![Source {
            name: "memory".into(),
            path: "memory".into(),
            format: DatasetFormat::Folders,
        }],
        samples,
        skipped: Vec::new(),
        crop_groups: Vec::new(),
        groups: groups.len() as u32,
        fingerprint: Default::default(),
    }
}

/// Groups of 1 to 4 images of one class, with unequal class sizes, and a few groups of two
/// classes (a subject with cells of both).
fn uneven_groups(count: usize) -> Vec<Vec<u32>> {
    let mut state = 12_345u64;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    (0..count)
        .map(|g| {
            let class = [0, 1, 1, 2, 2, 2, 3, 3][next(8) as usize];
            let size = 1 + next(4) as usize;
            let mut labels = vec![class; size];
            if g % 40 == 0 {
                labels.push((class + 1) % 4);
            }
            labels
        })
        .collect()
}

fn proportions(dataset: &Dataset, indices: &[usize]) -> Vec<f64> {
    let mut counts = vec![0usize; dataset.taxonomy.len()];
    for &i in indices {
        counts[dataset.samples[i].label as usize] += 1;
    }
    counts
        .iter()
        .map(|&c| c as f64 / indices.len() as f64)
        .collect()
}

fn assert_groups_whole(dataset: &Dataset, split: &Split) {
    let train: HashSet<u32> = split
        .train
        .iter()
        .map(|&i| dataset.samples[i].group)
        .collect();
    let valid: HashSet<u32> = split
        .valid
        .iter()
        .map(|&i| dataset.samples[i].group)
        .collect();
    assert!(train.is_disjoint(&valid), "a group on both sides");
    let mut all: Vec<usize> = split.train.iter().chain(&split.valid).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..dataset.samples.len()).collect::<Vec<_>>());
}

#[test]
fn group_k_fold_keeps_groups_whole_and_classes_in_proportion() {
    let dataset = in_memory(&uneven_groups(600));
    let overall = proportions(&dataset, &(0..dataset.samples.len()).collect::<Vec<_>>());
    let splits = group_k_fold(&dataset, 5, 7).unwrap();
    assert_eq!(splits.len(), 5);
    let mut times_validated = vec![0; dataset.samples.len()];
    for split in &splits {
        assert_groups_whole(&dataset, split);
        for &i in &split.valid {
            times_validated[i] += 1;
        }
        let share = split.valid.len() as f64 / dataset.samples.len() as f64;
        assert!((share - 0.2).abs() < 0.01, "fold holds {share}");
        for (class, (p, q)) in proportions(&dataset, &split.valid)
            .iter()
            .zip(&overall)
            .enumerate()
        {
            assert!(*p > 0.0, "class {class} missing from a fold");
            assert!(
                (p - q).abs() < 0.03,
                "class {class}: {p} in the fold, {q} overall"
            );
        }
        assert!(describe_split(&dataset, split).starts_with("train: "));
    }
    assert!(times_validated.iter().all(|&n| n == 1));

    assert_eq!(
        group_k_fold(&dataset, 5, 7).unwrap(),
        splits,
        "same seed, same folds"
    );
    assert_ne!(
        group_k_fold(&dataset, 5, 8).unwrap(),
        splits,
        "another seed, other folds"
    );

    assert!(matches!(
        group_k_fold(&dataset, 1, 7),
        Err(DatasetError::InvalidSplit { .. })
    ));
    let few = in_memory(&[vec![0], vec![1, 1], vec![2]]);
    assert!(matches!(
        group_k_fold(&few, 5, 7),
        Err(DatasetError::TooFewGroups {
            groups: 3,
            parts: 5
        })
    ));
}

#[test]
fn every_class_reaches_every_fold_when_it_has_enough_groups() {
    // Pro-B has exactly five groups of very different sizes, next to large Benign groups.
    let mut groups: Vec<Vec<u32>> = (0..20).map(|i| vec![0; 1 + i % 7]).collect();
    groups.extend((0..10).map(|_| vec![1; 3]));
    groups.extend((0..10).map(|_| vec![2; 2]));
    groups.extend([vec![3; 9], vec![3], vec![3; 4], vec![3], vec![3; 2]]);
    let dataset = in_memory(&groups);
    for seed in 0..20 {
        for split in group_k_fold(&dataset, 5, seed).unwrap() {
            assert_groups_whole(&dataset, &split);
            let classes: HashSet<u32> = split
                .valid
                .iter()
                .map(|&i| dataset.samples[i].label)
                .collect();
            assert_eq!(
                classes.len(),
                4,
                "seed {seed}: {}",
                describe_split(&dataset, &split)
            );
        }
    }
}

#[test]
fn group_holdout_keeps_groups_whole_and_classes_in_proportion() {
    let dataset = in_memory(&uneven_groups(600));
    let overall = proportions(&dataset, &(0..dataset.samples.len()).collect::<Vec<_>>());
    let split = group_holdout(&dataset, 0.2, 3).unwrap();
    assert_groups_whole(&dataset, &split);
    let share = split.valid.len() as f64 / dataset.samples.len() as f64;
    assert!((share - 0.2).abs() < 0.01, "validation holds {share}");
    for (p, q) in proportions(&dataset, &split.valid).iter().zip(&overall) {
        assert!((p - q).abs() < 0.03, "{p} in validation, {q} overall");
    }
    // Large groups are shared out in proportion too, not all given to training first.
    let valid_groups: HashSet<u32> = split
        .valid
        .iter()
        .map(|&i| dataset.samples[i].group)
        .collect();
    let mean_valid = split.valid.len() as f64 / valid_groups.len() as f64;
    let mean_all = dataset.samples.len() as f64 / f64::from(dataset.groups);
    assert!(
        (mean_valid / mean_all - 1.0).abs() < 0.1,
        "{mean_valid} vs {mean_all} per group"
    );
    assert_eq!(group_holdout(&dataset, 0.2, 3).unwrap(), split);
    assert_ne!(group_holdout(&dataset, 0.2, 4).unwrap(), split);

    let description = describe_split(&dataset, &split);
    let expected_valid = format!("valid: {} images in ", split.valid.len());
    assert!(description.contains(&expected_valid), "{description}");
    assert!(description.contains("Early Pre-B"), "{description}");

    for fraction in [0.0, 1.0, -0.5, f64::NAN] {
        assert!(matches!(
            group_holdout(&dataset, fraction, 3),
            Err(DatasetError::InvalidSplit { .. })
        ));
    }
    // Two groups and a tiny fraction: still one group on each side.
    let two = in_memory(&[vec![0, 0, 0], vec![1]]);
    let split = group_holdout(&two, 0.01, 1).unwrap();
    assert!(!split.train.is_empty() && !split.valid.is_empty());
    assert!(matches!(
        group_holdout(&in_memory(&[vec![0, 1]]), 0.2, 1),
        Err(DatasetError::TooFewGroups {
            groups: 1,
            parts: 2
        })
    ));
}

#[test]
fn cells_without_labels_are_every_image_at_any_depth_and_a_crop_index_is_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save(root, "a.png", &field(0, 1));
    save(root, "unlabelled/b.png", &field(1, 2));
    write(root, "crops.csv", b"crop,frame,label\n");
    write(root, "notes.txt", b"not an image");
    write(
        root,
        "unlabelled/crops.csv",
        b"a second index is not one crops wrote here",
    );
    let (images, skipped) = unlabelled_images(root).unwrap();
    assert_eq!(
        images,
        vec![root.join("a.png"), root.join("unlabelled/b.png")]
    );
    let skipped: Vec<_> = skipped.iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        skipped,
        vec![root.join("notes.txt"), root.join("unlabelled/crops.csv")]
    );
}
