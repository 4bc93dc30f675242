use super::subject_of;

#[test]
fn subjects_come_from_the_field_after_uid() {
    assert_eq!(subject_of("UID_11_10_1_all.bmp").as_deref(), Some("11"));
    assert_eq!(subject_of("UID_H10_43_1_hem.bmp").as_deref(), Some("H10"));
    assert_eq!(subject_of("uid_h22_1_2_hem.BMP").as_deref(), Some("h22"));
    assert_eq!(subject_of("UID_11.bmp"), None);
    assert_eq!(subject_of("cell_11_10_1_all.bmp"), None);
    assert_eq!(subject_of("UID__10_1_all.bmp"), None);
    assert_eq!(subject_of("Im001_1.jpg"), None);
}
