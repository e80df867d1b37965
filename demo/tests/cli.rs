//! The demo binary as a user runs it: usage errors, scene errors that name the file, the line
//! and the key and write nothing, the `--json` summary, the same checksum on every backend,
//! PNG snapshots, the scenes of `assets/`. Runs are tiny (a few frames, a few thousand
//! particles), since tests run debug builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder of its own under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("demo-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary folder");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to the file `name` in the folder and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write the scene");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small valid scene, 96 x 72 pixels; the line numbers the tests below expect are this text's.
const SCENE: &str = r#"name = "cli"
seed = 11
max_particles = 3000

[view]
min = [-2.0, 0.0]
max = [2.0, 3.0]

[image]
width = 96
height = 72

[physics]
gravity = [0.0, -9.81]
drag = 0.1

[[emitters]]
position = [0.0, 0.5]
rate = 40000
direction = 90
spread = 30
speed = [2.0, 4.0]
lifetime = [1.0, 2.0]

[[colliders]]
kind = "circle"
center = [0.5, 1.5]
radius = 0.3

[interaction]
radius = 0.1
repulsion = 10.0
"#;

/// `SCENE` with `from` (which must occur once) replaced by `to`.
fn scene_with(from: &str, to: &str) -> String {
    assert_eq!(SCENE.matches(from).count(), 1, "{from:?}");
    SCENE.replace(from, to)
}

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(args)
        .output()
        .expect("the demo binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The summary of a run that must succeed, from `--json`.
fn summary(args: &[&str]) -> serde_json::Value {
    let output = demo(&[args, &["--json"][..]].concat());
    assert_eq!(
        output.status.code(),
        Some(0),
        "demo {args:?}: {}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "demo {args:?}: stdout is not one JSON value ({error}): {}",
            text(&output.stdout)
        )
    })
}

