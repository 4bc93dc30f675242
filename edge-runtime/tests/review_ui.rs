//! The review loop over HTTP, as the browser drives it: `demo --serve` scans a slide, a
//! reviewer reassigns cells, the counts follow, the verdicts survive a restart of the
//! program, the sign-off closes the review and rewrites the report, and
//! `export-corrections` turns the signed-off cells into class folders. Plus the guard:
//! state changes without the UI's marks are refused, and the network needs a token.
//!
//! (The same loop through a real browser is `tests/browser/e2e.mjs`.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::edge;
use serde_json::Value;

/// A served demo, killed when dropped.
struct Served {
    child: Child,
    address: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_demo(out: &std::path::Path) -> Served {
    let mut child = edge()
        .args(["demo", "--serve", "--listen", "127.0.0.1:0", "--out"])
        .arg(out)
        .env_remove("LEUKOSCOPE_UI_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the edge binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the demo printed where it serves")
            .expect("utf-8");
        if let Some(url) = line.strip_prefix("review UI at http://") {
            break url.trim_end_matches('/').to_string();
        }
    };
    // Keep draining stdout so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served { child, address }
}

/// One HTTP/1.1 request; `(status, body)`.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("receive");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().expect("a status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const UI: [(&str, &str); 2] = [("Content-Type", "application/json"), ("X-Leukoscope", "1")];

