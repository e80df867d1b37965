//! Scene files: the assets load, every class of mistake is reported at the right file, line and
//! key, and every size a scene implies is bounded. (Random mutations of the assets:
//! `scene_fuzz.rs`.)

use std::path::{Path, PathBuf};

use demo::scene::{self, Collider, Scene, SceneError};
use glam::{Vec2, Vec3};

/// A valid scene using every section, small enough to count its lines: the line numbers in the
/// tests below are the ones of this text.
const BASE: &str = r#"name = "test"
seed = 3
max_particles = 1000

[view]
min = [-1.0, 0.0]
max = [1.0, 2.0]

[image]
width = 64
height = 48

[physics]
gravity = [0.0, -9.81]
drag = 0.1

[[emitters]]
position = [0.0, 0.5]
rate = 100
direction = 90
speed = [1.0, 2.0]
lifetime = [1.0, 2.0]

[[emitters]]
position = [0.5, 0.5]
rate = 200
direction = 45
speed = [1.5, 2.5]
lifetime = [0.5, 1.5]
colour = [1.0, 0.5, 0.0]

[[attractors]]
position = [0.0, 1.5]
strength = -2.0
radius = 0.5

[[vortices]]
position = [0.5, 1.0]
strength = 3.0
radius = 0.4

[[colliders]]
kind = "circle"
center = [0.0, 1.0]
radius = 0.25

[[colliders]]
kind = "box"
min = [-0.5, 0.0]
max = [-0.25, 0.5]

[interaction]
radius = 0.05
repulsion = 1.0
viscosity = 0.1
"#;

const FILE: &str = "scene.toml";

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

/// BASE without `section`, and with `top` as its first lines (where a top-level key must go).
fn replace_section(section: &str, top: &str) -> String {
    assert_eq!(
        BASE.matches(section).count(),
        1,
        "{section:?} is not unique in BASE"
    );
    format!("{top}{}", BASE.replacen(section, "", 1))
}

/// The two `[[emitters]]` tables of BASE.
fn emitters() -> &'static str {
    let start = BASE.find("[[emitters]]").expect("an emitter");
    let end = BASE.find("[[attractors]]").expect("an attractor");
    &BASE[start..end]
}

/// BASE with its one occurrence of `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} is not unique in BASE"
    );
    BASE.replace(from, to)
}

fn error(text: &str) -> SceneError {
    match scene::parse(text, Path::new(FILE)) {
        Ok(scene) => panic!("expected an error, parsed {scene:?}"),
        Err(error) => error,
    }
}

/// The error of `text` is at `line` and `key`, and its message contains `says`.
#[track_caller]
fn assert_error(text: &str, line: Option<usize>, key: Option<&str>, says: &str) {
    let error = error(text);
    assert_eq!(error.file, Path::new(FILE), "{error}");
    assert_eq!(
        (error.line, error.key.as_deref()),
        (line, key),
        "wrong place: {error}"
    );
    assert!(
        error.message.contains(says),
        "{error} does not say {says:?}"
    );
}

#[test]
fn base_scene_parses_with_every_section() {
    let scene = scene::parse(BASE, Path::new(FILE)).expect("BASE is valid");
    assert_eq!(scene.name, "test");
    assert_eq!(scene.seed, 3);
    assert_eq!(scene.max_particles, 1000);
    assert_eq!((scene.image.width, scene.image.height), (64, 48));
    assert_eq!(scene.view.max, Vec2::new(1.0, 2.0));
    assert_eq!(scene.physics.gravity, Vec2::new(0.0, -9.81));
    assert_eq!(scene.emitters.len(), 2);
    assert_eq!(scene.emitters[1].colour, Vec3::new(1.0, 0.5, 0.0));
    assert_eq!(scene.emitters[1].speed.max, 2.5);
    assert_eq!(scene.attractors[0].strength, -2.0);
    assert_eq!(scene.vortices[0].radius, 0.4);
    assert_eq!(
        scene.colliders,
        vec![
            Collider::Circle {
                center: Vec2::new(0.0, 1.0),
                radius: 0.25
            },
            Collider::Box {
                min: Vec2::new(-0.5, 0.0),
                max: Vec2::new(-0.25, 0.5)
            },
        ]
    );
    assert_eq!(scene.interaction.map(|i| i.viscosity), Some(0.1));
}

