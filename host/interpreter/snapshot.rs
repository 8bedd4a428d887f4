//! A snapshot: an idle interpreter's state, from which copies start (forks,
//! every new interpreter, a copy of the runtime's template, and interpreters
//! made from a snapshot file); and its file, which a later process loads
//! instead of booting a guest and running the code that made the state.
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

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use crate::cache::{self, checked::Identity, checked::Record};
use crate::error::{Error, Result};
use crate::guest;
use crate::memory_image::MemoryImage;

const MAGIC: &[u8; 16] = b"isolate snapshot";
const FORMAT: u32 = 1;
/// Where the memory starts: a WebAssembly page, which every host page size
/// divides, so that the memory can be mapped from the file.
const HEADER_LEN: u64 = 64 << 10;
/// The header's bytes that are used.
const HEADER_USED: usize = 16 + 4 + 16 + 16 + 8 + 4 + 4 + 16;

/// An idle interpreter's state: its modules, `__main__` and every object,
/// from [`Interpreter::snapshot`](crate::Interpreter::snapshot) or a file.
/// Interpreters made from it
/// ([`InterpreterBuilder::snapshot`](crate::InterpreterBuilder::snapshot))
/// start as copies of that state, each independent of the others, and
/// share its memory until they write it.
///
/// A snapshot holds the Python state only: grants, limits, output, and
/// `sys.argv` and `os.environ` are those of the interpreter made from it.
/// Its file holds everything the interpreter's memory held when it was
/// taken (any secret its code read included): write one only where that
/// may be kept.
///
/// Cloning one is a reference count.
///
/// ```no_run
/// # let runtime = isolate::Runtime::new()?;
/// let warm = runtime.create_interpreter()?;
/// warm.run("import numpy, pandas")?;
/// warm.snapshot()?.save("numpy_pandas.snapshot")?;
///
/// // Later, in another process:
/// let snapshot = isolate::Snapshot::load("numpy_pandas.snapshot")?;
/// let interp = runtime.interpreter().snapshot(&snapshot).build()?;
/// interp.run("print(pandas.DataFrame({'a': [1, 2]}).sum())")?;
/// # Ok::<(), isolate::Error>(())
/// ```
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) image: Arc<MemoryImage>,
    pub(crate) stack_pointer: i32,
    pub(crate) entry: i32,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("memory_size", &self.memory_size()).finish_non_exhaustive()
    }
}

impl Snapshot {
    /// The size of the interpreter's memory, in bytes.
    pub fn memory_size(&self) -> usize {
        self.image.len()
    }

    /// Writes the snapshot to the file `path`, replacing any file there
    /// whole (it is written beside it, then renamed). Runs of zero pages
    /// are left as holes, which take no disk space.
    ///
    /// # Errors
    ///
    /// [`Error::Snapshot`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let path = if path.parent().is_some_and(|parent| parent.as_os_str().is_empty()) {
            Path::new(".").join(path)
        } else {
            path.to_owned()
        };
        self.write(&path).map_err(|source| Error::Snapshot { path, source })
    }

    /// Reads a snapshot that [`save`](Self::save) wrote, in this or another
    /// process, into memory of its own (so that nothing done to the file
    /// later affects it), checking it whole.
    ///
    /// # Errors
    ///
    /// [`Error::Snapshot`] if the file cannot be read, is not a snapshot,
    /// is truncated or corrupt (its memory does not match the hash it was
    /// saved with), or was made by another build of isolate's guest.
    pub fn load(path: impl AsRef<Path>) -> Result<Snapshot> {
        let path = path.as_ref();
        Self::read(path, false, None).map_err(|source| Error::Snapshot { path: path.to_owned(), source })
    }

    /// Writes the snapshot to `path` (replacing it whole, never in place).
    pub(crate) fn write(&self, path: &Path) -> io::Result<()> {
        cache::write_atomically_with(path, |file| {
            // The memory first, hashed as it is written (one pass), then
            // the header that holds the hash.
            file.set_len(HEADER_LEN + self.image.len() as u64)?;
            let mut hasher = Xxh3::new();
            self.image.write_into(file, HEADER_LEN, |chunk| hasher.update(chunk))?;
            let mut header = Vec::with_capacity(HEADER_USED);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&FORMAT.to_le_bytes());
            header.extend_from_slice(guest::GUEST_HASH.as_bytes());
            header.extend_from_slice(guest::DRIVER_HASH.as_bytes());
            header.extend_from_slice(&(self.image.len() as u64).to_le_bytes());
            header.extend_from_slice(&self.stack_pointer.to_le_bytes());
            header.extend_from_slice(&self.entry.to_le_bytes());
            header.extend_from_slice(&hasher.digest128().to_le_bytes());
            debug_assert_eq!(header.len(), HEADER_USED);
            std::os::unix::fs::FileExt::write_all_at(file, &header, 0)
        })
    }

    /// Loads the snapshot saved at `path`: its memory is mapped from the
    /// file if `map`, else copied out of it. Its hash is checked unless
    /// `checked` names a file recording that this very file (same size,
    /// time and inode) was checked already; a check that passes is
    /// recorded there.
    ///
    /// A mapped file must not be changed in place while the snapshot lives
    /// (a cache file is only ever replaced).
    pub(crate) fn read(path: &Path, map: bool, checked: Option<&Path>) -> io::Result<Snapshot> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut file = File::open(path)?;
        let mut header = [0; HEADER_USED];
        file.read_exact(&mut header).map_err(|_| invalid("too short to be an isolate snapshot"))?;
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

        let identity = Identity::of(&file.metadata()?);
        let image = MemoryImage::in_file(file, HEADER_LEN, len).map_err(|err| invalid(&err.to_string()))?;
        let corrupt = || invalid("corrupt: its memory does not match its hash");
        let image = if map {
            // The record states nothing but the identity: the hash is the
            // file's own.
            let known_good = checked.and_then(|checked| Record::read(checked, 0)).is_some_and(|r| r.passed(identity));
            if !known_good {
                if hash_of(&image)? != hash {
                    return Err(corrupt());
                }
                if let Some(checked) = checked {
                    // Checked: the next process need not hash it again.
                    Record::write(checked, &[], identity);
                }
            }
            image
        } else {
            // Hashed as it is copied: what is checked is what is used.
            let mut hasher = Xxh3::new();
            let copy = image.copied(|chunk| hasher.update(chunk))?;
            if hasher.digest128() != hash {
                return Err(corrupt());
            }
            copy
        };
        Ok(Snapshot { image: Arc::new(image), stack_pointer, entry })
    }
}

/// The xxh3-128 of an image's bytes.
fn hash_of(image: &MemoryImage) -> io::Result<u128> {
    let mut hasher = Xxh3::new();
    image.for_each_chunk(|chunk| {
        hasher.update(chunk);
        Ok(())
    })?;
    Ok(hasher.digest128())
}
