//! `Stats`: usage in the cgroup v1 metrics format containerd and the kubelet
//! decode.
//!
//! Memory is per container: the linear memory its instances (the init
//! process and any execs) have now, and their high-water mark, as the
//! engine counts it. CPU time is the shim process's (all containers of a
//! pod share it): user and system time from `/proc/self/stat`.

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics,
};
use containerd_shim::protos::protobuf::MessageField;

use crate::ShimError;

/// Metrics for a container using `memory` bytes now, `peak` at most.
pub fn container_metrics(memory: u64, peak: u64) -> Result<Metrics, ShimError> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| ShimError::io("/proc/self/stat", e))?;
    let cpu_ns = cpu_nanos(&stat);

    let mut usage = MemoryEntry::new();
    usage.usage = memory;
    usage.max = peak;
    let mut memory_stat = MemoryStat::new();
    memory_stat.rss = memory;
    memory_stat.usage = MessageField::some(usage);
    let mut cpu_usage = CPUUsage::new();
    cpu_usage.total = cpu_ns.0 + cpu_ns.1;
    cpu_usage.user = cpu_ns.0;
    cpu_usage.kernel = cpu_ns.1;
    let mut cpu = CPUStat::new();
    cpu.usage = MessageField::some(cpu_usage);
    let mut metrics = Metrics::new();
    metrics.memory = MessageField::some(memory_stat);
    metrics.cpu = MessageField::some(cpu);
    Ok(metrics)
}

/// User and system CPU time in nanoseconds from a `/proc/PID/stat` line.
fn cpu_nanos(stat: &str) -> (u64, u64) {
    // Fields after the command name (which may contain spaces) start at
    // field 3; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let to_ns = |t: u64| t * 1_000_000_000 / ticks;
    (to_ns(get(11)), to_ns(get(12)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_and_reports_the_given_memory() {
        let (user, system) = cpu_nanos("123 (a b) S 1 2 3 4 5 6 7 8 9 10 200 100 0 0 20 0");
        assert!(
            user > 0 && system > 0 && user == 2 * system,
            "{user} {system}"
        );
        // Use a few clock ticks of CPU (ticks are 10 ms), boundedly.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let m = container_metrics(3 << 20, 5 << 20).expect("metrics");
        assert_eq!(m.memory.usage.usage, 3 << 20);
        assert_eq!(m.memory.usage.max, 5 << 20);
        assert!(m.cpu.usage.total > 0, "this test process has used some CPU");
    }
}