#[test]
fn optional_keys_take_their_documented_defaults() {
    let text = r#"
        name = "minimal"
        seed = 0
        max_particles = 1
        view = { min = [0, 0], max = [1, 1] }
        image = { width = 16, height = 16 }
        physics = { gravity = [0, -1] }
        emitters = [{ position = [0, 0], rate = 1, direction = 0, speed = [0, 0], lifetime = [1, 1] }]
    "#;
    let scene = scene::parse(text, Path::new(FILE)).expect("minimal scene is valid");
    let physics = scene.physics;
    assert_eq!(
        (physics.drag, physics.restitution, physics.friction),
        (0.0, 0.3, 0.2)
    );
    let emitter = scene.emitters[0];
    assert_eq!(
        (emitter.width, emitter.spread, emitter.size),
        (0.0, 0.0, 1.0)
    );
    assert_eq!(emitter.colour, Vec3::ONE);
    assert!(scene.attractors.is_empty() && scene.vortices.is_empty());
    assert!(scene.colliders.is_empty());
    assert_eq!(scene.interaction, None);
}

#[test]
fn every_asset_loads() {
    let mut scenes: Vec<Scene> = Vec::new();
    for entry in std::fs::read_dir(assets()).expect("assets/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            match scene::load(&path) {
                Ok(scene) => scenes.push(scene),
                Err(error) => panic!("{error}"),
            }
        }
    }
    assert!(scenes.len() >= 3, "only {} scenes in assets/", scenes.len());
    let mut names: Vec<&str> = scenes.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), scenes.len(), "scene names repeat: {names:?}");
    for scene in &scenes {
        assert!(
            scene.steady_particles() <= scene.max_particles as f64,
            "{}: {} particles alive in steady state, capacity {}",
            scene.name,
            scene.steady_particles(),
            scene.max_particles
        );
    }
}

#[test]
fn the_default_scene_keeps_30k_to_60k_particles_alive() {
    // fountain.toml: 14,000/s x 3 s mean lifetime = 42,000 alive, within its capacity.
    let scene = scene::load(&assets().join("fountain.toml")).unwrap_or_else(|e| panic!("{e}"));
    let alive = scene.steady_particles();
    assert!((30_000.0..=60_000.0).contains(&alive), "{alive}");
    assert!(alive <= scene.max_particles as f64, "{alive}");
    assert_eq!(scene.emitters.len(), 1);
    assert!(
        scene.interaction.is_some(),
        "the default scene uses the neighbour grid"
    );
}

#[test]
fn missing_file_says_so_with_the_os_error() {
    let path = Path::new("no/such/dir/scene.toml");
    let error = scene::load(path).unwrap_err();
    assert_eq!(
        (error.file.as_path(), error.line, error.key.as_deref()),
        (path, None, None)
    );
    let expected = std::io::Error::from(std::io::ErrorKind::NotFound).to_string();
    assert!(error.message.contains("cannot read"), "{error}");
    assert!(error.message.contains("os error"), "{error}: no OS error");
    assert!(
        error
            .to_string()
            .starts_with("no/such/dir/scene.toml: cannot read the scene file: "),
        "{error} ({expected})"
    );
}

#[test]
fn malformed_toml_gives_the_line() {
    assert_error(&edit("rate = 100", "rate = "), Some(19), None, "");
    assert_error(&edit("[physics]", "[physics"), Some(13), None, "");
    assert_error(&edit("name = \"test\"", "name = \"test"), Some(1), None, "");
    // A key given twice.
    assert_error(
        &edit("drag = 0.1", "drag = 0.1\ndrag = 0.2"),
        Some(16),
        None,
        "duplicate key `drag`",
    );
}

#[test]
fn unknown_keys_are_named_at_their_line() {
    assert_error(
        &edit("drag = 0.1", "drga = 0.1"),
        Some(15),
        Some("physics.drga"),
        "unknown field `drga`",
    );
    assert_error(
        &edit("colour = [1.0, 0.5, 0.0]", "color = [1.0, 0.5, 0.0]"),
        Some(30),
        Some("emitters[1].color"),
        "unknown field `color`",
    );
    assert_error(
        &format!("{BASE}[wind]\nspeed = 3\n"),
        Some(56),
        Some("wind"),
        "unknown",
    );
    assert_error(
        &edit("seed = 3", "seed = 3\nparticles = 5"),
        Some(3),
        Some("particles"),
        "unknown field `particles`",
    );
    // A key that belongs to the other kind of collider.
    assert_error(
        &edit("radius = 0.25", "radius = 0.25\nmin = [0, 0]"),
        Some(46),
        Some("colliders[0].min"),
        "unknown field `min`",
    );
}

