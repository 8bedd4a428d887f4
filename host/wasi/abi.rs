//! WASI preview 1's records as bytes (`wasi_snapshot_preview1.witx`), and
//! the guest's memory as the calls served here read and write it: every
//! address and length checked first.

use wasmtime_wasi::p1::types::{Errno, Filetype};

use crate::guest_memory::checked_range;

/// Every right preview 1 defines: what isolate's own files and folders
/// report, and what the root passes on (wasi-libc opens a file with the
/// rights its folder passes on).
pub(crate) const ALL_RIGHTS: u64 = (1 << 29) - 1;
/// `rights::fd_read` and `rights::fd_write`.
pub(crate) const RIGHT_FD_READ: u64 = 1 << 1;
pub(crate) const RIGHT_FD_WRITE: u64 = 1 << 6;

/// `oflags`.
pub(crate) const O_CREAT: u16 = 1 << 0;
pub(crate) const O_DIRECTORY: u16 = 1 << 1;
pub(crate) const O_EXCL: u16 = 1 << 2;
pub(crate) const O_TRUNC: u16 = 1 << 3;
/// `fdflags::append`.
pub(crate) const FDFLAG_APPEND: u16 = 1 << 0;
/// `fstflags`.
pub(crate) const FST_ATIM: u16 = 1 << 0;
pub(crate) const FST_ATIM_NOW: u16 = 1 << 1;
pub(crate) const FST_MTIM: u16 = 1 << 2;
pub(crate) const FST_MTIM_NOW: u16 = 1 << 3;

pub(crate) const FILESTAT_SIZE: u32 = 64;
pub(crate) const FDSTAT_SIZE: u32 = 24;
const DIRENT_SIZE: usize = 24;

/// The device number isolate's own files and folders report.
pub(crate) const OWN_DEVICE: u64 = 0x69736f;

/// What a call failed with: an errno for the guest, or a trap that stops it.
pub(crate) enum Failure {
    Errno(i32),
    Trap(wasmtime::Error),
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Failure {
        Failure::Errno(errno as i32)
    }
}

/// A call's result, as the calls served here return it.
pub(crate) type Done<T = ()> = Result<T, Failure>;

/// The errno a WASI import returns, or its trap.
pub(crate) fn answer(done: Done) -> wasmtime::Result<i32> {
    match done {
        Ok(()) => Ok(0),
        Err(Failure::Errno(errno)) => Ok(errno),
        Err(Failure::Trap(trap)) => Err(trap),
    }
}

/// wasmtime-wasi's answer, as a [`Done`].
pub(crate) fn from_wasi(result: wasmtime::Result<i32>) -> Done {
    match result {
        Ok(0) => Ok(()),
        Ok(errno) => Err(Failure::Errno(errno)),
        Err(trap) => Err(Failure::Trap(trap)),
    }
}

/// A `stat` of a file, folder or device.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileStat {
    pub(crate) device: u64,
    pub(crate) inode: u64,
    pub(crate) filetype: Filetype,
    pub(crate) links: u64,
    pub(crate) size: u64,
    pub(crate) accessed: u64,
    pub(crate) modified: u64,
    pub(crate) changed: u64,
}

impl FileStat {
    pub(crate) fn bytes(&self) -> [u8; FILESTAT_SIZE as usize] {
        let mut out = [0u8; FILESTAT_SIZE as usize];
        out[0..8].copy_from_slice(&self.device.to_le_bytes());
        out[8..16].copy_from_slice(&self.inode.to_le_bytes());
        out[16] = self.filetype as u8;
        out[24..32].copy_from_slice(&self.links.to_le_bytes());
        out[32..40].copy_from_slice(&self.size.to_le_bytes());
        out[40..48].copy_from_slice(&self.accessed.to_le_bytes());
        out[48..56].copy_from_slice(&self.modified.to_le_bytes());
        out[56..64].copy_from_slice(&self.changed.to_le_bytes());
        out
    }
}

/// An `fdstat` with every right.
pub(crate) fn fdstat(filetype: Filetype, flags: u16) -> [u8; FDSTAT_SIZE as usize] {
    let mut out = [0u8; FDSTAT_SIZE as usize];
    out[0] = filetype as u8;
    out[2..4].copy_from_slice(&flags.to_le_bytes());
    out[8..16].copy_from_slice(&ALL_RIGHTS.to_le_bytes());
    out[16..24].copy_from_slice(&ALL_RIGHTS.to_le_bytes());
    out
}

