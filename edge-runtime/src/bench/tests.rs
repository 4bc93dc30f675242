use super::*;

#[test]
fn rows_report_per_image_latency_and_throughput() {
    // Ten calls of a batch of 4: 10 ms each except one slow call of 30 ms.
    let mut times = vec![0.010; 9];
    times.push(0.030);
    let r = row("int8", 4, 2, &mut times);
    assert_eq!((r.batch, r.threads), (4, 2));
    assert!((r.p50_ms - 2.5).abs() < 1e-9, "{}", r.p50_ms);
    assert!((r.p99_ms - 7.5).abs() < 1e-9, "{}", r.p99_ms);
    assert!((r.images_per_s - 40.0 / 0.12).abs() < 1e-6);
}

#[test]
fn without_onnx_models_the_peer_rows_are_absent_with_a_reason() {
    let options = BenchOptions {
        warmup: 0,
        iterations: 1,
    };
    let why = onnxruntime_rows(
        "python3",
        Path::new("bench/onnxruntime_peer.py"),
        None,
        None,
        &[1],
        &[1],
        [3, 8, 8],
        options,
    )
    .unwrap_err();
    assert!(why.contains("export-onnx"), "{why}");
    let missing = onnxruntime_rows(
        "/nonexistent/python",
        Path::new("peer.py"),
        Some(Path::new("m.onnx")),
        None,
        &[1],
        &[1],
        [3, 8, 8],
        options,
    )
    .unwrap_err();
    assert!(missing.contains("cannot run"), "{missing}");
}

#[test]
fn inputs_are_deterministic_and_spread() {
    let a = inputs(1000, 3);
    assert_eq!(a, inputs(1000, 3));
    assert_ne!(a, inputs(1000, 4));
    assert!(a.iter().all(|v| (-2.0..2.0).contains(v)));
    assert!(a.iter().any(|&v| v < -1.0) && a.iter().any(|&v| v > 1.0));
}
