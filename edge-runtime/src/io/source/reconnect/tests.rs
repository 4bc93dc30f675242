use std::collections::VecDeque;

use leukoscope_core::raster::RgbImage;

use super::super::clock::fake::FakeClock;
use super::*;
use leukoscope_core::files::ImageFileError;

/// What the fake camera does on each call.
enum Step {
    Frame,
    Gone,
    Corrupt,
    Broken,
}

/// A camera that follows a script, then ends.
struct Scripted<'a> {
    steps: VecDeque<Step>,
    delivered: u64,
    clock: &'a FakeClock,
}

impl<'a> Scripted<'a> {
    fn new(clock: &'a FakeClock, steps: impl IntoIterator<Item = Step>) -> Self {
        Scripted {
            steps: steps.into_iter().collect(),
            delivered: 0,
            clock,
        }
    }
}

impl FrameSource for Scripted<'_> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        match self.steps.pop_front() {
            None => Ok(None),
            Some(Step::Frame) => {
                self.delivered += 1;
                Ok(Some(Frame {
                    index: self.delivered - 1,
                    image: RgbImage::filled(2, 2, [9, 9, 9]),
                    captured: self.clock.now(),
                    origin: "fake".into(),
                    stage_um: None,
                }))
            }
            Some(Step::Gone) => Err(SourceError::Disconnected {
                device: "fake camera".into(),
                cause: std::io::Error::from_raw_os_error(19),
            }),
            Some(Step::Corrupt) => Err(SourceError::BadFrame(ImageFileError::TruncatedJpeg {
                path: "fake".into(),
            })),
            Some(Step::Broken) => Err(SourceError::CameraRefused {
                device: "fake camera".into(),
                problem: "no YUYV".into(),
            }),
        }
    }

    fn describe(&self) -> String {
        "fake camera".into()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn backoff_grows_to_its_cap() {
    let b = Backoff::default();
    let waits: Vec<_> = (1..=8).map(|n| b.delay(n)).collect();
    assert_eq!(
        waits,
        [
            ms(250),
            ms(500),
            ms(1000),
            ms(2000),
            ms(4000),
            ms(8000),
            ms(8000),
            ms(8000)
        ]
    );
    assert_eq!(b.delay(u32::MAX), ms(8000));
    let flat = Backoff { factor: 1, ..b };
    assert_eq!(flat.delay(5), ms(250));
}

#[test]
fn waits_out_a_disconnection_and_resumes() {
    let clock = FakeClock::new();
    let script = [Step::Frame]
        .into_iter()
        .chain(std::iter::repeat_with(|| Step::Gone).take(7))
        .chain([Step::Frame, Step::Frame]);
    let mut events = Vec::new();
    let mut source = Reconnecting::with_clock(
        Scripted::new(&clock, script),
        Backoff::default(),
        |e: &LinkEvent| events.push(e.clone()),
        &clock,
    );

    assert_eq!(source.next_frame().unwrap().unwrap().index, 0);
    assert!(!source.is_lost());
    // Seven failed attempts, then the frame that was waiting.
    assert_eq!(source.next_frame().unwrap().unwrap().index, 1);
    assert!(!source.is_lost());
    assert_eq!(source.next_frame().unwrap().unwrap().index, 2);
    assert!(source.next_frame().unwrap().is_none());
    drop(source);

    let waits = [250, 500, 1000, 2000, 4000, 8000, 8000].map(ms);
    assert_eq!(clock.sleeps(), waits);
    let down_for: Duration = waits.iter().sum();
    let mut expected = vec![LinkEvent::Lost {
        source: "fake camera".into(),
        reason: "fake camera is not answering (No such device (os error 19)); check its cable"
            .into(),
    }];
    expected.extend(
        (1..=7)
            .zip(waits)
            .map(|(attempt, wait)| LinkEvent::Retrying { attempt, wait }),
    );
    expected.push(LinkEvent::Restored {
        attempts: 7,
        down_for,
    });
    assert_eq!(events, expected);
    assert_eq!(
        events[8].to_string(),
        "frames are back after 23.8 s (7 retries); resuming"
    );
}

#[test]
fn gives_up_after_its_patience_and_can_start_again() {
    let clock = FakeClock::new();
    let script = std::iter::repeat_with(|| Step::Gone)
        .take(5)
        .chain([Step::Frame]);
    let mut events = Vec::new();
    let backoff = Backoff {
        patience: Some(ms(1000)),
        ..Backoff::default()
    };
    let mut source = Reconnecting::with_clock(
        Scripted::new(&clock, script),
        backoff,
        |e: &LinkEvent| events.push(e.clone()),
        &clock,
    );
    // Waits 250 + 500 (750 ms down), then 1000 (1750 ms down): past patience.
    let err = source.next_frame().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retry);
    assert!(!source.is_lost());
    // The caller may try again: a new outage, then the frame.
    assert!(source.next_frame().unwrap().is_some());
    drop(source);
    assert_eq!(clock.sleeps(), [250, 500, 1000, 250].map(ms));
    assert_eq!(
        events.last(),
        Some(&LinkEvent::Restored {
            attempts: 1,
            down_for: ms(250)
        })
    );
    assert!(events.contains(&LinkEvent::GaveUp {
        attempts: 3,
        down_for: ms(1750)
    }));
}

#[test]
fn bad_frames_and_fatal_errors_pass_straight_through() {
    let clock = FakeClock::new();
    let script = [Step::Corrupt, Step::Frame, Step::Broken];
    let mut events = Vec::new();
    let mut source = Reconnecting::with_clock(
        Scripted::new(&clock, script),
        Backoff::default(),
        |e: &LinkEvent| events.push(e.clone()),
        &clock,
    );
    assert_eq!(source.next_frame().unwrap_err().kind(), ErrorKind::Skip);
    assert!(source.next_frame().unwrap().is_some());
    assert_eq!(source.next_frame().unwrap_err().kind(), ErrorKind::Fatal);
    assert!(source.describe().contains("reconnecting"));
    drop(source);
    assert!(events.is_empty());
    assert!(clock.sleeps().is_empty());
}
