//! Integer compute kernels: the int8 GEMM (pointwise convolutions, im2col convolutions and
//! dense layers) and the int8 depthwise convolution, each with the requantizing output
//! stage fused in.
//!
//! As in tract's `linalg`, there is one plain reference ([`Isa::Scalar`]) and SIMD versions
//! picked per CPU at run time ([`Isa::detect`]); every SIMD kernel produces the reference's
//! bytes exactly, for every input, which the tests check on random shapes and data.
//!
//! - `isa`: which instruction sets this CPU has ([`Isa`]).
//! - `requant`: the requantizing output stage ([`OutputStage`]).
//! - `packed`: GEMM weights packed at load ([`PackedMatrix`]).
//! - `scalar`: the reference kernels.
//! - `tile`: the one GEMM tile driver, generic over a micro-kernel per instruction set.
//! - `depthwise`: the one depthwise driver, generic over a kernel per instruction set.
//! - `vector_stage`: the output stage as the vector kernels compute it, exactly.
//! - `avx2`, `avx512` (x86-64) and `neon` (AArch64): what is particular to each instruction
//!   set: its micro-kernel, packing and depthwise kernel.
//! - `padded`: padded input rows for the NEON depthwise kernel.
//!
//! None of the kernels allocates: the engine allocates weights ([`PackedMatrix::new`]) and
//! scratch ([`gemm_scratch_len`]) once, at load.

mod isa;
mod packed;
mod requant;
mod scalar;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod depthwise;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod tile;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod vector_stage;

#[cfg(target_arch = "aarch64")]
mod padded;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(test)]
pub(crate) mod per_isa;
#[cfg(test)]
mod tests;

pub use isa::Isa;
pub use packed::PackedMatrix;
pub use requant::OutputStage;

/// Bytes of scratch that [`gemm_i8`] needs for a `k x n` right-hand side with weights
/// packed for `isa` (the right-hand side is repacked there); the engine allocates it once.
/// 0 for the scalar kernel, and for instruction sets of another architecture (whose
/// weights are packed for the scalar kernel).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_variables)
)]
pub fn gemm_scratch_len(isa: Isa, k: usize, n: usize) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => tile::scratch_len::<avx2::Avx2>(k, n),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => tile::scratch_len::<avx512::Avx512Vnni>(k, n),
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot => tile::scratch_len::<neon::NeonDot>(k, n),
        _ => 0,
    }
}

/// How `isa`'s GEMM kernels want their weights packed; `None` for the scalar kernel (and
/// instruction sets of another architecture), which reads them row-major.
fn weight_layout(isa: Isa) -> Option<packed::Layout> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(tile::layout::<avx2::Avx2>()),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => Some(tile::layout::<avx512::Avx512Vnni>()),
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot => Some(tile::layout::<neon::NeonDot>()),
        _ => None,
    }
}

