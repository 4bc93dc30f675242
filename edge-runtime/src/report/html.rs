//! The report as one self-contained HTML page: styles inline and every image a `data:`
//! URI, so it can be copied alone onto a USB stick, opened offline or printed to PDF.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::annotate::class_colour;
use super::model::{DEMONSTRATION_WARNING, ModelInfo, QualityStats, SlideReport, StageTimings};
use super::reviewed::verdict_name;
use crate::io::model::{DEVELOPMENT_KEY_WARNING, is_development_key};
use crate::records::ReportCell;
use crate::scan::session::{SlideFlag, SubtypeCall};

/// One image encoded for the report.
pub(super) struct EncodedImage {
    /// File name relative to the report folder, with `/` (as in the JSON).
    pub(super) name: String,
    /// The PNG bytes.
    pub(super) png: Vec<u8>,
}
/// A string with HTML's special characters escaped, for text and attribute values.
pub(super) struct Esc<'a>(pub(super) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A share as a percentage with one decimal.
struct Percent(f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}&nbsp;%", self.0 * 100.0)
    }
}

/// A colour as CSS `#rrggbb`.
struct Css([u8; 3]);

impl fmt::Display for Css {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

const STYLE: &str = "
body { font-family: system-ui, 'Segoe UI', 'DejaVu Sans', sans-serif; font-size: 20px;
  line-height: 1.45; margin: 1.5em auto; max-width: 70em; padding: 0 1em; color: #111; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { font-size: 1.35em; border-bottom: 2px solid #ccc; margin-top: 1.6em; }
.meta { color: #444; }
.demo { background: #6a1b9a; color: #fff; font-size: 1.5em; font-weight: bold;
  text-align: center; padding: 0.5em; border: 4px solid #000; }
.flag { font-size: 2.2em; font-weight: bold; padding: 0.5em 0.7em; border-radius: 0.3em;
  color: #fff; margin: 0.6em 0; }
.flag-refer { background: #c62828; }
.flag-clear { background: #2e7d32; }
.flag-insufficient, .advice { background: #ef8f00; color: #111; }
.flag-unfamiliar { background: #283593; }
.advice { font-size: 1.8em; font-weight: bold; padding: 0.5em 0.7em; border-radius: 0.3em;
  margin: 0.6em 0; }
.disclaimer { font-size: 1.2em; font-weight: bold; border: 3px solid #111; padding: 0.6em; }
.signed { font-size: 1.3em; border-left: 8px solid #2e7d32; padding-left: 0.5em; }
.unsigned, .unreviewed { font-size: 1.1em; border-left: 8px solid #ef8f00; padding-left: 0.5em; }
.not-result { color: #888; }
.not-result-label { font-weight: bold; text-transform: uppercase; color: #888; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.7em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #000;
  vertical-align: middle; margin-right: 0.3em; }
.gallery { display: flex; flex-wrap: wrap; gap: 0.6em; }
figure { margin: 0; text-align: center; break-inside: avoid; page-break-inside: avoid; }
.gallery img { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated;
  border: 1px solid #999; }
.snapshot img { max-width: 100%; border: 1px solid #999; }
figcaption { font-size: 0.85em; }
@media print {
  body { font-size: 12pt; max-width: none; margin: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .gallery img { width: 20mm; height: 20mm; }
  .snapshot { break-before: page; page-break-before: always; }
  .snapshot img { max-height: 24cm; }
}
";

/// The self-contained page. `thumbs` maps cell ids to their encoded thumbnails.
pub(super) fn render_html(
    report: &SlideReport,
    thumbs: &HashMap<u32, &EncodedImage>,
    snaps: &[(u64, EncodedImage)],
) -> String {
    let mut out = String::new();
    // Writing into a String fails only when a Display impl does, and ours never do.
    write_page(&mut out, report, thumbs, snaps).expect("formatting into a String cannot fail");
    out
}

fn write_page(
    out: &mut String,
    r: &SlideReport,
    thumbs: &HashMap<u32, &EncodedImage>,
    snaps: &[(u64, EncodedImage)],
) -> fmt::Result {
    let s = &r.summary;
    let demo = r.model.demonstration;
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}leukoscope report: slide {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        if demo { "DEMONSTRATION — " } else { "" },
        Esc(&r.slide_id)
    )?;
    if demo {
        writeln!(out, "<div class=\"demo\">{DEMONSTRATION_WARNING}</div>")?;
    }
    writeln!(
        out,
        "<h1>Slide {}</h1>\n<p class=\"meta\">Generated {} by {} · source: {}</p>",
        Esc(&r.slide_id),
        Esc(&r.generated),
        Esc(&r.tool),
        Esc(&r.source)
    )?;

    // The headline: the flag, or the advice instead of any result.
    match &r.advice {
        Some(advice) => writeln!(
            out,
            "<div class=\"advice\">No result for this slide: {}</div>",
            Esc(advice)
        )?,
        None => {
            writeln!(
                out,
                "<div class=\"flag {}\">{}{}</div>",
                flag_class(&s.flag),
                if r.review.is_some() { "Machine: " } else { "" },
                Esc(&s.flag.to_string())
            )?;
            if let Some(subtype) = s
                .subtype
                .as_ref()
                .filter(|t| t.call != SubtypeCall::NotReferred)
            {
                writeln!(
                    out,
                    "<p class=\"subtype\">B-ALL subtype: <strong>{}</strong>                      (blasts typed by the subtype model: {})</p>",
                    Esc(&subtype.call.to_string()),
                    Esc(&subtype.counts_line())
                )?;
            }
        }
    }
    writeln!(out, "<p class=\"disclaimer\">{}</p>", Esc(s.disclaimer))?;

    write_review_section(out, r)?;
    write_counts(out, r)?;
    write_model(out, &r.model)?;
    write_quality(out, &r.quality)?;
    if let Some(scale) = &r.scale {
        writeln!(out, "<p>Frame scale: {}.</p>", Esc(&scale.to_string()))?;
    }
    write_gallery(out, r, thumbs)?;
    write_snapshots(out, r, snaps)?;
    write_timings(out, &r.timings_ms)?;

    if demo {
        writeln!(out, "<div class=\"demo\">{DEMONSTRATION_WARNING}</div>")?;
    }
    writeln!(
        out,
        "<p class=\"disclaimer\">{}</p>\n</body>\n</html>",
        Esc(s.disclaimer)
    )
}

fn write_counts(out: &mut String, r: &SlideReport) -> fmt::Result {
    let s = &r.summary;
    let not_result = r.advice.is_some();
    writeln!(
        out,
        "<section{}>\n<h2>Counts{}</h2>",
        if not_result {
            " class=\"not-result\""
        } else {
            ""
        },
        if not_result {
            " <span class=\"not-result-label\">(not a result)</span>"
        } else {
            ""
        }
    )?;
    let truth_total = r
        .truth
        .as_ref()
        .map(|t| t.iter().fold(0u32, |n, c| n.saturating_add(c.cells)));
    let share = |cells: u32, of: u32| -> String {
        if of == 0 {
            "—".to_string()
        } else {
            Percent(f64::from(cells) / f64::from(of)).to_string()
        }
    };
    writeln!(
        out,
        "<table>\n<tr><th>class</th><th>malignant?</th><th>cells</th><th>share of classified</th>{}</tr>",
        if r.truth.is_some() {
            "<th>ground truth (synthetic slide)</th>"
        } else {
            ""
        }
    )?;
    for (i, c) in s.counts.iter().enumerate() {
        write!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td>",
            Css(class_colour(Some(i))),
            Esc(&c.name),
            if c.malignant { "yes" } else { "no" },
            c.cells,
            share(c.cells, s.classified)
        )?;
        if let (Some(truth), Some(total)) = (&r.truth, truth_total) {
            match truth.iter().find(|t| t.name == c.name) {
                Some(t) => write!(
                    out,
                    "<td class=\"n\">{} ({})</td>",
                    t.cells,
                    share(t.cells, total)
                )?,
                None => write!(out, "<td class=\"n\">—</td>")?,
            }
        }
        writeln!(out, "</tr>")?;
    }
    let truth_dash = if r.truth.is_some() {
        "<td class=\"n\">—</td>"
    } else {
        ""
    };
    writeln!(
        out,
        "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>unidentified \
         (below {} confidence, counted in no class)</td><td>—</td><td class=\"n\">{}</td>\
         <td class=\"n\">—</td>{truth_dash}</tr>",
        Css(class_colour(None)),
        Percent(f64::from(s.unidentified_below)),
        s.unidentified,
    )?;
    match s.unfamiliar_above {
        Some(above) => writeln!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>unfamiliar \
             (farther than {above:.1} from the cells the model learnt from, counted in no class)</td>\
             <td>—</td><td class=\"n\">{}</td><td class=\"n\">—</td>{truth_dash}</tr>",
            Css(class_colour(None)),
            s.unfamiliar,
        )?,
        // Said, so that a reader does not take a missing row for a guard that found none.
        None => writeln!(
            out,
            "<tr><td>unfamiliar: not checked (the model has no familiarity profile, or ran \
             on the GPU)</td><td>—</td><td class=\"n\">—</td><td class=\"n\">—</td>{truth_dash}</tr>"
        )?,
    }
    if s.partial > 0 {
        writeln!(
            out,
            "<tr><td>partial (cut by the frame's edge wherever seen, not classified)</td>\
             <td>—</td><td class=\"n\">{}</td><td class=\"n\">—</td>{truth_dash}</tr>",
            s.partial,
        )?;
    }
    writeln!(
        out,
        "<tr><th>classified</th><td></td><td class=\"n\">{}</td><td></td>{}</tr>\n</table>",
        s.classified,
        match truth_total {
            Some(total) => format!("<td class=\"n\">{total}</td>"),
            None => String::new(),
        }
    )?;
    writeln!(
        out,
        "<p>Malignant share: <strong>{}</strong> of {} classified cells \
         (95&nbsp;% Wilson interval {} to {}); {} fields visited.</p>\n</section>",
        Percent(s.malignant_share),
        s.classified,
        Percent(s.wilson_95.0),
        Percent(s.wilson_95.1),
        s.fields
    )
}

/// The reviewer's counts beside the machine's, and who signed the slide off.
fn write_review_section(out: &mut String, r: &SlideReport) -> fmt::Result {
    let Some(review) = &r.review else {
        return writeln!(
            out,
            "<p class=\"unreviewed\">Not reviewed: every count below is the machine's alone.</p>"
        );
    };
    let reviewed = &review.counts.summary;
    let machine = &r.summary;
    writeln!(out, "<section class=\"review\">\n<h2>Review</h2>")?;
    match &review.sign_off {
        Some(sign) => writeln!(
            out,
            "<p class=\"signed\">Reviewed and signed off by <strong>{}</strong> at {}.</p>",
            Esc(&sign.initials),
            Esc(&sign.at)
        )?,
        None => writeln!(
            out,
            "<p class=\"unsigned\"><strong>Review in progress: not signed off.</strong></p>"
        )?,
    }
    if r.advice.is_none() {
        writeln!(
            out,
            "<div class=\"flag {}\">After review: {}</div>",
            flag_class(&reviewed.flag),
            Esc(&reviewed.flag.to_string())
        )?;
    }
    writeln!(
        out,
        "<table>\n<tr><th>class</th><th>machine count</th><th>reviewed count</th></tr>"
    )?;
    for (i, (m, c)) in machine.counts.iter().zip(&reviewed.counts).enumerate() {
        writeln!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            Css(class_colour(Some(i))),
            Esc(&m.name),
            m.cells,
            c.cells
        )?;
    }
    writeln!(
        out,
        "<tr><td>unidentified</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><td>unfamiliar</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><td>not a white cell (left out)</td><td class=\"n\">0</td><td class=\"n\">{}</td></tr>\n\
         <tr><th>classified</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><th>malignant share</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n</table>",
        machine.unidentified,
        reviewed.unidentified,
        machine.unfamiliar,
        reviewed.unfamiliar,
        review.counts.excluded,
        machine.classified,
        reviewed.classified,
        Percent(machine.malignant_share),
        Percent(reviewed.malignant_share)
    )?;
    writeln!(
        out,
        "<p>The reviewer changed {} of {} cells; the machine's prediction of every cell is kept unchanged in the slide's journal.</p>\n</section>",
        review.counts.changed,
        r.cells.len()
    )
}

fn flag_class(flag: &SlideFlag) -> &'static str {
    match flag {
        SlideFlag::SuspiciousRefer { .. } => "flag-refer",
        SlideFlag::NoEvidence { .. } => "flag-clear",
        SlideFlag::Insufficient { .. } => "flag-insufficient",
        SlideFlag::Unfamiliar { .. } => "flag-unfamiliar",
    }
}

fn write_model(out: &mut String, m: &ModelInfo) -> fmt::Result {
    // 12 hex digits tell artifacts apart at a glance; the title attribute has them all.
    let short: String = m.digest.chars().take(12).collect();
    let ellipsis = if m.digest.chars().count() > 12 {
        "…"
    } else {
        ""
    };
    writeln!(
        out,
        "<h2>Model</h2>\n<table>\n<tr><th>name</th><td>{}</td></tr>\n\
         <tr><th>digest (SHA-256)</th><td><code title=\"{}\">{}{ellipsis}</code></td></tr>\n\
         <tr><th>signature</th><td>{}</td></tr>\n<tr><th>taxonomy</th><td>{}</td></tr>\n\
         <tr><th>precision</th><td>{}</td></tr>",
        Esc(&m.name),
        Esc(&m.digest),
        Esc(&short),
        match &m.signed_by {
            Some(by) if is_development_key(by) => format!(
                "signed by {} <strong>({})</strong>",
                Esc(by),
                DEVELOPMENT_KEY_WARNING
            ),
            Some(by) => format!("signed by {}", Esc(by)),
            None => "<strong>UNSIGNED</strong>".to_string(),
        },
        Esc(&m.taxonomy),
        Esc(&m.precision)
    )?;
    if m.demonstration {
        writeln!(
            out,
            "<tr><th>kind</th><td><strong>{DEMONSTRATION_WARNING}</strong></td></tr>"
        )?;
    }
    if let Some(subtype) = &m.subtype {
        writeln!(
            out,
            "<tr><th>subtype model</th><td>{} ({}), <code title=\"{}\">{}…</code>, {}</td></tr>",
            Esc(&subtype.name),
            Esc(&subtype.taxonomy),
            Esc(&subtype.digest),
            Esc(&subtype.digest.chars().take(12).collect::<String>()),
            match &subtype.signed_by {
                Some(by) => format!("signed by {}", Esc(by)),
                None => "<strong>UNSIGNED</strong>".to_string(),
            }
        )?;
    }
    writeln!(out, "</table>")
}

fn write_quality(out: &mut String, q: &QualityStats) -> fmt::Result {
    writeln!(
        out,
        "<h2>Frame quality</h2>\n<p>{} frames seen, {} accepted; mean focus {:.2}, \
         mean clipped {}.</p>\n<table>\n<tr><th>rejected as</th><th>frames</th><th>remedy</th></tr>",
        q.frames,
        q.accepted,
        q.mean_focus,
        Percent(f64::from(q.mean_clipped))
    )?;
    for row in &q.rejected {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            Esc(&row.reason),
            row.frames,
            Esc(&row.remedy)
        )?;
    }
    writeln!(out, "</table>")?;
    let skipped = &q.unreadable;
    if skipped.total() > 0 {
        writeln!(
            out,
            "<p><strong>{} frames could not be read</strong> ({}); the first: {}</p>",
            skipped.total(),
            Esc(&skipped.by_reason_text()),
            Esc(skipped.first.as_deref().unwrap_or(""))
        )?;
    }
    Ok(())
}

/// A gallery's group of cells, in the order they are shown: the cells the model could not
/// read first, where a reader has most to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Unfamiliar,
    Unidentified,
    Class(usize),
}

impl Group {
    fn of(cell: &ReportCell) -> Self {
        match cell.class {
            Some(class) => Group::Class(class),
            None if cell.unfamiliar => Group::Unfamiliar,
            None => Group::Unidentified,
        }
    }
}

fn write_gallery(
    out: &mut String,
    r: &SlideReport,
    thumbs: &HashMap<u32, &EncodedImage>,
) -> fmt::Result {
    let mut groups: BTreeMap<Group, Vec<(&ReportCell, &EncodedImage)>> = BTreeMap::new();
    for cell in &r.cells {
        if let Some(image) = thumbs.get(&cell.id) {
            groups
                .entry(Group::of(cell))
                .or_default()
                .push((cell, image));
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<h2>Cells</h2>\n<p>Grouped by class, least confident first within each: check those.</p>"
    )?;
    for (group, mut cells) in groups {
        cells.sort_by(|a, b| a.0.confidence.total_cmp(&b.0.confidence));
        let (name, class) = match group {
            Group::Unfamiliar => (ReportCell::UNFAMILIAR, None),
            Group::Unidentified => (ReportCell::UNIDENTIFIED, None),
            Group::Class(class) => (cells[0].0.class_name.as_str(), Some(class)),
        };
        writeln!(
            out,
            "<h3><span class=\"swatch\" style=\"background:{}\"></span>{} ({})</h3>\n<div class=\"gallery\">",
            Css(class_colour(class)),
            Esc(name),
            cells.len()
        )?;
        for (cell, image) in cells {
            let [x, y, w, h] = cell.bbox;
            let reviewed = r
                .review
                .as_ref()
                .and_then(|review| review.verdicts.iter().find(|(id, _)| *id == cell.id))
                .map(|(_, verdict)| verdict_name(*verdict, &r.summary.counts))
                .filter(|name| *name != cell.class_name)
                .map(|name| format!(" → <strong>{}</strong>", Esc(name)))
                .unwrap_or_default();
            writeln!(
                out,
                "<figure id=\"cell-{id}\"><img src=\"data:image/png;base64,{}\" alt=\"cell {id}\" \
                 title=\"cell {id}, frame {}, box {x},{y} {w}×{h}\"><figcaption>#{id} · {:.0}&nbsp;%{}{reviewed}</figcaption></figure>",
                BASE64.encode(&image.png),
                cell.frame,
                f64::from(cell.confidence) * 100.0,
                cell.subtype
                    .as_deref()
                    .map(|t| format!(" · {}", Esc(t)))
                    .unwrap_or_default(),
                id = cell.id
            )?;
        }
        writeln!(out, "</div>")?;
    }
    Ok(())
}

fn write_snapshots(
    out: &mut String,
    r: &SlideReport,
    snaps: &[(u64, EncodedImage)],
) -> fmt::Result {
    if snaps.is_empty() {
        return Ok(());
    }
    write!(out, "<h2>Frames</h2>\n<p>Box colours: ")?;
    for (i, c) in r.summary.counts.iter().enumerate() {
        write!(
            out,
            "<span class=\"swatch\" style=\"background:{}\"></span>{} ",
            Css(class_colour(Some(i))),
            Esc(&c.name)
        )?;
    }
    writeln!(
        out,
        "<span class=\"swatch\" style=\"background:{}\"></span>unidentified or unfamiliar</p>",
        Css(class_colour(None))
    )?;
    for (frame, image) in snaps {
        writeln!(
            out,
            "<figure class=\"snapshot\" id=\"frame-{frame}\"><img src=\"data:image/png;base64,{}\" \
             alt=\"frame {frame}\"><figcaption>frame {frame}</figcaption></figure>",
            BASE64.encode(&image.png)
        )?;
    }
    Ok(())
}

fn write_timings(out: &mut String, t: &StageTimings) -> fmt::Result {
    writeln!(
        out,
        "<h2>Timings</h2>\n<p>Mean milliseconds per frame over {} frames.</p>\n<table>",
        t.frames
    )?;
    for (stage, ms) in [
        ("quality gate", t.quality),
        ("detection", t.detect),
        ("tracking", t.track),
        ("classification", t.classify),
        ("journal", t.journal),
        ("total", t.total),
    ] {
        writeln!(out, "<tr><th>{stage}</th><td class=\"n\">{ms:.1}</td></tr>")?;
    }
    writeln!(out, "</table>")
}
