//! Which instruction set a kernel call uses, and which ones this CPU has: every vector path
//! of the engine (kernels, element-wise loops, the f32 reference) is chosen here.
//!
//! With `std` (and in this crate's own tests) the answer comes from the CPU at run time,
//! so one binary runs its best kernels everywhere; without `std` there is no portable way to
//! ask the CPU, so the answer is what the build was compiled for (`-C target-feature`).

use alloc::vec;
use alloc::vec::Vec;

#[cfg(all(
    any(feature = "std", test),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
extern crate std;

/// Which instruction set a kernel call uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Isa {
    /// Plain Rust: the reference every other kernel must match bit for bit; runs anywhere.
    Scalar,
    /// x86-64 AVX2: activations widened to i16 and multiplied with `vpmaddwd` (exact).
    Avx2,
    /// x86-64 AVX-512 (F, BW, DQ, VL) with VNNI: `vpdpbusd`, four int8 products per lane.
    Avx512Vnni,
    /// AArch64 NEON with the dot-product extension: `sdot`, four int8 products per lane.
    NeonDot,
}

impl Isa {
    /// The best instruction set this CPU has (the last of [`Isa::available`]).
    pub fn detect() -> Isa {
        Isa::available().last().copied().unwrap_or(Isa::Scalar)
    }

    /// Every instruction set this CPU can run, [`Isa::Scalar`] first, best last.
    pub fn available() -> Vec<Isa> {
        let mut all = vec![Isa::Scalar];
        all.extend(
            [Isa::Avx2, Isa::Avx512Vnni, Isa::NeonDot]
                .into_iter()
                .filter(|isa| isa.is_available()),
        );
        all
    }

    /// Whether this CPU can run kernels of this instruction set (cheap: the run-time answer
    /// is cached by the standard library).
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => avx2_available(),
            Isa::Avx512Vnni => avx512_vnni_available(),
            Isa::NeonDot => neon_dot_available(),
        }
    }

    /// Runs `f` compiled with this instruction set's vector extensions where the CPU has
    /// them (else as plain code), so that the plain loops inlined into it are vectorized
    /// for them: element-wise and float loops need no kernels of their own. On AArch64
    /// NEON is always there, so plain code already uses it.
    ///
    /// Only what the compiler inlines into `f` benefits: pass an `#[inline(always)]` closure
    /// (a large one is otherwise called, not inlined, and compiled without the extensions)
    /// whose loops are `#[inline(always)]` too.
    #[inline(always)]
    pub fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX-512 F, BW, DQ and VL (part of this ISA), just checked.
            Isa::Avx512Vnni if self.is_available() => unsafe { with_avx512(f) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2, just checked.
            Isa::Avx2 if self.is_available() => unsafe { with_avx2(f) },
            _ => f(),
        }
    }

    /// The name used in logs, reports and benchmark tables.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::NeonDot => "neon-dot",
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// AVX-512 also brings 64-bit multiplies (`vpmullq`, DQ), which the int8 adds' 64-bit
/// lanes need.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512dq,avx512bw,avx512vl")]
fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(all(target_arch = "x86_64", any(feature = "std", test)))]
fn avx2_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(all(target_arch = "x86_64", not(any(feature = "std", test))))]
fn avx2_available() -> bool {
    cfg!(target_feature = "avx2")
}

#[cfg(all(target_arch = "x86_64", any(feature = "std", test)))]
fn avx512_vnni_available() -> bool {
    // The AVX-512 kernels also use AVX2 instructions for packing; the element-wise loops
    // use DQ's 64-bit multiplies (every CPU with VNNI has DQ).
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(all(target_arch = "x86_64", not(any(feature = "std", test))))]
fn avx512_vnni_available() -> bool {
    cfg!(all(
        target_feature = "avx2",
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512dq",
        target_feature = "avx512vl",
        target_feature = "avx512vnni"
    ))
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_available() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_vnni_available() -> bool {
    false
}

#[cfg(all(target_arch = "aarch64", any(feature = "std", test)))]
fn neon_dot_available() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
        && std::arch::is_aarch64_feature_detected!("dotprod")
}

#[cfg(all(target_arch = "aarch64", not(any(feature = "std", test))))]
fn neon_dot_available() -> bool {
    cfg!(all(target_feature = "neon", target_feature = "dotprod"))
}

#[cfg(not(target_arch = "aarch64"))]
fn neon_dot_available() -> bool {
    false
}