/// `fd_readdir`'s answer: the entries from index `cookie` on, as many bytes
/// of them as `len` holds (the last one cut off if need be, which tells
/// wasi-libc to ask again with a bigger buffer).
pub(crate) fn dirents<'a>(
    entries: impl IntoIterator<Item = (&'a str, u64, Filetype)>,
    cookie: u64,
    len: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, (name, inode, filetype)) in entries.into_iter().enumerate().skip(cookie as usize) {
        if out.len() >= len {
            break;
        }
        let mut entry = [0u8; DIRENT_SIZE];
        entry[0..8].copy_from_slice(&(index as u64 + 1).to_le_bytes());
        entry[8..16].copy_from_slice(&inode.to_le_bytes());
        entry[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
        entry[20] = filetype as u8;
        out.extend_from_slice(&entry);
        out.extend_from_slice(name.as_bytes());
    }
    out.truncate(len);
    out
}

/// A guest's memory, checked at every access.
pub(crate) struct Guest<'a> {
    pub(crate) bytes: &'a mut [u8],
}

impl Guest<'_> {
    pub(crate) fn slice(&self, at: i32, len: u32) -> Result<&[u8], Errno> {
        let range = checked_range(at as u32, len, self.bytes.len()).ok_or(Errno::Fault)?;
        Ok(&self.bytes[range])
    }

    pub(crate) fn slice_mut(&mut self, at: i32, len: u32) -> Result<&mut [u8], Errno> {
        let range = checked_range(at as u32, len, self.bytes.len()).ok_or(Errno::Fault)?;
        Ok(&mut self.bytes[range])
    }

    /// Fails unless `len` bytes at `at` are in the memory: checked before
    /// a call does anything it could not undo.
    pub(crate) fn check(&self, at: i32, len: u32) -> Result<(), Errno> {
        self.slice(at, len).map(drop)
    }

    pub(crate) fn write(&mut self, at: i32, bytes: &[u8]) -> Result<(), Errno> {
        self.slice_mut(at, bytes.len() as u32)?.copy_from_slice(bytes);
        Ok(())
    }

    pub(crate) fn write_u32(&mut self, at: i32, value: u32) -> Result<(), Errno> {
        self.write(at, &value.to_le_bytes())
    }

    pub(crate) fn write_u64(&mut self, at: i32, value: u64) -> Result<(), Errno> {
        self.write(at, &value.to_le_bytes())
    }

    /// The path at `at`: UTF-8, as WASI's strings are.
    pub(crate) fn path(&self, at: i32, len: i32) -> Result<String, Errno> {
        let bytes = self.slice(at, len as u32)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| Errno::Ilseq)
    }

    /// The buffers of an iovec (or ciovec) array: `(at, len)` each, every
    /// one inside the memory.
    pub(crate) fn buffers(&self, at: i32, count: i32) -> Result<Vec<(i32, u32)>, Errno> {
        let array = self.slice(at, (count as u32).checked_mul(8).ok_or(Errno::Fault)?)?;
        let buffers: Vec<(i32, u32)> = array
            .chunks_exact(8)
            .map(|iovec| {
                let at = u32::from_le_bytes(iovec[0..4].try_into().expect("4 bytes"));
                let len = u32::from_le_bytes(iovec[4..8].try_into().expect("4 bytes"));
                (at as i32, len)
            })
            .collect();
        for &(at, len) in &buffers {
            self.check(at, len)?;
        }
        Ok(buffers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_wasis_numbers() {
        assert_eq!(Errno::Badf as i32, 8);
        assert_eq!(Errno::Noent as i32, 44);
        assert_eq!(Errno::Nospc as i32, 51);
        assert_eq!(Errno::Notsup as i32, 58);
        assert_eq!(Errno::Rofs as i32, 69);
        assert_eq!(Errno::Xdev as i32, 75);
        assert_eq!(Filetype::Directory as u8, 3);
        assert_eq!(Filetype::CharacterDevice as u8, 2);
    }

    #[test]
    fn dirents_resume_at_the_cookie_and_are_cut_at_the_buffer() {
        let entries = [("a", 1, Filetype::RegularFile), ("bb", 2, Filetype::Directory)];
        let all = dirents(entries, 0, 4096);
        assert_eq!(all.len(), 2 * DIRENT_SIZE + 3);
        assert_eq!(u64::from_le_bytes(all[0..8].try_into().unwrap()), 1);
        assert_eq!(&all[DIRENT_SIZE..DIRENT_SIZE + 1], b"a");
        let second = dirents(entries, 1, 4096);
        assert_eq!(&second[DIRENT_SIZE..], b"bb");
        assert_eq!(dirents(entries, 0, 30).len(), 30);
        assert!(dirents(entries, 2, 4096).is_empty());
    }
}
