//! The quality gate: whether a frame is fit to classify, and what to tell the operator when
//! most of a slide's frames are not.
//!
//! Every measure is taken on a grey (and colour) copy shrunk by whole-block averaging to
//! about [`QualityThresholds::analysis_um_per_px`] micrometres per pixel, read from the
//! frame's block sums ([`FrameBlocks`]) the detector and the tracker share. Averaging
//! blocks removes sensor noise that would otherwise pass for sharpness, and fixing the
//! copy's scale in micrometres makes the focus measure mean the same at 20x and at 100x.
//!
//! **Focus** is the variance of the copy's Laplacian over the mean square of its gradient:
//! fine detail against coarse detail, so it does not depend on how dark the stain or how
//! bright the lamp is, only on how sharp the edges are at that scale (about 0.4 to 1.3 on
//! sharp real frames from two labs at 1 um per pixel; the same frames blurred by a
//! Gaussian of 1.5 um score under 0.14). A frame is out of focus when it scores under
//! [`QualityThresholds::min_focus_ratio`] of the slide's own best frames so far (the median
//! of the best [`QualityThresholds::focus_reference_frames`]), as open scopes judge focus,
//! or under the lenient absolute floor [`QualityThresholds::min_focus`].

use std::fmt;

use leukoscope_core::raster::RgbImage;
use serde::{Deserialize, Serialize};

use super::blocks::FrameBlocks;
use crate::records::{FrameQuality, RejectReason, Verdict};

/// The limits a frame must meet, as `[quality]` in a board's `board.toml` sets them.
///
/// Defaults were set on the core's synthetic smears (sharp, defocused, blank, over- and
/// underexposed frames) and on real frames from two labs at 100x; the focus measures are
/// in micrometres and relative to the slide, so they carry over to other cameras.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityThresholds {
    /// Micrometres per pixel of the copy the measures are taken on (default 1.0), met as
    /// nearly as whole groups of the detector's blocks allow; frames coarser than this are
    /// measured on the detector's blocks as they are.
    pub analysis_um_per_px: f32,
    /// Absolute floor of the focus measure (default 0.15): under it a frame is out of
    /// focus whatever the slide's other frames look like. Sharp real frames score above
    /// 0.35, frames blurred by 1.5 um under 0.14.
    pub min_focus: f32,
    /// Least share of the slide's reference focus (the median of its best frames so far)
    /// a frame needs to count as in focus (default 0.35).
    pub min_focus_ratio: f32,
    /// How many of the slide's best-focused frames so far make its reference (default 8).
    pub focus_reference_frames: u32,
    /// Variance of the copy's Laplacian (grey levels 0 to 255) below which a frame is
    /// flat: nothing in it at all (default 2). A clipped frame with more than this still shows cells the light
    /// washes out, so it is overexposed; a flat one is bare glass, so it is empty.
    pub min_structure: f32,
    /// Largest share of pixels clipped at the sensor's top in every channel (default 0.6).
    /// Bright glass clips a little in good frames, so this is far above zero.
    pub max_clipped: f32,
    /// Least mean grey level, 0 to 255, of a frame lit well enough (default 60).
    pub min_brightness: f32,
    /// Least share of the frame that must look like stained cells rather than bare glass
    /// for it to be worth classifying (default 0.05).
    pub min_stained: f32,
    /// A pixel whose light, in some channel, is below this share of the frame's glass
    /// level counts as stained (default 0.8, an optical density of about 0.1).
    pub stained_transmission: f32,
    /// Share of rejected frames above which the slide ends with advice rather than a
    /// result (default 0.5: "most frames").
    pub max_rejected_share: f32,
    /// Fewest frames seen before that advice is given, so one bad frame at the start of
    /// a scan does not end the slide (default 10).
    pub min_frames_for_advice: u32,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        QualityThresholds {
            analysis_um_per_px: 1.0,
            min_focus: 0.15,
            min_focus_ratio: 0.35,
            focus_reference_frames: 8,
            min_structure: 2.0,
            max_clipped: 0.6,
            min_brightness: 60.0,
            min_stained: 0.05,
            stained_transmission: 0.8,
            max_rejected_share: 0.5,
            min_frames_for_advice: 10,
        }
    }
}

/// Pixel level treated as clipped: JPEG round trips can turn a saturated 255 into 253.
const CLIP_LEVEL: u8 = 253;

