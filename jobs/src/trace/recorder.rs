//! The recorder of one job system: its lanes, its switch, and the session being recorded.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::clock::{self, Anchor, Scale};
use super::lane::{Budget, Lane, RawSpan};
use super::{Event, EventKind, FrameRecord, GraphPass, LaneInfo, LaneKind, Span, Trace};
use crate::panic::Payload;
use crate::sync::lock;
use crate::{Label, Priority, Stats};

/// Lanes lent to threads outside the pool that run jobs while they wait (other than the main
/// thread, which has its own). A helper beyond these records nothing and counts its spans as
/// dropped.
const HELPER_LANES: usize = 4;

/// A job system's recorder: lanes per thread, written without locks while recording.
///
/// Reach it with [`JobSystem::recorder`](crate::JobSystem::recorder) to add what only the
/// program knows: frames ([`record_frame`](Self::record_frame)), the frame graph
/// ([`record_graph`](Self::record_graph)), notable moments ([`event`](Self::event),
/// [`message`](Self::message)). The `frame` crate does the first three for its frame loop.
///
/// ```
/// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
/// assert!(!system.recorder().is_recording());
/// system.start_recording()?;
/// system.recorder().message("level loaded");
/// let trace = system.stop_recording()?;
/// assert_eq!(trace.events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Recorder {
    /// Read by every job: on a line of its own, written only when recording starts or stops.
    on: CachePadded<AtomicBool>,
    lanes: Box<[Lane]>,
    info: Vec<LaneInfo>,
    workers: usize,
    io_threads: usize,
    budget: Budget,
    free_helpers: Mutex<Vec<u16>>,
    /// Spans of helper threads that found no free lane.
    laneless: AtomicU64,
    session: Mutex<Option<Session>>,
    graph: Mutex<Vec<GraphPass>>,
}

/// What a recording collects besides spans.
struct Session {
    start: Anchor,
    stats: Stats,
    frames: Vec<FrameRecord>,
    events: Vec<(Instant, Option<u16>, EventKind)>,
}

/// Why recording could not start or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingError {
    /// `start_recording` while a recording is under way.
    AlreadyRecording,
    /// `stop_recording` with no recording under way.
    NotRecording,
}

impl fmt::Display for RecordingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordingError::AlreadyRecording => "the job system is already recording",
            RecordingError::NotRecording => "the job system is not recording",
        })
    }
}

impl std::error::Error for RecordingError {}

impl Recorder {
    pub(crate) fn new(workers: usize, io_threads: usize, memory: usize) -> Recorder {
        clock::init();
        let mut info = Vec::new();
        info.extend((0..workers).map(|i| LaneInfo::new(LaneKind::Worker, i)));
        info.push(LaneInfo::new(LaneKind::Main, 0));
        info.extend((0..io_threads).map(|i| LaneInfo::new(LaneKind::Io, i)));
        info.extend((0..HELPER_LANES).map(|i| LaneInfo::new(LaneKind::Helper, i)));
        let first_helper = workers + 1 + io_threads;
        Recorder {
            on: CachePadded::new(AtomicBool::new(false)),
            lanes: info.iter().map(|_| Lane::new()).collect(),
            workers,
            io_threads,
            // A lane keeps its last chunk until it fills the next one: two per lane at least, so
            // that every lane can always go on once the recorder has collected.
            budget: Budget::new(Budget::chunks_for(memory).max(2 * info.len())),
            free_helpers: Mutex::new(
                (first_helper..first_helper + HELPER_LANES)
                    .rev()
                    .map(|i| i as u16)
                    .collect(),
            ),
            laneless: AtomicU64::new(0),
            info,
            session: Mutex::new(None),
            graph: Mutex::new(Vec::new()),
        }
    }

    /// Whether spans are being recorded now.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The lane of worker `index`.
    pub(crate) fn worker_lane(&self, index: usize) -> u16 {
        index as u16
    }

    /// The main thread's lane.
    pub(crate) fn main_lane(&self) -> u16 {
        self.workers as u16
    }

    /// The lane of I/O thread `index`.
    pub(crate) fn io_lane(&self, index: usize) -> u16 {
        (self.workers + 1 + index.min(self.io_threads.saturating_sub(1))) as u16
    }

    /// Lends a helper lane to the calling thread until [`give_back_helper`]; `None` if all are
    /// lent.
    ///
    /// [`give_back_helper`]: Self::give_back_helper
    pub(crate) fn borrow_helper(&self) -> Option<u16> {
        lock(&self.free_helpers).pop()
    }

    pub(crate) fn give_back_helper(&self, lane: u16) {
        lock(&self.free_helpers).push(lane);
    }

