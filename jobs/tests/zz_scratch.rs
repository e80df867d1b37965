//! scratch
mod common;
use common::*;
use jobs::*;

#[test]
fn heap_overflow() {
    let s = system(1);
    let _a = s.heap().allocate_bytes(Tag(1), 16, 16).unwrap();
    let r = s.heap().allocate_bytes(Tag(1), usize::MAX - 8, 1);
    eprintln!("{:?}", r.map(|b| b.len()));
}

#[test]
fn memory_action_overflow() {
    watchdog(5, || {
    let s = system(1);
    let _a = s.heap().allocate_bytes(Tag(1), 16, 16).unwrap();
    let c = Counter::new();
    s.submit_counted(&c, Job::new((), |_, _| Action::Memory(MemoryRequest{tag: Tag(1), size: usize::MAX, align: 1}, |_, _, r| { eprintln!("got {:?}", r.map(|b| b.len())); Action::Done })));
    let t = std::time::Instant::now();
    while !c.is_zero() && t.elapsed().as_secs() < 2 { std::thread::sleep(std::time::Duration::from_millis(1)); }
    eprintln!("counter {:?}, stats {:?}", c, s.stats().workers);
    let c2 = Counter::new();
    s.submit_counted(&c2, Job::from_fn(|_| {}));
    let t = std::time::Instant::now();
    while !c2.is_zero() && t.elapsed().as_secs() < 2 { std::thread::sleep(std::time::Duration::from_millis(1)); }
    eprintln!("worker alive? {}", c2.is_zero());
    });
}
