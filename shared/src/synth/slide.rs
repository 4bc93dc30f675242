//! A virtual slide: a large world of cells at known positions, scanned frame by frame along
//! a serpentine path whose frames overlap, so the edge runtime's tracker, counter and
//! quality gate can be tested against ground truth.
//!
//! White cells are placed once and indexed by tile; red cells and platelets are scattered
//! per tile from the tile's own seed whenever a frame needs them, so a slide costs memory
//! only for its white cells and a frame only touches the tiles it shows.

use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::raster::RgbImage;

use super::morphology::{MAX_REACH, WhiteCell};
use super::paint::{Canvas, box_blur, value_noise};
use super::random::{Dice, mix};
use super::scene::{Crowd, RED_REACH, RedRim, TILE};
use super::stain::Stain;
use super::{CellTruth, SynthError, pixel_box};

const LOOK: u64 = 0x534C_4F4B;
const PLACE: u64 = 0x504C_4143;
const TILES: u64 = 0x5449_4C45;
const FRAME: u64 = 0x4652_414D;
const DEFECT: u64 = 0x4445_4645;

/// Largest world side, in pixels at the reference scale (42 mm).
const WORLD_MAX: f32 = 100_000.0;
/// Most frames a scan may have.
const FRAMES_MAX: u64 = 10_000_000;
/// Most white cells a slide may hold.
const CELLS_MAX: f32 = 1_000_000.0;
/// Strongest blur a defocus defect applies.
const DEFOCUS_MAX: u32 = 64;

/// Something wrong with a frame, for testing the quality gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Defect {
    /// Out of focus: a blur of about this many pixels' standard deviation (1 to 64).
    Defocus(u32),
    /// Too much light: the background and pale cells saturate.
    Overexposed,
    /// The stage is off the smear: clean glass, no cells.
    Empty,
}

/// How a [`SyntheticSlide`] is laid out and scanned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlideOptions {
    /// Micrometres per pixel of the camera, 0.02 to 1: by default
    /// [`super::MICROMETRES_PER_PIXEL`], the scale of the 4-class reference images; about
    /// 0.05 to 0.12 at 100x oil on a full-HD camera, 0.2 to 0.3 at 40x, 0.6 at 20x. Cells keep their size in micrometres,
    /// so at 0.1 um per pixel a white cell is about 120 pixels across.
    pub um_per_px: f32,
    /// World width in pixels (at `um_per_px`), at least the frame's; at most 42 mm.
    pub world_width: u32,
    /// World height in pixels, at least the frame's; at most 42 mm.
    pub world_height: u32,
    /// Frame width in pixels, 16 to 8192.
    pub frame_width: u32,
    /// Frame height in pixels, 16 to 8192.
    pub frame_height: u32,
    /// Stage step between frames as a share of the frame size, 0.05 to 1; below 1
    /// consecutive frames overlap.
    pub step_fraction: f32,
    /// Mean number of white cells in one frame's area.
    pub white_cells_per_frame: f32,
    /// Relative weights of the four classes among white cells.
    pub class_mix: [f32; 4],
    /// Red cells' total disc area over the smear's area, 0 to 3 (about 0.8 in a good
    /// monolayer); the smear thickens and thins around this across the slide.
    pub red_cell_crowding: f32,
    /// Chance, 0 to 1, that a frame not listed in `defects` gets a random defect.
    pub defect_rate: f32,
    /// Defects for given frame indices; they override `defect_rate`. Indices past the end
    /// of the scan are ignored.
    pub defects: Vec<(u32, Defect)>,
}

impl Default for SlideOptions {
    fn default() -> Self {
        SlideOptions {
            um_per_px: super::MICROMETRES_PER_PIXEL,
            world_width: 12_000,
            world_height: 8_000,
            frame_width: 1920,
            frame_height: 1080,
            step_fraction: 0.6,
            white_cells_per_frame: 5.0,
            class_mix: [0.25; 4],
            red_cell_crowding: 0.8,
            defect_rate: 0.0,
            defects: Vec::new(),
        }
    }
}

