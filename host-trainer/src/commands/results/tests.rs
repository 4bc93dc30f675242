use leukoscope_trainer::fit::Backbone;

use super::{TABLE_BEGIN, TABLE_END, points, recipe_cell, splice};

#[test]
fn a_change_in_points_is_signed_and_never_negative_zero() {
    assert_eq!(points(0.374), "+0.37");
    assert_eq!(points(-0.2345), "-0.23");
    assert_eq!(points(-0.004), "+0.00");
    assert_eq!(points(0.0), "+0.00");
    assert_eq!(points(-0.006), "-0.01");
}

#[test]
fn the_table_replaces_only_the_marked_one() {
    let document = format!(
        "# Results\n\nBefore.\n\n{TABLE_BEGIN}\n| old | table |\n|---|---|\n{TABLE_END}\n\nAfter.\n"
    );
    let updated = splice(&document, "| new |\n|---|\n| 1 |\n").unwrap();
    assert_eq!(
        updated,
        format!(
            "# Results\n\nBefore.\n\n{TABLE_BEGIN}\n| new |\n|---|\n| 1 |\n{TABLE_END}\n\nAfter.\n"
        )
    );
    // Again, with the same table: nothing changes.
    assert_eq!(splice(&updated, "| new |\n|---|\n| 1 |").unwrap(), updated);
}

#[test]
fn a_missing_repeated_or_reversed_marker_is_refused() {
    let table = "| t |\n";
    let missing = splice(&format!("text\n{TABLE_BEGIN}\n| old |\n"), table).unwrap_err();
    assert!(missing.to_string().contains(TABLE_END), "{missing}");
    let twice = format!("{TABLE_BEGIN}\n{TABLE_END}\n{TABLE_BEGIN}\n{TABLE_END}\n");
    assert!(
        splice(&twice, table)
            .unwrap_err()
            .to_string()
            .contains("more than once")
    );
    let reversed = format!("{TABLE_END}\ntext\n{TABLE_BEGIN}\n");
    assert!(
        splice(&reversed, table)
            .unwrap_err()
            .to_string()
            .contains("comes before")
    );
}

#[test]
fn the_recipe_cell_names_what_is_not_the_default() {
    assert_eq!(
        recipe_cell("Adam", "CrossEntropy", "uniform", None),
        "adam, crossentropy"
    );
    let backbone = Backbone {
        model: "simple-cnn".into(),
        taxonomy: "wbc-blast".into(),
        data: "pbc, zheng1, zheng2".into(),
        images: 16_972,
    };
    assert_eq!(
        recipe_cell("sgd:0.9", "crossentropy", "he", Some(&backbone)),
        "sgd:0.9, crossentropy, he init, pretrained on wbc-blast (pbc, zheng1, zheng2)"
    );
}
