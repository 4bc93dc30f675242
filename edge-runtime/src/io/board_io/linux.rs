//! The board I/O on Linux boards: GPIO lines through the character device
//! (`/dev/gpiochipN`, via linux-embedded-hal) and the illumination through sysfs PWM
//! (`/sys/class/pwm`), which linux-embedded-hal does not cover.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use embedded_hal::pwm::{self, SetDutyCycle};
use linux_embedded_hal::CdevPin;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};

use super::{BoardConfig, BoardIo};

/// The board I/O with Linux pins.
pub type LinuxBoard = BoardIo<CdevPin, CdevPin, SysfsPwm, CdevPin>;

/// Where the controls are wired on a Linux board (the values of its `board.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxBoardConfig {
    /// The GPIO chip holding the three lines. The defaults are a Raspberry Pi header's
    /// (BCM 17, 27 and 22 on `/dev/gpiochip0`, PWM 0 channel 0); other boards set their own.
    pub gpio_chip: PathBuf,
    /// Line offset of the status LED.
    pub status_led_line: u32,
    /// Line offset of the buzzer.
    pub buzzer_line: u32,
    /// Line offset of the start/stop button.
    pub button_line: u32,
    /// The sysfs PWM chip number (`/sys/class/pwm/pwmchipN`) driving the illumination.
    pub pwm_chip: u32,
    /// The channel on that chip.
    pub pwm_channel: u32,
    /// The PWM period. It must be far shorter than the camera's exposure, or a rolling
    /// shutter shows the light's flicker as bands across the frame.
    pub pwm_period: Duration,
    /// Timing and button wiring.
    pub board: BoardConfig,
}

impl Default for LinuxBoardConfig {
    fn default() -> Self {
        LinuxBoardConfig {
            gpio_chip: PathBuf::from("/dev/gpiochip0"),
            status_led_line: 17,
            buzzer_line: 27,
            button_line: 22,
            pwm_chip: 0,
            pwm_channel: 0,
            // 20 kHz: above hearing (no coil whine) and about 600 cycles in a 30 ms exposure.
            pwm_period: Duration::from_micros(50),
            board: BoardConfig::default(),
        }
    }
}

/// The board's pins could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum LinuxBoardError {
    /// A GPIO line could not be requested.
    #[error("cannot claim GPIO line {line} of {} for the {role}; is another program using it?", chip.display())]
    Gpio {
        /// The chip.
        chip: PathBuf,
        /// The line offset.
        line: u32,
        /// What the line is for.
        role: &'static str,
        /// What the kernel said.
        #[source]
        cause: linux_embedded_hal::gpio_cdev::Error,
    },
    /// The PWM channel could not be set up.
    #[error(transparent)]
    Pwm(#[from] SysfsPwmError),
}

/// Claims the board's GPIO lines and PWM channel. The LED and buzzer start low.
pub fn open_linux_board(config: &LinuxBoardConfig) -> Result<LinuxBoard, LinuxBoardError> {
    let chip_path = &config.gpio_chip;
    let line = |offset: u32, role: &'static str, flags: LineRequestFlags| {
        let gpio = |cause| LinuxBoardError::Gpio {
            chip: chip_path.clone(),
            line: offset,
            role,
            cause,
        };
        let handle = Chip::new(chip_path)
            .and_then(|mut chip| chip.get_line(offset))
            .and_then(|line| line.request(flags, 0, "leukoscope"))
            .map_err(gpio)?;
        CdevPin::new(handle).map_err(gpio)
    };
    let led = line(
        config.status_led_line,
        "status LED",
        LineRequestFlags::OUTPUT,
    )?;
    let buzzer = line(config.buzzer_line, "buzzer", LineRequestFlags::OUTPUT)?;
    let button = line(
        config.button_line,
        "start/stop button",
        LineRequestFlags::INPUT,
    )?;
    let light = SysfsPwm::open(
        Path::new(SYSFS_PWM),
        config.pwm_chip,
        config.pwm_channel,
        config.pwm_period,
    )?;
    Ok(BoardIo::new(led, buzzer, light, button, config.board))
}

const SYSFS_PWM: &str = "/sys/class/pwm";

/// Duty cycle steps offered to `SetDutyCycle` (0.01 % each).
const DUTY_STEPS: u16 = 10_000;

/// A sysfs PWM channel, `/sys/class/pwm/pwmchipN/pwmM`.
#[derive(Debug)]
pub struct SysfsPwm {
    channel: PathBuf,
    period_ns: u64,
}

/// A sysfs PWM file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {} ({cause}); is the PWM overlay enabled and the file writable?", path.display())]
pub struct SysfsPwmError {
    /// The file.
    pub path: PathBuf,
    /// What the kernel said.
    #[source]
    pub cause: io::Error,
}

impl pwm::Error for SysfsPwmError {
    fn kind(&self) -> pwm::ErrorKind {
        pwm::ErrorKind::Other
    }
}

impl SysfsPwm {
    /// Exports channel `channel` of chip `chip` under `root` (normally `/sys/class/pwm`)
    /// if needed, sets its period, starts it at 0 % and enables it.
    pub fn open(
        root: &Path,
        chip: u32,
        channel: u32,
        period: Duration,
    ) -> Result<Self, SysfsPwmError> {
        let chip_dir = root.join(format!("pwmchip{chip}"));
        let channel_dir = chip_dir.join(format!("pwm{channel}"));
        if !channel_dir.exists() {
            write(&chip_dir.join("export"), channel)?;
        }
        let pwm = SysfsPwm {
            channel: channel_dir,
            period_ns: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1),
        };
        // The duty cycle may never exceed the period, so it goes to 0 before the period
        // changes (a previous run may have left a longer duty cycle).
        pwm.write_attr("duty_cycle", 0)?;
        pwm.write_attr("period", pwm.period_ns)?;
        pwm.write_attr("enable", 1)?;
        Ok(pwm)
    }

    fn write_attr(&self, name: &str, value: u64) -> Result<(), SysfsPwmError> {
        write(&self.channel.join(name), value)
    }
}

fn write(path: &Path, value: impl std::fmt::Display) -> Result<(), SysfsPwmError> {
    std::fs::write(path, value.to_string()).map_err(|cause| SysfsPwmError {
        path: path.to_owned(),
        cause,
    })
}

impl pwm::ErrorType for SysfsPwm {
    type Error = SysfsPwmError;
}

impl SetDutyCycle for SysfsPwm {
    fn max_duty_cycle(&self) -> u16 {
        DUTY_STEPS
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Self::Error> {
        let duty = u64::from(duty.min(DUTY_STEPS));
        let ns = u128::from(self.period_ns) * u128::from(duty) / u128::from(DUTY_STEPS);
        self.write_attr("duty_cycle", ns as u64)
    }
}

#[cfg(test)]
mod tests;
