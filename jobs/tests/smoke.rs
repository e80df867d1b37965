use jobs::{Config, Counter, Job, JobSystem};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn smoke() {
    let system = JobSystem::new(Config::default().workers(2)).unwrap();
    let c = Counter::new();
    let hits = Arc::new(AtomicUsize::new(0));
    for _ in 0..1000 {
        let h = hits.clone();
        system.submit_counted(&c, Job::from_fn(move |_| { h.fetch_add(1, Ordering::Relaxed); }));
    }
    system.wait(&c).unwrap();
    assert_eq!(hits.load(Ordering::Relaxed), 1000);
    let n = AtomicUsize::new(0);
    system.parallel_for(0..100_000, jobs::Grain::Auto, |_| { n.fetch_add(1, Ordering::Relaxed); }).unwrap();
    assert_eq!(n.load(Ordering::Relaxed), 100_000);
}
