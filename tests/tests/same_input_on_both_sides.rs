//! The trainer and the edge must feed the network the same numbers for the same picture;
//! if they drifted apart, the device would silently see inputs the model never saw.

use std::path::Path;

use leukoscope_core::preprocess::{MacenkoTarget, Preprocess, ReinhardTarget, StainNormalization};
use leukoscope_core::raster::RgbImage;
use leukoscope_core::synth::{self, FieldOptions, SlideOptions, SyntheticSlide};
use leukoscope_edge::io::source::{FrameSource, Rate, ReplaySource};
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::loader::SampleSource;

fn save(image: &RgbImage, path: &Path) {
    image::RgbImage::from_raw(image.width(), image.height(), image.as_raw().to_vec())
        .unwrap()
        .save(path)
        .unwrap();
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Every preprocessing variant the artifact can carry, for a field of `size`.
fn variants(size: u32, reference: &RgbImage) -> Vec<Preprocess> {
    let base = Preprocess::field(size, size);
    vec![
        base.clone(),
        Preprocess {
            stain: StainNormalization::Reinhard(ReinhardTarget::fit(reference.view()).unwrap()),
            ..base.clone()
        },
        Preprocess {
            stain: StainNormalization::Macenko(MacenkoTarget::standard()),
            ..base.clone()
        },
        Preprocess {
            stain: StainNormalization::Grey,
            ..base.clone()
        },
        Preprocess {
            resize: leukoscope_core::preprocess::ResizeFilter::Box,
            ..Preprocess::cell(size, size)
        },
    ]
}

#[test]
fn image_files_give_identical_tensors_on_trainer_and_edge() {
    // The trainer reads a labelled file as a training sample; the edge reads the same file
    // as a frame of a replayed folder. Both must reach the network as the same numbers.
    let dir = tempfile::tempdir().unwrap();
    let reference = synth::field(0, 99, &FieldOptions::default()).unwrap().image;
    for (class, name) in [(1, "field.jpg"), (3, "field.png")] {
        let field = synth::field(class, 5, &FieldOptions::default()).unwrap();
        let folder = dir.path().join(name.replace('.', "-"));
        std::fs::create_dir(&folder).unwrap();
        let path = folder.join(name);
        save(&field.image, &path);
        let mut replay = ReplaySource::open(&folder, Rate::Unlimited).unwrap();
        let on_edge = replay
            .next_frame()
            .unwrap()
            .expect("the folder's frame")
            .image;
        for (size, preprocess) in [224, 96]
            .into_iter()
            .flat_map(|s| variants(s, &reference).into_iter().map(move |p| (s, p)))
        {
            let on_trainer = ImageFiles::new([(path.clone(), class)], preprocess.clone(), None);
            let a = on_trainer.input(0, 0, 7).unwrap();
            let b = preprocess.run_to_vec(on_edge.view()).unwrap();
            assert_eq!(
                bits(&a),
                bits(&b),
                "{name} at {size}: {:?}",
                preprocess.stain
            );
        }
    }
}

#[test]
fn a_window_of_a_frame_gives_the_tensor_of_the_same_crop_saved_for_training() {
    // The edge cuts a window around each cell out of the full camera frame; a training
    // image is the same pixels saved on their own. Both must give the same input.
    let slide = SyntheticSlide::new(3, SlideOptions::default()).unwrap();
    let frame = slide.frame(0).unwrap();
    let cell = frame
        .cells
        .first()
        .expect("the default slide has cells in its first frame");
    let side = 224u32;
    let x = (cell.truth.center[0] as i64 - i64::from(side / 2))
        .clamp(0, i64::from(frame.image.width() - side)) as u32;
    let y = (cell.truth.center[1] as i64 - i64::from(side / 2))
        .clamp(0, i64::from(frame.image.height() - side)) as u32;

    let dir = tempfile::tempdir().unwrap();
    let frame_path = dir.path().join("frame.png");
    let crop_path = dir.path().join("crop.png");
    save(&frame.image, &frame_path);
    save(
        &frame.image.view().window(x, y, side, side).to_image(),
        &crop_path,
    );

    let on_edge = leukoscope_core::files::load_rgb(&frame_path).unwrap();
    let window = on_edge.view().window(x, y, side, side);
    let on_trainer = leukoscope_core::files::load_rgb(&crop_path).unwrap();
    for preprocess in variants(224, &on_trainer) {
        let a = preprocess.run_to_vec(on_trainer.view()).unwrap();
        let b = preprocess.run_to_vec(window).unwrap();
        assert_eq!(bits(&a), bits(&b), "{:?}", preprocess.stain);
    }
}