#[test]
fn wrong_types_are_named_at_their_line() {
    assert_error(
        &edit("rate = 200", "rate = \"fast\""),
        Some(26),
        Some("emitters[1].rate"),
        "invalid type: string",
    );
    assert_error(
        &edit("gravity = [0.0, -9.81]", "gravity = [0.0, \"down\"]"),
        Some(14),
        Some("physics.gravity"),
        "invalid type",
    );
    assert_error(
        &edit("gravity = [0.0, -9.81]", "gravity = [0.0]"),
        Some(14),
        Some("physics.gravity"),
        "invalid length",
    );
    assert_error(
        &edit("seed = 3", "seed = 3.5"),
        Some(2),
        Some("seed"),
        "invalid type",
    );
    assert_error(
        &edit("name = \"test\"", "name = 7"),
        Some(1),
        Some("name"),
        "invalid type",
    );
    assert_error(
        &replace_section("[image]\nwidth = 64\nheight = 48\n", "image = 5\n"),
        Some(1),
        Some("image"),
        "invalid type",
    );
    assert_error(
        &edit("radius = 0.25", "radius = \"big\""),
        Some(45),
        Some("colliders[0].radius"),
        "invalid type",
    );
    assert_error(
        &edit("kind = \"box\"", "kind = \"triangle\""),
        Some(48),
        Some("colliders[1].kind"),
        "unknown variant `triangle`",
    );
}

#[test]
fn missing_required_keys_are_named() {
    // At the top level: the top-level table starts at line 1.
    assert_error(
        &edit("seed = 3\n", ""),
        Some(1),
        Some("seed"),
        "missing field `seed`",
    );
    assert_error(
        &replace_section(emitters(), ""),
        Some(1),
        Some("emitters"),
        "missing field `emitters`",
    );
    // In a table: the line of the table's header.
    assert_error(
        &edit("gravity = [0.0, -9.81]\n", ""),
        Some(13),
        Some("physics.gravity"),
        "missing field `gravity`",
    );
    assert_error(
        &edit("rate = 200\n", ""),
        Some(24),
        Some("emitters[1].rate"),
        "missing field `rate`",
    );
    assert_error(
        &edit("radius = 0.25\n", ""),
        Some(42),
        Some("colliders[0].radius"),
        "missing field `radius`",
    );
    assert_error(
        &edit("kind = \"box\"\n", ""),
        Some(47),
        Some("colliders[1].kind"),
        "missing field `kind`",
    );
}

