use super::*;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn sysfs_pwm_writes_period_and_duty_in_nanoseconds() {
    // A stand-in for /sys/class/pwm with the channel already exported.
    let root = tempfile::tempdir().unwrap();
    let channel = root.path().join("pwmchip0/pwm1");
    std::fs::create_dir_all(&channel).unwrap();
    let mut pwm = SysfsPwm::open(root.path(), 0, 1, Duration::from_micros(50)).unwrap();
    assert_eq!(read(&channel.join("period")), "50000");
    assert_eq!(read(&channel.join("enable")), "1");
    assert_eq!(read(&channel.join("duty_cycle")), "0");
    pwm.set_duty_cycle_percent(50).unwrap();
    assert_eq!(read(&channel.join("duty_cycle")), "25000");
    pwm.set_duty_cycle_fully_on().unwrap();
    assert_eq!(read(&channel.join("duty_cycle")), "50000");

    // Not exported, and no chip to export from: the error names the file.
    let err = SysfsPwm::open(root.path(), 3, 0, Duration::from_micros(50)).unwrap_err();
    assert!(err.to_string().contains("pwmchip3/export"), "{err}");
}
