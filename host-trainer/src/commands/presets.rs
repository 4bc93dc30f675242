//! `leukoscope-train presets`: the model presets with their cost at a given input size.

use leukoscope_core::spec::{Preset, PresetOptions};

/// `presets`' flags: the input size and class count the costs are for.
#[derive(clap::Args)]
pub struct PresetsArgs {
    /// Side of the square input.
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    /// Classes scored.
    #[arg(long, default_value_t = 4)]
    pub classes: u32,
}

/// Prints one line per preset: MACs, parameters and what it is.
pub fn run(args: PresetsArgs) -> anyhow::Result<()> {
    let PresetsArgs { size, classes } = args;
    println!(
        "{:<16} {:>12} {:>12}  description",
        "preset", "MACs (M)", "params (M)"
    );
    for preset in Preset::ALL {
        let spec = preset.build(&PresetOptions {
            input_size: size,
            ..PresetOptions::field(classes)
        });
        match spec.analyze() {
            Ok(a) => println!(
                "{:<16} {:>12.1} {:>12.2}  {}",
                preset.name(),
                a.macs as f64 / 1e6,
                a.params as f64 / 1e6,
                preset.describe()
            ),
            Err(e) => println!("{:<16} not valid at {size}x{size}: {e}", preset.name()),
        }
    }
    Ok(())
}