#[test]
fn bad_values_point_at_the_value() {
    let error = error(&edit("rate = 200", "rate = -5"));
    assert_eq!(
        error.to_string(),
        "scene.toml:26: emitters[1].rate: must be positive, got -5"
    );
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        ("name = \"test\"", "name = \"  \"", 1, "name", "empty"),
        (
            "max_particles = 1000",
            "max_particles = 0",
            3,
            "max_particles",
            "between 1 and 2000000",
        ),
        (
            "max_particles = 1000",
            "max_particles = 5000000",
            3,
            "max_particles",
            "got 5000000",
        ),
        (
            "max_particles = 1000",
            "max_particles = -3",
            3,
            "max_particles",
            "between 1 and 2000000, got -3",
        ),
        (
            "seed = 3",
            "seed = -1",
            2,
            "seed",
            "between 0 and 9223372036854775807, got -1",
        ),
        (
            "max = [1.0, 2.0]",
            "max = [-1.0, 2.0]",
            7,
            "view.max",
            "greater than min",
        ),
        (
            "width = 64",
            "width = 8",
            10,
            "image.width",
            "between 16 and 4096",
        ),
        (
            "height = 48",
            "height = 100000",
            11,
            "image.height",
            "got 100000",
        ),
        (
            "drag = 0.1",
            "drag = -0.1",
            15,
            "physics.drag",
            "must not be negative",
        ),
        (
            "drag = 0.1",
            "restitution = 1.5",
            15,
            "physics.restitution",
            "between 0 and 1",
        ),
        (
            "drag = 0.1",
            "friction = -1",
            15,
            "physics.friction",
            "between 0 and 1",
        ),
        (
            "rate = 100",
            "rate = 0",
            19,
            "emitters[0].rate",
            "must be positive, got 0",
        ),
        (
            "rate = 100",
            "rate = 1e30",
            19,
            "emitters[0].rate",
            "absurdly large",
        ),
        (
            "direction = 45",
            "direction = 45\nspread = 400",
            28,
            "emitters[1].spread",
            "got 400",
        ),
        (
            "direction = 45",
            "direction = 45\nwidth = -2",
            28,
            "emitters[1].width",
            "negative",
        ),
        (
            "speed = [1.5, 2.5]",
            "speed = [-1, 2.5]",
            28,
            "emitters[1].speed",
            "min must not be negative",
        ),
        (
            "speed = [1.5, 2.5]",
            "speed = [3, 2.5]",
            28,
            "emitters[1].speed",
            "min must not exceed max",
        ),
        (
            "lifetime = [0.5, 1.5]",
            "lifetime = [0, 1.5]",
            29,
            "emitters[1].lifetime",
            "min must be positive",
        ),
        (
            "colour = [1.0, 0.5, 0.0]",
            "colour = [1.0, 2.0, 0.0]",
            30,
            "emitters[1].colour",
            "between 0 and 1, got 2",
        ),
        (
            "colour = [1.0, 0.5, 0.0]",
            "size = 0",
            30,
            "emitters[1].size",
            "positive",
        ),
        (
            "colour = [1.0, 0.5, 0.0]",
            "size = 100",
            30,
            "emitters[1].size",
            "between 0 and 32",
        ),
        (
            "strength = -2.0",
            "strength = -2e7",
            34,
            "attractors[0].strength",
            "absurdly large",
        ),
        (
            "radius = 0.5",
            "radius = -0.5",
            35,
            "attractors[0].radius",
            "positive",
        ),
        (
            "radius = 0.4",
            "radius = 0",
            40,
            "vortices[0].radius",
            "positive",
        ),
        (
            "radius = 0.25",
            "radius = -1",
            45,
            "colliders[0].radius",
            "positive",
        ),
        (
            "max = [-0.25, 0.5]",
            "max = [-0.25, -0.5]",
            50,
            "colliders[1].max",
            "greater than min",
        ),
        (
            "radius = 0.05",
            "radius = 0.0001",
            53,
            "interaction.radius",
            "too small for the view",
        ),
        (
            "repulsion = 1.0",
            "repulsion = -1.0",
            54,
            "interaction.repulsion",
            "negative",
        ),
        (
            "viscosity = 0.1",
            "viscosity = 1.1",
            55,
            "interaction.viscosity",
            "between 0 and 1",
        ),
    ];
    for &(from, to, line, key, says) in cases {
        assert_error(&edit(from, to), Some(line), Some(key), says);
    }
    assert_error(
        &replace_section(emitters(), "emitters = []\n"),
        Some(1),
        Some("emitters"),
        "at least one emitter",
    );
}

#[test]
fn nan_and_infinity_are_refused() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "gravity = [0.0, -9.81]",
            "gravity = [0.0, nan]",
            14,
            "physics.gravity",
        ),
        ("min = [-1.0, 0.0]", "min = [-inf, 0.0]", 6, "view.min"),
        ("rate = 100", "rate = inf", 19, "emitters[0].rate"),
        (
            "direction = 90",
            "direction = nan",
            20,
            "emitters[0].direction",
        ),
        (
            "speed = [1.0, 2.0]",
            "speed = [1.0, inf]",
            21,
            "emitters[0].speed",
        ),
        (
            "strength = 3.0",
            "strength = -nan",
            39,
            "vortices[0].strength",
        ),
        (
            "center = [0.0, 1.0]",
            "center = [nan, 1.0]",
            44,
            "colliders[0].center",
        ),
    ];
    for &(from, to, line, key) in cases {
        assert_error(
            &edit(from, to),
            Some(line),
            Some(key),
            "must be a finite number",
        );
    }
    // Too large for an f32, or too small: reported as written, not as what an f32 makes of it.
    assert_error(
        &edit("drag = 0.1", "drag = 1e300"),
        Some(15),
        Some("physics.drag"),
        "1e300 is absurdly large",
    );
    assert_error(
        &edit("drag = 0.1", "drag = 1e-300"),
        Some(15),
        Some("physics.drag"),
        "1e-300 is too close to 0",
    );
}

