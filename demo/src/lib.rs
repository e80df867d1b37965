//! The particle demo's library: what the `demo` binary loads before it simulates. For now that is
//! [`scene`], the scene files of `assets/` (a 2D side view: x to the right, y up, the ground at
//! y = 0; emitters, forces, colliders, the interaction between neighbouring particles, the
//! image to render) and their parser, which checks every value and reports a mistake with the
//! file, the line and the key it is at.

pub mod scene;
