//! Compile-fail doctests pinning every borrow promise of the frame graph's public API, in the
//! manner of rayon-core's `compile_fail` suite. Only built for `cargo test --doc`
//! (`cfg(doctest)`), so none of it is in the documentation or the library.
//!
//! Each case is an empty module whose doc comment holds a ```` ```compile_fail,E0xxx ```` doctest
//! with the exact error code rustc gives for the broken promise, then the nearest program that
//! does compile, so that a case cannot pass for an unrelated reason (a typo, a missing import,
//! an API renamed).
//!
//! Rustdoc checks the error codes only on a nightly toolchain: on stable a case only has to
//! fail to compile, and the program beside it is the guard. To check the codes too:
//! `cargo +nightly test -p frame --doc compile_fail` (or `RUSTC_BOOTSTRAP=1` on stable).
//!
//! The promises, one file each:
//! - [`escape`]: the `&T` / `&mut T` a pass gets lives for one run of the pass: it does not
//!   escape into a `static`, the closure's own state, a step pass's state, or a detached job.
//! - [`aliasing`]: what a pass gets is exactly as exclusive as declared: a read gives `&T`
//!   only; a write is reached once per run; two children do not both borrow it mutably.
//! - [`threads`]: resources, pass bodies and step-pass states are `Send`; what is read (by
//!   passes that may run at once, or shared by children) is `Sync`; a
//!   [`PassContext`](crate::PassContext) stays on its thread.
//! - [`bodies`]: pass bodies and step-pass states are `'static`; children of a pass borrow the
//!   resources and nothing of the body's own stack; a step of a step pass is a `fn` pointer.
//! - [`main_thread`]: what [`Frames`](crate::Frames) lends the main thread (a resource, a
//!   frame's per-frame input, the newest completed frame's state, what a
//!   [`GameLoop`](crate::GameLoop)'s turn lends) is given back before the next frame starts.
//! - [`handles`]: a handle ([`Res`](crate::Res)) is typed, and gives no access by itself.

mod aliasing;
mod bodies;
mod escape;
mod handles;
mod main_thread;
mod threads;
