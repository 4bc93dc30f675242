use std::vec::Vec;

use super::*;

#[test]
fn replaces_a_file_whole_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/report.json");
    write_atomically(&path, b"first").unwrap();
    write_atomically(&path, b"second, longer").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
    for write in [
        AtomicWrite::durable().folder_synced_by_caller(),
        AtomicWrite::durable().unsynced(),
    ] {
        write.write(&path, b"third").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["report.json"]);
}

#[cfg(unix)]
#[test]
fn a_secret_is_never_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clinic.key");
    AtomicWrite::durable()
        .mode(0o600)
        .write(&path, b"k")
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    write_atomically(&path, b"k").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn a_failed_write_keeps_the_old_file_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.lsm");
    write_atomically(&path, b"old").unwrap();
    // A folder where the file goes makes the rename fail after the bytes are written.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("inside"), b"x").unwrap();
    assert!(write_atomically(&blocked, b"new").is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blocked", "model.lsm"]);
}
