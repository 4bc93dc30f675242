use super::*;

#[test]
fn windows_clip_and_copy() {
    let mut image = RgbImage::filled(5, 4, [1, 2, 3]);
    image.put(3, 2, [9, 9, 9]);
    image.put(7, 7, [9, 9, 9]);
    let view = image.view().window(2, 1, 10, 10);
    assert_eq!((view.width(), view.height()), (3, 3));
    assert_eq!(view.get(1, 1), Some([9, 9, 9]));
    assert_eq!(view.get(3, 0), None);
    let copy = view.to_image();
    assert_eq!(copy.get(1, 1), Some([9, 9, 9]));
    assert_eq!(copy.as_raw().len(), 27);
    let empty = image.view().window(9, 9, 4, 4);
    assert_eq!((empty.width(), empty.height()), (0, 0));
    assert!(RgbImage::from_raw(2, 2, vec![0; 11]).is_err());
}
