use super::*;

#[test]
fn folder_names_of_the_datasets_resolve() {
    let four = Taxonomy::b_all_4();
    for (label, id) in [
        ("Benign", 0),
        ("Early", 1),
        ("pre", 2),
        ("Pro", 3),
        ("Pre-B", 2),
        (" Early Pre-B ", 1),
    ] {
        assert_eq!(four.resolve(label), Ok(id), "{label}");
    }
    let binary = Taxonomy::all_binary();
    for (label, id) in [
        ("hem", 0),
        ("all", 1),
        ("ALL", 1),
        ("_0", 0),
        ("_1", 1),
        ("Normal", 0),
    ] {
        assert_eq!(binary.resolve(label), Ok(id), "{label}");
    }
    // C-NMC labels mean nothing to the subtype set, and the error says what would.
    let err = four.resolve("hem").unwrap_err();
    let message = format!("{err}");
    assert!(
        message.contains("hem") && message.contains("Early"),
        "{message}"
    );
}

#[test]
fn four_classes_map_onto_the_binary_screen() {
    let four = Taxonomy::b_all_4();
    let binary = Taxonomy::all_binary();
    assert_eq!(four.mapping_to(&binary), Ok(vec![0, 1, 1, 1]));
    assert_eq!(four.mapping_to(&four), Ok(vec![0, 1, 2, 3]));
    assert_eq!(binary.mapping_to(&binary), Ok(vec![0, 1]));
    // The coarse set cannot be split back into subtypes.
    assert!(matches!(
        binary.mapping_to(&four),
        Err(TaxonomyError::NoMapping { .. })
    ));
}

#[test]
fn named_sets() {
    for name in Taxonomy::BUILT_IN {
        assert_eq!(Taxonomy::named(name).unwrap().name, name);
    }
    assert!(matches!(
        Taxonomy::named("b-all-5"),
        Err(TaxonomyError::Unknown { .. })
    ));
    assert_eq!(Taxonomy::b_all_4().class_name(3), "Pro-B");
    assert_eq!(Taxonomy::b_all_4().class_name(9), "?");
}

/// The class folders of the labelled sources, each with the wbc-blast class it means.
const SOURCE_FOLDERS: [(&str, &str, &str); 22] = [
    ("PBC", "basophil", "Basophil"),
    ("PBC", "eosinophil", "Eosinophil"),
    ("PBC", "erythroblast", "Not a white cell"),
    ("PBC", "ig", "Immature granulocyte"),
    ("PBC", "lymphocyte", "Lymphocyte"),
    ("PBC", "monocyte", "Monocyte"),
    ("PBC", "neutrophil", "Neutrophil"),
    ("PBC", "platelet", "Not a white cell"),
    ("Zheng dataset1", "neutrophil", "Neutrophil"),
    ("Zheng dataset1", "lymphocyte", "Lymphocyte"),
    ("Zheng dataset1", "monocyte", "Monocyte"),
    ("Zheng dataset1", "eosinophil", "Eosinophil"),
    ("Zheng dataset1", "basophil", "Basophil"),
    ("Zheng dataset2", "neutrophil", "Neutrophil"),
    ("Zheng dataset2", "lymphocyte", "Lymphocyte"),
    ("Zheng dataset2", "monocyte", "Monocyte"),
    ("Zheng dataset2", "eosinophil", "Eosinophil"),
    ("Zheng dataset2", "basophil", "Basophil"),
    ("aria-4class", "Benign", "Hematogone"),
    ("aria-4class", "Early", "Blast"),
    ("aria-4class", "Pre", "Blast"),
    ("aria-4class", "Pro", "Blast"),
];

#[test]
fn every_source_folder_resolves_to_its_wbc_blast_class() {
    let wbc = Taxonomy::wbc_blast();
    for (source, folder, class) in SOURCE_FOLDERS {
        let id = wbc.resolve(folder);
        assert_eq!(
            id.map(|id| wbc.class_name(id)),
            Ok(class),
            "{source}/{folder}"
        );
    }
    // Every class but Blast is benign, and every class name resolves to itself.
    for (id, info) in wbc.classes.iter().enumerate() {
        assert_eq!(wbc.resolve(&info.name), Ok(id as ClassId));
        assert_eq!(info.malignant, info.name == "Blast", "{}", info.name);
    }
    // No label names two classes: resolution would silently take the first.
    let labels: Vec<String> = wbc
        .labels()
        .iter()
        .map(|l| l.to_ascii_lowercase())
        .collect();
    for (i, label) in labels.iter().enumerate() {
        assert!(!labels[i + 1..].contains(label), "{label} is given twice");
    }
}

#[test]
fn wbc_blast_maps_blasts_onto_all_and_the_rest_onto_normal() {
    let wbc = Taxonomy::wbc_blast();
    let binary = Taxonomy::all_binary();
    let mapping = wbc.mapping_to(&binary).unwrap();
    for (id, &target) in mapping.iter().enumerate() {
        let from = wbc.class_name(id as ClassId);
        let expected = if from == "Blast" { "ALL" } else { "Normal" };
        assert_eq!(binary.class_name(target), expected, "{from}");
    }
    assert_eq!(mapping, vec![0, 0, 0, 0, 0, 0, 1, 0, 0]);
    // The subtype set cannot be read off white-cell kinds, nor kinds off the screen.
    assert!(wbc.mapping_to(&Taxonomy::b_all_4()).is_err());
    assert!(binary.mapping_to(&wbc).is_err());
}

#[test]
fn an_unknown_wbc_blast_label_names_the_taxonomy() {
    let err = Taxonomy::wbc_blast().resolve("band").unwrap_err();
    assert!(matches!(
        &err,
        TaxonomyError::UnknownLabel { taxonomy, label, .. } if taxonomy == "wbc-blast" && label == "band"
    ));
    let message = format!("{err}");
    assert!(
        message.contains("wbc-blast") && message.contains("Neutrophil"),
        "{message}"
    );
    assert_eq!(Taxonomy::named("WBC-Blast"), Ok(Taxonomy::wbc_blast()));
}

#[test]
fn the_name_width_is_the_longest_class_name_in_characters() {
    assert_eq!(
        Taxonomy::wbc_blast().name_width(),
        "Immature granulocyte".len()
    );
    assert_eq!(Taxonomy::b_all_4().name_width(), "Early Pre-B".len());
}
