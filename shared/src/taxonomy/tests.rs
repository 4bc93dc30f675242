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
