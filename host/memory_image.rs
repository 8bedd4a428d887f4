//! Interpreters' linear memories, each mapped copy-on-write from a memory
//! image: what makes creating or forking an interpreter a mapping of a few
//! microseconds instead of a copy of tens of megabytes.
//!
//! - A [`MemoryImage`] is a whole linear memory kept in a file that never
//!   changes once written (an anonymous memfd, or a file of the cache).
//! - [`ImageMemories`] is the engine's `MemoryCreator`: the memory of an
//!   instance created inside [`instantiate_from`] is a `MAP_PRIVATE`
//!   mapping of the image, so every interpreter made from one image shares
//!   its pages until it writes them, and its writes are its own.
//!
//! wasmtime must not write the module's data segments into such a memory
//! (that would overwrite the image, and dirty every page): build.rs strips
//! them from the module, and the runtime's first image is made of them
//! ([`MemoryImage::from_segments`]). The engine has copy-on-write
//! initialisation off (`memory_init_cow(false)`), which a host memory needs.

// The one module with `unsafe` for memory: the `MemoryCreator` and
// `LinearMemory` traits, and the system calls in `mapping`, each with its
// `SAFETY` comment.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// The granularity at which zero pages are left out of an image. Images
/// are mapped at offsets that are multiples of the WebAssembly page (64
/// KiB), which every host page size divides.
const ZERO_RUN: usize = 4096;

/// A whole linear memory, kept in a file that does not change while any
/// memory maps it.
pub(crate) struct MemoryImage {
    file: File,
    /// Where the memory starts in `file`: a multiple of 64 KiB.
    offset: u64,
    len: usize,
}

impl MemoryImage {
    /// A memory of `len` bytes, zero but for `segments`: build.rs's list of
    /// the module's data segments (`offset: u32`, `len: u32`, bytes; little
    /// endian). Fails if a segment lies outside the memory.
    pub(crate) fn from_segments(len: usize, mut segments: &[u8]) -> io::Result<Self> {
        let file = anonymous_file(len)?;
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "the guest's data segments are malformed");
        while !segments.is_empty() {
            let (offset, rest) = segments.split_first_chunk::<4>().ok_or_else(malformed)?;
            let (size, rest) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
            let (offset, size) = (u32::from_le_bytes(*offset) as usize, u32::from_le_bytes(*size) as usize);
            let bytes = rest.get(..size).ok_or_else(malformed)?;
            if offset.checked_add(size).is_none_or(|end| end > len) {
                return Err(malformed());
            }
            file.write_all_at(bytes, offset as u64)?;
            segments = &rest[size..];
        }
        Ok(MemoryImage { file, offset: 0, len })
    }

    /// A copy of `memory`. Runs of zero pages are left as holes, which cost
    /// no memory.
    pub(crate) fn copy_of(memory: &[u8]) -> io::Result<Self> {
        let file = anonymous_file(memory.len())?;
        write_non_zero(&file, 0, memory)?;
        Ok(MemoryImage { file, offset: 0, len: memory.len() })
    }

    /// The image kept in `file` from `offset` (a multiple of 64 KiB) for
    /// `len` bytes. The caller vouches that the file is not changed or
    /// truncated while the image lives: its pages are mapped, not read.
    pub(crate) fn in_file(file: File, offset: u64, len: usize) -> io::Result<Self> {
        if !offset.is_multiple_of(64 << 10) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a memory image must start at a 64 KiB boundary"));
        }
        let needed = offset.checked_add(len as u64).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        if file.metadata()?.len() < needed {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated: the file is shorter than its memory"));
        }
        Ok(MemoryImage { file, offset, len })
    }

    /// The same memory in an anonymous file of its own, so that what is
    /// done to this image's file later cannot reach the copy; `inspect`
    /// sees every byte on the way (one pass over the file).
    pub(crate) fn copied(&self, inspect: impl FnMut(&[u8])) -> io::Result<Self> {
        let file = anonymous_file(self.len)?;
        self.write_into(&file, 0, inspect)?;
        Ok(MemoryImage { file, offset: 0, len: self.len })
    }

    /// The memory's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Writes the image into `out` at `at`, leaving its zero runs as holes;
    /// `inspect` sees every byte on the way.
    pub(crate) fn write_into(&self, out: &File, mut at: u64, mut inspect: impl FnMut(&[u8])) -> io::Result<()> {
        self.for_each_chunk(|chunk| {
            inspect(chunk);
            let written = write_non_zero(out, at, chunk);
            at += chunk.len() as u64;
            written
        })
    }

    /// Feeds the image's bytes to `f`, a megabyte at a time.
    pub(crate) fn for_each_chunk(&self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut buffer = vec![0; 1 << 20];
        let mut done = 0;
        while done < self.len {
            let chunk = (self.len - done).min(buffer.len());
            self.file.read_exact_at(&mut buffer[..chunk], self.offset + done as u64)?;
            f(&buffer[..chunk])?;
            done += chunk;
        }
        Ok(())
    }
}

