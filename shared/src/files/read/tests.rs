use super::*;

#[test]
fn a_regular_file_is_read_whole_up_to_its_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.lsm");
    std::fs::write(&path, b"twelve bytes").expect("write");
    assert_eq!(read_capped(&path, 12).expect("read"), b"twelve bytes");
    assert!(matches!(
        read_capped(&path, 11),
        Err(ReadError::TooLarge {
            size: 12,
            limit: 11,
            ..
        })
    ));
}

#[test]
fn a_folder_a_device_and_a_missing_file_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        read_capped(dir.path(), 1 << 20),
        Err(ReadError::NotAFile {
            what: "a folder",
            ..
        })
    ));
    // Before this check, /dev/zero was read to the cap (1 GiB for a model).
    assert!(matches!(
        read_capped(Path::new("/dev/zero"), 1 << 30),
        Err(ReadError::NotAFile {
            what: "a device",
            ..
        })
    ));
    assert!(matches!(
        read_capped(&dir.path().join("missing"), 10),
        Err(ReadError::Io { .. })
    ));
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("model.lsm");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    // Run where a hang would show: the test harness's timeout would be the only end.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read_capped(&fifo, 10).map(|_| ()));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("read_capped returned instead of waiting for a writer");
    assert!(matches!(
        result,
        Err(ReadError::NotAFile {
            what: "a FIFO (named pipe)",
            ..
        })
    ));
}
