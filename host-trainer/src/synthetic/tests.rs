use super::*;

#[test]
fn sets_are_deterministic_balanced_and_disjoint() {
    let preprocess = Preprocess::field(32, 32);
    let options = FieldOptions::default();
    let a = synthetic_fields(3, 1, &options, &preprocess).unwrap();
    let b = synthetic_fields(3, 1, &options, &preprocess).unwrap();
    let c = synthetic_fields(3, 2, &options, &preprocess).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 12);
    assert_eq!(a.labels(), &[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    for i in 0..a.len() {
        for j in 0..c.len() {
            assert_ne!(
                a.input(i),
                c.input(j),
                "field {i} of seed 1 is field {j} of seed 2"
            );
        }
    }
}
