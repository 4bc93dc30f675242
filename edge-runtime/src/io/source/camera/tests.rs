use super::*;
use crate::io::source::ErrorKind;

#[test]
fn lost_devices_are_told_from_refusals() {
    for code in [ENODEV, ENXIO, EIO, ESHUTDOWN, 2] {
        assert!(is_gone(&io::Error::from_raw_os_error(code)), "{code}");
    }
    assert!(is_gone(&io::ErrorKind::TimedOut.into()));
    // EINVAL (a format the driver rejects) and EACCES are not disconnections.
    assert!(!is_gone(&io::Error::from_raw_os_error(22)));
    assert!(!is_gone(&io::Error::from_raw_os_error(13)));
}

#[test]
fn a_missing_camera_at_start_is_a_setup_error() {
    let config = CameraConfig {
        device: PathBuf::from("/dev/leukoscope-no-such-camera"),
        ..CameraConfig::default()
    };
    let Err(err) = CameraSource::open(config) else {
        panic!("opened a camera that does not exist");
    };
    assert_eq!(err.kind(), ErrorKind::Fatal);
    assert!(err.to_string().contains("no-such-camera"), "{err}");
}
