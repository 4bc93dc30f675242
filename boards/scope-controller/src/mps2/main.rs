//! The scope controller on qemu's `mps2-an500` (a Cortex-M7): the firmware's own logic
//! over the board's CMSDK UART0 (qemu's first `-serial`), its timer for the clock and its
//! watchdog, with the stage in software ([`sim`]). defmt logs over semihosting.
//!
//! ```text
//! qemu-system-arm -M mps2-an500 -nographic -semihosting-config enable=on,target=native \
//!     -serial unix:/tmp/scope.sock,server=on,wait=off -kernel scope-controller-mps2 | defmt-print -e scope-controller-mps2
//! ```
#![no_std]
#![no_main]

mod cmsdk;

use core::cell::Cell;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE};
use defmt_semihosting as _;
use embedded_alloc::LlffHeap;
use leukoscope_scope_controller::axis::StepperAxis;
use leukoscope_scope_controller::controller::{Controller, FIRMWARE_VERSION};
use leukoscope_scope_controller::firmware::{Firmware, StartButton};
use leukoscope_scope_controller::link::SerialLink;
use leukoscope_scope_controller::sim::{self, SimLamp, SimLine, SimMotor};

use crate::cmsdk::{Clock, TimerDelay, Uart, Watchdog};

/// The core's tables are built in `alloc` collections; the protocol itself allocates
/// nothing.
#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();
const HEAP_BYTES: usize = 8 * 1024;

/// How long the link may stay quiet while a motion runs.
const LINK_TIMEOUT_MS: u16 = 1_000;

#[entry]
fn main() -> ! {
    {
        use core::mem::MaybeUninit;
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
        // SAFETY: runs once, before anything allocates; the region is used by nothing else.
        unsafe { HEAP.init(&raw mut HEAP_MEM as usize, HEAP_BYTES) }
    }
    // SAFETY: the peripherals at these addresses are mps2-an500's, and nothing else in
    // the firmware touches them.
    let (clock, uart, watchdog) = unsafe {
        (
            Clock::start(cmsdk::TIMER0),
            Uart::start(cmsdk::UART0),
            Watchdog::start(cmsdk::WATCHDOG, cmsdk::CLOCK_HZ / 2),
        )
    };
    // Powered up somewhere along each axis, not at the switches.
    let motors = [
        SimMotor::at(4_800),
        SimMotor::at(3_200),
        SimMotor::at(12_000),
    ];
    let axis = |i: usize| {
        StepperAxis::new(
            motors[i].step_pin(),
            motors[i].dir_pin(),
            motors[i].switch_pin(),
            sim::STAGE_AXES[i],
        )
    };
    let (enable, lamp, led) = (SimLine::default(), SimLamp::default(), SimLine::default());
    // Released (high, as with a pull-up): nothing presses it under qemu.
    let button = SimLine(Cell::new(true));
    let controller = Controller::new([axis(0), axis(1), axis(2)], &enable, &lamp, LINK_TIMEOUT_MS);
    let mut firmware = Firmware::new(
        SerialLink::new(uart),
        controller,
        &led,
        StartButton::new(&button, true),
        watchdog,
        TimerDelay(&clock),
    );
    defmt::info!(
        "scope controller {}.{}.{} on mps2-an500: UART0, link timeout {} ms",
        FIRMWARE_VERSION[0],
        FIRMWARE_VERSION[1],
        FIRMWARE_VERSION[2],
        LINK_TIMEOUT_MS
    );
    loop {
        // The UART's error type is `Infallible`: nothing to log.
        let Ok(()) = firmware.poll(clock.now_us());
    }
}

/// The watchdog ran out: the main loop hung. On a real board its reset line restarts the
/// controller (drivers disabled by their pull-ups); under qemu the run ends, failed.
#[exception]
unsafe fn NonMaskableInt() {
    defmt::error!("watchdog: the main loop stopped feeding it");
    debug::exit(EXIT_FAILURE);
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#x}", frame.pc());
    debug::exit(EXIT_FAILURE);
    // Not reached under qemu; on a board, the watchdog resets it from here.
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    debug::exit(EXIT_FAILURE);
    // Not reached under qemu; on a board, the watchdog resets it from here.
    loop {
        cortex_m::asm::wfi();
    }
}
