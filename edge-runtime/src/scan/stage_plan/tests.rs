use proptest::prelude::*;

use super::*;

/// A 1920 x 1080 frame at 0.42 um per pixel (a 40x objective), in nanometres.
const FIELD: (i64, i64) = (806_400, 453_600);

#[test]
fn a_small_area_is_three_by_three_fields_run_as_a_serpentine() {
    let area = StageArea {
        x0_nm: 10_000_000,
        y0_nm: 20_000_000,
        x1_nm: 10_000_000 + 2_000_000,
        y1_nm: 20_000_000 + 1_100_000,
    };
    let plan = serpentine(area, FIELD, 0.2).expect("a plan");
    let xs = [10_403_200, 11_000_000, 11_596_800];
    let ys = [20_226_800, 20_550_000, 20_873_200];
    let expected: Vec<_> = [
        (xs[0], ys[0]),
        (xs[1], ys[0]),
        (xs[2], ys[0]),
        (xs[2], ys[1]),
        (xs[1], ys[1]),
        (xs[0], ys[1]),
        (xs[0], ys[2]),
        (xs[1], ys[2]),
        (xs[2], ys[2]),
    ]
    .into();
    assert_eq!(plan, expected);
}

#[test]
fn narrow_areas_and_bad_settings() {
    // Narrower than a field: one centred column.
    let strip = StageArea {
        x0_nm: 0,
        y0_nm: 0,
        x1_nm: 100_000,
        y1_nm: 900_000,
    };
    let plan = serpentine(strip, FIELD, 0.2).expect("a plan");
    assert!(plan.iter().all(|&(x, _)| x == 50_000), "{plan:?}");
    assert_eq!(plan.len(), 3);
    assert_eq!(
        serpentine(strip, (0, 10), 0.2),
        Err(PlanError::Field {
            width_nm: 0,
            height_nm: 10
        })
    );
    assert_eq!(
        serpentine(strip, FIELD, 0.95),
        Err(PlanError::Overlap(0.95))
    );
    assert!(matches!(
        serpentine(StageArea { x1_nm: -1, ..strip }, FIELD, 0.2),
        Err(PlanError::Area { .. })
    ));
}

proptest! {
    /// Every plan covers its area edge to edge, steps one field (less the overlap) at a
    /// time along one axis, and turns at the ends of rows.
    #[test]
    fn a_plan_covers_its_area_in_overlapping_steps(
        x0 in -1_000_000i32..1_000_000,
        y0 in -1_000_000i32..1_000_000,
        w in 0i32..20_000_000,
        h in 0i32..10_000_000,
        fw in 50_000i64..2_000_000,
        fh in 50_000i64..2_000_000,
        overlap in 0.0f32..0.9,
    ) {
        let area = StageArea { x0_nm: x0, y0_nm: y0, x1_nm: x0 + w, y1_nm: y0 + h };
        let plan = serpentine(area, (fw, fh), overlap).expect("a plan");
        let step = |f: i64| (f as f64 * f64::from(1.0 - overlap)).floor().max(1.0) as i64;
        // Fields reach the area's edges (one field's span when narrower).
        let min_x = plan.iter().map(|p| i64::from(p.0)).min().expect("fields");
        let max_x = plan.iter().map(|p| i64::from(p.0)).max().expect("fields");
        let min_y = plan.iter().map(|p| i64::from(p.1)).min().expect("fields");
        let max_y = plan.iter().map(|p| i64::from(p.1)).max().expect("fields");
        if i64::from(w) > fw {
            prop_assert!(min_x - fw / 2 <= i64::from(x0) && max_x + fw / 2 + 1 >= i64::from(x0 + w));
        }
        if i64::from(h) > fh {
            prop_assert!(min_y - fh / 2 <= i64::from(y0) && max_y + fh / 2 + 1 >= i64::from(y0 + h));
        }
        for pair in plan.windows(2) {
            let (dx, dy) = (
                (i64::from(pair[1].0) - i64::from(pair[0].0)).abs(),
                (i64::from(pair[1].1) - i64::from(pair[0].1)).abs(),
            );
            // One axis at a time, never more than a step: consecutive fields overlap.
            prop_assert!(dx == 0 || dy == 0, "{pair:?}");
            prop_assert!(dx <= step(fw) && dy <= step(fh), "{pair:?}");
        }
    }
}
