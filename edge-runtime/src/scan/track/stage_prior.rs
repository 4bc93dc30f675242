//! The stage's position as the tracker's prior. On a motorized scan each frame says where
//! the stage stood, so how far the frame moved is known before its pixels are read, up to
//! how the camera sits on the microscope (turned by quarter turns, mirrored by the
//! optics): the prior learns that from the moves phase correlation measures with
//! confidence. Once it knows enough to predict a move, a frame phase correlation cannot
//! place (glass in the overlap, a blurred field) is placed where the stage says instead of
//! starting a new map, where its cells would be counted again; and a placement far from
//! the stage's (a periodic pattern read at an alias) is overruled.

/// One of the eight ways the camera's axes can lie on the stage's.
#[derive(Clone, Copy, Debug)]
struct Orientation {
    /// The camera's x runs along the stage's y.
    swap: bool,
    sx: f64,
    sy: f64,
}

impl Orientation {
    /// Frame pixels moved for a stage move of `d` pixels.
    fn apply(self, d: (f64, f64)) -> (f64, f64) {
        let (a, b) = if self.swap { (d.1, d.0) } else { d };
        (self.sx * a, self.sy * b)
    }
}

const ORIENTATIONS: [Orientation; 8] = {
    let mut all = [Orientation {
        swap: false,
        sx: 1.0,
        sy: 1.0,
    }; 8];
    let mut i = 0;
    while i < 8 {
        all[i] = Orientation {
            swap: i & 4 != 0,
            sx: if i & 1 != 0 { -1.0 } else { 1.0 },
            sy: if i & 2 != 0 { -1.0 } else { 1.0 },
        };
        i += 1;
    }
    all
};

/// Stage moves shorter than this, in frame pixels, teach nothing of the orientation.
const MIN_LESSON_PX: f64 = 10.0;

/// Whether two moves, in frame pixels, are the same within what registration and the
/// stage's steps allow: 3 px, or 5 % of the move.
pub(super) fn agree(a: (f64, f64), b: (f64, f64)) -> bool {
    let tolerance = (0.05 * b.0.hypot(b.1)).max(3.0);
    (a.0 - b.0).hypot(a.1 - b.1) <= tolerance
}

/// What the tracker knows of the stage.
#[derive(Clone, Debug)]
pub(super) struct StagePrior {
    um_per_px: f64,
    /// The orientations every confident placement so far agreed with, one bit each.
    candidates: u8,
    /// Where the stage stood for the frame before, µm.
    last: Option<[f64; 2]>,
}

impl StagePrior {
    /// A prior for frames of `um_per_px`, knowing nothing of the camera's orientation.
    pub(super) fn new(um_per_px: f32) -> Self {
        StagePrior {
            um_per_px: f64::from(um_per_px),
            candidates: 0xff,
            last: None,
        }
    }

    /// Forgets the stage's last position (a new slide, or a frame without one); the
    /// camera's orientation stays learnt.
    pub(super) fn forget_position(&mut self) {
        self.last = None;
    }

    /// The frame now read was taken at `stage` (µm from home), or the source does not
    /// say: returns the stage's move since the frame before, in frame pixels, when both
    /// said where they were.
    pub(super) fn frame_at(&mut self, stage: Option<[f64; 2]>) -> Option<(f64, f64)> {
        let moved = match (self.last, stage) {
            (Some(a), Some(b)) => Some((
                (b[0] - a[0]) / self.um_per_px,
                (b[1] - a[1]) / self.um_per_px,
            )),
            _ => None,
        };
        self.last = stage;
        moved
    }

    /// Where the frame's corner moved for a stage move of `moved` frame pixels, when
    /// every orientation still possible says the same (a move along one axis needs only
    /// that axis learnt).
    pub(super) fn predict(&self, moved: (f64, f64)) -> Option<(f64, f64)> {
        let mut predictions = ORIENTATIONS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.candidates & (1 << i) != 0)
            .map(|(_, o)| o.apply(moved));
        let first = predictions.next()?;
        predictions.all(|p| agree(p, first)).then_some(first)
    }

    /// Learns from a move phase correlation measured with confidence: `motion`, frame
    /// pixels, for a stage move of `moved`. A measurement that fits no orientation still
    /// possible teaches nothing (an alias, or a step the motor skipped).
    pub(super) fn learn(&mut self, moved: (f64, f64), motion: (f64, f64)) {
        if moved.0.hypot(moved.1) < MIN_LESSON_PX {
            return;
        }
        let fits = ORIENTATIONS
            .iter()
            .enumerate()
            .filter(|(_, o)| agree(motion, o.apply(moved)))
            .fold(0u8, |m, (i, _)| m | (1 << i));
        if self.candidates & fits != 0 {
            self.candidates &= fits;
        }
    }
}

#[cfg(test)]
mod tests;
