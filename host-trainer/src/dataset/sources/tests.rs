//! Several sources written to temporary folders: their groups, their leave-one-source-out
//! folds, the errors that name them, and the `NAME=DIR` syntax.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use leukoscope_core::synth::{self, FieldOptions};
use leukoscope_core::taxonomy::Taxonomy;

use super::*;
use crate::dataset::{Split, describe_split, group_k_fold, leave_one_source_out};

/// A small synthetic smear picture, one of four kinds, different for every seed.
fn picture(kind: u32, seed: u64) -> image::RgbImage {
    let options = FieldOptions {
        size: 64,
        ..FieldOptions::default()
    };
    let field = synth::field(kind % 4, seed, &options).unwrap();
    image::RgbImage::from_raw(
        field.image.width(),
        field.image.height(),
        field.image.as_raw().to_vec(),
    )
    .unwrap()
}

fn save(root: &Path, relative: &str, image: &image::RgbImage) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(&path).unwrap();
}

/// Two images in each b-all-4 class folder of `root`, seeds from `seed` on.
fn four_classes(root: &Path, seed: u64) {
    for (class, folder) in ["Benign", "Early", "Pre", "Pro"].iter().enumerate() {
        for k in 0..2 {
            let seed = seed + 10 * class as u64 + k;
            save(
                root,
                &format!("{folder}/{seed}.png"),
                &picture(class as u32, seed),
            );
        }
    }
}

fn source(name: &str, path: &Path) -> Source {
    format!("{name}={}", path.display()).parse().unwrap()
}

fn open(sources: &[Source], taxonomy: &Taxonomy) -> Result<Dataset, DatasetError> {
    Dataset::open_sources(sources, taxonomy, &ScanOptions::default())
}

#[test]
fn groups_never_span_sources() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    four_classes(&a, 100);
    four_classes(&b, 200);
    // The same file in both sources, and twice within source a: identical bytes share a
    // group within a source, never across.
    let shared = picture(0, 999);
    save(&a, "Benign/shared.png", &shared);
    save(&a, "Benign/shared-again.png", &shared);
    save(&b, "Benign/shared.png", &shared);
    let dataset = open(&[source("a", &a), source("b", &b)], &Taxonomy::b_all_4()).unwrap();

    assert_eq!(dataset.samples.len(), 2 * 8 + 3);
    assert_eq!(
        dataset.sources.iter().map(|s| s.format).collect::<Vec<_>>(),
        [DatasetFormat::Folders, DatasetFormat::Folders]
    );
    let mut source_of_group: HashMap<u32, u32> = HashMap::new();
    for sample in &dataset.samples {
        assert!(sample.group < dataset.groups);
        let first = *source_of_group.entry(sample.group).or_insert(sample.source);
        assert_eq!(first, sample.source, "group {} spans sources", sample.group);
    }
    let group_of = |source: u32, name: &str| {
        dataset
            .samples
            .iter()
            .find(|s| s.source == source && s.path.file_name().unwrap() == name)
            .unwrap()
            .group
    };
    assert_eq!(group_of(0, "shared.png"), group_of(0, "shared-again.png"));
    assert_ne!(group_of(0, "shared.png"), group_of(1, "shared.png"));

    // Counts per source and class, and a summary that names both sources.
    assert_eq!(
        dataset.source_class_counts(),
        vec![vec![4, 2, 2, 2], vec![3, 2, 2, 2]]
    );
    let summary = dataset.summary();
    assert!(summary.contains("2 sources"), "{summary}");
    for needle in ["source a:", "source b:", "Benign"] {
        assert!(summary.contains(needle), "{needle} in {summary}");
    }
    // A source of the same files under another name is another dataset.
    let again = open(&[source("a", &a), source("c", &b)], &Taxonomy::b_all_4()).unwrap();
    assert_ne!(again.fingerprint.sha256, dataset.fingerprint.sha256);
    // Group k-fold on several sources keeps every group, hence every source's groups, whole.
    for split in group_k_fold(&dataset, 3, 7).unwrap() {
        let train: HashSet<u32> = split
            .train
            .iter()
            .map(|&i| dataset.samples[i].group)
            .collect();
        assert!(
            split
                .valid
                .iter()
                .all(|&i| !train.contains(&dataset.samples[i].group))
        );
    }
}

