//! A model trained on the host reaches the edge intact, and only intact: train, export,
//! sign, load on the edge under a trust policy, and refuse every altered copy by name.

use leukoscope_core::artifact::{self, ArtifactError, SigningKey, TrustPolicy};
use leukoscope_core::files::{ReadError, write_atomically};
use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_core::synth::FieldOptions;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_edge::io::model::{ModelLoadError, load_model};
use leukoscope_trainer::backend::{Cpu, CpuTrain};
use leukoscope_trainer::export::{artifact, provenance, write_artifact};
use std::sync::Arc;

use leukoscope_trainer::fit::{Recipe, fit, predict_source};
use leukoscope_trainer::synthetic::synthetic_fields;

fn refused(result: Result<artifact::VerifiedArtifact, ModelLoadError>) -> ArtifactError {
    match result {
        Err(ModelLoadError::Refused { source, .. }) => source,
        other => panic!("expected a refused model, got {other:?}"),
    }
}

#[test]
fn trained_model_is_exported_signed_and_verified_on_the_edge() {
    let size = 32;
    let preprocess = Preprocess::field(size, size);
    let spec = Preset::TinyCnn.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(4)
    });
    let fields = FieldOptions::default();
    let train = Arc::new(synthetic_fields(8, 1, &fields, &preprocess).unwrap());
    let valid = Arc::new(synthetic_fields(4, 2, &fields, &preprocess).unwrap());
    let device = Default::default();
    let fitted = fit::<CpuTrain, _, _>(
        &spec,
        &Taxonomy::b_all_4(),
        train,
        Arc::clone(&valid),
        &Recipe::new(1, 8, 3),
        &device,
        None,
        &mut |_| {},
    )
    .unwrap();
    let model = artifact(
        &fitted.best,
        Taxonomy::b_all_4(),
        preprocess,
        provenance("{}".into()),
    );

    let dir = tempfile::tempdir().unwrap();
    let unsigned_path = dir.path().join("model.lsm");
    write_artifact(&model, &unsigned_path).unwrap();
    let key = SigningKey::from_secret(&[42; 32]);
    let signed = artifact::sign(&std::fs::read(&unsigned_path).unwrap(), &key).unwrap();
    let signed_path = dir.path().join("signed.lsm");
    write_atomically(&signed_path, &signed).unwrap();

    // The board that trusts our key runs the signed model, identified by the same digest.
    let board = TrustPolicy::only(vec![key.public_key()]);
    let on_edge = load_model(&signed_path, &board).unwrap();
    assert_eq!(on_edge.signed_by, Some(key.public_key()));
    let unsigned = load_model(&unsigned_path, &TrustPolicy::any()).unwrap();
    assert_eq!(on_edge.digest, unsigned.digest);
    assert_eq!(on_edge.artifact, model);

    // The weights that arrived compute what the trained network computed.
    let rebuilt =
        Network::<Cpu>::from_weights(&on_edge.artifact.spec, &on_edge.artifact.weights, &device)
            .unwrap();
    let (before, _, _) = predict_source(&fitted.best, Arc::clone(&valid), 16, &device);
    let (after, _, _) = predict_source(&rebuilt, valid, 16, &device);
    for (a, b) in before.iter().zip(&after) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    // Every altered copy is refused, by name.
    assert!(matches!(
        refused(load_model(&unsigned_path, &board)),
        ArtifactError::MissingSignature { .. }
    ));
    let stranger = SigningKey::from_secret(&[7; 32]);
    let foreign_path = dir.path().join("foreign.lsm");
    write_atomically(&foreign_path, &artifact::sign(&signed, &stranger).unwrap()).unwrap();
    let err = refused(load_model(&foreign_path, &board));
    assert!(
        err.to_string().contains(&key.public_key().to_string()),
        "{err}"
    );

    let mut tampered = signed.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let tampered_path = dir.path().join("tampered.lsm");
    write_atomically(&tampered_path, &tampered).unwrap();
    assert!(matches!(
        refused(load_model(&tampered_path, &board)),
        ArtifactError::DigestMismatch { .. }
    ));

    let cut_path = dir.path().join("cut.lsm");
    write_atomically(&cut_path, &signed[..signed.len() - 500]).unwrap();
    assert!(matches!(
        refused(load_model(&cut_path, &TrustPolicy::any())),
        ArtifactError::Truncated { .. }
    ));
    assert!(matches!(
        load_model(&dir.path().join("absent.lsm"), &board),
        Err(ModelLoadError::Read { .. })
    ));
    // A device or a FIFO named as the model is refused at once: /dev/zero was read to
    // 1 GiB first, and a FIFO hung the program waiting for a writer.
    let fifo = dir.path().join("fifo.lsm");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    for path in [std::path::Path::new("/dev/zero"), &fifo] {
        assert!(
            matches!(
                load_model(path, &board),
                Err(ModelLoadError::Read {
                    source: ReadError::NotAFile { .. },
                    ..
                })
            ),
            "{}",
            path.display()
        );
    }
}
