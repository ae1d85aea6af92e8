//! Process metrics for benches: cores, per-thread CPU time, resident memory.

use super::*;

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time per thread name over an interval, from /proc/self/task (sampled every 50 ms, so a
/// thread that ends is counted up to its last sample).
pub(super) struct ThreadCpu {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<std::collections::BTreeMap<String, f64>>,
    process_before: f64,
}

/// CPU seconds of the whole process so far, threads that have exited included (sampling
/// threads one by one misses those that live between two samples).
pub(super) fn process_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    ticks as f64 / clock_ticks()
}

impl ThreadCpu {
    pub(super) fn start() -> ThreadCpu {
        fn sample(seen: &mut std::collections::HashMap<String, (String, u64)>) {
            let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
                return;
            };
            for t in tasks.flatten() {
                let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                    continue;
                };
                // pid (comm) state … utime stime: fields 14 and 15, counted after the ")".
                let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                    continue;
                };
                let comm = stat[open + 1..close].to_string();
                let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
                let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
                    + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
                let tid = t.file_name().to_string_lossy().to_string();
                seen.insert(tid, (comm, ticks));
            }
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut before = std::collections::HashMap::new();
            sample(&mut before);
            let mut seen = std::collections::HashMap::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                sample(&mut seen);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            sample(&mut seen);
            let hz = clock_ticks();
            let mut out = std::collections::BTreeMap::new();
            for (tid, (comm, ticks)) in seen {
                let base = before.get(&tid).map_or(0, |(_, t)| *t);
                *out.entry(comm).or_insert(0.0) += ticks.saturating_sub(base) as f64 / hz;
            }
            out
        });
        ThreadCpu {
            stop,
            handle,
            process_before: process_cpu(),
        }
    }

    /// CPU seconds per thread name, largest first, then the time of threads too short-lived to
    /// be sampled (the process total minus the threads seen).
    pub(super) fn stop(self) -> Vec<(String, f64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let total = process_cpu() - self.process_before;
        let mut v: Vec<(String, f64)> = self
            .handle
            .join()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, c)| *c >= 0.05)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        let seen: f64 = v.iter().map(|(_, c)| c).sum();
        if total - seen >= 0.05 {
            v.push(("short-lived threads".into(), total - seen));
        }
        v
    }
}

pub(super) fn vm_rss_mb() -> f64 {
    rss_mb("self")
}

/// A process's resident set in MB (`pid` a number or `self`), from /proc.
pub(crate) fn rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Clock ticks per second (the unit of /proc's CPU times).
#[allow(unsafe_code)] // sysconf
fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}
