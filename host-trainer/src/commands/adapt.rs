//! `leukoscope-train adapt`: a float model's batch-norm statistics re-estimated on a lab's
//! own cells, without labels.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use leukoscope_core::artifact::Metric;
use leukoscope_core::network::Network;
use leukoscope_core::spec::ParamRole;
use leukoscope_trainer::adaptation::{MIN_BATCH, adapt_statistics};
use leukoscope_trainer::backend::CpuTrain;
use leukoscope_trainer::dataset::unlabelled_images;
use leukoscope_trainer::image_files::ImageFiles;

use super::model::load;

/// `adapt`'s flags: the model, the lab's cells and where the adapted model goes.
#[derive(clap::Args)]
pub struct AdaptArgs {
    /// The float model: a .lsm file or a run folder (an int8 model cannot be adapted:
    /// adapt the float one, then quantize it).
    #[arg(long)]
    pub model: PathBuf,
    /// The lab's cells, without labels (image files at any depth): a few slides' cells
    /// cut by `leukoscope-edge crops`, say. A few hundred cells of the lab's usual mix
    /// are enough; one class alone would shift the statistics toward that class.
    #[arg(long)]
    pub cells: PathBuf,
    /// Cells whose statistics are taken together.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Where to write the adapted .lsm (unsigned: sign it again, and calibrate it again
    /// if the lab has labelled cells).
    #[arg(long)]
    pub out: PathBuf,
}

/// Re-estimates the statistics, prints how far the lab moved them and writes the model.
pub fn run(args: AdaptArgs) -> anyhow::Result<()> {
    if args.batch < MIN_BATCH {
        bail!("--batch must be at least {MIN_BATCH}");
    }
    let (mut model, origin) = load(&args.model)?;
    println!("model {} ({origin})", model.spec.name);
    if model.quantized.is_some() {
        bail!(
            "{origin} is an int8 model; adapt its float model (the run folder or its model.lsm), then quantize the result"
        );
    }
    let (images, skipped) = unlabelled_images(&args.cells)?;
    let files = ImageFiles::new(
        images.into_iter().map(|path| (path, 0)),
        model.preprocess.clone(),
        None,
    );
    let device = Default::default();
    let network = Network::<CpuTrain>::from_weights(&model.spec, &model.weights, &device)?;
    let done = adapt_statistics(&network, Arc::new(files), args.batch, &device)
        .with_context(|| format!("cells under {}", args.cells.display()))?;
    println!(
        "{} cells under {} ({} not images, {} unreadable): {} batches of {}",
        done.cells,
        args.cells.display(),
        skipped.len(),
        done.unreadable,
        done.batches,
        args.batch
    );

    let adapted = network.weights();
    let layout = model.spec.parameter_layout()?;
    // How far the lab sits from the training data, per batch norm: the mean shift of its
    // channels in units of the training spread, and the ratio of spreads.
    let mut norm = 0;
    for (k, tensor) in layout.iter().enumerate() {
        if tensor.role != ParamRole::RunningMean {
            continue;
        }
        let (old_mean, new_mean) = (&model.weights.tensors[k], &adapted.tensors[k]);
        // A batch norm's running variance follows its running mean in the layout.
        let (old_var, new_var) = (&model.weights.tensors[k + 1], &adapted.tensors[k + 1]);
        let channels = old_mean.len() as f64;
        let mut shift = 0.0;
        let mut spread = 0.0;
        for c in 0..old_mean.len() {
            let sd = f64::from(old_var[c]).max(1e-12).sqrt();
            shift += f64::from((new_mean[c] - old_mean[c]).abs()) / sd;
            spread += (f64::from(new_var[c]).max(1e-12) / f64::from(old_var[c]).max(1e-12)).sqrt();
        }
        norm += 1;
        println!(
            "  batch norm {norm:>2} (node {:>3}): channel means moved {:.2} training spreads, spreads x{:.2} (averages over {} channels)",
            tensor.node,
            shift / channels,
            spread / channels,
            old_mean.len()
        );
    }
    if norm == 0 {
        bail!(
            "{} has no batch norm: there is nothing to adapt",
            model.spec.name
        );
    }

    model.weights = adapted;
    // The features move with the statistics: a profile of the old ones would misjudge every
    // cell. Profile the adapted model again (`familiar`) once it is quantized.
    model.familiarity = None;
    model
        .provenance
        .metrics
        .retain(|m| m.name != "adapted_cells");
    model.provenance.metrics.push(Metric {
        name: "adapted_cells".into(),
        value: done.cells as f64,
    });
    super::write_file(&args.out, &model.encode()?)?;
    println!(
        "wrote {} (unsigned: sign it again; its calibration is the training lab's)",
        args.out.display()
    );
    Ok(())
}