#[test]
fn each_leave_one_source_out_fold_holds_out_exactly_one_whole_source() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["pbc", "zheng1", "zheng2"];
    let sources: Vec<Source> = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let root = dir.path().join(name);
            four_classes(&root, 1000 * (k as u64 + 1));
            source(name, &root)
        })
        .collect();
    let dataset = open(&sources, &Taxonomy::b_all_4()).unwrap();
    let splits: Vec<Split> = leave_one_source_out(&dataset).unwrap();
    assert_eq!(splits.len(), names.len());
    for (held_out, split) in splits.iter().enumerate() {
        let of = |indices: &[usize]| -> HashSet<u32> {
            indices.iter().map(|&i| dataset.samples[i].source).collect()
        };
        assert_eq!(of(&split.valid), HashSet::from([held_out as u32]));
        assert!(!of(&split.train).contains(&(held_out as u32)));
        let whole: Vec<usize> = (0..dataset.samples.len())
            .filter(|&i| dataset.samples[i].source == held_out as u32)
            .collect();
        assert_eq!(split.valid, whole, "the whole of {}", names[held_out]);
        assert_eq!(split.train.len() + split.valid.len(), dataset.samples.len());
        let text = describe_split(&dataset, split);
        assert!(
            text.contains(&format!("from {} 8)", names[held_out]))
                || text.ends_with(&format!("from {} 8", names[held_out])),
            "{text}"
        );
    }

    // One source is nothing to hold out.
    let single = open(&sources[..1], &Taxonomy::b_all_4()).unwrap();
    assert!(matches!(
        leave_one_source_out(&single),
        Err(DatasetError::InvalidSplit { .. })
    ));
}

#[test]
fn a_wrong_label_names_its_source_and_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    four_classes(&good, 1);
    four_classes(&bad, 50);
    save(&bad, "Blasts/x.png", &picture(1, 77));
    let err = open(
        &[source("good", &good), source("lab2", &bad)],
        &Taxonomy::b_all_4(),
    )
    .unwrap_err();
    let DatasetError::InSource { name, error, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(name, "lab2");
    assert!(
        matches!(&**error, DatasetError::UnknownLabel { label, .. } if label == "Blasts"),
        "{error}"
    );
    let message = err.to_string();
    for needle in ["source lab2", "Blasts", "b-all-4"] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    // A source without one readable image is named too.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("Benign")).unwrap();
    let err = open(
        &[source("good", &good), source("blank", &empty)],
        &Taxonomy::b_all_4(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, DatasetError::InSource { name, error, .. }
            if name == "blank" && matches!(**error, DatasetError::NoImages { .. })),
        "{err}"
    );
}

#[test]
fn sources_of_the_real_layouts_read_together_in_wbc_blast() {
    // PBC's class folders and the 4-class data's, together: every wbc-blast class has images
    // though neither source has them all.
    let dir = tempfile::tempdir().unwrap();
    let (pbc, aria) = (dir.path().join("pbc"), dir.path().join("aria"));
    let folders = [
        "basophil",
        "eosinophil",
        "erythroblast",
        "ig",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    ];
    for (k, folder) in folders.iter().enumerate() {
        save(
            &pbc,
            &format!("{folder}/{k}.jpg"),
            &picture(k as u32, 300 + k as u64),
        );
    }
    for (k, folder) in ["Benign", "Early", "Pre", "Pro"].iter().enumerate() {
        save(
            &aria,
            &format!("{folder}/{k}.png"),
            &picture(k as u32, 400 + k as u64),
        );
    }
    let wbc = Taxonomy::wbc_blast();
    let dataset = open(&[source("pbc", &pbc), source("aria", &aria)], &wbc).unwrap();
    let counts = dataset.source_class_counts();
    let class = |name: &str| wbc.resolve(name).unwrap() as usize;
    assert_eq!(counts[0][class("Not a white cell")], 2);
    assert_eq!(counts[0][class("Blast")], 0);
    assert_eq!(counts[1][class("Blast")], 3);
    assert_eq!(counts[1][class("Hematogone")], 1);
    // Alone, PBC lacks blasts and hematogones, and says so.
    assert!(matches!(
        open(&[source("pbc", &pbc)], &wbc),
        Err(DatasetError::EmptyClass { .. })
    ));
}

#[test]
fn source_flags_parse_and_bad_ones_are_refused() {
    let parsed: Source = "zheng-2=/data/zheng/dataset2".parse().unwrap();
    assert_eq!(parsed.name, "zheng-2");
    assert_eq!(parsed.path, Path::new("/data/zheng/dataset2"));
    assert_eq!(parsed.format, DatasetFormat::Auto);
    // A folder may hold '=' itself; the name ends at the first one.
    let parsed: Source = "odd=/data/a=b".parse().unwrap();
    assert_eq!(parsed.path, Path::new("/data/a=b"));
    for bad in [
        "/data/pbc",
        "=/data/pbc",
        "pbc=",
        "my lab=/data",
        "lab/1=/data",
    ] {
        let err = bad.parse::<Source>().unwrap_err();
        assert!(err.to_string().contains("NAME=DIR"), "{err}");
    }
    assert_eq!(Source::default_name(Path::new("/data/pbc")), "pbc");
    assert_eq!(Source::default_name(Path::new("/")), "data");

    let dir = tempfile::tempdir().unwrap();
    four_classes(dir.path(), 5);
    let twice = [source("x", dir.path()), source("x", dir.path())];
    assert!(matches!(
        open(&twice, &Taxonomy::b_all_4()),
        Err(DatasetError::Sources { .. })
    ));
    assert!(matches!(
        open(&[], &Taxonomy::b_all_4()),
        Err(DatasetError::Sources { .. })
    ));
}
