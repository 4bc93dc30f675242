use super::points;

#[test]
fn a_change_in_points_is_signed_and_never_negative_zero() {
    assert_eq!(points(0.374), "+0.37");
    assert_eq!(points(-0.2345), "-0.23");
    assert_eq!(points(-0.004), "+0.00");
    assert_eq!(points(0.0), "+0.00");
    assert_eq!(points(-0.006), "-0.01");
}
