//! `loom` models of the sleep protocol: every interleaving of a worker going to sleep with a
//! publisher pushing work, and of shutdown. A lost wake-up shows up as a deadlock, which loom
//! reports.

use super::{Sleep, Wake};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// One worker looks for work, finds none, sleeps; a publisher pushes one job and notifies. The
/// worker must end up with the job.
#[test]
fn no_lost_wake_up() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let queue = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (sleep, queue) = (sleep.clone(), queue.clone());
            thread::spawn(move || {
                sleep.start_looking();
                loop {
                    if queue.swap(0, Ordering::Relaxed) == 1 {
                        sleep.stop_looking();
                        return;
                    }
                    let wake = sleep.sleep(0, || queue.load(Ordering::Relaxed) == 1, || true);
                    assert_eq!(wake, Wake::Look);
                }
            })
        };
        queue.store(1, Ordering::Relaxed);
        sleep.notify(1);
        worker.join().unwrap();
    });
}

/// Two sleepers, two jobs published one at a time: both jobs get taken.
#[test]
fn every_job_wakes_a_worker() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let queue = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|me| {
                let (sleep, queue) = (sleep.clone(), queue.clone());
                thread::spawn(move || {
                    sleep.start_looking();
                    loop {
                        let n = queue.load(Ordering::Relaxed);
                        if n > 0
                            && queue
                                .compare_exchange(n, n - 1, Ordering::Relaxed, Ordering::Relaxed)
                                .is_ok()
                        {
                            sleep.stop_looking();
                            return;
                        }
                        sleep.sleep(me, || queue.load(Ordering::Relaxed) > 0, || true);
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            queue.fetch_add(1, Ordering::Relaxed);
            sleep.notify(1);
        }
        for w in workers {
            w.join().unwrap();
        }
    });
}

/// Shutdown while a worker is asleep or going to sleep: it always exits.
#[test]
fn terminate_wakes_sleepers() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let worker = {
            let sleep = sleep.clone();
            thread::spawn(move || {
                sleep.start_looking();
                while sleep.sleep(0, || false, || true) != Wake::Done {}
            })
        };
        sleep.terminate();
        worker.join().unwrap();
        assert!(sleep.is_done());
    });
}
