//! The core's int8 engine on a Cortex-M7 under qemu (`mps2-an500`, the same memory budget
//! as the scope controller: 1 MB of flash, 512 KB of RAM): decodes the edge-xs parity model
//! from flash, runs it on the parity input, writes its logits to the host file
//! `mcu-logits.bin` (f32, little-endian) over semihosting for the host's test to compare
//! with its own engine, and logs over defmt what it took: flash, RAM (static, heap, stack)
//! and instructions, counted by qemu with `-icount shift=0` (a nanosecond each), an
//! estimate of the cycles a real M7 takes, which qemu does not model.
//!
//! ```text
//! qemu-system-arm -M mps2-an500 -nographic -icount shift=0 -semihosting-config enable=on,target=native \
//!     -kernel engine-mps2 > engine.defmt    # then: defmt-print -e engine-mps2 < engine.defmt
//! ```
#![no_std]
#![no_main]

#[path = "../mps2/cmsdk.rs"]
#[allow(dead_code)]
mod cmsdk;

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::nr::open::W_TRUNC_BINARY;
use cortex_m_semihosting::syscall;
use defmt_semihosting as _;
use embedded_alloc::LlffHeap;
use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::engine::Engine;

use crate::cmsdk::Clock;

/// The parity model (edge-xs, 64 px, int8) and input, made by
/// `tests/tests/mcu_engine.rs`, which checks them against its generator.
static MODEL: &[u8] = include_bytes!("../../fixtures/edge-xs-64-int8.lsm");
static INPUT: &Aligned<[u8]> = &Aligned(*include_bytes!("../../fixtures/parity-input-64.f32"));

/// Bytes on a 4-byte boundary, so the input is read as `f32` in place (48 KB not copied).
#[repr(C, align(4))]
struct Aligned<T: ?Sized>(T);

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();
/// Of the 512 KB of RAM, what the stack does not need. The model's decoded copy is freed
/// once the engine has packed it, but the engine's blocks lie between its holes: the arena
/// is taken from above them.
const HEAP_BYTES: usize = 448 * 1024;
const STACK_PAINT: u32 = 0x5a5a_5a5a;

unsafe extern "C" {
    static __erodata: u8;
    static __sdata: u8;
    static __edata: u8;
    static __ebss: u8;
}

#[entry]
fn main() -> ! {
    {
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
        // SAFETY: runs once, before anything allocates; the region is used by nothing else.
        unsafe { HEAP.init(&raw mut HEAP_MEM as usize, HEAP_BYTES) }
    }
    let stack_floor = paint_stack();
    // SAFETY: mps2-an500's first timer, which nothing else drives.
    let clock = unsafe { Clock::start(cmsdk::TIMER0) };

    let artifact = match ModelArtifact::decode(MODEL, &TrustPolicy::any()) {
        Ok(verified) => verified.artifact,
        Err(e) => fail(defmt::Display2Format(&e)),
    };
    let engine = match Engine::new(&artifact) {
        Ok(e) => e,
        Err(e) => fail(defmt::Display2Format(&e)),
    };
    // The engine keeps what it needs of the model: the decoded copy goes before the
    // arena is taken.
    let name = artifact.spec.name.clone();
    drop(artifact);
    // SAFETY: 4-aligned, a whole number of f32s, and the target is little-endian like the
    // file; every bit pattern is an f32.
    let input: &[f32] =
        unsafe { core::slice::from_raw_parts(INPUT.0.as_ptr().cast(), INPUT.0.len() / 4) };
    if input.len() != engine.input_len() {
        fail(input.len());
    }
    let mut workspace = engine.workspace();
    let mut logits = vec![0.0f32; engine.classes()];
    let start = clock.now_us();
    engine.run(&mut workspace, input, &mut logits);
    // Under -icount shift=0 a microsecond of qemu's clock is a thousand instructions.
    let instructions = (clock.now_us() - start) * 1_000;
    let heap = HEAP.used();

    let mut bytes = Vec::with_capacity(logits.len() * 4);
    for v in &logits {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    if !write_host_file(c"mcu-logits.bin", &bytes) {
        fail("mcu-logits.bin could not be written");
    }

    // Linker symbols: only their addresses are read.
    let flash =
        &raw const __erodata as usize + (&raw const __edata as usize - &raw const __sdata as usize);
    let statics = &raw const __ebss as usize - 0x2000_0000;
    let stack = stack_used(stack_floor);
    defmt::info!(
        "int8 engine on a Cortex-M7 (qemu mps2-an500), {} ({} classes, {} inputs, {:?})",
        name.as_str(),
        engine.classes(),
        engine.input_len(),
        defmt::Debug2Format(&engine.isa())
    );
    defmt::info!(
        "flash {=usize} bytes of 1048576 (code, model {=usize}, input {=usize})",
        flash,
        MODEL.len(),
        INPUT.0.len()
    );
    defmt::info!(
        "RAM needed {=usize} bytes of 524288: statics {=usize}, heap in use {=usize} (the engine's weights and arena of {=usize}), stack {=usize}",
        statics - HEAP_BYTES + heap + stack,
        statics - HEAP_BYTES,
        heap,
        engine.arena_bytes(),
        stack
    );
    defmt::info!(
        "one inference: {=u64} instructions under qemu -icount (an estimate of cycles, not a measurement)",
        instructions
    );
    defmt::info!("logits {=[?]}", logits.as_slice());
    debug::exit(EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Writes `bytes` to the file `name` on the host (in qemu's working folder), replacing it.
fn write_host_file(name: &core::ffi::CStr, bytes: &[u8]) -> bool {
    let len = name.to_bytes().len();
    // SAFETY: semihosting calls with a NUL-terminated name and a live buffer.
    unsafe {
        let fd = syscall!(OPEN, name.as_ptr(), W_TRUNC_BINARY, len) as isize;
        if fd < 0 {
            return false;
        }
        // WRITE answers the bytes it could not write.
        let unwritten = syscall!(WRITE, fd, bytes.as_ptr(), bytes.len());
        syscall!(CLOSE, fd);
        unwritten == 0
    }
}

/// Fills the free stack below the current frame (with 1 KB spare) with a pattern, and
/// returns its lowest address.
fn paint_stack() -> usize {
    // `__ebss` marks the end of the statics; the stack grows down to it.
    let floor = &raw const __ebss as usize;
    let here = cortex_m::register::msp::read() as usize - 1024;
    let mut p = floor.next_multiple_of(4);
    while p < here {
        // SAFETY: between the statics and the live stack: memory nothing uses yet.
        unsafe { core::ptr::write_volatile(p as *mut u32, STACK_PAINT) };
        p += 4;
    }
    floor.next_multiple_of(4)
}

/// The stack's deepest reach: the painted words overwritten, from the top of RAM down.
fn stack_used(floor: usize) -> usize {
    let top = 0x2000_0000 + 512 * 1024;
    let mut p = floor;
    // SAFETY: reads the region `paint_stack` painted.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == STACK_PAINT {
        p += 4;
    }
    top - p
}

fn fail(why: impl defmt::Format) -> ! {
    defmt::error!("engine check failed: {}", why);
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#x}", frame.pc());
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
