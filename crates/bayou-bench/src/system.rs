//! CPU time and resident memory of a process, from `/proc` (Linux).
//!
//! The bench reads its own, to say when it — not the server — was the limit, and the server's
//! when given its pid. `/proc/<pid>/stat` counts every thread of the process.

use std::time::Instant;

/// User + system CPU time of a process, in seconds (`None` for this process).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime); `fields[0]` is field 3 (state).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Resident set size in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The CPUs this process may run on (respects `taskset`).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU use between two moments, in cores (1.0 = one core busy all the time).
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    last: Option<(Instant, f64)>,
}

impl CpuMeter {
    pub fn new(pid: Option<u32>) -> Self {
        Self {
            pid,
            last: cpu_seconds(pid).map(|c| (Instant::now(), c)),
        }
    }

    /// Cores used since the previous call (or since `new`).
    pub fn sample(&mut self) -> Option<f64> {
        let now = (Instant::now(), cpu_seconds(self.pid)?);
        let (then, cpu) = self.last.replace(now)?;
        let wall = now.0.duration_since(then).as_secs_f64();
        (wall > 0.0).then(|| (now.1 - cpu) / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut meter = CpuMeter::new(None);
        let start = Instant::now();
        let mut x = 0_u64;
        while start.elapsed().as_millis() < 200 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let used = meter.sample().expect("cpu of self");
        // A busy loop for 200 ms: clearly more than nothing, at most the whole machine.
        assert!(
            used > 0.2 && used <= available_cores() as f64 + 0.5,
            "{used}"
        );
        assert!(rss_bytes(None).expect("rss of self") > 1024 * 1024);
        assert!(cpu_seconds(Some(std::process::id())).is_some());
        assert!(rss_bytes(Some(u32::MAX)).is_none());
    }
}
