//! The UI's JSON API and its files: the live state and frame, start and stop, the slides,
//! one slide for review, a reviewer's verdict, the sign-off, the report and the cells'
//! pictures. The shapes are documented in `docs/review-ui.md`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use leukoscope_core::artifact::Calibration;
use serde_json::{Value, json};

use super::body::{self, BodyError};
use super::desk::{Desk, LiveFrame};
use super::guard::{Access, Check, TOKEN_COOKIE, too_many};
use super::reply::{echo, error, ok};
use crate::records::cell_images::encode_jpeg;
use crate::records::journal::Journal;
use crate::records::layout::is_slide_id;
use crate::records::review::{Initials, ReviewError, ReviewLog, ReviewState};
use crate::records::{JournalEntry, ReportCell, ReviewVerdict, Verdict, now_rfc3339};
use crate::report::{
    ReportReview, SlideReport, annotate, error_chain, read_report, review_page, reviewed_counts,
    shrink, verdict_name,
};
use crate::scan::pipeline::{RebuildError, rebuild_report};
use crate::scan::session::{SlideFlag, SlideSession, SlideSummary, SubtypeCall};

/// Width the live frame is shrunk to before it is sent: enough for a tablet, light for the
/// board to encode several times a second.
const LIVE_WIDTH: u32 = 960;

/// The server's shared state.
pub struct Ui {
    /// The desk.
    pub desk: Arc<Desk>,
    /// The access rules.
    pub access: Arc<Access>,
}

type Shared = State<Arc<Ui>>;

type Refusal = (StatusCode, String);

fn refuse(e: Refusal) -> Response {
    error(e.0, e.1)
}

fn check_id(id: &str) -> Result<(), Refusal> {
    if is_slide_id(id) {
        Ok(())
    } else {
        Err((
            StatusCode::BAD_REQUEST,
            format!("`{}` is not a slide id", echo(id)),
        ))
    }
}

/// A body as one of [`body`]'s parsers reads it, refused as they refuse it.
fn parse<T>(
    sent: Result<Bytes, BytesRejection>,
    parser: fn(&[u8]) -> Result<T, BodyError>,
) -> Result<T, Refusal> {
    sent.map_err(BodyError::from)
        .and_then(|bytes| parser(&bytes))
        .map_err(|e| (e.status(), e.to_string()))
}

