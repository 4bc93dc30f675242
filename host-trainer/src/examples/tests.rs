use super::*;

#[test]
fn examples_are_stored_and_checked() {
    let mut set = ExampleSet::new([1, 1, 2]);
    set.push(&[1.0, 2.0], 0).unwrap();
    set.push(&[3.0, 4.0], 1).unwrap();
    assert!(set.push(&[1.0], 0).is_err());
    assert_eq!(set.len(), 2);
    assert_eq!(set.input(1), &[3.0, 4.0]);
    assert_eq!(set.labels(), &[0, 1]);
}
