//! A snapshot: an idle interpreter's state, from which copies start (forks,
//! and every new interpreter, a copy of the runtime's template); and its
//! file, which a later process maps instead of booting a guest.
//!
//! Between runs nothing of the guest's is on any stack: its state is its
//! linear memory, its stack pointer (back at its initial value), and the
//! address of the driver's entry point. That is all a snapshot holds.
//!
//! The file: a 64 KiB header, then the memory, with runs of zero pages
//! left as holes (so that it can be mapped at a page boundary). The header
//! holds [`MAGIC`], [`FORMAT`], the guest build and driver it belongs to,
//! the memory's length, the stack pointer, the entry, and an xxh3-128 of
//! the memory. A file of another build, or whose memory does not match its
//! hash, is refused.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use crate::artifact_cache;
use crate::guest;
use crate::memory_image::MemoryImage;

const MAGIC: &[u8; 16] = b"isolate snapshot";
const FORMAT: u32 = 1;
/// Where the memory starts: a WebAssembly page, which every host page size
/// divides, so that the memory can be mapped from the file.
const HEADER_LEN: u64 = 64 << 10;
/// The header's bytes that are used.
const HEADER_USED: usize = 16 + 4 + 16 + 16 + 8 + 4 + 4 + 16;

/// An idle interpreter's state.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) image: Arc<MemoryImage>,
    pub(crate) stack_pointer: i32,
    pub(crate) entry: i32,
}

impl Snapshot {
    /// Writes the snapshot to `path` (replacing it whole, never in place).
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let hash = self.hash()?;
        artifact_cache::write_atomically_with(path, |file| {
            let mut header = Vec::with_capacity(HEADER_USED);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&FORMAT.to_le_bytes());
            header.extend_from_slice(guest::GUEST_HASH.as_bytes());
            header.extend_from_slice(guest::DRIVER_HASH.as_bytes());
            header.extend_from_slice(&(self.image.len() as u64).to_le_bytes());
            header.extend_from_slice(&self.stack_pointer.to_le_bytes());
            header.extend_from_slice(&self.entry.to_le_bytes());
            header.extend_from_slice(&hash.to_le_bytes());
            debug_assert_eq!(header.len(), HEADER_USED);
            file.set_len(HEADER_LEN + self.image.len() as u64)?;
            std::os::unix::fs::FileExt::write_all_at(file, &header, 0)?;
            self.image.write_into(file, HEADER_LEN)
        })
    }

    /// Loads the snapshot saved at `path`, mapping its memory. Its hash is
    /// checked unless `checked` names a file recording that this very file
    /// (same size, time and inode) was checked already; a check that passes
    /// is recorded there.
    ///
    /// The file must not be changed in place while the snapshot lives: its
    /// pages are mapped, not read (a cache file is only ever replaced).
    pub(crate) fn load(path: &Path, checked: Option<&Path>) -> io::Result<Snapshot> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}", path.display()));
        let mut file = File::open(path)?;
        let mut header = [0; HEADER_USED];
        file.read_exact(&mut header).map_err(|_| invalid("too short to be a snapshot"))?;
        let (magic, rest) = header.split_at(16);
        if magic != MAGIC {
            return Err(invalid("not an isolate snapshot"));
        }
        let (format, rest) = rest.split_at(4);
        if format != FORMAT.to_le_bytes() {
            return Err(invalid("a snapshot of another format"));
        }
        let (guest_hash, rest) = rest.split_at(16);
        let (driver_hash, rest) = rest.split_at(16);
        if guest_hash != guest::GUEST_HASH.as_bytes() || driver_hash != guest::DRIVER_HASH.as_bytes() {
            return Err(invalid("a snapshot of another build of isolate's guest"));
        }
        let (len, rest) = rest.split_at(8);
        let (stack_pointer, rest) = rest.split_at(4);
        let (entry, hash) = rest.split_at(4);
        let len = usize::try_from(u64::from_le_bytes(len.try_into().unwrap())).map_err(|_| invalid("too large"))?;
        if len % (64 << 10) != 0 || len > 4 << 30 {
            return Err(invalid("a memory of impossible size"));
        }
        let stack_pointer = i32::from_le_bytes(stack_pointer.try_into().unwrap());
        let entry = i32::from_le_bytes(entry.try_into().unwrap());
        let hash = u128::from_le_bytes(hash.try_into().unwrap());

        let identity = artifact_cache::identity(&file.metadata()?);
        let known_good = checked.and_then(|checked| fs::read(checked).ok()).is_some_and(|seen| seen == identity);
        let image = MemoryImage::in_file(file, HEADER_LEN, len).map_err(|err| invalid(&err.to_string()))?;
        let snapshot = Snapshot { image: Arc::new(image), stack_pointer, entry };
        if !known_good {
            if snapshot.hash()? != hash {
                return Err(invalid("corrupt: its memory does not match its hash"));
            }
            if let Some(checked) = checked {
                // Checked: the next process need not hash it again.
                let _ = artifact_cache::write_atomically(checked, &identity);
            }
        }
        Ok(snapshot)
    }

    fn hash(&self) -> io::Result<u128> {
        let mut hasher = Xxh3::new();
        self.image.for_each_chunk(|chunk| hasher.update(chunk))?;
        Ok(hasher.digest128())
    }
}
