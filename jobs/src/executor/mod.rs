#![doc = include_str!("README.md")]

mod background;
mod children;
mod deque;
mod join;
mod latch;
mod local;
mod run;
mod spawner;
mod wait;
mod worker;

pub(crate) use background::BackgroundSlots;
pub(crate) use children::ChildCount;
pub(crate) use join::join;
pub(crate) use local::{
    deques, is_worker_of, runs_jobs_here, set_inbox_here, with_local, Local, LocalPtr, Stealers,
};
pub(crate) use run::run_steps;
pub use spawner::Spawner;
pub use wait::WaitOptions;
pub(crate) use wait::{help_for, help_until, run_pinned, WaitStop, MAX_HELPING_DEPTH};
pub(crate) use worker::worker_main;
