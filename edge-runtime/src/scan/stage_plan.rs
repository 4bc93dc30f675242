//! The fields a motorized scan visits: a serpentine over the smear's monolayer, row by row,
//! each row run the other way, so that every step is one field's width less the overlap
//! and the stage never travels back across the slide. Consecutive fields overlap so the
//! tracker, which registers each frame on the one before, counts a cell once; the stage
//! position of each field is its prior.

/// A rectangle of the stage, in nanometres from home: the part of the smear to scan (its
/// monolayer, where cells lie side by side without overlapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageArea {
    /// Left edge.
    pub x0_nm: i32,
    /// Front edge.
    pub y0_nm: i32,
    /// Right edge.
    pub x1_nm: i32,
    /// Back edge.
    pub y1_nm: i32,
}

/// Why no plan could be made.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The field's size is not positive.
    #[error("a field of {width_nm} x {height_nm} nm cannot tile an area")]
    Field {
        /// Field width.
        width_nm: i64,
        /// Field height.
        height_nm: i64,
    },
    /// The overlap is outside 0 to 0.9.
    #[error("an overlap of {0} between fields; give 0 to 0.9 (0.2 lets the tracker register them)")]
    Overlap(f32),
    /// The area's far edge lies before its near edge.
    #[error("the scan area's corners are swapped: ({x0}, {y0}) to ({x1}, {y1}) nm")]
    Area {
        /// Left.
        x0: i32,
        /// Front.
        y0: i32,
        /// Right.
        x1: i32,
        /// Back.
        y1: i32,
    },
}

/// The stage positions (the centre of each field, `(x, y)` nanometres) that cover `area`
/// with fields of `field_nm` (width, height: the frame's pixels times the camera's scale),
/// consecutive fields overlapping by at least `overlap` of a field, in serpentine order.
/// An area narrower than a field gets one field's column or row, centred.
pub fn serpentine(
    area: StageArea,
    field_nm: (i64, i64),
    overlap: f32,
) -> Result<Vec<(i32, i32)>, PlanError> {
    let (width, height) = field_nm;
    if width <= 0 || height <= 0 {
        return Err(PlanError::Field {
            width_nm: width,
            height_nm: height,
        });
    }
    if !(0.0..=0.9).contains(&overlap) {
        return Err(PlanError::Overlap(overlap));
    }
    let StageArea {
        x0_nm,
        y0_nm,
        x1_nm,
        y1_nm,
    } = area;
    if x1_nm < x0_nm || y1_nm < y0_nm {
        return Err(PlanError::Area {
            x0: x0_nm,
            y0: y0_nm,
            x1: x1_nm,
            y1: y1_nm,
        });
    }
    let columns = centres(x0_nm, x1_nm, width, overlap);
    let rows = centres(y0_nm, y1_nm, height, overlap);
    let mut plan = Vec::with_capacity(columns.len() * rows.len());
    for (i, &y) in rows.iter().enumerate() {
        if i % 2 == 0 {
            plan.extend(columns.iter().map(|&x| (x, y)));
        } else {
            plan.extend(columns.iter().rev().map(|&x| (x, y)));
        }
    }
    Ok(plan)
}

/// Field centres along one axis from `start` to `end`: the first field's near edge at
/// `start`, the last's far edge at `end`, evenly spaced no farther apart than a field less
/// the overlap.
fn centres(start: i32, end: i32, field: i64, overlap: f32) -> Vec<i32> {
    let (start, end) = (i64::from(start), i64::from(end));
    let span = end - start;
    if span <= field {
        return vec![((start + end) / 2) as i32];
    }
    let step = ((field as f64) * f64::from(1.0 - overlap)).floor().max(1.0);
    let gaps = ((span - field) as f64 / step).ceil() as i64;
    let first = start + field / 2;
    let last = end - field / 2;
    (0..=gaps)
        .map(|i| (first + (last - first) * i / gaps) as i32)
        .collect()
}

#[cfg(test)]
mod tests;