/// A white cell as one frame sees it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameCell {
    /// The cell with frame-relative centre and box, the box clipped to the frame.
    pub truth: CellTruth,
    /// Whether the whole cell lies inside the frame.
    pub fully_visible: bool,
}

/// One rendered frame of a scan.
#[derive(Clone, Debug, PartialEq)]
pub struct SlideFrame {
    /// The picture, `frame_width` x `frame_height`.
    pub image: RgbImage,
    /// Position in the scan.
    pub index: u32,
    /// World position `[x, y]` of the frame's top-left pixel (whole pixels).
    pub stage: [f32; 2],
    /// Every white cell whose box lies at least partly in the frame, by id; none when the
    /// frame is [`Defect::Empty`].
    pub cells: Vec<FrameCell>,
    /// The defect applied to this frame, if any.
    pub defect: Option<Defect>,
}

/// A deterministic virtual slide.
#[derive(Clone, Debug)]
pub struct SyntheticSlide {
    seed: u64,
    options: SlideOptions,
    stain: Stain,
    whites: Vec<WhiteCell>,
    truths: Vec<CellTruth>,
    index: Grid,
    /// Frames per row of the scan, and rows.
    path: [u32; 2],
    /// Stage step in pixels.
    step: [u32; 2],
    /// World units (reference pixels) per pixel of the frames.
    zoom: f32,
}

