use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::preprocess::Preprocess;
use crate::spec::{Activation, Conv2d, InputKind, InputSpec, ParamTensor, SpecBuilder};

fn tiny_spec() -> ModelSpec {
    let mut b = SpecBuilder::new(
        "tiny",
        InputSpec {
            channels: 3,
            height: 8,
            width: 8,
            kind: InputKind::Cell,
            um_per_px: 0.5,
        },
    );
    b.conv_bn(Conv2d::square(4, 3, 2, 1), Some(Activation::Relu6));
    b.global_avg_pool();
    b.dense(4);
    b.build()
}

fn values(layout: &[ParamTensor], seed: u32) -> Vec<Vec<f32>> {
    layout
        .iter()
        .enumerate()
        .map(|(t, p)| {
            (0..p.len())
                .map(|i| ((i as u32 * 7 + t as u32 * 13 + seed) % 17) as f32 / 17.0 + 0.01)
                .collect()
        })
        .collect()
}

fn tiny() -> ModelArtifact {
    let spec = tiny_spec();
    let layout = spec.parameter_layout().unwrap();
    ModelArtifact {
        weights: Weights {
            tensors: values(&layout, 1),
        },
        quantized: None,
        spec,
        taxonomy: Taxonomy::b_all_4(),
        preprocess: Preprocess::cell(8, 8),
        calibration: Calibration::default(),
        provenance: Provenance {
            tool: "test".into(),
            metrics: vec![Metric {
                name: "accuracy".into(),
                value: 0.5,
            }],
            ..Provenance::default()
        },
        familiarity: None,
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_secret(&[seed; 32])
}

/// Wraps `body` in a header and a correct digest, as an attacker who can rewrite the
/// digest could.
fn framed(version: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(body);
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    bytes
}

/// Encodes without validation, so decoding's own checks can be reached.
fn framed_artifact(artifact: &ModelArtifact) -> Vec<u8> {
    framed(FORMAT_VERSION, 0, &postcard::to_allocvec(artifact).unwrap())
}

fn decode_any(bytes: &[u8]) -> Result<VerifiedArtifact, ArtifactError> {
    ModelArtifact::decode(bytes, &TrustPolicy::any())
}

#[test]
fn roundtrip_unsigned_and_signed() {
    let artifact = tiny();
    let bytes = artifact.encode().unwrap();
    let decoded = decode_any(&bytes).unwrap();
    assert_eq!(decoded.artifact, artifact);
    assert_eq!(decoded.signed_by, None);
    assert_eq!(ModelArtifact::digest_of(&bytes).unwrap(), decoded.digest);

    let signed = sign(&bytes, &key(1)).unwrap();
    assert_eq!(signed.len(), bytes.len() + SIGNATURE_LEN);
    let trusted = TrustPolicy::only(vec![key(2).public_key(), key(1).public_key()]);
    let verified = ModelArtifact::decode(&signed, &trusted).unwrap();
    assert_eq!(verified.signed_by, Some(key(1).public_key()));
    // Signing does not change the model's identity.
    assert_eq!(verified.digest, decoded.digest);
    // Re-signing replaces the signature rather than stacking a second one.
    let resigned = sign(&signed, &key(2)).unwrap();
    assert_eq!(resigned.len(), signed.len());
    assert_eq!(
        ModelArtifact::decode(&resigned, &trusted)
            .unwrap()
            .signed_by,
        Some(key(2).public_key())
    );
}

#[test]
fn header_errors() {
    let bytes = tiny().encode().unwrap();
    assert_eq!(
        decode_any(b"GIF89a..............").unwrap_err(),
        ArtifactError::BadMagic
    );
    assert!(matches!(
        decode_any(&[]),
        Err(ArtifactError::Truncated { available: 0, .. })
    ));

    for (version, newer) in [
        (FORMAT_VERSION + 1, true),
        (OLDEST_FORMAT_VERSION - 1, false),
        (0, false),
    ] {
        let mut other = bytes.clone();
        other[8..10].copy_from_slice(&version.to_le_bytes());
        let err = decode_any(&other).unwrap_err();
        assert_eq!(
            err,
            ArtifactError::UnsupportedVersion {
                found: version,
                oldest: OLDEST_FORMAT_VERSION,
                newest: FORMAT_VERSION
            }
        );
        let message = alloc::format!("{err}");
        assert_eq!(message.contains("update leukoscope"), newer, "{message}");
    }

    let flagged = framed(
        FORMAT_VERSION,
        4,
        &bytes[HEADER_LEN..bytes.len() - DIGEST_LEN],
    );
    assert_eq!(
        decode_any(&flagged).unwrap_err(),
        ArtifactError::UnknownFlags { flags: 4 }
    );

    let mut huge = bytes.clone();
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        decode_any(&huge),
        Err(ArtifactError::Malformed { .. })
    ));
    huge[12..20].copy_from_slice(&(u64::MAX - 100).to_le_bytes());
    assert!(matches!(
        decode_any(&huge),
        Err(ArtifactError::Truncated { .. })
    ));
}

