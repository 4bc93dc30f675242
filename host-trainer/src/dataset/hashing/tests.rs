use super::*;

fn gradient(width: u32, height: u32, shift: i32) -> RgbImage {
    let mut data = Vec::new();
    for y in 0..height {
        for x in 0..width {
            // Blocks of scattered brightness, so that about half the bits are set.
            let v = (((x / 7) * 73 + (y / 6) * 151) % 181) as i32 + shift;
            let v = v.clamp(0, 255) as u8;
            data.extend_from_slice(&[v, v / 2, 255 - v]);
        }
    }
    RgbImage::from_raw(width, height, data).unwrap()
}

#[test]
fn brightness_does_not_move_the_hash_and_other_pictures_do() {
    let a = gradient(64, 48, 0);
    let brighter = gradient(64, 48, 6);
    let flipped = {
        let mut data = Vec::new();
        for y in 0..48 {
            for x in (0..64).rev() {
                let i = (y * 64 + x) * 3;
                data.extend_from_slice(&a.as_raw()[i..i + 3]);
            }
        }
        RgbImage::from_raw(64, 48, data).unwrap()
    };
    let h = difference_hash(&a);
    assert_ne!(h, 0);
    assert!(hamming(h, difference_hash(&brighter)) <= 2);
    assert!(hamming(h, difference_hash(&flipped)) >= 16);
    assert_eq!(difference_hash(&RgbImage::filled(0, 0, [0; 3])), 0);
    // Tiny images still hash without panicking.
    let _ = difference_hash(&RgbImage::filled(3, 2, [9; 3]));
}

#[test]
fn groups_join_subjects_copies_and_near_copies() {
    let [s1, s2, s3, s4] = [[1u8; 32], [2; 32], [3; 32], [4; 32]];
    let items = [
        Hashed {
            sha256: &s1,
            dhash: 0,
            subject: None,
        },
        // Same bytes as the first: joined by the bytes, whatever the hash says.
        Hashed {
            sha256: &s1,
            dhash: u64::MAX,
            subject: None,
        },
        Hashed {
            sha256: &s2,
            dhash: 0b111,
            subject: None,
        },
        Hashed {
            sha256: &s3,
            dhash: 0xFFFF_0000,
            subject: Some("p1"),
        },
        Hashed {
            sha256: &s4,
            dhash: 0xFFFF_0000,
            subject: Some("p2"),
        },
        Hashed {
            sha256: &s2,
            dhash: 0xF0F0,
            subject: Some("p1"),
        },
    ];
    let (ids, groups) = group(&items, 3);
    // 0,1 same bytes; 2 within 3 bits of 0; 5 same bytes as 2 and same subject as 3.
    assert_eq!(ids, vec![0, 0, 0, 0, 1, 0]);
    assert_eq!(groups, 2);
    let (ids, groups) = group(&items[3..5], 64);
    assert_eq!(
        (ids, groups),
        (vec![0, 1], 2),
        "named subjects are not joined by hash"
    );
    assert_eq!(nearest_neighbour_distances(&[0, 1, 0xFF]), vec![1, 1, 7]);
    assert_eq!(nearest_neighbour_distances(&[5]), vec![64]);
}
