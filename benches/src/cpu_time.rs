//! CPU time: of some threads of this process, and of the whole machine (Linux; 0 elsewhere).
//!
//! `idle_cpu` reads the pools' threads, `pipelined_frames` reads all of ours and the machine's
//! busy time, to tell the frame graph's doing from another process's.

use std::fs;

/// CPU time, in nanoseconds, consumed so far by the live threads of this process whose names
/// start with `prefix`.
///
/// Each thread is read through its own CPU-time clock (`clock_gettime` on the per-thread clock
/// id that glibc's `pthread_getcpuclockid` builds from the thread id), which the kernel brings up
/// to date even for a thread running at that moment; the threads are found, with their names,
/// in `/proc/self/task`. Where that clock cannot be read, `/proc/self/task/*/schedstat` is used
/// (nanoseconds, but up to a tick stale for a running thread). Linux only; 0 elsewhere.
pub fn threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let tid = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok());
        if let Some(ns) = tid.and_then(thread_clock_ns) {
            total += ns;
        } else if let Ok(schedstat) = fs::read_to_string(dir.join("schedstat")) {
            total += schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// CPU time, in nanoseconds, spent so far by the whole machine outside idle (every process,
/// this one included: user, nice, system, irq, softirq and steal time of `/proc/stat`, counted
/// in clock ticks, 10 ms each on most systems). Linux only; 0 elsewhere.
pub fn machine_busy_ns() -> u64 {
    let Ok(stat) = fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy * (1_000_000_000 / clock_ticks_per_second())
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

#[cfg(not(target_os = "linux"))]
fn clock_ticks_per_second() -> u64 {
    100
}

/// The CPU time of thread `tid` of this process, from its per-thread CPU clock.
#[cfg(target_os = "linux")]
fn thread_clock_ns(tid: i32) -> Option<u64> {
    // Linux's clock id for "scheduler CPU time of thread tid": MAKE_THREAD_CPUCLOCK(tid,
    // CPUCLOCK_SCHED) = (~tid << 3) | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2).
    let clock: libc::clockid_t = ((!tid) << 3) | 6;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id only makes the call fail.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn thread_clock_ns(_tid: i32) -> Option<u64> {
    None
}
