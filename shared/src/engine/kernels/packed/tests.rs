use super::*;

#[test]
fn pack_pads_rows_and_groups_with_zeros() {
    // 3 x 5 with tiles of 2 rows and groups of 4: 2 tiles x 2 groups x 2 rows x 4 bytes.
    let a: Vec<i8> = (1..=15).collect();
    let data = pack(
        &a,
        3,
        5,
        Layout {
            tile_rows: 2,
            group: 4,
        },
    );
    assert_eq!(
        data,
        [
            1, 2, 3, 4, 6, 7, 8, 9, // tile 0, group 0: rows 0 and 1
            5, 0, 0, 0, 10, 0, 0, 0, // tile 0, group 1
            11, 12, 13, 14, 0, 0, 0, 0, // tile 1, group 0: row 2, padding row
            15, 0, 0, 0, 0, 0, 0, 0,
        ]
    );
    let pairs = pack(
        &[-1, 2, -3],
        1,
        3,
        Layout {
            tile_rows: 1,
            group: 2,
        },
    );
    assert_eq!(pairs, [-1, -1, 2, 0, -3, -1, 0, 0]);
}