/// The glass level's percentile when the gate shrinks a frame itself: the brightest 1 % of
/// blocks are skipped, so a few specular or hot pixels do not set it.
const GLASS_PERCENTILE: f32 = 99.0;

/// Judges one slide's frames: exposure and emptiness against fixed thresholds, focus
/// against the slide's best frames so far.
#[derive(Clone, Debug)]
pub struct QualityGate {
    thresholds: QualityThresholds,
    um_per_px: f32,
    /// The best focus values seen on this slide, best first, at most
    /// `focus_reference_frames` of them.
    best: Vec<f32>,
}

impl Default for QualityGate {
    /// The default thresholds on frames at 0.42 um per pixel.
    fn default() -> Self {
        QualityGate::new(QualityThresholds::default(), 0.42)
    }
}

impl QualityGate {
    /// A gate with these thresholds for a new slide's frames at `um_per_px`.
    pub fn new(thresholds: QualityThresholds, um_per_px: f32) -> Self {
        QualityGate {
            thresholds,
            um_per_px,
            best: Vec::new(),
        }
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> &QualityThresholds {
        &self.thresholds
    }

    /// The focus the slide's best frames so far share, which a frame is judged against:
    /// the median of the best ones that themselves pass against the very best (so a few
    /// soft frames early in a slide do not drag it down); `None` before a frame with
    /// cells in it.
    pub fn reference_focus(&self) -> Option<f32> {
        let top = *self.best.first()?;
        let n = self
            .best
            .partition_point(|&b| b >= self.thresholds.min_focus_ratio * top);
        Some(if n % 2 == 1 {
            self.best[n / 2]
        } else {
            (self.best[n / 2 - 1] + self.best[n / 2]) / 2.0
        })
    }

    /// Takes a frame an earlier run of the slide measured into the slide's best frames,
    /// as if it were assessed now (a frame that passed exposure and emptiness), so that a
    /// resumed slide goes on judging focus against its own best frames.
    pub fn recall(&mut self, earlier: &FrameQuality) {
        if matches!(
            earlier.verdict,
            Verdict::Accepted | Verdict::Rejected(RejectReason::OutOfFocus)
        ) {
            self.remember(earlier.focus);
        }
    }

    /// Takes `focus` into the slide's best frames when it is among them.
    fn remember(&mut self, focus: f32) {
        let keep = self.thresholds.focus_reference_frames.max(1) as usize;
        let at = self.best.partition_point(|&b| b >= focus);
        if at < keep {
            self.best.insert(at, focus);
            self.best.truncate(keep);
        }
    }

    /// Measures a frame and decides whether to classify it (the frame shrunk here; see
    /// [`QualityGate::assess_in`]).
    pub fn assess(&mut self, frame: &RgbImage) -> FrameQuality {
        let mut blocks = FrameBlocks::new(self.analysis_factor(), GLASS_PERCENTILE);
        blocks.shrink(frame);
        self.assess_in(frame, &blocks)
    }

    /// The block side, in frame pixels, of the copy the gate measures on.
    fn analysis_factor(&self) -> u32 {
        let factor = self.thresholds.analysis_um_per_px / self.um_per_px;
        if factor.is_finite() {
            (factor.round() as u32).clamp(1, 64)
        } else {
            1
        }
    }

    /// Measures `frame`, already shrunk into `blocks`, and decides whether to classify it.
    /// The gate reads the blocks in groups as near to its analysis width as whole groups
    /// allow.
    ///
    /// Exposure is tested first, because clipping and darkness flatten the detail the other
    /// measures read; then emptiness, because bare glass has no edges and would otherwise
    /// be blamed on the focus, which is the wrong advice. Bare glass clips at a normal
    /// exposure, so a clipped frame counts as overexposed only when some structure is
    /// left in it; a flat white frame reads as empty. A frame that passes those joins the
    /// slide's focus reference before it is judged, so the first such frame of a slide
    /// is held only to the absolute floor.
    pub fn assess_in(&mut self, frame: &RgbImage, blocks: &FrameBlocks) -> FrameQuality {
        let t = self.thresholds;
        let group = blocks.per_side(self.analysis_factor());
        let small = Shrunk::of(blocks, group);
        let clipped_fraction = clipped_fraction(frame);
        let brightness = small.mean_grey();
        let stained_fraction = small.stained_fraction(t.stained_transmission);
        let detail = small.detail();
        let verdict = if brightness < t.min_brightness {
            Verdict::Rejected(RejectReason::Underexposed)
        } else if clipped_fraction > t.max_clipped && detail.structure >= t.min_structure {
            Verdict::Rejected(RejectReason::Overexposed)
        } else if stained_fraction < t.min_stained {
            Verdict::Rejected(RejectReason::Empty)
        } else {
            self.remember(detail.focus);
            let reference = self.reference_focus().unwrap_or(detail.focus);
            if detail.focus < t.min_focus || detail.focus < t.min_focus_ratio * reference {
                Verdict::Rejected(RejectReason::OutOfFocus)
            } else {
                Verdict::Accepted
            }
        };
        let focus = detail.focus;
        FrameQuality {
            focus,
            clipped_fraction,
            brightness,
            stained_fraction,
            verdict,
        }
    }
}

/// Share of pixels at the clip level in all three channels; 0 for an empty frame.
fn clipped_fraction(frame: &RgbImage) -> f32 {
    let raw = frame.as_raw();
    let pixels = raw.len() / 3;
    if pixels == 0 {
        return 0.0;
    }
    let clipped = raw
        .chunks_exact(3)
        .filter(|p| p[0] >= CLIP_LEVEL && p[1] >= CLIP_LEVEL && p[2] >= CLIP_LEVEL)
        .count();
    clipped as f32 / pixels as f32
}

/// A frame shrunk by averaging square blocks: colour and grey, row-major, and the glass
/// level of its blocks.
struct Shrunk {
    width: usize,
    height: usize,
    rgb: Vec<[f32; 3]>,
    grey: Vec<f32>,
    glass: [f32; 3],
}

impl Shrunk {
    /// Means of `group` x `group` groups of `blocks`.
    fn of(blocks: &FrameBlocks, group: u32) -> Self {
        let side = (group * blocks.factor()) as f32;
        let scale = 1.0 / (side * side);
        let mut rgb = Vec::new();
        let (width, height) = blocks.coarsen(group, |_, _, s| {
            rgb.push([
                s[0] as f32 * scale,
                s[1] as f32 * scale,
                s[2] as f32 * scale,
            ]);
        });
        // Rec. 601 luma, as the synthetic smears' own focus test uses.
        let grey = rgb
            .iter()
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .collect();
        Shrunk {
            width: width as usize,
            height: height as usize,
            rgb,
            grey,
            glass: blocks.glass(),
        }
    }

