use super::*;

#[test]
fn rates_and_error_kinds() {
    assert_eq!(
        Rate::per_second(4.0).unwrap(),
        Rate::Every(Duration::from_millis(250))
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Rate::per_second(bad),
            Err(SourceError::BadRate { .. })
        ));
    }
    let lost = SourceError::Disconnected {
        device: "/dev/video0".into(),
        cause: std::io::Error::from_raw_os_error(19),
    };
    assert_eq!(lost.kind(), ErrorKind::Retry);
    assert!(lost.to_string().contains("/dev/video0"));
    let bad = SourceError::BadRawFrame {
        device: "cam".into(),
        problem: YuyvError::Short { needed: 8, got: 4 },
    };
    assert_eq!(bad.kind(), ErrorKind::Skip);
    assert_eq!(SourceError::BadRate { fps: 0.0 }.kind(), ErrorKind::Fatal);
}
