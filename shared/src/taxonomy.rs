//! Class sets, the labels datasets use for them, and how a fine set maps onto a coarse one.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use serde::{Deserialize, Serialize};

/// Index of a class within its taxonomy.
pub type ClassId = u32;

/// A named, ordered set of classes. Order matters: it is the model's output order and the
/// row and column order of every confusion matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Taxonomy {
    /// The set's name (`b-all-4`, `all-binary`).
    pub name: String,
    /// The classes in output order.
    pub classes: Vec<ClassInfo>,
}

/// One class of a taxonomy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClassInfo {
    /// Display name, as reports print it.
    pub name: String,
    /// Whether the class is leukaemic; this is what the binary screen maps onto.
    pub malignant: bool,
    /// Other labels datasets use for this class (folder names, file-name suffixes),
    /// matched without regard to case.
    pub aliases: Vec<String>,
}

/// A label or mapping the taxonomy cannot resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TaxonomyError {
    /// The name is not one of the built-in class sets.
    #[error("unknown taxonomy {name:?}; choose one of: {known}")]
    Unknown {
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A dataset label that names no class of this taxonomy.
    #[error("label {label:?} is not a class of {taxonomy} (expected one of: {expected})")]
    UnknownLabel {
        /// The label found.
        label: String,
        /// The taxonomy searched.
        taxonomy: String,
        /// The labels it accepts.
        expected: String,
    },
    /// The target set cannot receive the source set's classes.
    #[error("cannot map {from} onto {to}: {reason}")]
    NoMapping {
        /// Source taxonomy.
        from: String,
        /// Target taxonomy.
        to: String,
        /// Why not.
        reason: String,
    },
}

fn class(name: &str, malignant: bool, aliases: &[&str]) -> ClassInfo {
    ClassInfo {
        name: name.into(),
        malignant,
        aliases: aliases.iter().map(|&a| a.into()).collect(),
    }
}