    fn mean_grey(&self) -> f32 {
        if self.grey.is_empty() {
            return 0.0;
        }
        (self.grey.iter().map(|&g| f64::from(g)).sum::<f64>() / self.grey.len() as f64) as f32
    }

    /// The variance of the 4-neighbour Laplacian over the interior, and the focus measure:
    /// that over the mean square of the central-difference gradient. Both 0 when there is
    /// no interior or no gradient.
    fn detail(&self) -> Detail {
        let (w, h) = (self.width, self.height);
        if w < 3 || h < 3 {
            return Detail::default();
        }
        let g = &self.grey;
        let (mut sum, mut sum_sq, mut gradient) = (0.0f64, 0.0f64, 0.0f64);
        for y in 1..h - 1 {
            let (up, row, down) = (
                &g[(y - 1) * w..y * w],
                &g[y * w..(y + 1) * w],
                &g[(y + 1) * w..(y + 2) * w],
            );
            for x in 1..w - 1 {
                let l = f64::from(up[x] + down[x] + row[x - 1] + row[x + 1] - 4.0 * row[x]);
                let (gx, gy) = (
                    f64::from(row[x + 1] - row[x - 1]),
                    f64::from(down[x] - up[x]),
                );
                sum += l;
                sum_sq += l * l;
                gradient += gx * gx + gy * gy;
            }
        }
        let n = ((w - 2) * (h - 2)) as f64;
        let mean = sum / n;
        let structure = (sum_sq / n - mean * mean).max(0.0);
        // Under a hundredth of a grey level of gradient there is nothing to be sharp.
        let focus = if gradient / n > 1e-4 {
            structure / (gradient / n)
        } else {
            0.0
        };
        Detail {
            structure: structure as f32,
            focus: focus as f32,
        }
    }