impl SyntheticSlide {
    /// Lays out a slide. Errors name the first option out of range.
    pub fn new(seed: u64, options: SlideOptions) -> Result<Self, SynthError> {
        check(&options)?;
        let o = &options;
        let step = [
            ((o.frame_width as f32 * o.step_fraction) as u32).max(1),
            ((o.frame_height as f32 * o.step_fraction) as u32).max(1),
        ];
        let path = [
            (o.world_width - o.frame_width).div_ceil(step[0]) + 1,
            (o.world_height - o.frame_height).div_ceil(step[1]) + 1,
        ];
        if u64::from(path[0]) * u64::from(path[1]) > FRAMES_MAX {
            return Err(bad(
                "step_fraction",
                "large enough for at most ten million frames",
            ));
        }

        let stain = Stain::draw(&mut Dice::new(mix(seed, LOOK)));
        let mut dice = Dice::new(mix(seed, PLACE));
        let zoom = zoom(o);
        // Cells live in world units; the world is the same area at any scale.
        let (w, h) = (o.world_width as f32 * zoom, o.world_height as f32 * zoom);
        let frames = o.world_width as f32 * o.world_height as f32
            / (o.frame_width as f32 * o.frame_height as f32);
        let wanted = (o.white_cells_per_frame * frames + dice.unit()) as usize;
        let tiles = [
            (libm::ceilf(w / TILE) as u32).max(1),
            (libm::ceilf(h / TILE) as u32).max(1),
        ];
        let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); tiles[0] as usize * tiles[1] as usize];
        let mut whites: Vec<WhiteCell> = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let class = dice.pick(&o.class_mix) as u32;
            let mut cell = WhiteCell::sample(class, &mut dice);
            let reach = cell.reach() + 1.0;
            for _ in 0..20 {
                cell.center = [dice.range(reach, w - reach), dice.range(reach, h - reach)];
                let [tx, ty] = tile_of(cell.center, tiles);
                let crowded = neighbours(tx, ty, tiles).any(|t| {
                    buckets[t].iter().any(|&j| {
                        let other = &whites[j as usize];
                        let dx = other.center[0] - cell.center[0];
                        let dy = other.center[1] - cell.center[1];
                        let near = 0.9 * (other.reach() + cell.reach());
                        dx * dx + dy * dy < near * near
                    })
                });
                if !crowded {
                    buckets[(ty * tiles[0] + tx) as usize].push(whites.len() as u32);
                    whites.push(cell.clone());
                    break;
                }
            }
        }
        let truths = whites
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| {
                let bounds = in_pixels(cell.bounds(), zoom);
                pixel_box(bounds, [0, 0], o.world_width, o.world_height).map(|bbox| CellTruth {
                    id: i as u32,
                    class: cell.class,
                    center: [cell.center[0] / zoom, cell.center[1] / zoom],
                    bbox,
                })
            })
            .collect();
        Ok(SyntheticSlide {
            seed,
            stain,
            whites,
            truths,
            index: Grid::from_buckets(tiles, buckets),
            path,
            step,
            zoom,
            options,
        })
    }

    /// The options the slide was made with.
    pub fn options(&self) -> &SlideOptions {
        &self.options
    }

    /// Every white cell, in pixels of the whole world, ids `0..len`.
    pub fn cells(&self) -> &[CellTruth] {
        &self.truths
    }

    /// Frames in the scan; together they cover the whole world.
    pub fn frame_count(&self) -> u32 {
        self.path[0] * self.path[1]
    }

    /// World position `[x, y]` of frame `index`'s top-left pixel, in pixels: rows of
    /// frames left to right, then right to left, top to bottom, the last of each row and
    /// column flush with the world's edge. `None` past the end of the scan.
    pub fn stage(&self, index: u32) -> Option<[f32; 2]> {
        self.stage_px(index).map(|[x, y]| [x as f32, y as f32])
    }

    fn stage_px(&self, index: u32) -> Option<[u32; 2]> {
        if index >= self.frame_count() {
            return None;
        }
        let o = &self.options;
        let row = index / self.path[0];
        let mut column = index % self.path[0];
        if row % 2 == 1 {
            column = self.path[0] - 1 - column;
        }
        Some([
            (column * self.step[0]).min(o.world_width - o.frame_width),
            (row * self.step[1]).min(o.world_height - o.frame_height),
        ])
    }

    /// The defect frame `index` gets: listed ones first, then a draw at `defect_rate`.
    pub fn defect(&self, index: u32) -> Option<Defect> {
        if let Some((_, d)) = self.options.defects.iter().find(|(i, _)| *i == index) {
            return Some(match *d {
                Defect::Defocus(r) => Defect::Defocus(r.clamp(1, DEFOCUS_MAX)),
                other => other,
            });
        }
        let mut dice = Dice::new(mix(mix(self.seed, DEFECT), u64::from(index)));
        if !dice.chance(self.options.defect_rate) {
            return None;
        }
        Some(match dice.below(3) {
            0 => Defect::Defocus(3 + dice.below(6)),
            1 => Defect::Overexposed,
            _ => Defect::Empty,
        })
    }

    /// Renders frame `index` of the scan.
    pub fn frame(&self, index: u32) -> Result<SlideFrame, SynthError> {
        let count = self.frame_count();
        let [sx, sy] = self
            .stage_px(index)
            .ok_or(SynthError::FrameOutOfRange { index, count })?;
        let defect = self.defect(index);
        let (fw, fh) = (self.options.frame_width, self.options.frame_height);
        let origin = [sx as f32, sy as f32];
        let zoom = self.zoom;
        // What the frame shows, in world units.
        let corner = [origin[0] * zoom, origin[1] * zoom];
        let view = [
            corner[0],
            corner[1],
            corner[0] + fw as f32 * zoom,
            corner[1] + fh as f32 * zoom,
        ];

        let mut dice = Dice::new(mix(mix(self.seed, FRAME), u64::from(index)));
        let gain = if defect == Some(Defect::Overexposed) {
            dice.range(1.7, 2.4)
        } else {
            1.0
        };
        let light = self.stain.light(&mut dice, gain);

        let mut shown = Vec::new();
        if defect != Some(Defect::Empty) {
            self.index.query(grow(view, MAX_REACH), &mut shown);
            shown.retain(|&i| overlaps(self.whites[i as usize].bounds(), view));
            shown.sort_unstable();
        }
        let image = if defect == Some(Defect::Empty) {
            Canvas::new(fw, fh, corner, zoom, [0.0; 3]).develop(&light)
        } else {
            let mut canvas = Canvas::new(fw, fh, corner, zoom, self.stain.plasma);
            self.paint_crowd(&mut canvas, view);
            for &i in &shown {
                self.whites[i as usize].paint(&mut canvas, &self.stain);
            }
            let mut image = canvas.develop(&light);
            if let Some(Defect::Defocus(r)) = defect {
                box_blur(&mut image, r, 3);
            }
            image
        };

        let cells = shown
            .iter()
            .filter_map(|&i| {
                let world = &self.truths[i as usize];
                let bbox = pixel_box(
                    in_pixels(self.whites[i as usize].bounds(), zoom),
                    [i64::from(sx), i64::from(sy)],
                    fw,
                    fh,
                )?;
                let b = world.bbox;
                Some(FrameCell {
                    truth: CellTruth {
                        id: world.id,
                        class: world.class,
                        center: [world.center[0] - origin[0], world.center[1] - origin[1]],
                        bbox,
                    },
                    fully_visible: b.x >= sx
                        && b.y >= sy
                        && b.x + b.width <= sx + fw
                        && b.y + b.height <= sy + fh,
                })
            })
            .collect();
        Ok(SlideFrame {
            image,
            index,
            stage: origin,
            cells,
            defect,
        })
    }

    /// Scatters and paints the red cells and platelets of every tile that reaches `view`.
    fn paint_crowd(&self, canvas: &mut Canvas, view: [f32; 4]) {
        let tiles = self.index.tiles;
        let reach = grow(view, RED_REACH);
        let t0 = [
            (reach[0].max(0.0) / TILE) as u32,
            (reach[1].max(0.0) / TILE) as u32,
        ];
        let t1 = [
            ((reach[2] / TILE) as u32).min(tiles[0] - 1),
            ((reach[3] / TILE) as u32).min(tiles[1] - 1),
        ];
        let mut crowd = Crowd::default();
        let mut blockers = Vec::new();
        for ty in t0[1]..=t1[1] {
            for tx in t0[0]..=t1[0] {
                let origin = [tx as f32 * TILE, ty as f32 * TILE];
                blockers.clear();
                let tile = [origin[0], origin[1], origin[0] + TILE, origin[1] + TILE];
                self.index.query(grow(tile, MAX_REACH), &mut blockers);
                let tag = (u64::from(ty) << 32) | u64::from(tx);
                let mut dice = Dice::new(mix(mix(self.seed, TILES), tag));
                crowd.clear();
                crowd.scatter_tile(&mut dice, origin, self.crowding(origin), 6e-5, |p| {
                    blockers.iter().any(|&i| self.whites[i as usize].covers(p))
                });
                crowd.paint(canvas, self.stain.red, self.stain.platelet, RedRim::Optical);
            }
        }
    }

    /// The smear thickens and thins over millimetres, as a hand-pulled smear does.
    fn crowding(&self, at: [f32; 2]) -> f32 {
        let n = value_noise(
            at[0] / 1600.0,
            at[1] / 1600.0,
            self.seed as u32 ^ 0xC0FF_EE00,
        );
        self.options.red_cell_crowding * (0.55 + 0.9 * n)
    }
}