#[test]
fn inline_tables_are_placed_too() {
    let text = replace_section(
        "[physics]\ngravity = [0.0, -9.81]\ndrag = 0.1\n",
        "physics = { gravity = [0.0, -9.81], drag = -3 }\n",
    );
    assert_error(&text, Some(1), Some("physics.drag"), "negative");
    let text = replace_section(emitters(), "emitters = [{ position = [0, 0] }]\n");
    assert_error(
        &text,
        Some(1),
        Some("emitters[0].rate"),
        "missing field `rate`",
    );
    let text = format!("{BASE}\n[[colliders]]\nkind = \"box\"\nmin = [0, 0]\nmax = {{ x = 1 }}\n");
    assert_error(
        &text,
        Some(60),
        Some("colliders[2].max"),
        "invalid type: a table",
    );
}

#[test]
fn arrays_with_extra_or_missing_elements_are_named_at_their_line() {
    // Extra elements used to be dropped without a word.
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (
            "gravity = [0.0, -9.81]",
            "gravity = [0, -9.81, 1]",
            14,
            "physics.gravity",
            "invalid length 3, expected 2 numbers [x, y]",
        ),
        (
            "colour = [1.0, 0.5, 0.0]",
            "colour = [1.0, 0.5, 0.0, 1.0]",
            30,
            "emitters[1].colour",
            "invalid length 4, expected 3 numbers [r, g, b]",
        ),
        (
            "position = [0.0, 0.5]",
            "position = [0, 0.3, \"x\"]",
            18,
            "emitters[0].position",
            "invalid length 3",
        ),
        (
            "speed = [1.0, 2.0]",
            "speed = [1.0, 2.0, 3.0]",
            21,
            "emitters[0].speed",
            "expected 2 numbers [min, max]",
        ),
        (
            "center = [0.0, 1.0]",
            "center = [0.0, 1.0, 2.0]",
            44,
            "colliders[0].center",
            "invalid length 3",
        ),
        (
            "colour = [1.0, 0.5, 0.0]",
            "colour = [1.0, 0.5]",
            30,
            "emitters[1].colour",
            "invalid length 2, expected 3",
        ),
        // The extra element on a line of its own is the line reported.
        (
            "max = [1.0, 2.0]",
            "max = [\n  1.0,\n  2.0,\n  3.0,\n]",
            10,
            "view.max",
            "invalid length 3",
        ),
    ];
    for &(from, to, line, key, says) in cases {
        assert_error(&edit(from, to), Some(line), Some(key), says);
    }
}