/// `out` (`rows x n`, row-major) = the output stage applied to `W * B`, with `W` the packed
/// `rows x k` weights and `B` the `k x n` row-major right-hand side; products of int8 are
/// accumulated exactly in i32.
///
/// Does not allocate. Runs the kernels of `w.isa()`.
///
/// # Panics
/// On length mismatches, which are programming errors: `b.len() != k * n`,
/// `out.len() != rows * n`, `stage.bias` or `stage.requant` not of length `rows`, or
/// `scratch` shorter than [`gemm_scratch_len`]`(w.isa(), k, n)`.
pub fn gemm_i8(
    w: &PackedMatrix,
    b: &[i8],
    n: usize,
    stage: &OutputStage,
    out: &mut [i8],
    scratch: &mut [i8],
) {
    let (rows, k) = (w.rows(), w.cols());
    assert_eq!(b.len(), k * n, "gemm_i8: right-hand side is not {k} x {n}");
    assert_eq!(out.len(), rows * n, "gemm_i8: output is not {rows} x {n}");
    assert_eq!(stage.bias.len(), rows, "gemm_i8: bias is not one per row");
    assert_eq!(
        stage.requant.len(),
        rows,
        "gemm_i8: requant is not one per row"
    );
    let needed = gemm_scratch_len(w.isa(), k, n);
    assert!(
        scratch.len() >= needed,
        "gemm_i8: scratch has {} bytes, needs {needed}",
        scratch.len()
    );
    match w.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a PackedMatrix records an ISA only after `Isa::is_available` confirmed that
        // this CPU has it (`PackedMatrix::new`), and its fields are private.
        Isa::Avx2 => unsafe { avx2::gemm(w, b, n, stage, out, scratch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512Vnni => unsafe { avx512::gemm(w, b, n, stage, out, scratch) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::NeonDot => unsafe { neon::gemm(w, b, n, stage, out, scratch) },
        _ => scalar::gemm(w.data(), rows, k, b, n, stage, out),
    }
}

/// The shape of a depthwise convolution over a CHW map (one filter per channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseShape {
    /// Channels (= filters).
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Stride `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Padding on each side, `[vertical, horizontal]`.
    pub padding: [usize; 2],
    /// Dilation `[vertical, horizontal]`.
    pub dilation: [usize; 2],
}

impl DepthwiseShape {
    /// Output height; 0 when the window does not fit or the shape is degenerate (a zero
    /// kernel, stride or dilation).
    pub fn out_height(&self) -> usize {
        out_len(
            self.height,
            self.kernel[0],
            self.stride[0],
            self.padding[0],
            self.dilation[0],
        )
    }

    /// Output width; 0 when the window does not fit or the shape is degenerate.
    pub fn out_width(&self) -> usize {
        out_len(
            self.width,
            self.kernel[1],
            self.stride[1],
            self.padding[1],
            self.dilation[1],
        )
    }
}

fn out_len(len: usize, kernel: usize, stride: usize, padding: usize, dilation: usize) -> usize {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return 0;
    }
    let span = (kernel - 1) * dilation + 1;
    match (len + 2 * padding).checked_sub(span) {
        Some(room) => room / stride + 1,
        None => 0,
    }
}

/// Depthwise convolution of `input` (`channels x height x width`), one `kh x kw` filter per
/// channel (`weights`, `channels x kh x kw`); positions in the padding read `pad` (the
/// input's zero point, so padding is a real zero). `out` is `channels x out_h x out_w`,
/// with the output stage of [`gemm_i8`], row = channel.
///
/// Does not allocate. An `isa` this CPU lacks, or a shape its kernel does not cover (very
/// wide kernels or dilations), runs the scalar kernel.
///
/// # Panics
/// On length mismatches, which are programming errors: `input`, `weights` or `out` not of
/// the lengths above, or `stage.bias` or `stage.requant` not of length `channels`.
pub fn depthwise_i8(
    isa: Isa,
    shape: &DepthwiseShape,
    input: &[i8],
    pad: i8,
    weights: &[i8],
    stage: &OutputStage,
    out: &mut [i8],
) {
    let c = shape.channels;
    let [kh, kw] = shape.kernel;
    assert_eq!(
        input.len(),
        c * shape.height * shape.width,
        "depthwise_i8: input is not {c} x {} x {}",
        shape.height,
        shape.width
    );
    assert_eq!(
        weights.len(),
        c * kh * kw,
        "depthwise_i8: weights are not {c} x {kh} x {kw}"
    );
    let (oh, ow) = (shape.out_height(), shape.out_width());
    assert_eq!(
        out.len(),
        c * oh * ow,
        "depthwise_i8: output is not {c} x {oh} x {ow}"
    );
    assert_eq!(
        stage.bias.len(),
        c,
        "depthwise_i8: bias is not one per channel"
    );
    assert_eq!(
        stage.requant.len(),
        c,
        "depthwise_i8: requant is not one per channel"
    );
    if out.is_empty() {
        return;
    }
    let done = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if isa.is_available() => {
            // SAFETY: the CPU has AVX2, just checked.
            unsafe { avx2::depthwise(shape, input, pad, weights, stage, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni if isa.is_available() => {
            // SAFETY: the CPU has AVX2 and AVX-512 F/BW/VL/VNNI, just checked.
            unsafe { avx512::depthwise(shape, input, pad, weights, stage, out) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot if isa.is_available() => {
            // SAFETY: the CPU has NEON and the dot-product extension, just checked.
            unsafe { neon::depthwise(shape, input, pad, weights, stage, out) }
        }
        _ => false,
    };
    if !done {
        scalar::depthwise(shape, input, pad, weights, stage, out);
    }
}
