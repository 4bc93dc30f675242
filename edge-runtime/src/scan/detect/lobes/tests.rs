use super::*;

/// A filled rectangle of blocks `x0..=x1`, `y0..=y1` as a part.
fn rect(parts: &mut Parts, x0: u32, y0: u32, x1: u32, y1: u32, solidity: f32) {
    let mut stats = RegionStats::new(parts.parts.len() as u32);
    for y in y0..=y1 {
        for x in x0..=x1 {
            stats.add(x, y, 1.0);
        }
    }
    let (a, b, c, d) = (x0 as i32, y0 as i32, x1 as i32 + 1, y1 as i32 + 1);
    parts.push(stats, solidity, &[(a, b), (c, b), (c, d), (a, d)], (0, 0));
}

const RULE: LobeRule = LobeRule {
    gap: 2.0,
    max_extent: 20,
    whole_area: 30,
    wrapped: Some(WrappedLobes {
        smaller_area: 45,
        larger_area: 65,
        gap: 1.5,
        body: [1.0, 2.0],
    }),
};

fn grouped(parts: &mut Parts) -> Vec<Group> {
    grouped_on(parts, &[0; 64 * 64])
}

/// `parts` grouped on a 64x64 frame whose stained blocks are `stained`.
fn grouped_on(parts: &mut Parts, stained: &[u8]) -> Vec<Group> {
    let mut groups = Vec::new();
    let stained = StainedBlocks {
        blocks: stained,
        width: 64,
        height: 64,
    };
    parts.group(RULE, stained, &mut groups);
    groups.sort_by_key(|g| (g.stats.x0, g.stats.y0));
    groups
}

#[test]
fn the_gap_between_hulls_is_measured_between_their_nearest_points() {
    let square = |x: i32, y: i32| [(x, y), (x + 2, y), (x + 2, y + 2), (x, y + 2)];
    assert_eq!(hull_gap(&square(0, 0), &square(5, 0)), 3.0);
    assert_eq!(hull_gap(&square(0, 0), &square(2, 2)), 0.0, "corners touch");
    assert_eq!(hull_gap(&square(0, 0), &square(1, 1)), 0.0, "overlap");
    assert!((hull_gap(&square(0, 0), &square(5, 6)) - 5.0).abs() < 1e-6);
    let big = [(0, 0), (10, 0), (10, 10), (0, 10)];
    assert_eq!(hull_gap(&big, &square(4, 4)), 0.0, "one inside the other");
    assert_eq!(hull_gap(&big, &[]), f32::INFINITY);
}

#[test]
fn the_lobes_of_one_nucleus_are_one_cell() {
    let mut parts = Parts::default();
    // Three small lobes a block apart, in a curve, and a speck far away.
    rect(&mut parts, 0, 0, 3, 3, 1.0);
    rect(&mut parts, 5, 1, 8, 4, 1.0);
    rect(&mut parts, 10, 0, 13, 3, 1.0);
    rect(&mut parts, 40, 40, 42, 42, 1.0);
    let groups = grouped(&mut parts);
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].parts, 3);
    assert_eq!(groups[0].stats.area, 48);
    assert_eq!((groups[0].stats.x0, groups[0].stats.x1), (0, 13));
    // 48 blocks over a hull of 14 x 5 less two corners.
    assert!(groups[0].solidity > 0.6 && groups[0].solidity < 0.8);
    assert_eq!(groups[1].parts, 1);
    assert_eq!(groups[1].solidity, 1.0);
}

#[test]
fn two_whole_round_nuclei_side_by_side_stay_two_cells() {
    let mut parts = Parts::default();
    rect(&mut parts, 0, 0, 6, 6, 0.95);
    rect(&mut parts, 7, 0, 13, 6, 0.95);
    assert_eq!(grouped(&mut parts).len(), 2);
    // A lobe next to a whole nucleus joins it.
    let mut parts = Parts::default();
    rect(&mut parts, 0, 0, 6, 6, 0.95);
    rect(&mut parts, 8, 2, 9, 4, 1.0);
    assert_eq!(grouped(&mut parts).len(), 1);
    // Big but ragged parts are lobes, not whole nuclei.
    let mut parts = Parts::default();
    rect(&mut parts, 0, 0, 6, 6, 0.7);
    rect(&mut parts, 7, 0, 13, 6, 0.7);
    assert_eq!(grouped(&mut parts).len(), 1);
}

