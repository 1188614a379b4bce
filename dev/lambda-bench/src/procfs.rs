//! CPU time and peak memory of processes and threads, from the kernel.

use std::time::Duration;

fn read_clock(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// CPU time (user + system, all threads) consumed so far by process `pid`, in nanoseconds
/// resolution (`clock_getcpuclockid`), unlike the 10 ms ticks of `/proc/<pid>/stat`.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    if pid == 0 {
        return None;
    }
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer; an invalid pid only makes the call fail.
    let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if rc != 0 {
        return None;
    }
    read_clock(clock)
}

/// CPU time consumed so far by the calling thread.
pub fn thread_cpu() -> Duration {
    read_clock(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or_default()
}

/// Peak resident set size (`VmHWM` in `/proc/<pid>/status`), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