#[test]
fn invalid_utf8_is_named_at_its_line() {
    let path = std::env::temp_dir().join(format!("demo-scene-utf8-{}.toml", std::process::id()));
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("rate = 100").expect("a rate") + "rate = ".len();
    bytes.insert(at, 0xff);
    std::fs::write(&path, &bytes).expect("write the scene");
    let error = scene::load(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert_eq!(error.line, Some(19), "{error}");
    assert!(error.message.contains("not UTF-8: byte 0xff"), "{error}");
}

#[test]
fn a_file_too_large_for_a_scene_is_refused_unread() {
    let path = std::env::temp_dir().join(format!("demo-scene-large-{}.toml", std::process::id()));
    // Valid TOML (comments) after a valid scene: only its size is wrong.
    let comments = "# padding\n".repeat(scene::MAX_FILE_BYTES / 10 + 1);
    std::fs::write(&path, format!("{BASE}{comments}")).expect("write the scene");
    let error = scene::load(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert_eq!((error.line, error.key.as_deref()), (None, None), "{error}");
    assert!(
        error.message.contains("larger than 1048576 bytes"),
        "{error}"
    );
}

/// BASE without `[interaction]` and with the view `min`..`max`.
fn view_without_interaction(min: &str, max: &str) -> String {
    replace_section(
        "[interaction]\nradius = 0.05\nrepulsion = 1.0\nviscosity = 0.1\n",
        "",
    )
    .replace(
        "min = [-1.0, 0.0]\nmax = [1.0, 2.0]",
        &format!("min = {min}\nmax = {max}"),
    )
}

#[test]
fn a_tall_narrow_view_without_interaction_is_refused() {
    // 128 columns of 1/256 m over 1 km: 128 x 256,000 cells (used to be allocated).
    assert_error(
        &view_without_interaction("[0.0, 0.0]", "[0.5, 1000.0]"),
        Some(5),
        Some("view"),
        "needs 128 x 256000 = 32768000 grid cells without [interaction]",
    );
    // So tall that the rows saturated a u32 before.
    let error = error(&view_without_interaction("[0.0, 0.0]", "[1e-5, 1e5]"));
    assert!(error.message.contains("at most 4194304"), "{error}");
    assert!(error.message.contains("at most 256 times"), "{error}");
    // At the bound: 128 x 32768 cells.
    let text = view_without_interaction("[0.0, 0.0]", "[1.0, 256.0]");
    scene::parse(&text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert_error(
        &view_without_interaction("[0.0, 0.0]", "[1.0, 256.1]"),
        Some(5),
        Some("view"),
        "128 x 32781",
    );
}

#[test]
fn lists_longer_than_the_bound_are_refused_at_the_first_one_too_many() {
    let emitter = "[[emitters]]\nposition = [0.0, 0.5]\nrate = 1\ndirection = 0\nspeed = [1, 1]\nlifetime = [1, 1]\n";
    let text = format!("{BASE}{}", emitter.repeat(scene::MAX_ITEMS - 2));
    let scene = scene::parse(&text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scene.emitters.len(), scene::MAX_ITEMS);
    // BASE has 55 lines, each emitter 6: emitters[64], the 63rd added, starts at 55 + 62 * 6 + 1.
    assert_error(
        &format!("{BASE}{}", emitter.repeat(scene::MAX_ITEMS - 1)),
        Some(55 + 62 * 6 + 1),
        Some("emitters[64]"),
        "at most 64 emitters in a scene, got 65",
    );
    let collider = "[[colliders]]\nkind = \"circle\"\ncenter = [0, 0]\nradius = 1\n";
    let error = error(&format!("{BASE}{}", collider.repeat(scene::MAX_ITEMS)));
    assert_eq!(error.key.as_deref(), Some("colliders[64]"), "{error}");
}

#[test]
fn a_scene_changed_in_code_is_checked_before_the_run_allocates() {
    let scene = scene::parse(BASE, Path::new(FILE)).expect("BASE is valid");
    let options = demo::run::Options {
        backend: demo::run::Backend::Serial,
        workers: 1,
        frames: 1,
        out: None,
        snapshot_every: 1,
        window: false,
        trace: None,
        background: None,
    };
    type Change = fn(&mut Scene);
    let changes: [(&str, Change); 4] = [
        (
            "max_particles: must be between 1 and 2000000, got 1099511627776",
            |s| s.max_particles = 1 << 40,
        ),
        (
            "image.width: must be between 16 and 4096 pixels, got 4294967295",
            |s| s.image.width = u32::MAX,
        ),
        ("interaction.radius: 1e-30 is too small for the view", |s| {
            if let Some(i) = &mut s.interaction {
                i.radius = 1e-30;
            }
        }),
        (
            "view: a view 0.0009765625 m wide and 2 m tall needs 128 x 262144",
            |s| {
                s.interaction = None;
                s.view.max.x = s.view.min.x + 0.0009765625;
            },
        ),
    ];
    for (says, change) in changes {
        let mut changed = scene.clone();
        change(&mut changed);
        let world = demo::sim::World::new(changed);
        let error = demo::run::run(world, &options, &mut |_| {}).unwrap_err();
        assert!(error.contains(says), "{error} does not say {says:?}");
    }
    // A world whose grid is not its scene's any more.
    let mut world = demo::sim::World::new(scene);
    world.grid.rows = u32::MAX;
    let error = demo::run::run(world, &options, &mut |_| {}).unwrap_err();
    assert!(error.contains("not its scene's"), "{error}");
}

#[test]
fn numbers_in_every_toml_spelling_are_read() {
    let text = edit("max_particles = 1000", "max_particles = 1_000")
        .replace("width = 64", "width = 0x40")
        .replace("seed = 3", "seed = 0o3")
        .replace("height = 48", "height = 0b110000")
        .replace("rate = 100", "rate = 1_00.0")
        .replace("direction = 90", "direction = +9e1");
    let scene = scene::parse(&text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((scene.max_particles, scene.seed), (1000, 3));
    assert_eq!((scene.image.width, scene.image.height), (64, 48));
    assert_eq!(
        (scene.emitters[0].rate, scene.emitters[0].direction),
        (100.0, 90.0)
    );
}

/// A scene path that never ends (a device, a pipe) is read only up to the bound: under a
/// watchdog, since it used to be read to the end, growing until memory ran out.
#[cfg(unix)]
#[test]
fn an_endless_file_is_refused_after_the_bound() {
    let (done, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(scene::load(Path::new("/dev/zero")));
    });
    let result = answer
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("load answers within 30 s");
    let error = result.unwrap_err();
    assert_eq!(error.line, None, "{error}");
    assert!(
        error.message.contains("larger than 1048576 bytes"),
        "{error}"
    );
}
