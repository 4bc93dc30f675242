use super::*;
use crate::io::source::ErrorKind;

fn small() -> SlideOptions {
    SlideOptions {
        world_width: 400,
        world_height: 200,
        frame_width: 160,
        frame_height: 120,
        white_cells_per_frame: 2.0,
        defects: vec![(1, Defect::Empty)],
        ..SlideOptions::default()
    }
}

#[test]
fn scans_the_slide_with_its_truth() {
    let mut source = SyntheticSource::new(7, small(), Rate::Unlimited).unwrap();
    let count = source.slide().frame_count();
    assert!(count > 2);
    assert!(source.describe().contains("seed 7"));
    let mut seen = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        assert_eq!(frame.index, seen);
        assert_eq!((frame.image.width(), frame.image.height()), (160, 120));
        let truth = source.last_truth().unwrap();
        assert_eq!(truth.index, frame.index);
        assert_eq!(truth.stage, source.slide().stage(seen as u32).unwrap());
        if seen == 1 {
            assert_eq!(truth.defect, Some(Defect::Empty));
            assert!(truth.cells.is_empty());
        }
        seen += 1;
    }
    assert_eq!(seen, u64::from(count));

    // The same seed renders the same pixels; a range keeps the slide's indices.
    let mut part = SyntheticSource::new(7, small(), Rate::Unlimited)
        .unwrap()
        .frames(2..3);
    let again = part.next_frame().unwrap().unwrap();
    let first = SyntheticSource::new(7, small(), Rate::Unlimited)
        .unwrap()
        .slide()
        .frame(2)
        .unwrap();
    assert_eq!((again.index, &again.image), (2, &first.image));
    assert!(part.next_frame().unwrap().is_none());
}

#[test]
fn bad_options_are_fatal() {
    let options = SlideOptions {
        frame_width: 4,
        ..small()
    };
    let err = SyntheticSource::new(1, options, Rate::Unlimited).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
    assert!(err.to_string().contains("frame_width"));
}
