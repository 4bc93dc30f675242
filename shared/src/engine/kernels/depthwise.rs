//! The depthwise convolution's one driver, generic over each instruction set's kernel: it
//! walks the channels, puts each filter in registers, broadcasts the channel's output stage
//! and hands the channel to the kernel. An instruction set supplies how it loads a filter
//! and how it computes one channel from the shape's constants it prepared at the start of
//! the call.
//!
//! As with the GEMM's tile driver, each instruction set calls this from a function
//! compiled for its features, so the loop is compiled for them and the kernel inlines.

use super::vector_stage::StageRegisters;
use super::{DepthwiseShape, OutputStage};

/// One instruction set's depthwise kernel, prepared for one call's shape and padding.
///
/// Its methods carry the instruction set's `#[target_feature]`, so calling them is only
/// sound on a CPU that has it.
pub(super) trait DepthwiseKernel {
    /// The instruction set, which holds the output stage in its registers.
    type Isa: StageRegisters;

    /// Puts one channel's filter (`kh x kw` taps, row-major) in registers for
    /// [`channel`](Self::channel); returns how far the kernel's accumulators will exceed
    /// the true ones with it (`INPUT_OFFSET` times the sum of its taps).
    ///
    /// # Safety
    /// The CPU has the instruction set's features.
    unsafe fn load_filter(&mut self, filter: &[i8]) -> i32;

    /// Computes channel `c` of `input` (the whole CHW map) with the filter last loaded and
    /// writes its `out_height x out_width` outputs to `dst`.
    ///
    /// # Safety
    /// The CPU has the instruction set's features.
    unsafe fn channel(
        &mut self,
        input: &[i8],
        c: usize,
        stage: &<Self::Isa as StageRegisters>::Stage<'_>,
        dst: &mut [i8],
    );
}

/// See [`super::depthwise_i8`], with `kernel`, prepared for `shape`.
///
/// # Safety
/// The CPU has the features of `K`'s instruction set.
#[inline(always)]
pub(super) unsafe fn run<K: DepthwiseKernel>(
    kernel: &mut K,
    shape: &DepthwiseShape,
    input: &[i8],
    weights: &[i8],
    stage: &OutputStage,
    out: &mut [i8],
) {
    let taps = shape.kernel[0] * shape.kernel[1];
    let outputs = shape.out_height() * shape.out_width();
    // SAFETY (of every call to the kernel below): the CPU has its features (this function's
    // contract).
    let shared = unsafe { K::Isa::shared(stage) };
    for c in 0..shape.channels {
        let offset = unsafe { kernel.load_filter(&weights[c * taps..(c + 1) * taps]) };
        let st = unsafe { K::Isa::stage(&shared, c, offset) };
        let dst = &mut out[c * outputs..(c + 1) * outputs];
        unsafe { kernel.channel(input, c, &st, dst) };
    }
}