/// World units per pixel of the frames.
fn zoom(o: &SlideOptions) -> f32 {
    o.um_per_px / super::MICROMETRES_PER_PIXEL
}

/// A world-unit extent `[x0, y0, x1, y1]` in pixels of the frames.
fn in_pixels(b: [f32; 4], zoom: f32) -> [f32; 4] {
    [b[0] / zoom, b[1] / zoom, b[2] / zoom, b[3] / zoom]
}

fn bad(option: &'static str, expected: &'static str) -> SynthError {
    SynthError::BadOption { option, expected }
}

fn check(o: &SlideOptions) -> Result<(), SynthError> {
    if !(0.02..=1.0).contains(&o.um_per_px) {
        return Err(bad("um_per_px", "between 0.02 and 1"));
    }
    if !(16..=8192).contains(&o.frame_width) {
        return Err(bad("frame_width", "between 16 and 8192"));
    }
    if !(16..=8192).contains(&o.frame_height) {
        return Err(bad("frame_height", "between 16 and 8192"));
    }
    let zoom = zoom(o);
    if o.world_width < o.frame_width || o.world_width as f32 * zoom > WORLD_MAX {
        return Err(bad("world_width", "at least frame_width and at most 42 mm"));
    }
    if o.world_height < o.frame_height || o.world_height as f32 * zoom > WORLD_MAX {
        return Err(bad(
            "world_height",
            "at least frame_height and at most 42 mm",
        ));
    }
    if !(0.05..=1.0).contains(&o.step_fraction) {
        return Err(bad("step_fraction", "between 0.05 and 1"));
    }
    let frames = o.world_width as f32 * o.world_height as f32
        / (o.frame_width as f32 * o.frame_height as f32);
    if !(o.white_cells_per_frame >= 0.0 && o.white_cells_per_frame * frames <= CELLS_MAX) {
        return Err(bad(
            "white_cells_per_frame",
            "at least 0, and at most a million cells in all",
        ));
    }
    let mix_ok = o.class_mix.iter().all(|w| w.is_finite() && *w >= 0.0);
    if !mix_ok || o.class_mix.iter().sum::<f32>() <= 0.0 {
        return Err(bad("class_mix", "non-negative weights, not all zero"));
    }
    if !(0.0..=3.0).contains(&o.red_cell_crowding) {
        return Err(bad("red_cell_crowding", "between 0 and 3"));
    }
    if !(0.0..=1.0).contains(&o.defect_rate) {
        return Err(bad("defect_rate", "between 0 and 1"));
    }
    Ok(())
}