/// A 64x64 frame stained within `radius` blocks of `centre`.
fn stained_disc(centre: (f32, f32), radius: f32) -> Vec<u8> {
    (0..64 * 64)
        .map(|k| {
            let (x, y) = ((k % 64) as f32 + 0.5, (k / 64) as f32 + 0.5);
            u8::from((x - centre.0).hypot(y - centre.1) <= radius)
        })
        .collect()
}

#[test]
fn two_whole_lobe_sized_parts_in_one_cell_body_are_one_cell() {
    // Two parts of 36 blocks (whole, but no bigger than a lobe), a block apart.
    let pair = |size: u32| {
        let mut parts = Parts::default();
        rect(&mut parts, 20, 20, 19 + size, 19 + size, 0.95);
        rect(&mut parts, 21 + size, 20, 20 + 2 * size, 19 + size, 0.95);
        parts
    };
    let body = stained_disc((26.5, 23.0), 12.0);
    assert_eq!(grouped_on(&mut pair(6), &body).len(), 1, "in one body");
    assert_eq!(grouped_on(&mut pair(6), &[0; 64 * 64]).len(), 2, "on glass");
    // Stained on one side only: two cells beside a clump of red cells.
    let half: Vec<u8> = (0..64 * 64).map(|k| u8::from(k % 64 < 23)).collect();
    assert_eq!(grouped_on(&mut pair(6), &half).len(), 2, "half wrapped");
    // Three blocks apart: two cells' nuclei, parted by both their rims of cytoplasm.
    let mut parts = Parts::default();
    rect(&mut parts, 20, 20, 25, 25, 0.95);
    rect(&mut parts, 28, 20, 33, 25, 0.95);
    assert_eq!(
        grouped_on(&mut parts, &body).len(),
        2,
        "too far apart for lobes"
    );
    // 49 blocks each: bigger than a lobe, two nuclei however wrapped.
    let body = stained_disc((27.5, 23.5), 14.0);
    assert_eq!(
        grouped_on(&mut pair(7), &body).len(),
        2,
        "too big for lobes"
    );
    // A small part beside a big one (36 and 81 blocks): a lymphocyte beside a blast.
    let mut parts = Parts::default();
    rect(&mut parts, 20, 20, 25, 25, 0.95);
    rect(&mut parts, 27, 18, 35, 26, 0.95);
    let body = stained_disc((28.0, 22.5), 14.0);
    assert_eq!(
        grouped_on(&mut parts, &body).len(),
        2,
        "a lobe and a nucleus"
    );
    // On blocks too coarse to read the band, whole parts stay apart.
    let coarse = LobeRule {
        wrapped: None,
        ..RULE
    };
    let mut groups = Vec::new();
    let stained = StainedBlocks {
        blocks: &stained_disc((26.5, 23.0), 12.0),
        width: 64,
        height: 64,
    };
    pair(6).group(coarse, stained, &mut groups);
    assert_eq!(groups.len(), 2, "coarse blocks");
}

#[test]
fn a_chain_of_parts_stops_growing_at_the_widest_nucleus() {
    let mut parts = Parts::default();
    for k in 0..8 {
        rect(&mut parts, k * 5, 0, k * 5 + 3, 3, 1.0);
    }
    let groups = grouped(&mut parts);
    assert!(groups.len() >= 2, "{} groups", groups.len());
    for g in &groups {
        assert!(g.stats.x1 - g.stats.x0 < RULE.max_extent, "{g:?}");
    }
    assert_eq!(groups.iter().map(|g| g.parts).sum::<u32>(), 8);
}
