use super::label_suffix;

#[test]
fn the_suffix_is_the_label() {
    assert_eq!(label_suffix("Im001_1.jpg"), Some("_1"));
    assert_eq!(label_suffix("Im123_0.tif"), Some("_0"));
    assert_eq!(label_suffix("im7_0.TIF"), Some("_0"));
    assert_eq!(label_suffix("Im001_2.jpg"), None);
    assert_eq!(label_suffix("Im_1.jpg"), None);
    assert_eq!(label_suffix("Imx01_1.jpg"), None);
    assert_eq!(label_suffix("Im001_1"), None);
    assert_eq!(label_suffix("UID_11_10_1_all.bmp"), None);
    assert_eq!(label_suffix("Ĳm001_1.jpg"), None);
}