fn str_path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn a_wrong_flag_prints_the_usage_and_exits_2() {
    for args in [
        &["--no-such-flag"][..],
        &["--frame", "5"],
        &["stray-argument"],
    ] {
        let output = demo(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "demo {args:?}: {stderr}");
        assert!(stderr.contains("Usage: demo"), "demo {args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "demo {args:?}");
    }
}

#[test]
fn a_wrong_value_names_its_flag_and_exits_2() {
    for (args, flag) in [
        (&["--backend", "gpu"][..], "--backend"),
        (&["--frames", "0"], "--frames"),
        (&["--workers", "many"], "--workers"),
        (&["--particles=-5"], "--particles"),
        (&["--snapshot-every", "0"], "--snapshot-every"),
    ] {
        let output = demo(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "demo {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "demo {args:?}: {stderr}");
        assert!(stderr.contains(flag), "demo {args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "demo {args:?}");
    }
}

/// Without the cargo feature `window` there is no `--window` flag.
#[cfg(not(feature = "window"))]
#[test]
fn window_is_an_unknown_flag_without_the_feature() {
    let output = demo(&["--window", "--frames", "1"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'--window'"), "{stderr}");
    assert!(stderr.contains("Usage: demo"), "{stderr}");
}

/// With the feature and no display, `--window` fails with an error, not a panic.
#[cfg(feature = "window")]
#[test]
fn window_without_a_display_is_an_error_not_a_panic() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--window", "--frames", "1", "--particles", "100"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the demo binary runs");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: cannot open a window"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs the demo on a bad scene with `--out`: exit code 2, an error that starts with the scene's
/// path and then `says`, nothing on stdout, and the output folder neither created nor written.
/// Returns the error.
fn assert_refused(dir: &TempDir, scene: &Path, says: &str) -> String {
    let out = dir.path().join("out");
    let output = demo(&[
        "--scene",
        str_path(scene),
        "--out",
        str_path(&out),
        "--frames",
        "5",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let expected = format!("error: {}{says}", scene.display());
    assert!(
        stderr.starts_with(&expected),
        "expected `{expected}...`, got: {stderr}"
    );
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    assert!(!out.exists(), "{} was created", out.display());
    stderr
}

/// [`assert_refused`] on `SCENE` with `from` replaced by `to`, in a folder named for `test`.
fn assert_edit_refused(test: &str, from: &str, to: &str, says: &str) -> String {
    let dir = TempDir::new(test);
    let scene = dir.write("bad.toml", &scene_with(from, to));
    assert_refused(&dir, &scene, says)
}

#[test]
fn a_missing_scene_file_is_named_and_nothing_is_written() {
    let dir = TempDir::new("missing");
    let scene = dir.path().join("no-such-scene.toml");
    assert_refused(&dir, &scene, ": cannot read the scene file: ");
}

#[test]
fn malformed_toml_is_named_at_its_line_and_nothing_is_written() {
    assert_edit_refused("malformed", "[physics]", "[physics", ":13: ");
    assert_edit_refused("malformed", "rate = 40000", "rate = ", ":19: ");
}

#[test]
fn an_unknown_key_is_named_at_its_line_and_nothing_is_written() {
    let says = ":15: physics.drga: unknown field `drga`";
    assert_edit_refused("unknown", "drag = 0.1", "drga = 0.1", says);
}

#[test]
fn a_wrong_type_is_named_at_its_line_and_nothing_is_written() {
    let says = ":19: emitters[0].rate: invalid type: string";
    assert_edit_refused("type", "rate = 40000", "rate = \"fast\"", says);
}

#[test]
fn negative_and_absurd_counts_are_named_at_their_line_and_nothing_is_written() {
    for (count, says) in [
        ("-3", "between 1 and 2000000, got -3"),
        ("0", "between 1 and 2000000"),
        ("5000000", "got 5000000"),
        ("99999999999999999999", "99999999999999999999"),
    ] {
        let to = format!("max_particles = {count}");
        let stderr =
            assert_edit_refused("counts", "max_particles = 3000", &to, ":3: max_particles: ");
        assert!(stderr.contains(says), "{to}: {stderr}");
    }
    assert_edit_refused(
        "counts",
        "width = 96",
        "width = 100000",
        ":10: image.width: ",
    );
}

#[test]
fn a_bad_scene_leaves_an_existing_output_folder_empty() {
    let dir = TempDir::new("existing");
    let scene = dir.write("bad.toml", &scene_with("rate = 40000", "rate = -5"));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("create the output folder");
    let output = demo(&["--scene", str_path(&scene), "--out", str_path(&out)]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:19: emitters[0].rate: must be positive, got -5",
            scene.display()
        )),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&out).expect("still there").collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn json_prints_one_object_with_the_summary() {
    let dir = TempDir::new("json");
    let scene = dir.write("scene.toml", SCENE);
    let output = demo(&[
        "--scene",
        str_path(&scene),
        "--frames",
        "5",
        "--particles",
        "2000",
        "--workers",
        "2",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    // One line, one value: `from_str` refuses anything after the object.
    assert_eq!(stdout.trim_end().lines().count(), 1, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON value");
    let object = summary.as_object().expect("a JSON object");
    for key in [
        "backend",
        "workers",
        "frames",
        "particles",
        "completion_interval_ms",
        "submission_interval_ms",
        "fps",
        "jobs_per_frame",
        "utilization",
        "checksum",
    ] {
        assert!(object.contains_key(key), "no {key} in {stdout}");
    }
    assert_eq!(summary["backend"], "jobs");
    assert_eq!(summary["workers"], 2);
    assert_eq!(summary["frames"], 5);
    assert!(
        summary["particles"].as_u64().is_some_and(|n| n > 0),
        "{stdout}"
    );
    for key in ["fps", "jobs_per_frame"] {
        assert!(summary[key].as_f64().is_some_and(|x| x > 0.0), "{stdout}");
    }
    // Mean, 99th percentile and worst of the 4 intervals between 5 frames, in order.
    for key in ["completion_interval_ms", "submission_interval_ms"] {
        let figure = |name: &str| {
            summary[key][name]
                .as_f64()
                .unwrap_or_else(|| panic!("no {key}.{name} in {stdout}"))
        };
        let (mean, p99, worst) = (figure("mean"), figure("p99"), figure("worst"));
        assert!(0.0 < mean && mean <= worst && p99 <= worst, "{stdout}");
    }
    assert!(
        summary["utilization"]
            .as_f64()
            .is_some_and(|u| (0.0..=1.0).contains(&u)),
        "{stdout}"
    );
    let checksum = summary["checksum"].as_str().expect("a string");
    assert!(
        checksum.len() == 16 && checksum.bytes().all(|b| b.is_ascii_hexdigit()),
        "{checksum}"
    );
}

#[test]
fn every_backend_and_worker_count_gives_the_same_checksum() {
    let dir = TempDir::new("checksum");
    let scene = dir.write("scene.toml", SCENE);
    let base = ["--scene", str_path(&scene), "--frames", "8"];
    let run = |extra: &[&str]| summary(&[&base[..], extra].concat());
    let reference = run(&["--backend", "serial"]);
    assert!(reference["particles"].as_u64().is_some_and(|n| n > 500));
    for extra in [
        &["--backend", "jobs", "--workers", "1"][..],
        &["--backend", "jobs", "--workers", "3"],
        &["--backend", "rayon", "--workers", "1"],
        &["--backend", "rayon", "--workers", "3"],
    ] {
        let other = run(extra);
        assert_eq!(
            (&other["particles"], &other["checksum"]),
            (&reference["particles"], &reference["checksum"]),
            "{extra:?}"
        );
    }
}

#[test]
fn snapshots_are_pngs_of_the_scenes_image_size() {
    let dir = TempDir::new("snapshots");
    let scene = dir.write("scene.toml", SCENE);
    let out = dir.path().join("frames");
    let summary = summary(&[
        "--scene",
        str_path(&scene),
        "--out",
        str_path(&out),
        "--snapshot-every",
        "2",
        "--frames",
        "5",
        "--particles",
        "2000",
    ]);
    assert_eq!(summary["snapshots"], 3);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("the output folder")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["frame_00000.png", "frame_00002.png", "frame_00004.png"]
    );
    for name in &names {
        let file = std::fs::File::open(out.join(name)).expect("open");
        let mut reader = png::Decoder::new(file).read_info().expect("a PNG header");
        let mut pixels = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut pixels).expect("PNG data");
        assert_eq!((frame.width, frame.height), (96, 72), "{name}");
        // Not all one colour: the backdrop (ground, collider) and the particles are drawn.
        let first = &pixels[..4];
        assert!(
            pixels[..frame.buffer_size()]
                .chunks(4)
                .any(|pixel| pixel != first),
            "{name} is blank"
        );
    }
}

#[test]
fn every_asset_scene_runs() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    let mut scenes: Vec<PathBuf> = std::fs::read_dir(&assets)
        .expect("assets/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    scenes.sort();
    assert!(scenes.len() >= 3, "{scenes:?}");
    for scene in &scenes {
        let summary = summary(&[
            "--scene",
            str_path(scene),
            "--frames",
            "3",
            "--particles",
            "2000",
        ]);
        assert_eq!(summary["frames"], 3, "{}", scene.display());
        assert!(
            summary["particles"].as_u64().is_some_and(|n| n > 0),
            "{}: no particles",
            scene.display()
        );
    }
}

#[test]
fn trace_writes_a_chrome_trace_of_every_frame_and_its_passes() {
    let dir = TempDir::new("trace");
    let scene = dir.write("scene.toml", SCENE);
    let trace = dir.path().join("run.json");
    let s = summary(&[
        "--scene",
        str_path(&scene),
        "--frames",
        "12",
        "--workers",
        "2",
        "--trace",
        str_path(&trace),
    ]);
    assert_eq!(s["trace"]["file"], str_path(&trace));
    assert_eq!(s["trace"]["dropped_spans"], 0);
    assert_eq!(s["trace"]["frames"], 12);
    let text = std::fs::read_to_string(&trace).expect("the trace was written");
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let events = value["traceEvents"].as_array().expect("traceEvents");
    let spans: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(
        spans.len() as u64,
        s["trace"]["spans"].as_u64().expect("a count")
    );
    // Every pass of the demo's graph names jobs, and every job has its frame.
    for pass in [
        "count",
        "integrate",
        "collide",
        "bin",
        "prefix",
        "scatter",
        "neighbours",
        "render",
    ] {
        assert!(
            spans.iter().any(|e| e["name"] == pass),
            "no job span named {pass}"
        );
    }
    assert!(spans
        .iter()
        .all(|e| e["args"]["frame"].as_u64().is_some_and(|f| f < 12)));
    let frames = value["jobs"]["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 12);
    let graph = value["jobs"]["graph"].as_array().expect("graph");
    assert!(graph
        .iter()
        .any(|p| p["pass"] == "integrate" && p["after"][0] == "count"));
    assert!(!dir.path().join("run.json.partial").exists());
}

#[test]
fn trace_is_refused_without_the_job_system_or_a_folder_to_write_in() {
    let dir = TempDir::new("trace-refused");
    let scene = dir.write("scene.toml", SCENE);
    let trace = dir.path().join("run.json");
    let output = demo(&[
        "--scene",
        str_path(&scene),
        "--frames",
        "2",
        "--backend",
        "rayon",
        "--trace",
        str_path(&trace),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--trace") && stderr.contains("jobs"),
        "{stderr}"
    );
    assert!(!trace.exists());
    let missing = dir.path().join("no-such-folder").join("run.json");
    let output = demo(&[
        "--scene",
        str_path(&scene),
        "--frames",
        "2",
        "--trace",
        str_path(&missing),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-folder"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn background_jobs_are_refused_without_the_job_system_before_the_out_folder_is_made() {
    // It used to create --out, then refuse the background on the rayon backend.
    let dir = TempDir::new("background-refused");
    let scene = dir.write("scene.toml", SCENE);
    let out = dir.path().join("frames");
    let output = demo(&[
        "--scene",
        str_path(&scene),
        "--frames",
        "2",
        "--backend",
        "rayon",
        "--background-us",
        "100",
        "--out",
        str_path(&out),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--background-us") && stderr.contains("jobs"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is left behind");
    let output = demo(&["--scene", str_path(&scene), "--background-us", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--background-us"));
}

/// `SCENE` without `[interaction]`, with the view `max` (its `min` is `[-2.0, 0.0]`).
fn scene_without_interaction(max: &str) -> String {
    scene_with("[interaction]\nradius = 0.1\nrepulsion = 10.0\n", "")
        .replace("max = [2.0, 3.0]", &format!("max = {max}"))
}

#[test]
fn a_tall_narrow_view_is_refused_before_the_out_folder_is_made() {
    // 1 mm wide and 100 km tall: 128 columns and (saturated) 4.29e9 rows of cells, once
    // allocated after creating --out.
    let dir = TempDir::new("tall-view");
    let scene = dir.write(
        "tall.toml",
        &scene_without_interaction("[-1.999, 100000.0]"),
    );
    let stderr = assert_refused(&dir, &scene, ":5: view: a view ");
    assert!(stderr.contains("at most 4194304"), "{stderr}");
}

#[test]
fn particles_that_scale_a_rate_out_of_range_are_refused() {
    let dir = TempDir::new("particles-range");
    // Half a particle alive in steady state: --particles 1600000 scales the rate to 3.2e6/s.
    let sparse = scene_with("rate = 40000", "rate = 1").replace("[1.0, 2.0]", "[0.5, 0.5]");
    let scene = dir.write("sparse.toml", &sparse);
    let out = dir.path().join("out");
    let output = demo(&[
        "--scene",
        str_path(&scene),
        "--particles",
        "1600000",
        "--frames",
        "2",
        "--out",
        str_path(&out),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--particles 1600000 scales") && stderr.contains("emitters[0].rate"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// Runs the demo with `args` (a scene, 2 frames, and the output flags), which must exit with 2
/// before frame 0 saying `says`, and leave nothing at `untouched`.
fn assert_output_refused(args: &[&str], says: &str, untouched: &[&Path]) {
    let output = demo(&[&["--frames", "2"][..], args].concat());
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "demo {args:?}: {stderr}");
    assert!(stderr.contains(says), "demo {args:?}: {stderr}");
    assert!(!stderr.contains("frame "), "demo {args:?} ran: {stderr}");
    for path in untouched {
        assert!(!path.exists(), "demo {args:?} left {}", path.display());
    }
}

#[test]
fn output_paths_are_checked_before_frame_0_and_a_refusal_leaves_nothing() {
    let dir = TempDir::new("outputs");
    let scene = dir.write("scene.toml", SCENE);
    let scene = str_path(&scene);
    let out = dir.path().join("new").join("frames");
    let new = dir.path().join("new");
    let out = str_path(&out);
    let trace = dir.path().join("run.json");
    // --out used to be created before --trace was refused.
    assert_output_refused(
        &[
            "--scene",
            scene,
            "--backend",
            "rayon",
            "--trace",
            str_path(&trace),
            "--out",
            out,
        ],
        "--trace records the job system's jobs",
        &[&new, &trace],
    );
    // A trace that is a folder used to be found only after the whole run.
    assert_output_refused(
        &[
            "--scene",
            scene,
            "--trace",
            str_path(dir.path()),
            "--out",
            out,
        ],
        "it is a folder",
        &[&new],
    );
    // A trace where no file can be created (even by root).
    assert_output_refused(
        &[
            "--scene",
            scene,
            "--trace",
            "/proc/demo-trace.json",
            "--out",
            out,
        ],
        "cannot create a file in /proc",
        &[&new, Path::new("/proc/demo-trace.json")],
    );
    // An --out that cannot be created, or is a file.
    assert_output_refused(
        &["--scene", scene, "--out", "/proc/demo-out/frames"],
        "cannot create the folder",
        &[Path::new("/proc/demo-out")],
    );
    let file = dir.write("a-file", "");
    assert_output_refused(
        &["--scene", scene, "--out", str_path(&file.join("frames"))],
        "--out",
        &[],
    );
    assert_output_refused(
        &["--scene", scene, "--out", str_path(&file)],
        "not a folder",
        &[],
    );
    assert_eq!(std::fs::read(&file).expect("still a file"), b"");
}

/// A read-only folder refuses --out and --trace (where permissions apply: not to root).
#[cfg(unix)]
#[test]
fn a_read_only_folder_is_refused_before_frame_0() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("read-only");
    let scene = dir.write("scene.toml", SCENE);
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).expect("create");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let writable = std::fs::write(locked.join("probe"), "").is_ok();
    if writable {
        // Root ignores the permissions: /proc stands in for a read-only place above.
        eprintln!("skipped: this user writes into read-only folders");
    } else {
        let trace = locked.join("run.json");
        assert_output_refused(
            &["--scene", str_path(&scene), "--trace", str_path(&trace)],
            "cannot create a file in",
            &[&trace],
        );
        let out = locked.join("frames");
        assert_output_refused(
            &["--scene", str_path(&scene), "--out", str_path(&out)],
            "cannot create the folder",
            &[&out],
        );
        assert_output_refused(
            &["--scene", str_path(&scene), "--out", str_path(&locked)],
            "cannot write in the folder",
            &[],
        );
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
