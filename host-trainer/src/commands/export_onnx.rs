//! `leukoscope-train export-onnx`: a model written as ONNX for other runtimes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use leukoscope_trainer::onnx::{self, OnnxForm};
use prost::Message;

use super::model::load;

/// `export-onnx`'s flags: the model, the file and which ONNX form.
#[derive(clap::Args)]
pub struct ExportOnnxArgs {
    /// The model: a .lsm file, a run folder holding model.lsm, or a run folder whose
    /// checkpoint holds the best network so far (the last two are float).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the .onnx file.
    #[arg(long)]
    pub out: PathBuf,
    /// Write the int8 QDQ graph of an int8 model (quantize it first with
    /// `leukoscope-train quantize`). An int8 model is always written this way, with or
    /// without the flag, since it holds no float weights.
    #[arg(long)]
    pub int8: bool,
    /// With --int8: write the QDQ variant TensorRT accepts (symmetric activation grids
    /// covering the calibrated ranges, float biases) instead of the artifact's exact
    /// grids.
    #[arg(long, requires = "int8")]
    pub tensorrt: bool,
}

/// Exports the model and prints what the file holds.
pub fn run(args: ExportOnnxArgs) -> anyhow::Result<()> {
    let (model, origin) = load(&args.model)?;
    let int8_model = model.quantized.is_some();
    let form = match (args.int8 || int8_model, args.tensorrt) {
        (false, _) => OnnxForm::Float,
        (true, false) => OnnxForm::Qdq,
        (true, true) => OnnxForm::QdqTensorRt,
    };
    if int8_model && !args.int8 {
        println!("note: the model holds int8 weights only; writing its int8 QDQ graph");
    }
    let exported = onnx::export(&model, form)
        .with_context(|| format!("cannot export {} as ONNX", args.model.display()))?;
    let bytes = exported.encode_to_vec();
    super::write_file(&args.out, &bytes)?;

    let graph = exported.graph.unwrap_or_default();
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &graph.node {
        *ops.entry(node.op_type.as_str()).or_default() += 1;
    }
    let input = model.spec.input;
    println!("model {} ({origin})", model.spec.name);
    println!(
        "wrote {} ({:.1} MB): {}, opset {}, {} nodes, {} initializers",
        args.out.display(),
        bytes.len() as f64 / 1e6,
        form.as_str(),
        onnx::OPSET,
        graph.node.len(),
        graph.initializer.len()
    );
    println!(
        "  {} [{}, {}, {}, {}] float (the preprocessed image) -> {} [{}, {}] float",
        onnx::INPUT,
        onnx::BATCH,
        input.channels,
        input.height,
        input.width,
        onnx::OUTPUT,
        onnx::BATCH,
        model.taxonomy.len()
    );
    let ops: Vec<String> = ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
    println!("  ops: {}", ops.join(", "));
    Ok(())
}
