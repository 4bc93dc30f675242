//! Test support: one test per instruction set. A check of the kernels against the scalar
//! reference, written once, becomes a module of tests named by instruction set
//! (`gemm_matches_scalar::avx512_vnni`), and a CPU without an instruction set says so
//! instead of passing that check in silence.

extern crate std;

use super::Isa;

/// Runs `check` on `isa`; on a CPU without it, prints `not run: this CPU lacks <isa>`
/// (shown with `--nocapture`) and returns.
pub(crate) fn run_on(isa: Isa, check: fn(Isa)) {
    if isa.is_available() {
        check(isa);
    } else {
        std::eprintln!("not run: this CPU lacks {}", isa.name());
    }
}

/// `per_isa! { fn name(isa) { .. } }` defines module `name` with one test per SIMD
/// instruction set (`avx2`, `avx512_vnni`, `neon_dot`), each running the body with `isa`
/// set to it through [`run_on`]; `per_isa! { scalar too; fn .. }` adds a `scalar` test.
macro_rules! per_isa {
    ($(#[$meta:meta])* fn $check:ident($isa:ident) $body:block) => {
        $crate::engine::kernels::per_isa::per_isa!(@tests [$(#[$meta])*] $check $isa $body
            [avx2 Avx2, avx512_vnni Avx512Vnni, neon_dot NeonDot]);
    };
    (scalar too; $(#[$meta:meta])* fn $check:ident($isa:ident) $body:block) => {
        $crate::engine::kernels::per_isa::per_isa!(@tests [$(#[$meta])*] $check $isa $body
            [scalar Scalar, avx2 Avx2, avx512_vnni Avx512Vnni, neon_dot NeonDot]);
    };
    (@tests [$($meta:tt)*] $check:ident $isa:ident $body:block
     [$($test:ident $variant:ident),*]) => {
        $($meta)*
        mod $check {
            #[allow(unused_imports)]
            use super::*;
            use $crate::engine::kernels::Isa;

            fn check($isa: Isa) $body

            $(
                #[test]
                fn $test() {
                    $crate::engine::kernels::per_isa::run_on(Isa::$variant, check);
                }
            )*
        }
    };
}
pub(crate) use per_isa;
