//! The second model, which names the B-ALL subtype of the cells the slide's model counts
//! as blasts: made with the scanner, run on each frame's blasts, and its journaled
//! readings counted again when a slide resumes.

use leukoscope_core::artifact::{Calibration, Digest, VerifiedArtifact};
use leukoscope_core::raster::RgbImage;
use leukoscope_core::taxonomy::Taxonomy;

use super::{PipelineError, ScanSettings, SlideScanner};
use crate::records::journal::JournalStorage;
use crate::records::{ReportCell, SubtypeRecord};
use crate::report::SubtypeModelInfo;
use crate::scan::classify::{CellClassifier, CellScores};
use crate::scan::detect::DetectedCell;
use crate::scan::session::{CellCall, Subtyped, top_class};

/// The subtypes a subtype model of `taxonomy` names: its malignant classes, at least two.
pub fn subtypes_of(taxonomy: &Taxonomy) -> Result<Vec<&str>, PipelineError> {
    let subtypes: Vec<&str> = taxonomy
        .classes
        .iter()
        .filter(|c| c.malignant)
        .map(|c| c.name.as_str())
        .collect();
    if subtypes.len() < 2 {
        return Err(PipelineError::NotASubtypeModel {
            taxonomy: taxonomy.name.clone(),
        });
    }
    Ok(subtypes)
}

/// The second model, which names the B-ALL subtype of the blasts the slide's model counts.
pub(super) struct Subtyper {
    classifier: CellClassifier,
    pub(super) digest: [u8; 32],
    pub(super) taxonomy: Taxonomy,
    pub(super) calibration: Calibration,
    pub(super) info: SubtypeModelInfo,
}

impl Subtyper {
    /// The subtype model on the CPU, at the frames' scale; refused unless it has at least
    /// two malignant classes to tell apart.
    pub(super) fn new(
        model: &VerifiedArtifact,
        settings: &ScanSettings,
    ) -> Result<Self, PipelineError> {
        let artifact = &model.artifact;
        let taxonomy = artifact.taxonomy.clone();
        subtypes_of(&taxonomy)?;
        let classifier =
            CellClassifier::new(artifact, settings.detect.um_per_px, settings.threads)?
                .with_batch(settings.batch);
        Ok(Subtyper {
            info: SubtypeModelInfo {
                name: artifact.spec.name.clone(),
                digest: model.digest.to_string(),
                signed_by: model.signed_by.map(|key| key.to_string()),
                taxonomy: taxonomy.name.clone(),
            },
            classifier,
            digest: model.digest.0,
            taxonomy,
            calibration: artifact.calibration,
        })
    }

    /// What a report calls a blast the session typed.
    pub(super) fn name(&self, typed: Subtyped) -> String {
        match typed {
            Subtyped::Class(class) => self.taxonomy.classes[class].name.clone(),
            Subtyped::Undetermined => ReportCell::UNDETERMINED.to_string(),
        }
    }
}

impl<S: JournalStorage> SlideScanner<S> {
    /// The subtype model's probabilities for each cell the slide's model takes for a blast
    /// (its top class is malignant), `None` for the others and for every cell when there is
    /// no subtype model. Typed before the session's confidence and familiarity checks, so
    /// that the journal holds the same whatever the board's thresholds; the session only
    /// counts the cells it counted as blasts.
    pub(super) fn type_blasts(
        &mut self,
        image: &RgbImage,
        cells: &[DetectedCell],
        scores: &[CellScores],
    ) -> Result<Vec<Option<Vec<f32>>>, PipelineError> {
        let Some(subtyper) = &mut self.subtyper else {
            return Ok(vec![None; cells.len()]);
        };
        let taxonomy = &self.taxonomy;
        // The session's own top class: scores it would refuse are no blast either.
        let blast = |scores: &CellScores| {
            top_class(&scores.probabilities, taxonomy)
                .is_ok_and(|(top, _)| taxonomy.classes[top].malignant)
        };
        let blasts: Vec<_> = cells
            .iter()
            .zip(scores)
            .filter(|(_, s)| blast(s))
            .map(|(c, _)| *c)
            .collect();
        let mut typed = subtyper.classifier.classify(image, &blasts)?.into_iter();
        Ok(scores
            .iter()
            .map(|s| {
                blast(s)
                    .then(|| typed.next().map(|t| t.probabilities))
                    .flatten()
            })
            .collect())
    }

    /// Types again the blast an earlier run typed: the last cell recorded with the
    /// record's frame and box. Records of a slide resumed without a subtype model are
    /// passed over (it reports no subtypes); another subtype model than the one that
    /// began the slide is refused, as a mixed tally names no subtype.
    pub(super) fn replay_subtype(&mut self, record: SubtypeRecord) -> Result<(), PipelineError> {
        let Some(subtyper) = &self.subtyper else {
            return Ok(());
        };
        if record.model_digest != subtyper.digest {
            return Err(PipelineError::ModelChanged {
                slide: self.slide_id.clone(),
                recorded: Digest(record.model_digest).to_string(),
                loaded: Digest(subtyper.digest).to_string(),
            });
        }
        let Some(cell) = self
            .cells
            .iter_mut()
            .rev()
            .find(|c| c.frame == record.frame && c.bbox == record.bbox)
        else {
            return Ok(());
        };
        let call = CellCall {
            class: cell.class,
            confidence: cell.confidence,
            unfamiliar: cell.unfamiliar,
        };
        let typed = self.session.record_subtype(&call, &record.probabilities)?;
        cell.subtype = typed.map(|t| subtyper.name(t));
        Ok(())
    }
}
