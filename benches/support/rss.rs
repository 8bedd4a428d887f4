//! The process's resident memory, for the benches and the lifecycle test.
//! Linux only (reads /proc/self).

// Included by several targets, each of which uses part of it.
#![allow(dead_code)]

/// VmRSS, in KiB.
pub fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

/// Resident memory private to this process (`Private_Clean` +
/// `Private_Dirty`), in KiB: what it costs the machine. Unlike VmRSS it
/// leaves out pages shared with the page cache, such as the compiled guest's
/// memory image, which every interpreter maps.
pub fn private_kib() -> i64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("/proc/self/smaps_rollup");
    rollup
        .lines()
        .filter(|line| line.starts_with("Private_Clean:") || line.starts_with("Private_Dirty:"))
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<i64>().ok())
        .sum()
}
