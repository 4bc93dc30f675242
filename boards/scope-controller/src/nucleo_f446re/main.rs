//! The scope controller on an ST Nucleo-F446RE (Cortex-M4F, 180 MHz) with an Arduino CNC
//! Shield V3 and three A4988 or DRV8825 step/dir drivers on its Arduino headers, wired as
//! GRBL 1.1 wires that shield (docs/boards.md, "The scope controller"). It speaks to the
//! board over the ST-LINK's USB serial port (USART2), logs through defmt over RTT
//! (`probe-rs run` shows it), and the independent watchdog resets it if the loop hangs.
#![no_std]
#![no_main]

use core::cell::Cell;

use cortex_m::peripheral::DWT;
use cortex_m_rt::entry;
use defmt_rtt as _;
use embedded_alloc::LlffHeap;
use embedded_hal::delay::DelayNs;
use leukoscope_scope_controller::axis::{AxisConfig, StepperAxis};
use leukoscope_scope_controller::controller::{Controller, FIRMWARE_VERSION};
use leukoscope_scope_controller::firmware::{self, Firmware, StartButton};
use leukoscope_scope_controller::link::SerialLink;
use leukoscope_scope_controller::sim::STAGE_AXES;
use panic_probe as _;
use stm32f4xx_hal::gpio::PinState;
use stm32f4xx_hal::pac::{self, USART2};
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config;
use stm32f4xx_hal::serial::{self, Serial};
use stm32f4xx_hal::watchdog::IndependentWatchdog;

/// The core's tables are built in `alloc` collections; the protocol allocates nothing.
#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();
const HEAP_BYTES: usize = 8 * 1024;

/// How long the link may stay quiet while a motion runs.
const LINK_TIMEOUT_MS: u16 = 1_000;
const SYSCLK_HZ: u32 = 180_000_000;

/// This stage's axes. The default is the simulated stage's, a common one: X and Y on 2 mm
/// lead screws at 16 microsteps (625 nm a step), the focus at 100 nm a step. Change them
/// to your mechanics: a wrong step size scales every move.
const AXES: [AxisConfig; 3] = STAGE_AXES;