fn review_refusal(e: ReviewError) -> Refusal {
    let status = match e {
        ReviewError::UnknownCell { .. }
        | ReviewError::UnknownClass { .. }
        | ReviewError::BadInitials(_) => StatusCode::BAD_REQUEST,
        ReviewError::SignedOff { .. } | ReviewError::StillScanning { .. } => StatusCode::CONFLICT,
        ReviewError::Journal(_) | ReviewError::Foreign { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, error_chain(&e))
}

/// A summary's flag as the pages show it, with the blasts' subtype when one is named on it.
fn flag_json(summary: &SlideSummary) -> Value {
    let flag = &summary.flag;
    let kind = match flag {
        SlideFlag::SuspiciousRefer { .. } => "suspicious_refer",
        SlideFlag::NoEvidence { .. } => "no_evidence",
        SlideFlag::Insufficient { .. } => "insufficient",
        SlideFlag::Unfamiliar { .. } => "unfamiliar",
    };
    let subtype = summary
        .subtype
        .as_ref()
        .filter(|s| s.call != SubtypeCall::NotReferred)
        .map(|s| format!("B-ALL subtype: {}", s.call));
    json!({ "kind": kind, "text": flag.to_string(), "subtype": subtype })
}

/// `GET /api/state`: the live slide.
pub async fn state(State(ui): Shared) -> Response {
    let desk = &ui.desk;
    // The live page polls this: while it does, the scan loop keeps frames for it.
    desk.watched();
    let state = desk.lock();
    let live = state.live.as_ref();
    let summary = live
        .and_then(|l| l.summary.clone())
        .unwrap_or_else(|| empty_summary(desk, live.map_or("", |l| l.id.as_str())));
    let quality = live.and_then(|l| l.quality.map(|q| (l, q))).map(|(l, q)| {
        let (problem, remedy) = match q.verdict {
            Verdict::Accepted => (None, None),
            Verdict::Rejected(reason) => (Some(reason.to_string()), Some(reason.remedy())),
        };
        json!({
            "verdict": if problem.is_none() { "accepted" } else { "rejected" },
            "focus": q.focus,
            "clipped_fraction": q.clipped_fraction,
            "problem": problem,
            "remedy": remedy,
            "accepted_frames": l.accepted,
            "rejected_frames": l.rejected,
            "unreadable_frames": l.unreadable.total(),
            "unreadable": l.unreadable.by_reason_text(),
        })
    });
    let running = live.is_some_and(|l| l.running);
    let frame = state.frame.as_deref();
    let boxes: Vec<Value> = frame.map_or_else(Vec::new, |f| {
        f.boxes
            .iter()
            .map(|b| json!({ "box": on_screen(b.bbox, 1.0), "class": b.class, "new": b.new, "label": b.label }))
            .collect()
    });
    ok(json!({
        "mode": desk.config.mode.name(),
        "slide": live.map(|l| l.id.as_str()),
        "running": running,
        "can_start": desk.config.can_start && !running,
        "frame": live.and_then(|l| l.frame),
        "frame_version": frame.map_or(0, |f| f.version),
        "frame_size": frame.map(|f| [f.image.width(), f.image.height()]),
        "boxes": boxes,
        "quality": quality,
        "scale": live.and_then(|l| l.scale),
        "counts": summary.counts,
        "unidentified": summary.unidentified,
        "unfamiliar": summary.unfamiliar,
        "partial": summary.partial,
        "classified": summary.classified,
        "stop_after_cells": desk.config.rules.stop_after_cells,
        "fields": summary.fields,
        "max_fields": desk.config.rules.max_fields,
        "malignant_share": summary.malignant_share,
        "flag": flag_json(&summary),
        "ended": live.and_then(|l| l.ended.as_deref()),
        "demonstration": desk.config.demonstration,
    }))
}

fn empty_summary(desk: &Desk, id: &str) -> SlideSummary {
    SlideSession::new(
        id,
        desk.config.taxonomy.clone(),
        desk.config.rules,
        &Calibration::default(),
        None,
    )
    .summary()
}

/// `GET /api/live/frame.jpg`: the latest frame with its cells boxed, as JPEG.
pub async fn frame(State(ui): Shared) -> Response {
    ui.desk.watched();
    let (frame, cached) = {
        let state = ui.desk.lock();
        (state.frame.clone(), state.jpeg.clone())
    };
    let Some(frame) = frame else {
        return error(StatusCode::NOT_FOUND, "no frame yet");
    };
    let jpeg = match cached {
        Some((version, jpeg)) if version == frame.version => jpeg,
        _ => match encode_live(&frame) {
            Ok(jpeg) => {
                let jpeg = Arc::new(jpeg);
                ui.desk.lock().jpeg = Some((frame.version, jpeg.clone()));
                jpeg
            }
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from(jpeg.as_ref().clone()),
    )
        .into_response()
}

fn encode_live(frame: &LiveFrame) -> Result<Vec<u8>, image::ImageError> {
    // Shrunk first, boxes drawn after: outlines stay 3 pixels wide on the screen.
    let small = shrink(&frame.image, LIVE_WIDTH);
    let scale = f64::from(small.width()) / f64::from(frame.image.width().max(1));
    let boxes: Vec<_> = frame
        .boxes
        .iter()
        .map(|b| (on_screen(b.bbox, scale), b.class))
        .collect();
    encode_jpeg(&annotate(&small, &boxes), 80)
}

/// A nucleus' box `[x, y, w, h]` in frame pixels as drawn on the live frame shrunk by
/// `scale`: twice its size around its centre (about the whole cell), at least 16 pixels,
/// so a cell stays visible on a small screen.
fn on_screen([x, y, w, h]: [u32; 4], scale: f64) -> [u32; 4] {
    let side = |v: u32| (f64::from(v) * 2.0 * scale).max(16.0);
    let (cx, cy) = (
        (f64::from(x) + f64::from(w) / 2.0) * scale,
        (f64::from(y) + f64::from(h) / 2.0) * scale,
    );
    let (sw, sh) = (side(w), side(h));
    [
        (cx - sw / 2.0).max(0.0).round() as u32,
        (cy - sh / 2.0).max(0.0).round() as u32,
        sw.round() as u32,
        sh.round() as u32,
    ]
}

/// `POST /api/slide/start`.
pub async fn start(State(ui): Shared) -> Response {
    if ui.desk.request_start() {
        return state(State(ui)).await;
    }
    let message = match ui.desk.config.mode {
        _ if ui.desk.lock().live.as_ref().is_some_and(|l| l.running) => {
            "a slide is being scanned: stop it or let it finish first"
        }
        super::DeskMode::Replay => "replay scans its one folder; run the command again for another",
        _ => "this board cannot start a slide now",
    };
    error(StatusCode::CONFLICT, message)
}

/// `POST /api/slide/stop`.
pub async fn stop(State(ui): Shared) -> Response {
    if ui.desk.request_stop() {
        state(State(ui)).await
    } else {
        error(StatusCode::CONFLICT, "no slide is being scanned")
    }
}

/// One slide as the review reads it.
struct SlideRecord {
    cells: Vec<ReportCell>,
    summary: SlideSummary,
    running: bool,
    review: ReviewState,
}

impl SlideRecord {
    /// Where the slide is: being scanned, to review, or signed off.
    fn state(&self) -> &'static str {
        if self.running {
            "running"
        } else if self.review.sign_off.is_some() {
            "signed_off"
        } else {
            "finished"
        }
    }
}

/// The slide `id`: the live one while it is scanned, else its report; and its review.
fn load_slide(ui: &Ui, id: &str) -> Result<SlideRecord, Refusal> {
    check_id(id)?;
    let desk = &ui.desk;
    let live = desk
        .lock()
        .live
        .as_ref()
        .filter(|l| l.id == id && l.running)
        .map(|live| {
            (
                live.cells.clone(),
                live.summary
                    .clone()
                    .unwrap_or_else(|| empty_summary(desk, id)),
            )
        });
    let mut records = desk.records();
    let (cells, summary, running) = match live {
        Some((cells, summary)) => (cells, summary, true),
        None => {
            let report = match records.reports.get(id) {
                Some(report) => report.clone(),
                None => {
                    let dir = desk.config.data.report(id);
                    if !dir.join(crate::report::JSON_FILE).is_file() {
                        return Err((
                            StatusCode::NOT_FOUND,
                            format!("there is no finished slide {id} on this board"),
                        ));
                    }
                    let report = read_report(&dir).map_err(|e| {
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!(
                                "the report of slide {id} cannot be read: {}",
                                error_chain(&e)
                            ),
                        )
                    })?;
                    let report: Arc<SlideReport> = Arc::new(report);
                    records.reports.insert(id.to_string(), report.clone());
                    report
                }
            };
            (report.cells.clone(), report.summary.clone(), false)
        }
    };
    let review = match records.reviews.get(id) {
        Some(log) => log.state().clone(),
        None => ReviewLog::read(&desk.config.data, id).map_err(review_refusal)?,
    };
    Ok(SlideRecord {
        cells,
        summary,
        running,
        review,
    })
}

