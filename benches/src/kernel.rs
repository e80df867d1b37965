//! The compute-bound per-element kernel of `parallel_for`, the burst of `idle_cpu` and the
//! stages of `pipelined_frames`.

/// Eight rounds of `sin`, `sqrt`, multiplies and adds, about a hundred flops' worth, no memory
/// traffic besides the one write.
///
/// In a loop over elements the compiler vectorizes it four lanes wide (SSE2: `sqrtps`,
/// `mulps`, `addps`) and calls `sinf` once per lane; called one element at a time through a
/// closure it did not inline, it runs scalar (`sqrtss`), more than twice as slow. Every side
/// of `parallel_for` keeps the loop over elements in the code that calls `kernel` (see
/// `benches/README.md`).
///
/// ```
/// assert!((benches::kernel(0) - benches::kernel(4096)).abs() < f32::EPSILON);
/// ```
#[inline]
pub fn kernel(i: usize) -> f32 {
    let mut x = (i % 4096) as f32 * 1.0e-3;
    for _ in 0..8 {
        x = x.sin() * 0.5 + (x * x + 1.0).sqrt() * 0.25;
    }
    x
}