    /// Prepares lane `lane`'s next chunk while its writer is idle (see `Lane::prepare`), if
    /// recording.
    ///
    /// # Safety
    /// As [`push`](Self::push): the caller is the lane's writer.
    pub(crate) unsafe fn prepare(&self, lane: u16) {
        if self.is_recording() {
            // SAFETY: forwarded from the caller.
            unsafe { self.lanes[usize::from(lane)].prepare(&self.budget) };
        }
    }

    /// Appends a span to `lane`.
    ///
    /// # Safety
    /// The calling thread is `lane`'s only writer for now: the worker or I/O thread of that
    /// index, the main thread for the main lane, or the thread a helper lane is lent to.
    #[inline]
    pub(crate) unsafe fn push(&self, lane: u16, span: RawSpan) {
        // SAFETY: forwarded from the caller.
        unsafe { self.lanes[usize::from(lane)].push(span, &self.budget) };
    }

    /// Counts a span that had no lane to go to (every helper lane was lent).
    pub(crate) fn drop_span(&self) {
        self.laneless.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes a panic caught in a job with `label` on `lane`.
    pub(crate) fn job_panicked(&self, lane: Option<u16>, label: Label, panic: &Payload) {
        if !self.is_recording() {
            return;
        }
        let message = crate::panic::message_of(panic.as_ref());
        self.push_event(lane, EventKind::JobPanicked { label, message });
    }

    fn push_event(&self, lane: Option<u16>, kind: EventKind) {
        if let Some(session) = lock(&self.session).as_mut() {
            session.events.push((Instant::now(), lane, kind));
        }
    }

    /// Records a notable moment, now. Ignored when not recording.
    pub fn event(&self, kind: EventKind) {
        self.push_event(None, kind);
    }

    /// Records a message, now. Ignored when not recording.
    pub fn message(&self, text: impl Into<String>) {
        self.event(EventKind::Message(text.into()));
    }

    /// Records a completed frame (a frame loop calls this). Ignored when not recording.
    pub fn record_frame(&self, frame: FrameRecord) {
        if let Some(session) = lock(&self.session).as_mut() {
            session.frames.push(frame);
        }
    }

    /// Records the frame graph the frames run (kept across recordings; the last one recorded
    /// goes into every trace from then on).
    pub fn record_graph(&self, graph: Vec<GraphPass>) {
        *lock(&self.graph) = graph;
    }

    pub(crate) fn start(&self, stats: Stats) -> Result<(), RecordingError> {
        let mut session = lock(&self.session);
        if session.is_some() {
            return Err(RecordingError::AlreadyRecording);
        }
        // Spans left from an earlier recording (jobs that were running when it stopped) end
        // before this start and are discarded when this recording is collected.
        *session = Some(Session {
            start: Anchor::now(),
            stats,
            frames: Vec::new(),
            events: Vec::new(),
        });
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stops recording and collects the session; `stats` is the job system's statistics now.
    pub(crate) fn stop(&self, stats: Stats) -> Result<Trace, RecordingError> {
        // Held until the lanes are drained: a recording started meanwhile on another thread
        // would otherwise lose its first spans to this one.
        let mut guard = lock(&self.session);
        let session = guard.take().ok_or(RecordingError::NotRecording)?;
        self.on.store(false, Ordering::Relaxed);
        let stop = Anchor::now();
        let scale = Scale::new(session.start, stop);
        let window = stop
            .instant
            .saturating_duration_since(session.start.instant);
        let window_ns = window.as_nanos() as i64;
        let mut spans = Vec::new();
        let mut dropped = self.laneless.swap(0, Ordering::Relaxed);
        for (index, lane) in self.lanes.iter().enumerate() {
            dropped += lane.drain(&self.budget, |raw| {
                let end = scale.ticks_to_ns(raw.end);
                if end < 0 {
                    return; // from an earlier recording
                }
                let start = scale.ticks_to_ns(raw.start);
                spans.push(Span {
                    lane: index as u16,
                    label: raw.label,
                    priority: Priority::ALL[usize::from(raw.priority)],
                    frame: raw.in_frame.then_some(raw.frame),
                    start_ns: start.clamp(0, window_ns) as u64,
                    end_ns: end.clamp(0, window_ns) as u64,
                });
            });
        }
        let in_window = |at: Instant| at >= session.start.instant && at <= stop.instant;
        let frames = session
            .frames
            .into_iter()
            .filter(|f| in_window(f.start) && in_window(f.end))
            .collect();
        let events = session
            .events
            .into_iter()
            .map(|(at, lane, kind)| Event {
                at_ns: scale.instant_to_ns(at).max(0) as u64,
                lane,
                kind,
            })
            .collect();
        Ok(Trace {
            workers: self.workers,
            lanes: self.info.clone(),
            window,
            spans,
            dropped_spans: dropped,
            stats: stats.since(&session.stats),
            frames,
            graph: lock(&self.graph).clone(),
            events,
            origin: session.start.instant,
        })
    }
}