impl Taxonomy {
    /// The names of the built-in sets.
    pub const BUILT_IN: [&'static str; 3] = ["b-all-4", "all-binary", "wbc-blast"];

    /// B-ALL subtypes in peripheral smears: Benign (hematogones), Early Pre-B, Pre-B, Pro-B.
    /// Aliases cover the folder names of the 4-class data (`Benign`, `Early`, `Pre`, `Pro`).
    pub fn b_all_4() -> Self {
        Taxonomy {
            name: "b-all-4".into(),
            classes: vec![
                class(
                    "Benign",
                    false,
                    &["hematogones", "hematogone", "WBC-Benign"],
                ),
                class(
                    "Early Pre-B",
                    true,
                    &["Early", "EarlyPreB", "Early_Pre_B", "early-pre-b"],
                ),
                class("Pre-B", true, &["Pre", "PreB", "Pre_B"]),
                class("Pro-B", true, &["Pro", "ProB", "Pro_B"]),
            ],
        }
    }

    /// The binary screen: Normal versus ALL. Aliases cover C-NMC 2019 (`hem`, `all`), the
    /// ALL-IDB file-name suffixes (`_0`, `_1`), and the 4-class data's folders (Benign is
    /// normal, the three B-ALL subtypes are ALL), so the binary task reads that data too.
    pub fn all_binary() -> Self {
        Taxonomy {
            name: "all-binary".into(),
            classes: vec![
                class(
                    "Normal",
                    false,
                    &["hem", "healthy", "benign", "hematogones", "_0", "0"],
                ),
                class(
                    "ALL",
                    true,
                    &[
                        "malignant",
                        "blast",
                        "leukemia",
                        "_1",
                        "1",
                        "Early",
                        "Early Pre-B",
                        "Pre",
                        "Pre-B",
                        "Pro",
                        "Pro-B",
                    ],
                ),
            ],
        }
    }

    /// What a peripheral smear holds, one cell at a time: the five normal white cells,
    /// immature granulocytes, blasts (the one malignant class), hematogones, and whatever the
    /// detector finds that is not a white cell. It maps onto `all-binary` by malignancy
    /// (Blast is ALL, every other class Normal) through [`Taxonomy::mapping_to`].
    ///
    /// Aliases read the class folders of the labelled sources as they come: PBC (`basophil`,
    /// `eosinophil`, `erythroblast`, `ig`, `lymphocyte`, `monocyte`, `neutrophil`,
    /// `platelet`), Zheng's two sets (the five normal kinds, singular) and the 4-class data
    /// (`Early`, `Pre`, `Pro` are blasts; `Benign` fields hold hematogones).
    ///
    /// Erythroblasts and platelets go to "Not a white cell", deliberately: a white-cell
    /// differential counts neither (nucleated red cells are reported per 100 white cells,
    /// apart from it), yet the board's detector finds both, an erythroblast by its dark
    /// round nucleus, a platelet clump by its stain, so the model must learn to set them
    /// aside rather than call them lymphocytes. Giving each a class of its own would ask
    /// every source to label them; only PBC does.
    pub fn wbc_blast() -> Self {
        Taxonomy {
            name: "wbc-blast".into(),
            classes: vec![
                class("Neutrophil", false, &["neutrophils"]),
                class("Lymphocyte", false, &["lymphocytes"]),
                class("Monocyte", false, &["monocytes"]),
                class("Eosinophil", false, &["eosinophils"]),
                class("Basophil", false, &["basophils"]),
                class(
                    "Immature granulocyte",
                    false,
                    &[
                        "ig",
                        "immature granulocytes",
                        "immature_granulocyte",
                        "promyelocyte",
                        "myelocyte",
                        "metamyelocyte",
                    ],
                ),
                class(
                    "Blast",
                    true,
                    &[
                        "blasts",
                        "lymphoblast",
                        "Early",
                        "Early Pre-B",
                        "Pre",
                        "Pre-B",
                        "Pro",
                        "Pro-B",
                    ],
                ),
                class(
                    "Hematogone",
                    false,
                    &["hematogones", "Benign", "WBC-Benign"],
                ),
                class(
                    "Not a white cell",
                    false,
                    &[
                        "not-a-white-cell",
                        "artefact",
                        "artifact",
                        "platelet",
                        "platelets",
                        "erythroblast",
                        "erythroblasts",
                        "debris",
                    ],
                ),
            ],
        }
    }

    /// A built-in set by name.
    pub fn named(name: &str) -> Result<Self, TaxonomyError> {
        match name.to_ascii_lowercase().as_str() {
            "b-all-4" => Ok(Self::b_all_4()),
            "all-binary" => Ok(Self::all_binary()),
            "wbc-blast" => Ok(Self::wbc_blast()),
            _ => Err(TaxonomyError::Unknown {
                name: name.into(),
                known: Self::BUILT_IN.join(", "),
            }),
        }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether the set has no classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The class's display name, or `"?"` for an index out of range.
    pub fn class_name(&self, id: ClassId) -> &str {
        self.classes
            .get(id as usize)
            .map_or("?", |c| c.name.as_str())
    }

    /// Characters in the longest class name: the width of a table's class column.
    pub fn name_width(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
    }

    /// The class a dataset label (class name or alias) stands for.
    pub fn resolve(&self, label: &str) -> Result<ClassId, TaxonomyError> {
        let label = label.trim();
        self.classes
            .iter()
            .position(|c| {
                c.name.eq_ignore_ascii_case(label)
                    || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(label))
            })
            .map(|i| i as ClassId)
            .ok_or_else(|| TaxonomyError::UnknownLabel {
                label: label.into(),
                taxonomy: self.name.clone(),
                expected: self.labels().join(", "),
            })
    }

    /// Every label [`Taxonomy::resolve`] accepts.
    pub fn labels(&self) -> Vec<&str> {
        self.classes
            .iter()
            .flat_map(|c| {
                core::iter::once(c.name.as_str()).chain(c.aliases.iter().map(String::as_str))
            })
            .collect()
    }

    /// For each class of `self`, the class of `target` it belongs to.
    ///
    /// A set maps onto itself one to one; onto a set with exactly one benign and one
    /// malignant class (the binary screen) by malignancy. Anything else is refused rather
    /// than guessed.
    pub fn mapping_to(&self, target: &Taxonomy) -> Result<Vec<ClassId>, TaxonomyError> {
        if self
            .classes
            .iter()
            .map(|c| &c.name)
            .eq(target.classes.iter().map(|c| &c.name))
        {
            return Ok((0..self.len() as ClassId).collect());
        }
        let refuse = |reason: String| TaxonomyError::NoMapping {
            from: self.name.clone(),
            to: target.name.clone(),
            reason,
        };
        let by_status = |malignant: bool| {
            let mut matching = target
                .classes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.malignant == malignant);
            match (matching.next(), matching.next()) {
                (Some((i, _)), None) => Ok(i as ClassId),
                (None, _) => Err(refuse(format!(
                    "it has no {} class",
                    if malignant { "malignant" } else { "benign" }
                ))),
                (Some(_), Some(_)) => Err(refuse(format!(
                    "it has several {} classes",
                    if malignant { "malignant" } else { "benign" }
                ))),
            }
        };
        self.classes
            .iter()
            .map(|c| by_status(c.malignant))
            .collect()
    }
}

#[cfg(test)]
mod tests;
