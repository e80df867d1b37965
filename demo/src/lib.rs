//! The particle demo's library: the scene files of `assets/` and their parser ([`scene`]), the
//! simulation's state and kernels ([`sim`]), rendering and PNG snapshots ([`render`]), the three
//! ways to run it frame after frame ([`run`]: the frame graph on our job system, rayon-core, one
//! thread), how frames are timed as a player sees them ([`timing`]: completions, not
//! submissions), the live window of `--window` ([`window`], cargo feature `window`), and a stream
//! of Low-priority background work beside the frames ([`background`], `--background-us`).
//!
//! The scene is a 2D side view: x to the right, y up, the ground at y = 0; emitters, forces,
//! colliders, the interaction between neighbouring particles, the image to render.

pub mod background;
pub mod render;
pub mod run;
pub mod scene;
pub mod sim;
pub mod timing;
pub mod window;
