//! [`Context::join`](crate::Context::join): the half that may run on another thread (`b`)
//! captures only what is `Send` and returns what is `Send`; the two halves do not both borrow
//! one local mutably; neither half outlives `join` with a borrow (a half cannot smuggle a
//! borrow of the caller's stack into a detached job).

/// `b` may run on another thread: it captures only `Send` data.
///
/// ```compile_fail,E0277
/// use std::rc::Rc;
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let shared = Rc::new(1);
///     cx.join(|_| (), move |_| assert_eq!(*shared, 1));
/// }
/// ```
///
/// Compiles: `a` runs on the calling thread, so it may capture what is not `Send`.
///
/// ```
/// use std::rc::Rc;
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let shared = Rc::new(1);
///     cx.join(move |_| assert_eq!(*shared, 1), |_| ());
/// }
/// ```
mod b_captures_only_send {}

/// `b`'s result crosses back to the joining thread: it is `Send`.
///
/// ```compile_fail,E0277
/// use std::rc::Rc;
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let (_, b) = cx.join(|_| (), |_| Rc::new(1));
///     drop(b);
/// }
/// ```
///
/// Compiles: `a`'s result never leaves the thread.
///
/// ```
/// use std::rc::Rc;
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let (a, _) = cx.join(|_| Rc::new(1), |_| ());
///     drop(a);
/// }
/// ```
mod b_returns_only_send {}

/// The halves may run at the same time: they do not both borrow one local mutably.
///
/// ```compile_fail,E0499
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let mut hits = 0;
///     cx.join(|_| hits += 1, |_| hits += 1);
/// }
/// ```
///
/// Compiles: each half borrows its own part.
///
/// ```
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let mut hits = [0, 0];
///     let [left, right] = &mut hits;
///     cx.join(|_| *left += 1, |_| *right += 1);
/// }
/// ```
mod halves_do_not_share_a_mutable_borrow {}

/// A half cannot hand a borrow of the caller's stack to a detached job, which may outlive
/// `join`.
///
/// ```compile_fail,E0597
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let local = vec![1u32];
///     let borrowed = &local;
///     cx.join(|_| (), |cx| cx.spawn(move |_| assert_eq!(borrowed.len(), 1)));
/// }
/// ```
///
/// Compiles: the detached job owns what it uses.
///
/// ```
/// use jobs::Context;
/// fn split(cx: &mut Context<'_>) {
///     let local = vec![1u32];
///     cx.join(|_| (), move |cx| cx.spawn(move |_| assert_eq!(local.len(), 1)));
/// }
/// ```
mod halves_do_not_leak_borrows {}