fn verdict_json(verdict: ReviewVerdict, summary: &SlideSummary) -> Value {
    let (kind, class) = match verdict {
        ReviewVerdict::Class(c) => ("class", Some(c)),
        ReviewVerdict::Unidentified => ("unidentified", None),
        ReviewVerdict::NotACell => ("not_a_cell", None),
    };
    json!({ "verdict": kind, "class": class, "name": verdict_name(verdict, &summary.counts) })
}

fn counts_json(summary: &SlideSummary, excluded: u32) -> Value {
    json!({
        "counts": summary.counts,
        "unidentified": summary.unidentified,
        "unfamiliar": summary.unfamiliar,
        "partial": summary.partial,
        "excluded": excluded,
        "classified": summary.classified,
        "malignant_share": summary.malignant_share,
        "flag": flag_json(summary),
    })
}

fn slide_json(ui: &Ui, id: &str, slide: &SlideRecord) -> Value {
    let reviewed = reviewed_counts(
        &slide.summary,
        &slide.cells,
        &slide.review,
        &ui.desk.config.rules,
    );
    let classes: Vec<Value> = slide
        .summary
        .counts
        .iter()
        .enumerate()
        .map(|(i, c)| json!({ "index": i, "name": c.name, "malignant": c.malignant }))
        .collect();
    let cells: Vec<Value> = slide
        .cells
        .iter()
        .map(|cell| {
            json!({
                "id": cell.id,
                "frame": cell.frame,
                "machine": { "class": cell.class, "name": cell.class_name, "unfamiliar": cell.unfamiliar },
                "confidence": cell.confidence,
                "reviewed": slide.review.verdict(cell.id).map(|v| verdict_json(v, &slide.summary)),
                "image": format!("/slides/{id}/cells/{}.jpg", cell.id),
            })
        })
        .collect();
    json!({
        "id": id,
        "state": slide.state(),
        "classes": classes,
        "cells": cells,
        "machine": counts_json(&slide.summary, 0),
        "reviewed": counts_json(&reviewed.summary, reviewed.excluded),
        "corrections": reviewed.changed,
        "sign_off": slide.review.sign_off.as_ref().map(|s| json!({ "initials": s.initials, "at": s.at })),
        "report": format!("/slides/{id}/report"),
    })
}