#[test]
fn every_truncation_is_named() {
    let signed = sign(&tiny().encode().unwrap(), &key(3)).unwrap();
    for len in 0..signed.len() {
        match decode_any(&signed[..len]) {
            Err(ArtifactError::Truncated { available, needed }) => {
                assert_eq!(available, len as u64);
                assert!(needed > available);
            }
            // Cutting off exactly the signature leaves a valid unsigned file.
            Ok(v) if len == signed.len() - SIGNATURE_LEN => assert_eq!(v.signed_by, None),
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    let mut long = signed.clone();
    long.extend_from_slice(&[0; 5]);
    assert_eq!(
        decode_any(&long).unwrap_err(),
        ArtifactError::TrailingBytes { extra: 5 }
    );
}

#[test]
fn digest_catches_any_changed_byte() {
    let bytes = tiny().encode().unwrap();
    for i in HEADER_LEN..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        assert!(
            matches!(decode_any(&bad), Err(ArtifactError::DigestMismatch { .. })),
            "byte {i}"
        );
    }
}

#[test]
fn flipping_any_byte_of_a_signed_artifact_is_a_named_error() {
    let signed = sign(&tiny().encode().unwrap(), &key(4)).unwrap();
    let trusted = TrustPolicy::only(vec![key(4).public_key()]);
    for i in 0..signed.len() {
        for bit in [0x01, 0x80] {
            let mut bad = signed.clone();
            bad[i] ^= bit;
            let err = ModelArtifact::decode(&bad, &trusted).unwrap_err();
            // The message is always a sentence a technician can act on.
            assert!(!alloc::format!("{err}").is_empty());
        }
    }
    let key_start = signed.len() - SIGNATURE_LEN;
    let mut bad = signed.clone();
    bad[key_start] ^= 1;
    assert!(matches!(
        ModelArtifact::decode(&bad, &trusted),
        Err(ArtifactError::UntrustedSigner { .. })
    ));
    let mut bad = signed.clone();
    bad[key_start + 40] ^= 1;
    assert_eq!(
        ModelArtifact::decode(&bad, &trusted).unwrap_err(),
        ArtifactError::InvalidSignature {
            key: key(4).public_key()
        }
    );
    // Without a trust list a broken signature is still refused.
    assert!(matches!(
        decode_any(&bad),
        Err(ArtifactError::InvalidSignature { .. })
    ));
}

#[test]
fn signature_policy() {
    let bytes = tiny().encode().unwrap();
    let trusted = TrustPolicy::only(vec![key(5).public_key()]);
    let err = ModelArtifact::decode(&bytes, &trusted).unwrap_err();
    assert_eq!(
        err,
        ArtifactError::MissingSignature {
            expected: KeyList(vec![key(5).public_key()])
        }
    );
    // The message names the key the device expects.
    assert!(alloc::format!("{err}").contains(&alloc::format!("{}", key(5).public_key())));
    let other = sign(&bytes, &key(6)).unwrap();
    assert_eq!(
        ModelArtifact::decode(&other, &trusted).unwrap_err(),
        ArtifactError::UntrustedSigner {
            found: key(6).public_key(),
            expected: KeyList(vec![key(5).public_key()])
        }
    );
    assert_eq!(
        "zz".parse::<PublicKey>().unwrap_err(),
        keys::BadKey("zz".into())
    );
    let text = alloc::format!("{}", key(5).public_key());
    assert_eq!(text.parse::<PublicKey>(), Ok(key(5).public_key()));
}

#[test]
fn body_errors_behind_a_valid_digest() {
    let good = postcard::to_allocvec(&tiny()).unwrap();
    assert!(matches!(
        decode_any(&framed(FORMAT_VERSION, 0, &good[..good.len() / 2])),
        Err(ArtifactError::Malformed { .. })
    ));
    assert!(matches!(
        decode_any(&framed(FORMAT_VERSION, 0, &[0xff; 64])),
        Err(ArtifactError::Malformed { .. })
    ));
    let mut extra = good.clone();
    extra.push(0);
    assert!(matches!(
        decode_any(&framed(FORMAT_VERSION, 0, &extra)),
        Err(ArtifactError::Malformed { .. })
    ));
}

#[test]
fn inconsistent_models_are_refused_on_encode_and_decode() {
    type Breakage = fn(&mut ModelArtifact);
    type Expectation = fn(&ArtifactError) -> bool;
    let cases: Vec<(Breakage, Expectation)> = vec![
        (
            |a| a.spec.nodes.clear(),
            |e| matches!(e, ArtifactError::InvalidSpec(crate::spec::SpecError::Empty)),
        ),
        (
            |a| a.taxonomy = Taxonomy::all_binary(),
            |e| {
                matches!(
                    e,
                    ArtifactError::ClassCount {
                        outputs: 4,
                        classes: 2
                    }
                )
            },
        ),
        (
            |a| a.preprocess = Preprocess::cell(16, 16),
            |e| matches!(e, ArtifactError::InputMismatch { .. }),
        ),
        (
            |a| a.preprocess.normalize.std[1] = 0.0,
            |e| matches!(e, ArtifactError::InvalidPreprocess(_)),
        ),
        (
            |a| {
                a.weights.tensors.pop();
            },
            |e| matches!(e, ArtifactError::TensorCount { .. }),
        ),
        (
            |a| {
                a.weights.tensors[0].pop();
            },
            |e| {
                matches!(
                    e,
                    ArtifactError::TensorSize {
                        tensor: 0,
                        node: 0,
                        ..
                    }
                )
            },
        ),
        (
            |a| a.weights.tensors[2][1] = f32::NAN,
            |e| matches!(e, ArtifactError::NonFiniteWeight { tensor: 2, node: 1 }),
        ),
        (
            |a| a.calibration.temperature = 0.0,
            |e| matches!(e, ArtifactError::InvalidCalibration { .. }),
        ),
        (
            |a| a.calibration.unidentified_below = 1.5,
            |e| matches!(e, ArtifactError::InvalidCalibration { .. }),
        ),
    ];
    for (i, (break_it, expected)) in cases.into_iter().enumerate() {
        let mut artifact = tiny();
        break_it(&mut artifact);
        let on_encode = artifact.encode().unwrap_err();
        assert!(expected(&on_encode), "case {i}: {on_encode:?}");
        let on_decode = decode_any(&framed_artifact(&artifact)).unwrap_err();
        assert!(expected(&on_decode), "case {i}: {on_decode:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_valid_artifact_roundtrips(
        seed in any::<u32>(),
        temperature in 0.05f32..20.0,
        threshold in 0.0f32..=1.0,
        tool in ".{0,40}",
        metrics in proptest::collection::vec(("[a-z_]{1,12}", any::<f64>()), 0..6),
        fingerprint in any::<[u8; 32]>(),
        images in any::<u64>(),
    ) {
        let mut artifact = tiny();
        artifact.weights.tensors = values(&artifact.spec.parameter_layout().unwrap(), seed);
        artifact.calibration = Calibration { temperature, unidentified_below: threshold };
        artifact.provenance.tool = tool;
        artifact.provenance.metrics = metrics.into_iter().map(|(name, value)| Metric { name, value }).collect();
        artifact.provenance.dataset = DatasetFingerprint { name: "x".into(), images, sha256: fingerprint };
        let bytes = artifact.encode().unwrap();
        let decoded = decode_any(&bytes).unwrap();
        // NaN metrics compare unequal; compare their bits through a second encoding.
        prop_assert_eq!(decoded.artifact.encode().unwrap(), bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_any(&bytes);
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = decode_any(&with_magic);
    }

    #[test]
    fn random_bodies_behind_valid_digests_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = decode_any(&framed(FORMAT_VERSION, 0, &body));
    }

    #[test]
    fn mutated_bodies_behind_valid_digests_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = postcard::to_allocvec(&tiny()).unwrap();
        for (at, value) in edits {
            let i = at.index(body.len());
            body[i] = value;
        }
        let _ = decode_any(&framed(FORMAT_VERSION, 0, &body));
    }

    /// An int8 body edited behind a valid digest either is refused with a named error or
    /// decodes into a model the engine runs without panicking: execution trusts only what
    /// `validate` checked.
    #[test]
    fn mutated_int8_bodies_are_refused_or_run(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = postcard::to_allocvec(&tiny_int8()).unwrap();
        for (at, value) in edits {
            let i = at.index(body.len());
            body[i] = value;
        }
        if let Ok(verified) = decode_any(&framed(FORMAT_VERSION, 0, &body)) {
            let engine = crate::engine::Engine::new(&verified.artifact).unwrap();
            let mut workspace = engine.workspace();
            let mut logits = vec![0.0; engine.classes()];
            let input = vec![0.5; engine.input_len()];
            engine.run(&mut workspace, &input, &mut logits);
        }
    }
}

/// `tiny()` quantized on a few constant images.
fn tiny_int8() -> ModelArtifact {
    use crate::engine::quantize::{Calibrator, Quantizer};
    let float = tiny();
    let mut quantizer = Quantizer::new(&float, Calibrator::MinMax).unwrap();
    let len = float.spec.input.channels * float.spec.input.height * float.spec.input.width;
    for level in [-1.0, 0.0, 1.0] {
        quantizer.observe(&vec![level; len as usize]);
    }
    quantizer.finish()
}

#[test]
fn softmax_is_stable_and_honours_the_temperature() {
    let p = softmax(&[1000.0, 999.0], 1.0);
    assert!((p[0] - 0.731_058_6).abs() < 1e-5, "{p:?}");
    let hot = softmax(&[2.0, 0.0], 2.0);
    assert!((hot[0] - 0.731_058_6).abs() < 1e-5, "{hot:?}");
    assert_eq!(softmax(&[1.0, 1.0], f32::NAN), vec![0.5, 0.5]);
    let calibrated = Calibration {
        temperature: 2.0,
        unidentified_below: 0.0,
    };
    assert_eq!(calibrated.probabilities(&[2.0, 0.0]), hot);
}

mod golden;
