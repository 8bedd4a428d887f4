//! Addresses in a guest's linear memory, as the guest hands them to the host.
//!
//! Nothing a guest gives is trusted: every address and length is checked
//! against the memory's size before the host reads or writes there.

/// The range `at..at + len` if it lies inside a memory of `size` bytes.
pub(crate) fn checked_range(at: u32, len: u32, size: usize) -> Option<std::ops::Range<usize>> {
    let start = at as usize;
    let end = start.checked_add(len as usize)?;
    (end <= size).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_outside_the_memory_are_refused() {
        assert_eq!(checked_range(0, 4, 4), Some(0..4));
        assert_eq!(checked_range(1, 4, 4), None);
        assert_eq!(checked_range(u32::MAX, u32::MAX, usize::MAX >> 1), Some(u32::MAX as usize..2 * u32::MAX as usize));
        assert_eq!(checked_range(u32::MAX, 1, 1 << 20), None);
    }
}