#[entry]
fn main() -> ! {
    {
        use core::mem::MaybeUninit;
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
        // SAFETY: runs once, before anything allocates; the region is used by nothing else.
        unsafe { HEAP.init(&raw mut HEAP_MEM as usize, HEAP_BYTES) }
    }
    let (Some(dp), Some(mut cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        panic!("peripherals taken twice");
    };
    // The ST-LINK feeds the MCU an 8 MHz clock (bypass mode).
    let mut rcc = dp.RCC.freeze(
        Config::hse(8.MHz())
            .bypass_hse_oscillator()
            .sysclk(SYSCLK_HZ.Hz()),
    );
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();
    let clock = CycleClock::default();

    let gpioa = dp.GPIOA.split(&mut rcc);
    let gpiob = dp.GPIOB.split(&mut rcc);
    let gpioc = dp.GPIOC.split(&mut rcc);
    // CNC Shield V3 (GRBL 1.1 pinout) on the Nucleo's Arduino header.
    let step = [
        gpioa.pa10.into_push_pull_output().erase(), // D2  X step
        gpiob.pb3.into_push_pull_output().erase(),  // D3  Y step
        gpiob.pb5.into_push_pull_output().erase(),  // D4  Z step
    ];
    let dir = [
        gpiob.pb4.into_push_pull_output().erase(),  // D5  X dir
        gpiob.pb10.into_push_pull_output().erase(), // D6  Y dir
        gpioa.pa8.into_push_pull_output().erase(),  // D7  Z dir
    ];
    let switch = [
        gpioc.pc7.into_pull_up_input().erase(), // D9  X limit
        gpiob.pb6.into_pull_up_input().erase(), // D10 Y limit
        gpioa.pa6.into_pull_up_input().erase(), // D12 Z limit
    ];
    // D8: the drivers' shared enable, high (off) until the first motion.
    let enable = gpioa.pa9.into_push_pull_output_in_state(PinState::High);
    // LD2, the Nucleo's green LED (D13).
    let led = gpioa.pa5.into_push_pull_output();
    // B1, the Nucleo's blue button, is the start button: low when pressed (the board
    // pulls it up).
    let button = StartButton::new(gpioc.pc13.into_floating_input(), true);
    // D11 (TIM3 channel 2) at 20 kHz, far above any camera's exposure: the lamp driver's
    // dimming input.
    let (_, (_, lamp, ..)) = dp.TIM3.pwm_hz(20.kHz(), &mut rcc);
    let mut lamp = lamp.with(gpioa.pa7);
    lamp.enable();
    let Ok(uart) = dp
        .USART2
        .serial((gpioa.pa2, gpioa.pa3), 115_200.bps(), &mut rcc)
    else {
        panic!("USART2 refused 115200 baud");
    };
    let mut watchdog = IndependentWatchdog::new(dp.IWDG);
    watchdog.start(500.millis());

    let [sx, sy, sz] = step;
    let [dx, dy, dz] = dir;
    let [lx, ly, lz] = switch;
    let axes = [
        StepperAxis::new(sx, dx, lx, AXES[0]),
        StepperAxis::new(sy, dy, ly, AXES[1]),
        StepperAxis::new(sz, dz, lz, AXES[2]),
    ];
    let controller = Controller::new(axes, enable, lamp, LINK_TIMEOUT_MS);
    let mut firmware = Firmware::new(
        SerialLink::new(Uart {
            serial: uart,
            ahead: None,
        }),
        controller,
        led,
        button,
        Dog(watchdog),
        CycleDelay(&clock),
    );
    defmt::info!(
        "scope controller {}.{}.{} on a Nucleo-F446RE: USART2 at 115200, link timeout {} ms",
        FIRMWARE_VERSION[0],
        FIRMWARE_VERSION[1],
        FIRMWARE_VERSION[2],
        LINK_TIMEOUT_MS
    );
    loop {
        if let Err(e) = firmware.poll(clock.now_us()) {
            // An overrun or a framing error costs the frame it hit; the protocol's CRC and
            // the board's retries deal with that.
            defmt::warn!("serial: {}", defmt::Debug2Format(&e));
        }
    }
}

/// Microseconds from the core's cycle counter (a turn every 23.9 s at 180 MHz), extended
/// to 64 bits on each read: the main loop reads it far more often.
#[derive(Default)]
struct CycleClock {
    last: Cell<u32>,
    turns: Cell<u64>,
}

impl CycleClock {
    fn cycles(&self) -> u64 {
        let now = DWT::cycle_count();
        if now < self.last.get() {
            self.turns.set(self.turns.get() + 1);
        }
        self.last.set(now);
        (self.turns.get() << 32) | u64::from(now)
    }

    fn now_us(&self) -> u64 {
        self.cycles() / u64::from(SYSCLK_HZ / 1_000_000)
    }
}

/// Busy-waits on the cycle counter: the step pulse's width and the direction's setup.
struct CycleDelay<'a>(&'a CycleClock);

impl DelayNs for CycleDelay<'_> {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = u64::from(ns) * u64::from(SYSCLK_HZ / 1_000_000) / 1_000 + 1;
        let start = self.0.cycles();
        while self.0.cycles() - start < cycles {}
    }
}

struct Dog(IndependentWatchdog);

impl firmware::Watchdog for Dog {
    fn feed(&mut self) {
        self.0.feed();
    }
}

/// USART2 as `embedded-io`, reading one byte ahead to tell whether one has arrived.
struct Uart {
    serial: Serial<USART2>,
    ahead: Option<u8>,
}

impl embedded_io::ErrorType for Uart {
    type Error = serial::Error;
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, serial::Error> {
        if self.ahead.is_none() {
            match self.serial.read() {
                Ok(byte) => self.ahead = Some(byte),
                Err(nb::Error::WouldBlock) => {}
                Err(nb::Error::Other(e)) => return Err(e),
            }
        }
        Ok(self.ahead.is_some())
    }
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, serial::Error> {
        while !embedded_io::ReadReady::read_ready(self)? {}
        match (self.ahead.take(), buf.first_mut()) {
            (Some(byte), Some(slot)) => {
                *slot = byte;
                Ok(1)
            }
            (ahead, _) => {
                self.ahead = ahead;
                Ok(0)
            }
        }
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, serial::Error> {
        embedded_io::Write::write(&mut self.serial, buf)
    }

    fn flush(&mut self) -> Result<(), serial::Error> {
        embedded_io::Write::flush(&mut self.serial)
    }
}
