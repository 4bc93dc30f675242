//! `keygen` and `sign` as a user runs them: a signed model loads under a policy that trusts
//! its key, and is refused, with the expected key named, under one that does not.

use std::path::Path;
use std::process::Command;

use leukoscope_core::artifact::{ArtifactError, ModelArtifact, PublicKey, TrustPolicy};
use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::Cpu;
use leukoscope_trainer::export::{artifact, write_artifact};

fn train_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args(args)
        .output()
        .unwrap()
}

fn public_key(path: &Path) -> PublicKey {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn keygen_and_sign_make_models_only_trusted_boards_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Preset::TinyCnn.build(&PresetOptions {
        input_size: 32,
        ..PresetOptions::field(4)
    });
    let network = Network::<Cpu>::new(&spec, 1, &Default::default()).unwrap();
    let model = dir.path().join("model.lsm");
    let float = artifact(
        &network,
        Taxonomy::b_all_4(),
        Preprocess::field(32, 32),
        Default::default(),
    );
    write_artifact(&float, &model).unwrap();
    let unsigned = std::fs::read(&model).unwrap();

    let (clinic, other) = (dir.path().join("clinic"), dir.path().join("other"));
    for key in [&clinic, &other] {
        let out = train_cli(&["keygen", "--out", key.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A key is never overwritten by accident.
    let again = train_cli(&["keygen", "--out", clinic.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let out = train_cli(&[
        "sign",
        "--key",
        clinic.with_extension("key").to_str().unwrap(),
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = std::fs::read(&model).unwrap();
    let clinic_key = public_key(&clinic.with_extension("pub"));
    let other_key = public_key(&other.with_extension("pub"));

    let verified = ModelArtifact::decode(&signed, &TrustPolicy::only(vec![clinic_key])).unwrap();
    assert_eq!(verified.signed_by, Some(clinic_key));
    assert_eq!(
        verified.digest,
        ModelArtifact::digest_of(&unsigned).unwrap(),
        "signing keeps the model's identity"
    );
    let refused = ModelArtifact::decode(&signed, &TrustPolicy::only(vec![other_key])).unwrap_err();
    assert!(matches!(refused, ArtifactError::UntrustedSigner { .. }));
    assert!(refused.to_string().contains(&other_key.to_string()));
    let unsigned_refused =
        ModelArtifact::decode(&unsigned, &TrustPolicy::only(vec![clinic_key])).unwrap_err();
    assert!(matches!(
        unsigned_refused,
        ArtifactError::MissingSignature { .. }
    ));

    // A damaged key file is a clear error, not a signature by some other key.
    std::fs::write(clinic.with_extension("key"), "not a key").unwrap();
    let out = train_cli(&[
        "sign",
        "--key",
        clinic.with_extension("key").to_str().unwrap(),
        model.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a secret key"));
}
