//! The int8 engine on a microcontroller gives the host engine's logits. The parity model
//! (the compact `edge-xs` preset at 64 px, int8, deterministic weights: a check of the
//! arithmetic, not a classifier) and its input are fixtures of the firmware crate,
//! compiled into the `engine-mps2` binary's flash; this test makes them from their
//! generator (`LEUKOSCOPE_REGENERATE_FIXTURES=1` rewrites them), and, when
//! `LEUKOSCOPE_MCU_ENGINE` names that binary (CI builds it), runs it on a Cortex-M7 under
//! `qemu-system-arm` and compares its logits with the host's, bit for bit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use leukoscope_core::artifact::{Calibration, ModelArtifact, Provenance, TrustPolicy};
use leukoscope_core::engine::Engine;
use leukoscope_core::engine::quantize::{Calibrator, Quantizer};
use leukoscope_core::params::Weights;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{InputKind, ParamRole, Preset, PresetOptions};
use leukoscope_core::taxonomy::Taxonomy;

/// A small deterministic generator: the same numbers on every platform.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/scope-controller/fixtures")
}

/// edge-xs for 64-pixel cells, its weights fan-in scaled, quantized on eight inputs.
fn parity_model() -> Vec<u8> {
    let spec = Preset::EdgeXs.build(&PresetOptions {
        input_size: 64,
        kind: InputKind::Cell,
        ..PresetOptions::field(4)
    });
    let mut rng = Lcg(17);
    let tensors = spec
        .parameter_layout()
        .expect("a layout")
        .iter()
        .map(|t| {
            let fan_in = t.shape.iter().skip(1).product::<u32>().max(1) as f32;
            (0..t.len())
                .map(|_| {
                    let r = rng.next();
                    match t.role {
                        ParamRole::Weight | ParamRole::ReduceWeight | ParamRole::ExpandWeight => {
                            r * (3.0 / fan_in).sqrt()
                        }
                        ParamRole::Gamma => 1.0 + 0.3 * r,
                        ParamRole::RunningVar => 1.0 + 0.5 * r,
                        ParamRole::RunningMean => 0.2 * r,
                        _ => 0.1 * r,
                    }
                })
                .collect()
        })
        .collect();
    let input = spec.input;
    let float = ModelArtifact {
        spec,
        taxonomy: Taxonomy::b_all_4(),
        preprocess: Preprocess::cell(input.height, input.width),
        weights: Weights { tensors },
        quantized: None,
        calibration: Calibration::default(),
        provenance: Provenance {
            tool: "tests/tests/mcu_engine.rs: parity weights, not a classifier".into(),
            ..Provenance::default()
        },
        familiarity: None,
    };
    let mut quantizer = Quantizer::new(&float, Calibrator::MinMax).expect("quantizable");
    let calibration: Vec<Vec<f32>> = (0..8).map(|i| image(100 + i)).collect();
    for pass in 0..quantizer.passes() {
        quantizer.start_pass(pass);
        for x in &calibration {
            quantizer.observe(x);
        }
    }
    quantizer.finish().encode().expect("encodes")
}

/// A 64 x 64 x 3 input, values as preprocessing gives (about -1.5 to 1.5).
fn image(seed: u64) -> Vec<f32> {
    let mut rng = Lcg(seed);
    (0..64 * 64 * 3).map(|_| 1.5 * rng.next()).collect()
}

fn parity_input() -> Vec<u8> {
    image(1).iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn the_microcontrollers_fixtures_are_what_their_generator_makes() {
    let made = [
        ("edge-xs-64-int8.lsm", parity_model()),
        ("parity-input-64.f32", parity_input()),
    ];
    for (name, bytes) in made {
        let path = fixtures().join(name);
        if std::env::var_os("LEUKOSCOPE_REGENERATE_FIXTURES").is_some() {
            std::fs::write(&path, &bytes).expect("fixture written");
        }
        let committed = std::fs::read(&path).expect("the fixture is committed");
        assert!(committed == bytes, "{name} differs from its generator's");
    }
}

/// The host engine's logits for the fixtures.
fn host_logits() -> Vec<f32> {
    let model = std::fs::read(fixtures().join("edge-xs-64-int8.lsm")).expect("model");
    let artifact = ModelArtifact::decode(&model, &TrustPolicy::any()).expect("decodes");
    let engine = Engine::new(&artifact.artifact).expect("int8 engine");
    let input: Vec<f32> = parity_input()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut logits = vec![0.0; engine.classes()];
    engine.run(&mut engine.workspace(), &input, &mut logits);
    logits
}

#[test]
fn the_int8_engine_on_a_cortex_m7_gives_the_hosts_logits_bit_for_bit() {
    let Some(elf) = std::env::var_os("LEUKOSCOPE_MCU_ENGINE") else {
        eprintln!(
            "not run: LEUKOSCOPE_MCU_ENGINE does not name the engine-mps2 binary (CI builds it: \
             cargo build -p leukoscope-scope-controller --features mps2 --target thumbv7em-none-eabihf --release)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = std::env::var_os("LEUKOSCOPE_MCU_ENGINE_LOG")
        .map_or_else(|| dir.path().join("engine.defmt"), Into::into);
    let mut qemu = Command::new("qemu-system-arm")
        .args(["-M", "mps2-an500", "-display", "none", "-monitor", "none"])
        .args(["-icount", "shift=0"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-kernel")
        .arg(Path::new(&elf))
        .current_dir(dir.path())
        .stdout(std::fs::File::create(&log).expect("the log file"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qemu-system-arm runs (apt install qemu-system-arm)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = qemu.try_wait().expect("qemu waits") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = qemu.kill();
            panic!("the engine did not finish in 300 s under qemu");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "the MCU run failed ({status}); its log: {}",
        log.display()
    );
    let mcu: Vec<f32> = std::fs::read(dir.path().join("mcu-logits.bin"))
        .expect("the MCU wrote its logits")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let host = host_logits();
    eprintln!(
        "logits on the MCU {mcu:?}, on the host {host:?}, in {:.1} s of qemu",
        started.elapsed().as_secs_f32()
    );
    assert_eq!(mcu.len(), 4);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&mcu),
        bits(&host),
        "the MCU's logits differ from the host's"
    );
}
