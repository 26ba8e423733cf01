//! The job page (`GET /`) in headless Chromium, and the checkpoint history
//! that `_metadata` keeps: a job restored from an earlier run's checkpoint
//! lists that run's checkpoints, and so does `weir checkpoints list`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// The page as Chromium renders it once its scripts ran for a while.
fn chromium(url: &str, extra: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=7000"])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium is installed (scripts/setup.sh installs it)")
}

/// The number of times `needle` occurs in `haystack` after `from`, up to `to`.
fn count_between(haystack: &str, from: &str, to: &str, needle: &str) -> usize {
    let Some(start) = haystack.find(from) else { return 0 };
    let rest = &haystack[start..];
    let end = rest.find(to).unwrap_or(rest.len());
    rest[..end].matches(needle).count()
}

fn first_run(out: &Path, chk: &Path) -> Vec<u64> {
    let o = run_windowed_count(&argv(&format!(
        "--generate 60000 --keys 50 --event-rate 10000 --rate 60000 --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval 150ms --retained-checkpoints 3",
        out.display(),
        chk.display()
    )));
    assert!(o.status.success(), "{}", stderr(&o));
    complete_checkpoints(chk)
}

#[test]
fn the_page_shows_the_job_its_history_and_plots_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let earlier = first_run(&out, &chk);
    let newest = *earlier.last().expect("the first run completed checkpoints");

    // `weir checkpoints list` shows what each checkpoint took and wrote.
    let o = weir_tool(&["checkpoints", "list", chk.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).lines().filter(|l| l.contains(" took ") && l.contains(" wrote ")).count() >= 1, "{}", stdout(&o));

    // A second run restores from it and shows the first run's history too.
    let args = argv(&format!(
        "--generate 400000 --keys 50 --event-rate 10000 --rate 60000 --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval 300ms --from-checkpoint latest",
        out.display(),
        chk.display()
    ));
    let job = crate::control::Job::start(dir.path(), &args);
    let started = Instant::now();
    let history = loop {
        let (_, h) = job.get("/checkpoints");
        let ids: Vec<u64> = h["history"].as_array().unwrap().iter().filter_map(|r| r["id"].as_u64()).collect();
        if ids.iter().any(|id| *id > newest) && ids.contains(&newest) {
            break h;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no history of the first run, or no new checkpoint: {h}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let first_run_record = history["history"].as_array().unwrap().iter().find(|r| r["id"] == newest).unwrap().clone();
    assert_eq!(first_run_record["status"], "completed");
    assert!(first_run_record["bytes_written"].as_u64().unwrap() > 0, "{first_run_record}");

    // The page, as a browser shows it.
    let url = format!("{}/", job.url());
    let o = chromium(&url, &["--dump-dom"]);
    assert!(o.status.success(), "chromium: {}", String::from_utf8_lossy(&o.stderr));
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(dom.contains("windowed_count"), "the job's name: {dom}");
    let rows = count_between(&dom, "<table id=\"history\">", "</table>", "<tr class=\"completed\"");
    assert!(rows >= 2, "completed checkpoints in the history table ({rows}): {dom}");
    assert!(dom.contains(&format!("<td>{newest}</td>")), "the first run's newest checkpoint is listed");
    assert!(count_between(&dom, "<svg id=\"durations\"", "</svg>", "<rect") >= 2, "duration bars: {dom}");
    assert!(count_between(&dom, "<svg id=\"bytes\"", "</svg>", "<polyline") == 2, "written and referenced lines: {dom}");
    assert!(count_between(&dom, "<svg id=\"records\"", "</svg>", "<polyline") >= 2, "records in and out: {dom}");
    assert!(count_between(&dom, "<table id=\"operators\">", "</table>", "<tr>") >= 4, "operators with their records: {dom}");
    assert!(dom.contains("<td>window-count</td>"), "the window operator's row: {dom}");

    // A screenshot, kept as a test artifact.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("job-page.png");
    let arg = format!("--screenshot={}", shot.display());
    let o = chromium(&url, &[&arg, "--window-size=1300,1150"]);
    assert!(o.status.success(), "chromium: {}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot at {}", shot.display());
    drop(job);
}