    /// Share of blocks darker than `transmission` times the glass level in some channel.
    ///
    /// The glass level is taken per channel from the brightest blocks, so a tinted lamp
    /// does not read as stain. A frame covered edge to edge by cells has no glass to
    /// measure and reads lower than it is; such frames are rare in a monolayer.
    fn stained_fraction(&self, transmission: f32) -> f32 {
        if self.rgb.is_empty() {
            return 0.0;
        }
        let limit = self.glass.map(|g| g * transmission);
        let stained = self
            .rgb
            .iter()
            .filter(|p| p[0] < limit[0] || p[1] < limit[1] || p[2] < limit[2])
            .count();
        stained as f32 / self.rgb.len() as f32
    }
}

/// How much fine detail a shrunk frame holds.
#[derive(Clone, Copy, Debug, Default)]
struct Detail {
    /// Variance of the Laplacian, grey levels squared.
    structure: f32,
    /// That over the mean square gradient: the focus measure.
    focus: f32,
}

/// Frames seen on a slide, counted by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityTally {
    /// Frames accepted.
    pub accepted: u32,
    /// Frames rejected as out of focus.
    pub out_of_focus: u32,
    /// Frames rejected as overexposed.
    pub overexposed: u32,
    /// Frames rejected as underexposed.
    pub underexposed: u32,
    /// Frames rejected as empty.
    pub empty: u32,
}

impl QualityTally {
    /// Counts one frame's verdict.
    pub fn record(&mut self, verdict: Verdict) {
        let slot = match verdict {
            Verdict::Accepted => &mut self.accepted,
            Verdict::Rejected(reason) => self.slot(reason),
        };
        *slot = slot.saturating_add(1);
    }

    fn slot(&mut self, reason: RejectReason) -> &mut u32 {
        match reason {
            RejectReason::OutOfFocus => &mut self.out_of_focus,
            RejectReason::Overexposed => &mut self.overexposed,
            RejectReason::Underexposed => &mut self.underexposed,
            RejectReason::Empty => &mut self.empty,
        }
    }

    /// Frames rejected for `reason`.
    pub fn rejected_for(&self, reason: RejectReason) -> u32 {
        match reason {
            RejectReason::OutOfFocus => self.out_of_focus,
            RejectReason::Overexposed => self.overexposed,
            RejectReason::Underexposed => self.underexposed,
            RejectReason::Empty => self.empty,
        }
    }

    /// Frames rejected for any reason.
    pub fn rejected(&self) -> u32 {
        RejectReason::ALL
            .iter()
            .fold(0u32, |n, &r| n.saturating_add(self.rejected_for(r)))
    }

    /// Frames seen.
    pub fn frames(&self) -> u32 {
        self.accepted.saturating_add(self.rejected())
    }

    /// Share of frames rejected, 0 before any frame.
    pub fn rejected_share(&self) -> f32 {
        match self.frames() {
            0 => 0.0,
            n => self.rejected() as f32 / n as f32,
        }
    }

    /// Advice for the operator when more than `max_rejected_share` of at least
    /// `min_frames_for_advice` frames were rejected: the slide should then end with this
    /// message rather than a result, because its accepted frames are too few or too odd
    /// to stand for the slide. `None` while the slide's frames are mostly fine.
    pub fn advice(&self, thresholds: &QualityThresholds) -> Option<SlideAdvice> {
        let frames = self.frames();
        if frames == 0
            || frames < thresholds.min_frames_for_advice
            || self.rejected_share() <= thresholds.max_rejected_share
        {
            return None;
        }
        // The commonest reason; ties go to the one tested first, the one that hides the
        // others.
        let reason = RejectReason::ALL
            .iter()
            .copied()
            .rev()
            .max_by_key(|&r| self.rejected_for(r))?;
        Some(SlideAdvice {
            reason,
            rejected: self.rejected(),
            frames,
        })
    }
}

/// Why a slide ends without a result, and what the operator should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlideAdvice {
    /// The commonest reason frames were rejected.
    pub reason: RejectReason,
    /// Frames rejected for any reason.
    pub rejected: u32,
    /// Frames seen.
    pub frames: u32,
}

impl SlideAdvice {
    /// The operator's fix, as the UI and report print it.
    pub fn message(&self) -> &'static str {
        self.reason.remedy()
    }
}

impl fmt::Display for SlideAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} of {} frames rejected; no result for this slide)",
            self.message(),
            self.rejected,
            self.frames
        )
    }
}

#[cfg(test)]
mod tests;
