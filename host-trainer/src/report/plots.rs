//! PNG plots of a run: learning curves, the confusion matrix and one-vs-rest ROC curves.
//!
//! Drawn with plotters into an in-memory RGB buffer and encoded with the `image` crate,
//! which the trainer already uses, so plotters needs neither its own PNG encoder nor system
//! fonts: text comes from a subset of DejaVu Sans built into the binary (see
//! `host-trainer/assets/fonts/README.md`), rendered by ab_glyph.

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontTransform, register_font};

use super::{EpochRecord, ReportError, write_atomically};
use crate::metrics::{Evaluation, roc_curve, validate};
use leukoscope_core::taxonomy::Taxonomy;

/// The family name plotters looks fonts up by; its own default labels use this one too.
const FAMILY: &str = "sans-serif";
static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold-subset.ttf");

/// Categorical colours (matplotlib's tab10), distinguishable and familiar from papers.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
const INK: RGBColor = RGBColor(40, 40, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);

type DrawResult = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers the built-in fonts with plotters once per process.
fn fonts() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, REGULAR).is_ok()
            && register_font(FAMILY, FontStyle::Bold, BOLD).is_ok()
    });
    if ok { Ok(()) } else { Err(ReportError::Font) }
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&INK)
}

fn bold(size: f64) -> TextStyle<'static> {
    (FAMILY, size, FontStyle::Bold).into_font().color(&INK)
}

/// Draws on a white `width` × `height` canvas with `draw`, then writes it as PNG to `path`.
fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<(), ReportError> {
    fonts()?;
    let plot_error = |e: Box<dyn Error>| ReportError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(&root).map_err(plot_error)?;
        root.present().map_err(|e| plot_error(e.into()))?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels).ok_or(ReportError::Plot {
        path: path.to_owned(),
        message: "the canvas does not match its size".into(),
    })?;
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|source| ReportError::Encode {
            path: path.to_owned(),
            source,
        })?;
    write_atomically(path, png.get_ref())
}

/// Lowest and highest finite value, or `None` when there is none.
fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// One line of a learning-curve panel.
struct Curve {
    name: &'static str,
    color: RGBColor,
    value: fn(&EpochRecord) -> f64,
}

/// Learning curves: loss (left) and accuracy with validation macro F1 (right), train and
/// validation, against the epoch. The epoch of best validation macro F1 is marked. Non-finite
/// values (a diverged loss) are left out of the lines rather than failing the plot.
pub fn plot_curves(path: &Path, records: &[EpochRecord]) -> Result<(), ReportError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Err(ReportError::Empty {
            path: path.to_owned(),
            what: "no epochs recorded",
        });
    };
    // One epoch still gets a visible axis.
    let epochs = first.epoch.min(last.epoch) as f64 - 0.5..first.epoch.max(last.epoch) as f64 + 0.5;
    let best = records
        .iter()
        .filter(|r| r.valid_macro_f1.is_finite())
        .fold(None::<&EpochRecord>, |best, r| match best {
            Some(b) if b.valid_macro_f1 >= r.valid_macro_f1 => Some(b),
            _ => Some(r),
        });
    let losses = [
        Curve {
            name: "train",
            color: PALETTE[0],
            value: |r| r.train_loss,
        },
        Curve {
            name: "validation",
            color: PALETTE[1],
            value: |r| r.valid_loss,
        },
    ];
    let accuracies = [
        Curve {
            name: "train accuracy",
            color: PALETTE[0],
            value: |r| r.train_accuracy,
        },
        Curve {
            name: "validation accuracy",
            color: PALETTE[1],
            value: |r| r.valid_accuracy,
        },
        Curve {
            name: "validation macro F1",
            color: PALETTE[2],
            value: |r| r.valid_macro_f1,
        },
    ];
    let loss_top = finite_range(records.iter().flat_map(|r| [r.train_loss, r.valid_loss]))
        .map_or(1.0, |(_, hi)| hi.max(1e-6) * 1.08);
    // Accuracy from 0 would squash a good run into the top tenth; start at the tenth below
    // the lowest value instead.
    let accuracy_bottom = finite_range(
        records
            .iter()
            .flat_map(|r| [r.train_accuracy, r.valid_accuracy, r.valid_macro_f1]),
    )
    .map_or(0.0, |(lo, _)| ((lo * 10.0).floor() / 10.0).clamp(0.0, 0.9));

    render(path, (1400, 560), |root| {
        root.fill(&WHITE)?;
        let root = root
            .margin(14, 0, 0, 0)
            .titled("Learning curves", bold(28.0))?;
        let (left, right) = root.split_horizontally(700);
        panel(
            &left,
            "Loss",
            "loss",
            epochs.clone(),
            0.0..loss_top,
            records,
            &losses,
            best,
            SeriesLabelPosition::UpperRight,
        )?;
        panel(
            &right,
            "Accuracy and macro F1",
            "fraction of images",
            epochs.clone(),
            accuracy_bottom..1.0,
            records,
            &accuracies,
            best,
            SeriesLabelPosition::LowerRight,
        )
    })
}