fn grow(b: [f32; 4], by: f32) -> [f32; 4] {
    [b[0] - by, b[1] - by, b[2] + by, b[3] + by]
}

fn overlaps(a: [f32; 4], b: [f32; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn tile_of(p: [f32; 2], tiles: [u32; 2]) -> [u32; 2] {
    [
        ((p[0].max(0.0) / TILE) as u32).min(tiles[0] - 1),
        ((p[1].max(0.0) / TILE) as u32).min(tiles[1] - 1),
    ]
}

/// Indices of the tile at `(tx, ty)` and its eight neighbours that exist.
fn neighbours(tx: u32, ty: u32, tiles: [u32; 2]) -> impl Iterator<Item = usize> {
    let xs = tx.saturating_sub(1)..=(tx + 1).min(tiles[0] - 1);
    let ys = ty.saturating_sub(1)..=(ty + 1).min(tiles[1] - 1);
    ys.flat_map(move |y| xs.clone().map(move |x| (y * tiles[0] + x) as usize))
}

/// White cells bucketed by the tile their centre lies in (compressed rows).
#[derive(Clone, Debug)]
struct Grid {
    tiles: [u32; 2],
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Grid {
    fn from_buckets(tiles: [u32; 2], buckets: Vec<Vec<u32>>) -> Self {
        let mut starts = Vec::with_capacity(buckets.len() + 1);
        let mut items = Vec::new();
        starts.push(0);
        for bucket in buckets {
            items.extend_from_slice(&bucket);
            starts.push(items.len() as u32);
        }
        Grid {
            tiles,
            starts,
            items,
        }
    }

    /// Appends the cells whose centre lies in a tile that `area` touches.
    fn query(&self, area: [f32; 4], out: &mut Vec<u32>) {
        let [x0, y0] = tile_of([area[0], area[1]], self.tiles);
        let [x1, y1] = tile_of([area[2], area[3]], self.tiles);
        for ty in y0..=y1 {
            for tx in x0..=x1 {
                let t = (ty * self.tiles[0] + tx) as usize;
                out.extend_from_slice(
                    &self.items[self.starts[t] as usize..self.starts[t + 1] as usize],
                );
            }
        }
    }
}