/// `GET /api/slides`: every slide with a journal, newest first: the live one, those with a
/// report, and those that cannot be reviewed, with why (a report missing, a scan cut short,
/// a journal that cannot be read), so that no slide on the board is hidden.
pub async fn slides(State(ui): Shared) -> Response {
    let files = ui.desk.config.data.slide_journals().unwrap_or_default();
    let rows: Vec<Value> = files
        .into_iter()
        .map(|file| match load_slide(&ui, &file.slide) {
            Ok(slide) => {
                let changed = reviewed_counts(
                    &slide.summary,
                    &slide.cells,
                    &slide.review,
                    &ui.desk.config.rules,
                )
                .changed;
                json!({
                    "id": file.slide,
                    "state": slide.state(),
                    "classified": slide.summary.classified,
                    "unidentified": slide.summary.unidentified,
                    "unfamiliar": slide.summary.unfamiliar,
                    "flag": flag_json(&slide.summary),
                    "reviewer": slide.review.sign_off.as_ref().map(|s| s.initials.as_str()),
                    "corrections": changed,
                })
            }
            Err((status, refusal)) => unreviewable(&ui, &file.slide, status, refusal),
        })
        .collect();
    ok(json!({ "slides": rows }))
}

/// The row of a slide that cannot be opened for review: `state` says why, `error` in words.
fn unreviewable(ui: &Ui, id: &str, status: StatusCode, refusal: String) -> Value {
    let (state, error) = if status != StatusCode::NOT_FOUND {
        ("unreadable", refusal)
    } else {
        match Journal::read_all(ui.desk.config.data.journal(id)) {
            Ok(entries) if matches!(entries.last(), Some(JournalEntry::SlideEnd(_))) => (
                "report_missing",
                "the slide was finished but its report was not written (a full disk?); every counted cell is in its journal".to_string(),
            ),
            Ok(_) => (
                "interrupted",
                "the scan stopped before the slide ended; scanning it again with the same id resumes it".to_string(),
            ),
            Err(e) => ("unreadable", error_chain(&e)),
        }
    };
    json!({
        "id": id,
        "state": state,
        "error": error,
        "can_rebuild": state == "report_missing" && ui.desk.config.rebuild.is_some(),
    })
}

/// `GET /api/slides/{id}`.
pub async fn slide(State(ui): Shared, Path(id): Path<String>) -> Response {
    match load_slide(&ui, &id) {
        Ok(slide) => ok(slide_json(&ui, &id, &slide)),
        Err(e) => refuse(e),
    }
}

/// `POST /api/slides/{id}/cells/{cell}`: the reviewer's verdict on a cell.
pub async fn correct(
    State(ui): Shared,
    Path((id, cell)): Path<(String, String)>,
    sent: Result<Bytes, BytesRejection>,
) -> Response {
    let result = (|| {
        let verdict = parse(sent, body::verdict)?;
        let cell: u32 = cell.parse().map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                format!("`{}` is not a cell number", echo(&cell)),
            )
        })?;
        let slide = load_slide(&ui, &id)?;
        let (cells, classes) = (slide.cells.len() as u32, slide.summary.counts.len());
        with_log(&ui, &id, |log| {
            log.correct(cell, verdict, cells, classes, now_rfc3339())
        })?;
        Ok(slide_json(&ui, &id, &load_slide(&ui, &id)?))
    })();
    result.map_or_else(refuse, ok)
}

/// Runs `f` on the open review journal of `id`, opening it first if need be.
fn with_log(
    ui: &Ui,
    id: &str,
    f: impl FnOnce(&mut ReviewLog) -> Result<(), ReviewError>,
) -> Result<(), Refusal> {
    let mut records = ui.desk.records();
    if !records.reviews.contains_key(id) {
        let log = ReviewLog::open(&ui.desk.config.data, id).map_err(review_refusal)?;
        records.reviews.insert(id.to_string(), log);
    }
    let log = records.reviews.get_mut(id).ok_or((
        StatusCode::INTERNAL_SERVER_ERROR,
        "the review journal vanished".to_string(),
    ))?;
    f(log).map_err(review_refusal)
}

/// `POST /api/slides/{id}/sign-off`: closes the review and rewrites the report with it.
pub async fn sign_off(
    State(ui): Shared,
    Path(id): Path<String>,
    sent: Result<Bytes, BytesRejection>,
) -> Response {
    let result = (|| {
        let initials = Initials::parse(&parse(sent, body::sign_off)?).map_err(review_refusal)?;
        let slide = load_slide(&ui, &id)?;
        with_log(&ui, &id, |log| {
            log.sign_off(&initials, !slide.running, now_rfc3339())
        })?;
        let slide = load_slide(&ui, &id)?;
        let review = report_review(&ui, &slide);
        crate::report::write_review(&ui.desk.config.data.report(&id), review).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "signed off, but the report could not be rewritten: {}",
                    error_chain(&e)
                ),
            )
        })?;
        ui.desk.records().reports.remove(&id);
        Ok(slide_json(&ui, &id, &load_slide(&ui, &id)?))
    })();
    result.map_or_else(refuse, ok)
}

