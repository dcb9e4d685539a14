//! `Stats`: usage in the cgroup v1 metrics format containerd and the kubelet
//! decode.
//!
//! Everything is per container, summed over its instances (the init process
//! and any execs), as the engine counts it:
//!
//! - memory: the linear memory the instances have now, and their high-water
//!   mark;
//! - CPU: the time the shim's threads spent running the instances (guest code
//!   and the host calls made for it), including a computation under way. The
//!   engine measures one clock per thread, which does not split user from
//!   system time, so all of it is reported as user time and kernel time is 0;
//!   the kubelet (`kubectl top`) reads only the total. CPU the shim spends
//!   on itself (serving containerd, compiling modules) is in no container.

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics,
};
use containerd_shim::protos::protobuf::MessageField;

/// Metrics for a container using `memory` bytes now, `peak` at most, and
/// `cpu_nanos` of CPU time so far.
pub fn container_metrics(memory: u64, peak: u64, cpu_nanos: u64) -> Metrics {
    let mut usage = MemoryEntry::new();
    usage.usage = memory;
    usage.max = peak;
    let mut memory_stat = MemoryStat::new();
    memory_stat.rss = memory;
    memory_stat.usage = MessageField::some(usage);
    let mut cpu_usage = CPUUsage::new();
    cpu_usage.total = cpu_nanos;
    cpu_usage.user = cpu_nanos;
    cpu_usage.kernel = 0;
    let mut cpu = CPUStat::new();
    cpu.usage = MessageField::some(cpu_usage);
    let mut metrics = Metrics::new();
    metrics.memory = MessageField::some(memory_stat);
    metrics.cpu = MessageField::some(cpu);
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_given_memory_and_cpu_time() {
        let m = container_metrics(3 << 20, 5 << 20, 1_500_000_000);
        assert_eq!(m.memory.usage.usage, 3 << 20);
        assert_eq!(m.memory.usage.max, 5 << 20);
        assert_eq!(m.memory.rss, 3 << 20);
        assert_eq!(m.cpu.usage.total, 1_500_000_000);
        assert_eq!(m.cpu.usage.user, 1_500_000_000);
        assert_eq!(m.cpu.usage.kernel, 0);
    }
}
