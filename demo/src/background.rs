//! Background work: a steady stream of Low-priority jobs of a fixed length that would fill every
//! idle moment of the workers (streaming, decompression, AI planning in a real game), to show
//! that the job system's priorities keep it from hurting frames: a frame's jobs wait at most for
//! one background job to end, never behind the stream. The job system runs Low jobs on at most
//! `Config::low_priority_threads` threads at once (all but one by default), so one stream per
//! thread keeps those busy and the frame always finds one thread free.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::{Action, Context, Counter, Job, JobSystem, Priority};

/// A stream of Low-priority jobs running beside the frames until [`Background::stop`].
pub struct Background {
    stop: Arc<AtomicBool>,
    done: Counter,
}

/// One background job's state: it runs `length`, then yields (to the back of the Low queue,
/// behind nothing of a higher priority) and runs again, until stopped.
struct Chunk {
    length: Duration,
    stop: Arc<AtomicBool>,
}

fn work(chunk: &mut Chunk, _: &mut Context<'_>) -> Action<Chunk> {
    if chunk.stop.load(Ordering::Relaxed) {
        return Action::Done;
    }
    let end = Instant::now() + chunk.length;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
    Action::Yield(work)
}

impl Background {
    /// Starts `streams` background jobs of `length` each on `system`: with one per thread that
    /// runs jobs, every idle moment of the threads allowed to run Low jobs has one to run.
    ///
    /// ```
    /// use std::time::Duration;
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// let background = demo::background::Background::start(&system, 2, Duration::from_micros(100));
    /// std::thread::sleep(Duration::from_millis(5));
    /// background.stop(&system)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(system: &JobSystem, streams: usize, length: Duration) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let done = system.counter();
        for _ in 0..streams {
            let chunk = Chunk {
                length,
                stop: Arc::clone(&stop),
            };
            system.submit_counted(&done, Job::new(chunk, work).with_priority(Priority::Low));
        }
        Background { stop, done }
    }

    /// Stops the stream and waits for its jobs to end (each ends after its current run).
    pub fn stop(self, system: &JobSystem) -> Result<(), jobs::JobPanic> {
        self.stop.store(true, Ordering::Relaxed);
        system.wait(&self.done)
    }
}
