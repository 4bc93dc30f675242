//! The three ARM CMSDK peripherals of mps2-an500 the firmware needs, as qemu models them:
//! UART0, the first APB timer (free-running, the clock), and the watchdog (on the NMI).

use core::cell::Cell;
use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

use embedded_hal::delay::DelayNs;
use leukoscope_scope_controller::firmware;

/// The APB clock: 25 MHz.
pub const CLOCK_HZ: u32 = 25_000_000;
pub const UART0: usize = 0x4000_4000;
pub const TIMER0: usize = 0x4000_0000;
pub const WATCHDOG: usize = 0x4000_8000;

fn read(base: usize, offset: usize) -> u32 {
    // SAFETY: `base` is one of the peripherals above and `offset` one of its registers.
    unsafe { read_volatile((base + offset) as *const u32) }
}

fn write(base: usize, offset: usize, value: u32) {
    // SAFETY: as for `read`.
    unsafe { write_volatile((base + offset) as *mut u32, value) }
}

/// The UART, 8N1; qemu ignores the rate but transmits only with a divider of 16 or more.
pub struct Uart(usize);

impl Uart {
    const DATA: usize = 0x00;
    const STATE: usize = 0x04;
    const CTRL: usize = 0x08;
    const BAUDDIV: usize = 0x10;
    const TX_FULL: u32 = 1;
    const RX_FULL: u32 = 2;

    /// # Safety
    /// `base` must be a CMSDK UART that nothing else drives.
    pub unsafe fn start(base: usize) -> Self {
        write(base, Self::CTRL, 0);
        // 25 MHz / 217 = 115,200 baud on the real board.
        write(base, Self::BAUDDIV, 217);
        write(base, Self::CTRL, 0b11);
        Uart(base)
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(read(self.0, Self::STATE) & Self::RX_FULL != 0)
    }
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut n = 0;
        while n < buf.len() {
            if read(self.0, Self::STATE) & Self::RX_FULL == 0 {
                if n > 0 {
                    break;
                }
                continue;
            }
            buf[n] = read(self.0, Self::DATA) as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &byte in buf {
            while read(self.0, Self::STATE) & Self::TX_FULL != 0 {}
            write(self.0, Self::DATA, u32::from(byte));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Microseconds since start, from a timer counting down from 2^32 - 1 at 25 MHz (a turn
/// every 171 s), extended to 64 bits on each read: read it at least that often.
pub struct Clock {
    base: usize,
    last: Cell<u32>,
    turns: Cell<u64>,
}

impl Clock {
    const CTRL: usize = 0x00;
    const VALUE: usize = 0x04;
    const RELOAD: usize = 0x08;

    /// # Safety
    /// `base` must be a CMSDK APB timer that nothing else drives.
    pub unsafe fn start(base: usize) -> Self {
        write(base, Self::CTRL, 0);
        write(base, Self::RELOAD, u32::MAX);
        write(base, Self::VALUE, u32::MAX);
        write(base, Self::CTRL, 1);
        Clock {
            base,
            last: Cell::new(0),
            turns: Cell::new(0),
        }
    }

    fn ticks(&self) -> u64 {
        let elapsed = u32::MAX - read(self.base, Self::VALUE);
        if elapsed < self.last.get() {
            self.turns.set(self.turns.get() + 1);
        }
        self.last.set(elapsed);
        (self.turns.get() << 32) | u64::from(elapsed)
    }

    /// Microseconds since [`start`](Self::start).
    pub fn now_us(&self) -> u64 {
        self.ticks() / u64::from(CLOCK_HZ / 1_000_000)
    }
}

/// Busy-waits on the clock: the step pulse's width and the direction's setup time.
pub struct TimerDelay<'a>(pub &'a Clock);

impl DelayNs for TimerDelay<'_> {
    fn delay_ns(&mut self, ns: u32) {
        let ticks = u64::from(ns).div_ceil(40);
        let start = self.0.ticks();
        while self.0.ticks() - start < ticks {}
    }
}

/// The watchdog: raises the NMI unless fed within its period.
pub struct Watchdog(usize);

impl Watchdog {
    const LOAD: usize = 0x000;
    const CONTROL: usize = 0x008;
    const INTCLR: usize = 0x00c;
    const LOCK: usize = 0xc00;
    const UNLOCK: u32 = 0x1acc_e551;

    /// # Safety
    /// `base` must be a CMSDK watchdog that nothing else drives.
    pub unsafe fn start(base: usize, ticks: u32) -> Self {
        write(base, Self::LOCK, Self::UNLOCK);
        write(base, Self::LOAD, ticks);
        // Interrupt (the NMI) on the first timeout, reset on the second.
        write(base, Self::CONTROL, 0b11);
        write(base, Self::LOCK, 0);
        Watchdog(base)
    }
}

impl firmware::Watchdog for Watchdog {
    fn feed(&mut self) {
        write(self.0, Self::LOCK, Self::UNLOCK);
        // Clearing the interrupt reloads the counter.
        write(self.0, Self::INTCLR, 1);
        write(self.0, Self::LOCK, 0);
    }
}
