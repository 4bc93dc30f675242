use super::*;

pub(crate) fn records() -> Vec<EpochRecord> {
    (1..=12)
        .map(|epoch| {
            let t = epoch as f64;
            EpochRecord {
                epoch,
                train_loss: 1.4 * (-t / 4.0).exp() + 0.05,
                train_accuracy: 1.0 - 0.7 * (-t / 3.0).exp(),
                valid_loss: 1.3 * (-t / 5.0).exp() + 0.2 + 0.004 * t,
                valid_accuracy: 0.92 - 0.6 * (-t / 3.5).exp(),
                valid_macro_f1: 0.9 - 0.65 * (-t / 3.5).exp(),
                learning_rate: 1e-3 * 0.5 * (1.0 + (std::f64::consts::PI * t / 12.0).cos()),
                seconds: 41.25 + t / 10.0,
                images_per_second: 310.5,
            }
        })
        .collect()
}

fn read_csv(text: &str) -> Vec<EpochRecord> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 9, "{line}");
            let x = |i: usize| f[i].parse::<f64>().unwrap();
            EpochRecord {
                epoch: f[0].parse().unwrap(),
                train_loss: x(1),
                train_accuracy: x(2),
                valid_loss: x(3),
                valid_accuracy: x(4),
                valid_macro_f1: x(5),
                learning_rate: x(6),
                seconds: x(7),
                images_per_second: x(8),
            }
        })
        .collect()
}

#[test]
fn epoch_metrics_round_trip_through_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let records = records();
    write_epoch_metrics(&out, &records).unwrap();
    let csv = std::fs::read_to_string(out.join(METRICS_CSV)).unwrap();
    assert_eq!(read_csv(&csv), records);
    let json = std::fs::read(out.join(METRICS_JSON)).unwrap();
    assert_eq!(
        serde_json::from_slice::<Vec<EpochRecord>>(&json).unwrap(),
        records
    );
    // No temporary files are left beside them.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);

    // A diverged epoch still writes and reads back (NaN is null in JSON).
    let mut diverged = records[..1].to_vec();
    diverged[0].train_loss = f64::NAN;
    write_epoch_metrics(&out, &diverged).unwrap();
    let json = std::fs::read(out.join(METRICS_JSON)).unwrap();
    let back: Vec<EpochRecord> = serde_json::from_slice(&json).unwrap();
    assert!(back[0].train_loss.is_nan());
    let csv = std::fs::read_to_string(out.join(METRICS_CSV)).unwrap();
    assert!(read_csv(&csv)[0].train_loss.is_nan());
}

#[test]
fn unwritable_places_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let err = write_epoch_metrics(&blocker.join("run"), &records()).unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }), "{err}");
    assert!(err.to_string().contains("metrics.csv"), "{err}");
}