/// Writes `bytes` into `file` at `at`, skipping runs of zero pages.
fn write_non_zero(file: &File, at: u64, bytes: &[u8]) -> io::Result<()> {
    let mut start = None;
    let mut offset = 0;
    for page in bytes.chunks(ZERO_RUN) {
        let zero = page.iter().all(|&b| b == 0);
        match (zero, start) {
            (false, None) => start = Some(offset),
            (true, Some(from)) => {
                file.write_all_at(&bytes[from..offset], at + from as u64)?;
                start = None;
            }
            _ => {}
        }
        offset += page.len();
    }
    if let Some(from) = start {
        file.write_all_at(&bytes[from..], at + from as u64)?;
    }
    Ok(())
}

/// A file of `len` zero bytes that lives only as long as it is open.
fn anonymous_file(len: usize) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    let file = mapping::memfd()?;
    #[cfg(not(target_os = "linux"))]
    let file = tempfile::tempfile()?;
    file.set_len(len as u64)?;
    Ok(file)
}

thread_local! {
    /// The image the next linear memory created on this thread maps, and
    /// the module memory's minimum size in bytes (which tells it from the
    /// store's GC heap, which the engine also asks [`ImageMemories`] for).
    static NEXT_IMAGE: RefCell<Option<(Arc<MemoryImage>, usize)>> = const { RefCell::new(None) };
}

/// Runs `instantiate`, which must create one instance of the guest on this
/// thread, with `image` as its linear memory; `minimum` is the module
/// memory's declared minimum, in bytes. Fails if the memory was not made
/// from the image (the guest must never run on a memory of zeros).
pub(crate) fn instantiate_from<R>(
    image: &Arc<MemoryImage>,
    minimum: usize,
    instantiate: impl FnOnce() -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    NEXT_IMAGE.with(|next| *next.borrow_mut() = Some((image.clone(), minimum)));
    let result = instantiate();
    let unused = NEXT_IMAGE.with(|next| next.borrow_mut().take()).is_some();
    let instance = result?;
    if unused {
        return Err(wasmtime::Error::msg("the guest's memory was not made from its image"));
    }
    Ok(instance)
}

/// The engine's creator of linear memories: see the module's comment.
pub(crate) struct ImageMemories;

// SAFETY: every memory it returns is a fresh reservation of
// `reserved + guard` bytes (see `mapping::Reservation`), of which exactly
// `byte_size()` are accessible and the guard is never made accessible;
// growth stays within the reservation and never moves the base. Its bytes
// past the image are zero, as the trait requires of new memory; those of
// the image are the guest's memory as it was when the image was taken,
// which is what the module expects (its data segments were moved there).
unsafe impl MemoryCreator for ImageMemories {
    fn new_memory(
        &self,
        ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved: Option<usize>,
        guard: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let image = NEXT_IMAGE.with(|next| {
            let mut next = next.borrow_mut();
            let is_linear_memory = next.as_ref().is_some_and(|(_, want)| *want == minimum && !ty.is_64());
            if is_linear_memory { next.take().map(|(image, _)| image) } else { None }
        });
        // Without a reservation size, reserve enough for the largest memory
        // the type allows: growth must never move the memory.
        let reserved = match reserved {
            Some(reserved) => reserved,
            None => maximum.unwrap_or(4 << 30),
        };
        let size = image.as_ref().map_or(minimum, |image| image.len.max(minimum));
        if size > reserved || maximum.is_some_and(|maximum| size > maximum) {
            return Err(format!("a memory of {size} bytes does not fit its reservation of {reserved}"));
        }
        let memory =
            mapping::Reservation::new(reserved, guard, image.as_deref(), size).map_err(|err| err.to_string())?;
        Ok(Box::new(ImageMemory { memory, _image: image }))
    }
}

/// One linear memory: its mapping, and the image it maps (kept open).
struct ImageMemory {
    memory: mapping::Reservation,
    _image: Option<Arc<MemoryImage>>,
}

