//! Memory readings from /proc, for the fleet bench and the soak.

/// A value in kB from /proc (this process's VmRSS, or the system's Slab); 0 when unreadable.
pub fn proc_kb(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// This process's resident memory in KiB.
pub fn rss_kib() -> u64 {
    proc_kb("/proc/self/status", "VmRSS:")
}

/// Resident memory of this process plus kernel slab memory (sockets live there), in bytes.
pub fn with_kernel_bytes() -> u64 {
    (rss_kib() + proc_kb("/proc/meminfo", "Slab:")) * 1024
}
