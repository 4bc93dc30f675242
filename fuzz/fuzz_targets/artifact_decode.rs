//! Feeds arbitrary bytes to the artifact decoder, twice: as they are, and re-framed with a
//! correct header and digest so the fuzzer also reaches the body decoder and the
//! consistency checks (an attacker can always recompute a SHA-256), under each version this
//! build reads; whatever decodes is then run by the engine, and its familiarity profile, if
//! any, measures the features.
#![no_main]

use leukoscope_core::artifact::{
    DIGEST_LEN, FORMAT_VERSION, HEADER_LEN, MAGIC, ModelArtifact, OLDEST_FORMAT_VERSION,
    TrustPolicy,
};
use leukoscope_core::engine::Engine;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let _ = ModelArtifact::decode(data, &TrustPolicy::any());

    for version in [OLDEST_FORMAT_VERSION, FORMAT_VERSION] {
        let mut framed = Vec::with_capacity(HEADER_LEN + data.len() + DIGEST_LEN);
        framed.extend_from_slice(&MAGIC);
        framed.extend_from_slice(&version.to_le_bytes());
        framed.extend_from_slice(&0u16.to_le_bytes());
        framed.extend_from_slice(&(data.len() as u64).to_le_bytes());
        framed.extend_from_slice(data);
        let digest = Sha256::digest(&framed);
        framed.extend_from_slice(&digest);
        if let Ok(verified) = ModelArtifact::decode(&framed, &TrustPolicy::any()) {
            // Whatever decodes passed validation, so it must encode and decode again.
            let again = verified
                .artifact
                .encode()
                .expect("a decoded artifact encodes");
            ModelArtifact::decode(&again, &TrustPolicy::any())
                .expect("a re-encoded artifact decodes");
            // ...and the engine must run it: execution trusts only what validation checked.
            if let Ok(engine) = Engine::new(&verified.artifact) {
                let mut workspace = engine.workspace();
                let mut logits = vec![0.0; engine.classes()];
                engine.run(&mut workspace, &vec![0.5; engine.input_len()], &mut logits);
                if let Some(profile) = &verified.artifact.familiarity {
                    let mut features = vec![0.0; engine.features_len()];
                    engine.features(&workspace, &mut features);
                    let _ = profile.is_unfamiliar(profile.distance(&features));
                }
            }
        }
    }
});