// SAFETY: as for `ImageMemories` above: `as_ptr` is the reservation's
// base, fixed for its life; `byte_size` bytes from it are accessible;
// `grow_to` makes more accessible (zero-filled) without moving it, and
// refuses to pass `byte_capacity`, the reservation less its guard.
unsafe impl LinearMemory for ImageMemory {
    fn byte_size(&self) -> usize {
        self.memory.size()
    }

    fn byte_capacity(&self) -> usize {
        self.memory.capacity()
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        self.memory.grow_to(new_size).map_err(wasmtime::Error::from)
    }

    fn as_ptr(&self) -> *mut u8 {
        self.memory.base()
    }
}

/// The system calls behind the memories: the only `unsafe` of this module.
mod mapping {
    use super::*;

    /// An anonymous memfd.
    #[cfg(target_os = "linux")]
    pub(super) fn memfd() -> io::Result<File> {
        use std::os::fd::FromRawFd;
        // SAFETY: the name is a NUL-terminated string; the result is
        // checked before it is used.
        let fd = unsafe { libc::memfd_create(c"isolate-memory".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// A reservation of address space for one linear memory and its guard:
    /// `size` bytes accessible (the image's pages mapped copy-on-write, then
    /// zeros), the rest inaccessible until grown into.
    pub(super) struct Reservation {
        base: *mut u8,
        /// `capacity + guard`: what is unmapped on drop.
        total: usize,
        capacity: usize,
        size: usize,
    }

    // SAFETY: the reservation is plain memory owned by this value; wasmtime
    // moves memories between threads with their store, never sharing one.
    unsafe impl Send for Reservation {}
    unsafe impl Sync for Reservation {}

    impl Reservation {
        pub(super) fn new(capacity: usize, guard: usize, image: Option<&MemoryImage>, size: usize) -> io::Result<Self> {
            let total = capacity.checked_add(guard).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: a new anonymous mapping at an address the kernel
            // chooses; nothing else can be affected. The result is checked.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    total,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            // From here on, drop unmaps the whole reservation.
            let mut reservation = Reservation { base: base.cast(), total, capacity, size: 0 };
            let mut mapped = 0;
            if let Some(image) = image {
                let offset =
                    libc::off_t::try_from(image.offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                // SAFETY: `[base, base + image.len)` lies inside the
                // reservation made above (the caller checked `size <=
                // capacity` and `size >= image.len`), which only this
                // value owns, so `MAP_FIXED` replaces nothing else. The
                // file is open and at least `offset + len` long
                // (`MemoryImage::in_file` and `anonymous_file`).
                let at = unsafe {
                    libc::mmap(
                        base,
                        image.len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_FIXED,
                        image.file.as_raw_fd(),
                        offset,
                    )
                };
                if at == libc::MAP_FAILED {
                    return Err(io::Error::last_os_error());
                }
                mapped = image.len;
                reservation.size = mapped;
            }
            reservation.grow_to(size.max(mapped))?;
            Ok(reservation)
        }

        pub(super) fn base(&self) -> *mut u8 {
            self.base
        }

        pub(super) fn size(&self) -> usize {
            self.size
        }

        pub(super) fn capacity(&self) -> usize {
            self.capacity
        }

        /// Makes the memory `new_size` bytes long; new bytes are zero.
        pub(super) fn grow_to(&mut self, new_size: usize) -> io::Result<()> {
            if new_size > self.capacity {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "a memory cannot grow past its reservation"));
            }
            if new_size > self.size {
                // SAFETY: `[base + size, base + new_size)` lies inside the
                // reservation (`new_size <= capacity`), is still the
                // untouched `PROT_NONE` anonymous mapping made in `new`
                // (memories never shrink), and so reads as zeros once
                // accessible.
                let status = unsafe {
                    libc::mprotect(
                        self.base.add(self.size).cast(),
                        new_size - self.size,
                        libc::PROT_READ | libc::PROT_WRITE,
                    )
                };
                if status != 0 {
                    return Err(io::Error::last_os_error());
                }
                self.size = new_size;
            }
            Ok(())
        }
    }

    impl Drop for Reservation {
        fn drop(&mut self) {
            // SAFETY: the whole reservation was mapped in `new` and is
            // owned by this value alone; wasmtime drops a memory only when
            // its store is gone and no code can touch it.
            unsafe {
                libc::munmap(self.base.cast(), self.total);
            }
        }
    }
}