fn get_json(address: &str, path: &str) -> Value {
    let (status, body) = http(address, "GET", path, &[], "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

fn post_json(address: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, body) = http(address, "POST", path, &UI, body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Waits for `slide` to be finished.
fn finished(address: &str, slide: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = http(address, "GET", &format!("/api/slides/{slide}"), &[], "");
        if status == 200 {
            let v: Value = serde_json::from_str(&body).expect("json");
            if v["state"] != "running" {
                return v;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "slide {slide} did not finish"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn reviewed(v: &Value, class: usize) -> u64 {
    v["reviewed"]["counts"][class]["cells"]
        .as_u64()
        .expect("a count")
}

fn machine(v: &Value, class: usize) -> u64 {
    v["machine"]["counts"][class]["cells"]
        .as_u64()
        .expect("a count")
}

#[test]
fn a_reviewer_corrects_signs_off_and_exports_and_nothing_is_lost_on_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo");
    let slide = "demo-seed-1";
    let (cell, from, to);
    {
        let served = serve_demo(&out);
        let a = served.address.as_str();
        let state = get_json(a, "/api/state");
        assert_eq!(state["mode"], "demo");
        assert_eq!(state["demonstration"], true);
        let before = finished(a, slide);
        assert_eq!(before["state"], "finished");
        assert_eq!(before["corrections"], 0);
        // The first cell the machine put in a class, moved to the next class.
        let first = before["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["machine"]["class"].is_u64())
            .expect("a classified cell");
        cell = first["id"].as_u64().expect("id");
        from = first["machine"]["class"].as_u64().expect("class") as usize;
        to = (from + 1) % 4;
        let (status, after) = post_json(
            a,
            &format!("/api/slides/{slide}/cells/{cell}"),
            &format!(r#"{{"verdict":"class","class":{to}}}"#),
        );
        assert_eq!(status, 200, "{after}");
        assert_eq!(reviewed(&after, from), reviewed(&before, from) - 1);
        assert_eq!(reviewed(&after, to), reviewed(&before, to) + 1);
        assert_eq!(machine(&after, from), machine(&before, from));
        assert_eq!(after["corrections"], 1);
        // Another cell is not a white cell at all: out of every count.
        let (status, after) = post_json(
            a,
            &format!("/api/slides/{slide}/cells/{}", cell + 1),
            r#"{"verdict":"not_a_cell"}"#,
        );
        assert_eq!(status, 200, "{after}");
        assert_eq!(after["reviewed"]["excluded"], 1);

        // The cell's picture is served.
        let (status, _) = http(
            a,
            "GET",
            &format!("/slides/{slide}/cells/{cell}.jpg"),
            &[],
            "",
        );
        assert_eq!(status, 200);

        // What a page on another site, or a bad request, cannot do.
        let path = format!("/api/slides/{slide}/cells/{cell}");
        let verdict = r#"{"verdict":"unidentified"}"#;
        assert_eq!(http(a, "POST", &path, &UI[..1], verdict).0, 403);
        let foreign = [UI[0], UI[1], ("Origin", "http://evil.example")];
        assert_eq!(http(a, "POST", &path, &foreign, verdict).0, 403);
        let rebound = [UI[0], UI[1], ("Host", "evil.example")];
        assert_eq!(http(a, "GET", "/api/state", &rebound[2..], "").0, 403);
        assert_eq!(
            post_json(a, &path, r#"{"verdict":"class","class":9}"#).0,
            400
        );
        assert_eq!(post_json(a, &path, "not json").0, 400);
        assert_eq!(
            post_json(a, &format!("/api/slides/{slide}/cells/100000"), verdict).0,
            400
        );
        assert_eq!(http(a, "GET", "/api/slides/..%2F..%2Fetc", &[], "").0, 400);
        assert_eq!(
            post_json(
                a,
                &format!("/api/slides/{slide}/sign-off"),
                r#"{"initials":"Anne Smith"}"#
            )
            .0,
            400
        );
        let unchanged = get_json(a, &format!("/api/slides/{slide}"));
        assert_eq!(unchanged["corrections"], 2);
    }

    // The program is gone; a new one on the same folder starts the next slide and still
    // knows every verdict on the first.
    let served = serve_demo(&out);
    let a = served.address.as_str();
    let again = get_json(a, &format!("/api/slides/{slide}"));
    assert_eq!(again["corrections"], 2);
    assert_eq!(
        again["cells"][cell as usize]["reviewed"]["class"],
        to as u64
    );
    let (status, signed) = post_json(
        a,
        &format!("/api/slides/{slide}/sign-off"),
        r#"{"initials":"AB"}"#,
    );
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["state"], "signed_off");
    assert_eq!(signed["sign_off"]["initials"], "AB");
    // A signed-off review is closed.
    let (status, refused) = post_json(
        a,
        &format!("/api/slides/{slide}/cells/{cell}"),
        r#"{"verdict":"unidentified"}"#,
    );
    assert_eq!(status, 409, "{refused}");
    let (status, report) = http(a, "GET", &format!("/slides/{slide}/report"), &[], "");
    assert_eq!(status, 200);
    assert!(report.contains("signed off by <strong>AB</strong>"));
    assert!(report.contains("<th>machine count</th><th>reviewed count</th>"));
    let on_disk =
        std::fs::read_to_string(out.join("reports").join(slide).join("report.html")).unwrap();
    assert!(on_disk.contains("signed off by <strong>AB</strong>"));
    drop(served);

    let export = dir.path().join("export");
    let status = edge()
        .args(["export-corrections", "--data"])
        .arg(&out)
        .arg("--out")
        .arg(&export)
        .status()
        .expect("export runs");
    assert!(status.success());
    let names = ["Benign", "Early Pre-B", "Pre-B", "Pro-B"];
    let moved = export
        .join(names[to])
        .join(format!("{slide}-cell-{cell:04}.jpg"));
    assert!(moved.is_file(), "{}", moved.display());
    assert!(image::open(&moved).is_ok());
    assert!(
        !export
            .join(names[from])
            .join(format!("{slide}-cell-{cell:04}.jpg"))
            .exists()
    );
    // The cell that is not a cell is no training image.
    let excluded = format!("{slide}-cell-{:04}.jpg", cell + 1);
    assert!(
        names
            .iter()
            .all(|n| !export.join(n).join(&excluded).exists())
    );
    let manifest = std::fs::read_to_string(export.join("corrections.csv")).unwrap();
    assert!(manifest.contains(&format!("{slide},{cell},{},", names[from])));
}

#[test]
fn listening_on_the_network_without_a_strong_token_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = edge()
        .args(["demo", "--serve", "--listen", "0.0.0.0:0", "--out"])
        .arg(dir.path())
        .env_remove("LEUKOSCOPE_UI_TOKEN")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without an access token"), "{stderr}");

    let out = edge()
        .args(["demo", "--serve", "--listen", "0.0.0.0:0", "--out"])
        .arg(dir.path())
        .env("LEUKOSCOPE_UI_TOKEN", "short")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs at least 16"), "{stderr}");
}

#[test]
fn no_slide_is_hidden_a_damaged_review_is_named_and_a_lost_report_is_written_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo");
    let slide = "demo-seed-1";
    let review_journal = out.join("slides").join(format!("{slide}.review"));
    let before;
    {
        let served = serve_demo(&out);
        let a = served.address.as_str();
        before = finished(a, slide);
        let (status, signed) = post_json(
            a,
            &format!("/api/slides/{slide}/sign-off"),
            r#"{"initials":"AB"}"#,
        );
        assert_eq!(status, 200, "{signed}");
    }
    let row = |a: &str| {
        let list = get_json(a, "/api/slides");
        list["slides"]
            .as_array()
            .expect("slides")
            .iter()
            .find(|s| s["id"] == slide)
            .cloned()
            .unwrap_or_else(|| panic!("slide {slide} is missing from {list}"))
    };

    // One flipped bit in the sign-off: named, listed, and the file kept as it is.
    let good = std::fs::read(&review_journal).expect("review journal");
    let mut damaged = good.clone();
    let at = damaged.len() - 3;
    damaged[at] ^= 0x08;
    std::fs::write(&review_journal, &damaged).expect("damage");
    {
        let served = serve_demo(&out);
        let a = served.address.as_str();
        let listed = row(a);
        assert_eq!(listed["state"], "unreadable", "{listed}");
        assert!(
            listed["error"].as_str().unwrap_or("").contains("damaged"),
            "{listed}"
        );
        let (status, refused) = post_json(
            a,
            &format!("/api/slides/{slide}/cells/0"),
            r#"{"verdict":"unidentified"}"#,
        );
        assert_eq!(status, 500, "{refused}");
        assert_eq!(std::fs::read(&review_journal).expect("read"), damaged);
    }
    std::fs::write(&review_journal, &good).expect("restore");

    // The disk filled as the report was written: listed as missing, and written again.
    std::fs::remove_dir_all(out.join("reports").join(slide)).expect("report gone");
    let served = serve_demo(&out);
    let a = served.address.as_str();
    let listed = row(a);
    assert_eq!(listed["state"], "report_missing", "{listed}");
    assert_eq!(listed["can_rebuild"], true);
    let (status, rebuilt) = post_json(a, &format!("/api/slides/{slide}/report"), "{}");
    assert_eq!(status, 200, "{rebuilt}");
    assert_eq!(rebuilt["state"], "signed_off");
    assert_eq!(rebuilt["machine"], before["machine"]);
    assert_eq!(rebuilt["cells"], before["cells"]);
    let on_disk =
        std::fs::read_to_string(out.join("reports").join(slide).join("report.html")).unwrap();
    assert!(on_disk.contains("signed off by <strong>AB</strong>"));
    drop(served);

    // The same from the command line.
    std::fs::remove_dir_all(out.join("reports").join(slide)).expect("report gone");
    let output = edge()
        .args(["report", "--slide", slide, "--data"])
        .arg(&out)
        .arg("--model")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/demo/synthetic-demo-int8.lsm"
        ))
        .output()
        .expect("report runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("report written again from its journal"),
        "{said}"
    );
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("reports").join(slide).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["review"]["sign_off"]["initials"], "AB", "{json}");
}
