//! The `jobs-trace` command, run as a user would: the text report, `--json`, where the pictures
//! go, and the exit status for bad input.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{data, Image};

fn jobs_trace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobs-trace"))
        .args(args)
        .output()
        .expect("the jobs-trace binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_text_report_has_every_section_and_the_pictures_go_beside_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("two_frames.json");
    std::fs::copy(data("two_frames.json"), &trace).unwrap();
    let output = jobs_trace(&[trace.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for expected in [
        "workers overall  69.00%   job system's own  70.00%   spans minus job system  -1.00 pp",
        "utilization   67.08%  64.17%",
        "the frame graph's own mean  67.00%   spans minus frame graph  +0.08 pp",
        "Longest passes (by longest run)",
        "  b        2     0.540    0.270   0.340   0.340              2",
        "  worker 1    0.340  0.560      220.0     1-2",
        "10-100 us       4     0.190",
        "Completion chain of the slowest frame (frame 2, wall 0.600 ms)",
        "chain 0.480 ms of passes + 0.020 ms waiting = 0.500 ms, 83.33% of the frame's wall time",
        "from the pass events:  a -> c -> d",
        "the frame graph's critical path (longest summed durations): a -> b -> d  (same)",
        "frame over budget      1        0.600",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    for picture in ["two_frames-timeline.png", "two_frames-utilization.png"] {
        let path = dir.path().join(picture);
        assert!(
            stdout.contains(&path.display().to_string()),
            "{picture} not named in\n{stdout}"
        );
        assert!(Image::read(&path).width > 0);
    }
}

#[test]
fn json_output_with_an_out_folder_and_a_frame_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pictures");
    let output = jobs_trace(&[
        data("two_frames.json").to_str().unwrap(),
        "--json",
        "--out",
        out.to_str().unwrap(),
        "--top",
        "2",
        "--frames",
        "1..2",
        "--passes-by",
        "total",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(report["utilization"]["overall"], 0.69);
    assert_eq!(
        report["frame_range"],
        serde_json::json!({"first": 1, "last": 1})
    );
    assert_eq!(report["frames"]["frames"], 1);
    assert_eq!(report["pass_order"], "total");
    assert_eq!(report["passes"].as_array().unwrap().len(), 2);
    assert_eq!(report["idle"]["longest"].as_array().unwrap().len(), 2);
    assert_eq!(report["completion_chains"][0]["chain"]["frame"], 1);
    let pictures = report["pictures"].as_array().unwrap();
    assert_eq!(pictures.len(), 2);
    for (picture, name) in pictures.iter().zip(["timeline.png", "utilization.png"]) {
        let path = Path::new(picture["path"].as_str().unwrap());
        assert_eq!(path, out.join(name));
        let image = Image::read(path);
        assert!(image.width >= 1400 && image.height >= 200);
    }
}

#[test]
fn bad_input_is_a_message_naming_the_problem_and_exit_status_2() {
    let missing = data("missing.json");
    let cases = [
        (
            vec![missing.to_str().unwrap().to_owned()],
            "missing.json: cannot read",
        ),
        (
            vec![data("not_json.txt").to_str().unwrap().to_owned()],
            "not_json.txt: not JSON",
        ),
        (
            vec![data("not_a_trace.json").to_str().unwrap().to_owned()],
            "not a trace: no \"traceEvents\" array",
        ),
        (
            vec![
                data("two_frames.json").to_str().unwrap().to_owned(),
                "--frames".into(),
                "7..9".into(),
            ],
            "--frames 7..=8: no such frame in the trace (its frames are 1 to 2)",
        ),
        (
            vec![
                data("two_frames.json").to_str().unwrap().to_owned(),
                "--frames".into(),
                "9..3".into(),
            ],
            "holds no frame",
        ),
        (
            vec![
                data("two_frames.json").to_str().unwrap().to_owned(),
                "--passes-by".into(),
                "min".into(),
            ],
            "expected \"max\" or \"total\"",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = jobs_trace(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}