#[allow(clippy::too_many_arguments)] // One call site per panel; a struct would only rename them.
fn panel(
    area: &Area<'_>,
    caption: &str,
    y_desc: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    records: &[EpochRecord],
    curves: &[Curve],
    best: Option<&EpochRecord>,
    legend: SeriesLabelPosition,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, bold(22.0))
        .margin_left(20)
        .margin_right(30)
        .margin_bottom(10)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x.clone(), y.clone())?;
    let whole_epochs = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{}", v.round())
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_label_formatter(&whole_epochs)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style(font(16.0))
        .axis_desc_style(font(18.0))
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .axis_style(INK)
        .draw()?;
    if let Some(best) = best {
        let at = best.epoch as f64;
        chart
            .draw_series(DashedLineSeries::new(
                [(at, y.start), (at, y.end)],
                6,
                4,
                RGBColor(150, 150, 150).stroke_width(2),
            ))?
            .label(format!("best epoch ({})", best.epoch))
            .legend(|(x, y)| {
                DashedPathElement::new(
                    [(x, y), (x + 24, y)],
                    6,
                    4,
                    RGBColor(150, 150, 150).stroke_width(2),
                )
            });
    }
    for curve in curves {
        let points: Vec<(f64, f64)> = records
            .iter()
            .map(|r| (r.epoch as f64, (curve.value)(r)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let color = curve.color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))?
            .label(curve.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
        // Markers keep single epochs visible and show where the measurements are.
        if points.len() <= 60 {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend)
        .margin(12)
        .legend_area_size(34)
        .label_font(font(16.0))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    Ok(())
}

/// matplotlib's "Blues" map at `t` ∈ [0, 1], linearly interpolated between its nine stops.
fn blues(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (247, 251, 255),
        (222, 235, 247),
        (198, 219, 239),
        (158, 202, 225),
        (107, 174, 214),
        (66, 146, 198),
        (33, 113, 181),
        (8, 81, 156),
        (8, 48, 107),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Confusion matrix as a heat map: each cell shows its count and its share of the true
/// class (row), and is shaded by that share, so a rare class's errors stand out as much as
/// a common one's. Rows are the true class, columns the prediction.
pub fn plot_confusion(path: &Path, evaluation: &Evaluation) -> Result<(), ReportError> {
    let n = evaluation.classes.len();
    if n == 0
        || evaluation.confusion.len() != n
        || evaluation.confusion.iter().any(|r| r.len() != n)
    {
        return Err(ReportError::Empty {
            path: path.to_owned(),
            what: "the confusion matrix is empty or not square over the classes",
        });
    }
    let (width, height) = (1100u32, 900u32);
    let (top, left, bottom, right) = (90i32, 230i32, 120i32, 150i32);
    let cell = ((width as i32 - left - right) / n as i32)
        .min((height as i32 - top - bottom) / n as i32)
        .max(1);
    let grid = cell * n as i32;
    // Centre the grid in the space left over by a non-square matrix area.
    let x0 = left + (width as i32 - left - right - grid) / 2;
    let y0 = top;
    let label_size = (cell as f64 * 0.1).clamp(12.0, 20.0);
    let count_size = (cell as f64 * 0.16).clamp(11.0, 32.0);
    let centre = Pos::new(HPos::Center, VPos::Center);

    render(path, (width, height), |root| {
        root.fill(&WHITE)?;
        let title = format!(
            "Confusion matrix · {} · {} images",
            evaluation.taxonomy, evaluation.n_images
        );
        root.draw_text(
            &title,
            &bold(28.0).pos(Pos::new(HPos::Center, VPos::Top)),
            (width as i32 / 2, 22),
        )?;
        for (t, row) in evaluation.confusion.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                let (cx, cy) = (x0 + p as i32 * cell, y0 + t as i32 * cell);
                root.draw(&Rectangle::new(
                    [(cx, cy), (cx + cell, cy + cell)],
                    blues(share).filled(),
                ))?;
                let ink = if share > 0.55 { WHITE } else { INK };
                let text = if total == 0 {
                    "–".to_string()
                } else {
                    format!("{:.1}%", share * 100.0)
                };
                root.draw_text(
                    &count.to_string(),
                    &bold(count_size).color(&ink).pos(centre),
                    (cx + cell / 2, cy + cell / 2 - (count_size * 0.55) as i32),
                )?;
                root.draw_text(
                    &text,
                    &font(count_size * 0.7).color(&ink).pos(centre),
                    (cx + cell / 2, cy + cell / 2 + (count_size * 0.6) as i32),
                )?;
            }
        }
        // Thin white lines between cells, and a frame round the whole grid.
        for i in 1..n as i32 {
            root.draw(&PathElement::new(
                [(x0 + i * cell, y0), (x0 + i * cell, y0 + grid)],
                WHITE.stroke_width(2),
            ))?;
            root.draw(&PathElement::new(
                [(x0, y0 + i * cell), (x0 + grid, y0 + i * cell)],
                WHITE.stroke_width(2),
            ))?;
        }
        root.draw(&Rectangle::new([(x0, y0), (x0 + grid, y0 + grid)], INK))?;

        for (k, name) in evaluation.classes.iter().enumerate() {
            let support: u64 = evaluation.confusion[k].iter().sum();
            let middle = k as i32 * cell + cell / 2;
            root.draw_text(
                name,
                &font(label_size).pos(Pos::new(HPos::Right, VPos::Center)),
                (x0 - 14, y0 + middle - (label_size * 0.6) as i32),
            )?;
            root.draw_text(
                &format!("n = {support}"),
                &font(label_size * 0.8)
                    .color(&RGBColor(110, 110, 110))
                    .pos(Pos::new(HPos::Right, VPos::Center)),
                (x0 - 14, y0 + middle + (label_size * 0.7) as i32),
            )?;
            root.draw_text(
                name,
                &font(label_size).pos(Pos::new(HPos::Center, VPos::Top)),
                (x0 + middle, y0 + grid + 12),
            )?;
        }
        root.draw_text(
            "predicted class",
            &bold(20.0).pos(Pos::new(HPos::Center, VPos::Top)),
            (x0 + grid / 2, y0 + grid + 24 + label_size as i32 + 16),
        )?;
        root.draw_text(
            "true class",
            &bold(20.0)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Top)),
            (24, y0 + grid / 2),
        )?;

        // Colour bar: share of the true class.
        let (bx, bw) = (x0 + grid + 40, 24);
        let steps = grid.max(1);
        for s in 0..steps {
            let share = 1.0 - f64::from(s) / f64::from(steps);
            root.draw(&Rectangle::new(
                [(bx, y0 + s), (bx + bw, y0 + s + 1)],
                blues(share).filled(),
            ))?;
        }
        root.draw(&Rectangle::new([(bx, y0), (bx + bw, y0 + grid)], INK))?;
        for tick in 0..=4 {
            let y = y0 + grid - grid * tick / 4;
            root.draw(&PathElement::new([(bx + bw, y), (bx + bw + 6, y)], INK))?;
            root.draw_text(
                &format!("{}%", tick * 25),
                &font(15.0).pos(Pos::new(HPos::Left, VPos::Center)),
                (bx + bw + 10, y),
            )?;
        }
        root.draw_text(
            "share of true class",
            &font(16.0)
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Center, VPos::Top)),
            (bx + bw + 76, y0 + grid / 2),
        )?;
        Ok(())
    })
}

