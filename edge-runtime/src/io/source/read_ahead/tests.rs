use std::time::Instant;

use leukoscope_core::raster::RgbImage;

use super::*;

/// Frames 0..n, with a bad frame in place of those listed in `bad`.
struct Script {
    next: u64,
    n: u64,
    bad: Vec<u64>,
}

impl FrameSource for Script {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let index = self.next;
        if index >= self.n {
            return Ok(None);
        }
        self.next += 1;
        if self.bad.contains(&index) {
            return Err(SourceError::CameraRefused {
                device: "script".into(),
                problem: format!("frame {index} is corrupt"),
            });
        }
        Ok(Some(Frame {
            index,
            image: RgbImage::filled(2, 2, [index as u8; 3]),
            captured: Instant::now(),
            origin: format!("frame {index}"),
            stage_um: None,
        }))
    }

    fn describe(&self) -> String {
        "a script".into()
    }
}

/// What the source delivers to the end: frame indices, or `None` for an error.
fn drain(source: &mut impl FrameSource) -> Vec<Option<u64>> {
    let mut seen = Vec::new();
    loop {
        match source.next_frame() {
            Ok(Some(f)) => seen.push(Some(f.index)),
            Ok(None) => return seen,
            Err(_) => seen.push(None),
        }
    }
}

#[test]
fn frames_read_ahead_come_out_first_in_order_and_none_twice() {
    let mut ahead = ReadAhead::new(Script {
        next: 0,
        n: 6,
        bad: vec![],
    });
    let mut looked = Vec::new();
    let read = ahead.fill(10, |f| {
        looked.push(f.index);
        f.index == 2
    });
    assert_eq!((read, looked), (3, vec![0, 1, 2]));
    assert_eq!(ahead.describe(), "a script");
    assert_eq!(drain(&mut ahead), (0..6).map(Some).collect::<Vec<_>>());
}

#[test]
fn an_error_stops_the_read_ahead_and_is_delivered_in_its_place() {
    let mut ahead = ReadAhead::new(Script {
        next: 0,
        n: 5,
        bad: vec![1],
    });
    assert_eq!(ahead.fill(10, |_| false), 1);
    assert_eq!(
        drain(&mut ahead),
        vec![Some(0), None, Some(2), Some(3), Some(4)]
    );
    // A short source ends the read-ahead at its end.
    let mut short = ReadAhead::new(Script {
        next: 0,
        n: 2,
        bad: vec![],
    });
    assert_eq!(short.fill(10, |_| false), 2);
    assert_eq!(drain(&mut short), vec![Some(0), Some(1)]);
}