fn report_review(ui: &Ui, slide: &SlideRecord) -> ReportReview {
    ReportReview::of(
        &slide.summary,
        &slide.cells,
        &slide.review,
        &ui.desk.config.rules,
    )
}

/// `GET /slides/{id}/report`: the printable report, with the review so far.
pub async fn report(State(ui): Shared, Path(id): Path<String>) -> Response {
    let result = (|| {
        let slide = load_slide(&ui, &id)?;
        if slide.running {
            return Err((
                StatusCode::CONFLICT,
                "the report is written when the slide ends".to_string(),
            ));
        }
        let dir = ui.desk.config.data.report(&id);
        let unchanged = slide.review.sign_off.is_some() || slide.review.verdicts.is_empty();
        let html = if unchanged {
            std::fs::read_to_string(dir.join(crate::report::HTML_FILE)).map_err(|e| {
                (
                    StatusCode::NOT_FOUND,
                    format!("no report for slide {id}: {e}"),
                )
            })?
        } else {
            review_page(&dir, Some(report_review(&ui, &slide)))
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, error_chain(&e)))?
        };
        Ok(html)
    })();
    match result {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                // The report is self-contained: inline styles and data: images, nothing else.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                ),
            ],
            html,
        )
            .into_response(),
        Err(e) => refuse(e),
    }
}

/// `GET /slides/{id}/cells/{n}.jpg`: a counted cell's picture.
pub async fn cell_image(State(ui): Shared, Path((id, file)): Path<(String, String)>) -> Response {
    if let Err(e) = check_id(&id) {
        return refuse(e);
    }
    let Some(cell) = file
        .strip_suffix(".jpg")
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return error(StatusCode::NOT_FOUND, "no such picture");
    };
    match ui.desk.config.data.cell_images(&id).read(cell) {
        Ok(jpeg) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            jpeg,
        )
            .into_response(),
        Err(_) => error(StatusCode::NOT_FOUND, format!("no picture of cell {cell}")),
    }
}

/// `POST /api/slides/{id}/report`: writes a finished slide's missing report again from its
/// journal.
pub async fn rebuild(State(ui): Shared, Path(id): Path<String>) -> Response {
    if let Err(e) = check_id(&id) {
        return refuse(e);
    }
    let Some(rebuild) = ui.desk.config.rebuild.clone() else {
        return error(
            StatusCode::CONFLICT,
            "this board cannot write reports again; run leukoscope-edge report",
        );
    };
    let data = ui.desk.config.data.clone();
    let slide = id.clone();
    // Reading every cell's picture and encoding the report takes a second or two: off the
    // server's only thread.
    let written = tokio::task::spawn_blocking(move || {
        rebuild_report(
            &data,
            &slide,
            &rebuild.model,
            rebuild.settings,
            now_rfc3339(),
        )
    })
    .await;
    match written {
        Ok(Ok(_)) => {
            ui.desk.records().reports.remove(&id);
            match load_slide(&ui, &id) {
                Ok(slide) => ok(slide_json(&ui, &id, &slide)),
                Err(e) => refuse(e),
            }
        }
        Ok(Err(e)) => {
            let status = match e {
                RebuildError::NoJournal { .. } => StatusCode::NOT_FOUND,
                RebuildError::NotFinished(_) => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, error_chain(&e))
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "writing the report stopped unexpectedly",
        ),
    }
}

/// `POST /api/login`: trades the access token for a cookie.
pub async fn login(
    State(ui): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    sent: Result<Bytes, BytesRejection>,
) -> Response {
    let token = match parse(sent, body::login) {
        Ok(token) => token,
        Err(e) => return refuse(e),
    };
    if ui.access.token.is_none() {
        return error(StatusCode::BAD_REQUEST, "this board needs no access token");
    }
    match ui.access.check(peer.ip(), &token).await {
        Check::Passed => {}
        Check::Failed => return error(StatusCode::UNAUTHORIZED, "wrong access token"),
        Check::TooMany => return too_many(),
    }
    (
        [(
            header::SET_COOKIE,
            format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"),
        )],
        axum::Json(json!({ "ok": true })),
    )
        .into_response()
}
