//! The firmware binaries' memory maps and linker scripts: `memory.x` for cortex-m-rt's
//! `link.x` (qemu's mps2-an500 held to a 1 MB / 512 KB budget, or the Nucleo-F446RE's
//! 512 KB of flash and 128 KB of RAM), and defmt's `defmt.x`. Only for the Arm target; the
//! host tests link as usual.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rerun-if-changed=memory-nucleo-f446re.x");
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let memory: &[u8] = match (
        env::var_os("CARGO_FEATURE_MPS2"),
        env::var_os("CARGO_FEATURE_NUCLEO_F446RE"),
    ) {
        _ if !target.starts_with("thumb") => return,
        (Some(_), None) => include_bytes!("memory-mps2.x"),
        (None, Some(_)) => include_bytes!("memory-nucleo-f446re.x"),
        (None, None) => return,
        (Some(_), Some(_)) => {
            panic!("build one firmware at a time: --features mps2 or nucleo-f446re")
        }
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), memory).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
