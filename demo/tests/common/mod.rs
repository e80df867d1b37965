//! What the demo's integration tests share: a small scene that debug builds run fast, and a
//! run of it on a backend.

use std::path::Path;

use demo::run::{self, Backend, Options, Summary};
use demo::scene;
use demo::sim::World;

/// A small fountain (a few thousand particles, a small image) so that debug builds run it fast.
pub fn small_world(seed: u64) -> World {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/fountain.toml"
    ))
    .expect("the default scene exists");
    let mut scene = scene::parse(&text, Path::new("assets/fountain.toml")).expect("valid");
    scene.seed = seed;
    scene.image.width = 96;
    scene.image.height = 72;
    for emitter in &mut scene.emitters {
        emitter.rate = 3000.0;
    }
    scene.max_particles = 4000;
    World::new(scene)
}

/// A run of `frames` frames of `world` on `backend` with `workers` workers, writing nothing.
pub fn run(world: World, backend: Backend, workers: usize, frames: u64) -> Summary {
    let options = Options {
        backend,
        workers,
        frames,
        out: None,
        snapshot_every: 60,
        window: false,
        trace: None,
        background: None,
    };
    run::run(world, &options, &mut |_| {}).expect("runs")
}
