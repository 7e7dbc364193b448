//! What the hostile suite watches while it attacks: `/healthz` answering quickly, and the
//! server's resident memory, sampled from `/proc` every probe. It runs on a thread and a
//! runtime of its own, so the attacks' own work in the test process does not delay a probe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const EVERY: Duration = Duration::from_millis(20);

/// The attack running now, named in every finding.
#[derive(Clone, Default)]
pub struct Label(Arc<Mutex<&'static str>>);

impl Label {
    pub fn set(&self, attack: &'static str) {
        *self.0.lock() = attack;
    }

    pub fn get(&self) -> &'static str {
        *self.0.lock()
    }
}

/// What the watch saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub probes: usize,
    /// The slowest `/healthz` answer, and during which attack.
    pub slowest: (Duration, &'static str),
    /// Probes slower than the bound, or failed: (attack, latency or error).
    pub late: Vec<(&'static str, String)>,
    /// The largest resident set seen, and during which attack.
    pub peak_rss: (u64, &'static str),
}

pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Seen>>,
}

/// Resident set size of `pid`, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl Watch {
    /// Probes `origin`'s `/healthz` until stopped; a probe slower than `bound` is a finding.
    pub fn start(origin: &str, pid: u32, label: Label, bound: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{origin}/healthz");
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            ahead_of_attackers();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut seen = Seen::default();
                while !stopped.load(Ordering::Relaxed) {
                    let attack = label.get();
                    let started = Instant::now();
                    let answer = http.get(&url).send().await;
                    let took = started.elapsed();
                    seen.probes += 1;
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            if took > seen.slowest.0 {
                                seen.slowest = (took, attack);
                            }
                            if took > bound {
                                seen.late.push((attack, format!("{took:?}")));
                            }
                        }
                        Ok(r) => seen.late.push((attack, format!("status {}", r.status()))),
                        Err(e) => seen.late.push((attack, e.to_string())),
                    }
                    let resident = rss(pid);
                    if resident > seen.peak_rss.0 {
                        seen.peak_rss = (resident, attack);
                    }
                    tokio::time::sleep(EVERY.saturating_sub(took)).await;
                }
                seen
            })
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("watch thread")
    }
}

/// Puts the calling thread at the server's priority (`renice -n -10` on its thread id, which
/// takes root, as the test command runs here), above the attack traffic this process generates
/// on the same two cores: a probe must time the server, not wait behind the attackers for a
/// core of its own. Without the right, the thread stays where it is, and says so.
fn ahead_of_attackers() {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| {
            link.file_name()
                .map(|tid| tid.to_string_lossy().into_owned())
        });
    let Some(tid) = tid else { return };
    let reniced = std::process::Command::new("/usr/bin/renice")
        .args(["-n", "-10", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .status();
    if !reniced.is_ok_and(|status| status.success()) {
        eprintln!(
            "hostile suite: cannot raise the watch thread's priority; probes may wait for a core"
        );
    }
}