/// One-vs-rest ROC curves, one per class, with each class's AUC in the legend; a class with
/// no positive or no negative image has no curve and says so. `probabilities` and `labels`
/// are as for [`crate::metrics::evaluate`].
pub fn plot_roc(
    path: &Path,
    probabilities: &[Vec<f32>],
    labels: &[u32],
    taxonomy: &Taxonomy,
) -> Result<(), ReportError> {
    validate(probabilities, labels, taxonomy)?;
    let mut curves = Vec::with_capacity(taxonomy.len());
    for k in 0..taxonomy.len() {
        let scores: Vec<f32> = probabilities.iter().map(|row| row[k]).collect();
        let positives: Vec<bool> = labels.iter().map(|&l| l as usize == k).collect();
        let curve = roc_curve(&scores, &positives)?;
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        curves.push((taxonomy.class_name(k as u32).to_owned(), curve, area));
    }

    render(path, (1000, 900), |root| {
        root.fill(&WHITE)?;
        let title = format!(
            "ROC curves, each class against the rest · {}",
            taxonomy.name
        );
        let root = root.margin(14, 0, 0, 0).titled(&title, bold(26.0))?;
        let mut chart = ChartBuilder::on(&root)
            .margin_left(20)
            .margin_right(40)
            .margin_top(10)
            .margin_bottom(10)
            .x_label_area_size(70)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate (1 − specificity)")
            .y_desc("true positive rate (sensitivity)")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(font(17.0))
            .axis_desc_style(font(19.0))
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .axis_style(INK)
            .draw()?;
        let chance = RGBColor(150, 150, 150).stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                8,
                6,
                chance,
            ))?
            .label("chance (AUC 0.500)")
            .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 28, y)], 8, 6, chance));
        for (k, (name, curve, area)) in curves.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            if curve.is_empty() {
                // Still listed, so a reader sees the class was not forgotten.
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                    .label(format!("{name} (AUC n/a: one side empty)"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 28, y)], color.mix(0.3).stroke_width(3))
                    });
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    curve.iter().copied(),
                    color.stroke_width(3),
                ))?
                .label(format!("{name} (AUC {area:.3})"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 28, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(20)
            .legend_area_size(40)
            .label_font(font(18.0))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
pub(crate) mod tests;
