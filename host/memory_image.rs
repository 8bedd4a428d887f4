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
//! - A memory that ends goes back to its image as a *spare* (Linux): its
//!   pages that the interpreter wrote are found with the kernel's
//!   `PAGEMAP_SCAN` and copied back from the image, and the next memory
//!   made from that image is the spare. A fresh mapping pays a page fault
//!   (and, with other threads running, a TLB shootdown on every core) for
//!   each page an interpreter first writes; a spare's written pages are
//!   already its own, so the next interpreter writes them for free.
//!
//! - An image taken of a memory that wrote a little of its own image
//!   (a snapshot after a run, for a fork) is *layered*: the pages it wrote,
//!   found with `PAGEMAP_SCAN`, are copied aside, laid over the image
//!   below. A flat copy costs a pass over the whole memory
//!   (34 ms for numpy and pandas); the pages a cell writes are a few
//!   megabytes. A memory made from a layered image maps the image below
//!   and copies the pages over it (one mapping, not one per range: the
//!   ranges are hundreds, scattered). A second memory made from it makes
//!   it flat first (once), and the memories made from then on map the flat
//!   copy alone.
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
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

use crate::tripwire::Tripwire;

/// The granularity at which zero pages are left out of an image. Images
/// are mapped at offsets that are multiples of the WebAssembly page (64
/// KiB), which every host page size divides.
const ZERO_RUN: usize = 4096;

/// A whole linear memory, kept in a file that does not change while any
/// memory maps it, or layered: pages kept aside over such a memory.
pub(crate) struct MemoryImage {
    bytes: Bytes,
    len: usize,
    /// Memories of interpreters that ended, each reset to this image's
    /// bytes, for the next memories made from it.
    spares: Mutex<Vec<mapping::Reservation>>,
    /// The image's bytes mapped read-only, which resetting a spare copies
    /// from (made on first use; `None` if it could not be mapped).
    view: OnceLock<Option<mapping::View>>,
}

/// Where an image's bytes are.
enum Bytes {
    /// A flat image: in `file`, from `offset` (a multiple of 64 KiB).
    InFile { file: File, offset: u64 },
    /// A layered image: the image below, with pages of its own over it.
    Layered(Layers),
}

/// What a layered image adds to the image below it.
struct Layers {
    /// The image below: a flat one.
    below: Arc<MemoryImage>,
    /// The page ranges `(offset, len)` whose bytes are in `pages` (one
    /// after the other), not the image below's; past the end of the image
    /// below, the bytes of no range are zero.
    ranges: Vec<(usize, usize)>,
    pages: Vec<u8>,
    /// The same image, flat, once a second memory was made from it
    /// (`None` if that failed).
    flat: OnceLock<Option<Arc<MemoryImage>>>,
    /// How many memories were made from it.
    uses: std::sync::atomic::AtomicUsize,
}

/// The most of its own pages a memory may have written for an image of it
/// to be layered: the first memory made from a layered image copies them.
const MAX_LAYERED: usize = 16 << 20;

/// How many spare memories an image keeps: enough for a pool's workers
/// each to end one interpreter while the next starts.
const MAX_SPARES: usize = 8;

/// The most a spare may hold of pages of its own (written, then reset):
/// what keeping it costs while it waits.
const MAX_SPARE_PRIVATE: usize = 4 << 20;

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
        Ok(MemoryImage::new(file, 0, len))
    }

    fn new(file: File, offset: u64, len: usize) -> Self {
        MemoryImage::with_bytes(Bytes::InFile { file, offset }, len)
    }

    fn with_bytes(bytes: Bytes, len: usize) -> Self {
        MemoryImage { bytes, len, spares: Mutex::new(Vec::new()), view: OnceLock::new() }
    }

    /// The image's layers, if it is layered.
    fn layers(&self) -> Option<&Layers> {
        match &self.bytes {
            Bytes::Layered(layers) => Some(layers),
            Bytes::InFile { .. } => None,
        }
    }

    /// An image of `memory`, which maps `mapped` (see [`Self::resolved`])
    /// and is idle: layered over the flat image below it if it wrote at
    /// most [`MAX_LAYERED`] bytes of pages of its own (which `PAGEMAP_SCAN`
    /// tells), else a flat copy.
    pub(crate) fn image_of(mapped: &Arc<MemoryImage>, memory: &[u8]) -> io::Result<Arc<MemoryImage>> {
        let below = mapped.layers().map_or(mapped, |layers| &layers.below);
        let written = mapping::pages_written(memory);
        let Some(ranges) = written.filter(|ranges| ranges.iter().map(|(_, len)| len).sum::<usize>() <= MAX_LAYERED)
        else {
            return Ok(Arc::new(MemoryImage::copy_of(memory)?));
        };
        let ranges = changed(&ranges, memory, below);
        let mut pages = Vec::with_capacity(ranges.iter().map(|(_, len)| len).sum());
        for &(offset, len) in &ranges {
            pages.extend_from_slice(&memory[offset..offset + len]);
        }
        let layers = Layers { below: below.clone(), ranges, pages, flat: OnceLock::new(), uses: Default::default() };
        Ok(Arc::new(MemoryImage::with_bytes(Bytes::Layered(layers), memory.len())))
    }

    /// What the next memory made from this image maps: the image itself,
    /// for the first memory made from a layered one (which copies its
    /// pages), then its flat copy, made once, here (if that fails, the
    /// layered image still serves). Most captures serve one fork (an
    /// agent's); a pool's serve many, which map the flat copy alone.
    pub(crate) fn resolved(self: &Arc<Self>) -> Arc<MemoryImage> {
        let Some(layers) = self.layers() else { return self.clone() };
        if layers.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            return self.clone();
        }
        match layers.flat.get_or_init(|| self.copied(|_| ()).ok().map(Arc::new)) {
            Some(flat) => flat.clone(),
            None => self.clone(),
        }
    }

    /// A copy of `memory`. Runs of zero pages are left as holes, which cost
    /// no memory.
    pub(crate) fn copy_of(memory: &[u8]) -> io::Result<Self> {
        let file = anonymous_file(memory.len())?;
        write_non_zero(&file, 0, memory)?;
        Ok(MemoryImage::new(file, 0, memory.len()))
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
        Ok(MemoryImage::new(file, offset, len))
    }

    /// The same memory in an anonymous file of its own, so that what is
    /// done to this image's file later cannot reach the copy; `inspect`
    /// sees every byte on the way (one pass over the file).
    pub(crate) fn copied(&self, inspect: impl FnMut(&[u8])) -> io::Result<Self> {
        let file = anonymous_file(self.len)?;
        self.write_into(&file, 0, inspect)?;
        Ok(MemoryImage::new(file, 0, self.len))
    }

    /// The memory's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The image's bytes, mapped (not read) from its file.
    fn bytes(&self) -> Option<&[u8]> {
        self.view
            .get_or_init(|| match &self.bytes {
                Bytes::InFile { file, offset } => mapping::View::new(file, *offset, self.len).ok(),
                Bytes::Layered(_) => None,
            })
            .as_ref()
            .map(|view| view.bytes())
    }

    /// The spares, whether or not a thread panicked holding them (a list
    /// of reset memories is whole between its pushes and removals).
    fn spares(&self) -> std::sync::MutexGuard<'_, Vec<mapping::Reservation>> {
        self.spares.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A spare memory of this image with the given layout, if one waits.
    fn take_spare(&self, capacity: usize, guard: usize) -> Option<mapping::Reservation> {
        let mut spares = self.spares();
        let at = spares.iter().position(|spare| spare.has_layout(capacity, guard))?;
        Some(spares.swap_remove(at))
    }

    /// Takes back a memory of this image whose interpreter ended: reset to
    /// the image, it is the next one's; else (too many spares, too much
    /// written, no `PAGEMAP_SCAN`) it is unmapped.
    fn give_back(&self, mut memory: mapping::Reservation) {
        // Checked before the reset too, which is not worth doing for a
        // memory that would be unmapped anyway. A memory of a layered image
        // is not reused: it maps the image below.
        if self.layers().is_some() || self.spares().len() >= MAX_SPARES {
            return;
        }
        if memory.reset_to(self).is_ok() {
            let mut spares = self.spares();
            if spares.len() < MAX_SPARES {
                spares.push(memory);
            }
        }
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
            self.read_at(&mut buffer[..chunk], done)?;
            f(&buffer[..chunk])?;
            done += chunk;
        }
        Ok(())
    }

    /// Reads the image's bytes from `at` into `buffer`, which must not
    /// reach past its end.
    fn read_at(&self, buffer: &mut [u8], at: usize) -> io::Result<()> {
        let layers = match &self.bytes {
            Bytes::InFile { file, offset } => return file.read_exact_at(buffer, offset + at as u64),
            Bytes::Layered(layers) => layers,
        };
        if let Some(Some(flat)) = layers.flat.get() {
            return flat.read_at(buffer, at);
        }
        let end = at + buffer.len();
        let from_below = layers.below.len.clamp(at, end) - at;
        layers.below.read_at(&mut buffer[..from_below], at)?;
        buffer[from_below..].fill(0);
        for (offset, pages) in layers.laid_over() {
            let (start, stop) = (offset.max(at), (offset + pages.len()).min(end));
            if start < stop {
                buffer[start - at..stop - at].copy_from_slice(&pages[start - offset..stop - offset]);
            }
        }
        Ok(())
    }
}

/// Of `ranges` (of pages `memory` wrote), the 4 KiB pages whose bytes are
/// not `below`'s (zeros past its end): about 40% of the pages a cell
/// writes are as they were (a reference count up and down again), and a
/// page left out is a page no copy of the memory copies. All of them where
/// `below` cannot be read.
fn changed(ranges: &[(usize, usize)], memory: &[u8], below: &MemoryImage) -> Vec<(usize, usize)> {
    let Some(was) = below.bytes() else { return ranges.to_vec() };
    let mut changed: Vec<(usize, usize)> = Vec::new();
    for &(offset, len) in ranges {
        for start in (offset..offset + len).step_by(ZERO_RUN) {
            let end = (start + ZERO_RUN).min(offset + len);
            let now = &memory[start..end];
            let same = match was.get(start..end) {
                Some(was) => now == was,
                None => start >= was.len() && now.iter().all(|&byte| byte == 0),
            };
            match changed.last_mut() {
                _ if same => {}
                Some((at, len)) if *at + *len == start => *len += end - start,
                _ => changed.push((start, end - start)),
            }
        }
    }
    changed
}

impl Layers {
    /// Each range laid over the image below, with its bytes.
    fn laid_over(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.ranges.iter().scan(0, |at, &(offset, len)| {
            let pages = &self.pages[*at..*at + len];
            *at += len;
            Some((offset, pages))
        })
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
    static NEXT_IMAGE: RefCell<Option<NextMemory>> = const { RefCell::new(None) };
}

/// What the next linear memory created on a thread is made of.
struct NextMemory {
    image: Arc<MemoryImage>,
    /// The module memory's minimum size in bytes.
    minimum: usize,
    /// What revokes it, if the runtime stops guests that way.
    tripwire: Option<Arc<Tripwire>>,
}

/// Runs `instantiate`, which must create one instance of the guest on this
/// thread, with `image` as its linear memory; `minimum` is the module
/// memory's declared minimum, in bytes; `tripwire`, if any, is attached to
/// the memory (and its growth goes through it). Fails if the memory was
/// not made from the image (the guest must never run on a memory of zeros).
pub(crate) fn instantiate_from<R>(
    image: &Arc<MemoryImage>,
    minimum: usize,
    tripwire: Option<Arc<Tripwire>>,
    instantiate: impl FnOnce() -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    NEXT_IMAGE.with(|next| *next.borrow_mut() = Some(NextMemory { image: image.clone(), minimum, tripwire }));
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
        let next = NEXT_IMAGE.with(|next| {
            let mut next = next.borrow_mut();
            let is_linear_memory = next.as_ref().is_some_and(|next| next.minimum == minimum && !ty.is_64());
            if is_linear_memory { next.take() } else { None }
        });
        let (image, tripwire) = match next {
            Some(NextMemory { image, tripwire, .. }) => (Some(image), tripwire),
            None => (None, None),
        };
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
        let spare = image.as_ref().and_then(|image| image.take_spare(reserved, guard));
        let memory = match spare {
            Some(mut spare) => {
                spare.grow_to(size, true).map_err(|err| err.to_string())?;
                spare
            }
            None => {
                mapping::Reservation::new(reserved, guard, image.as_deref(), size).map_err(|err| err.to_string())?
            }
        };
        if let Some(tripwire) = &tripwire {
            tripwire.attach(memory.base(), memory.size());
        }
        Ok(Box::new(ImageMemory { memory, image, tripwire }))
    }
}

/// One linear memory: its mapping, the image it maps (kept open), and what
/// revokes it.
struct ImageMemory {
    memory: mapping::Reservation,
    image: Option<Arc<MemoryImage>>,
    tripwire: Option<Arc<Tripwire>>,
}

impl Drop for ImageMemory {
    fn drop(&mut self) {
        if let Some(image) = &self.image {
            image.give_back(std::mem::take(&mut self.memory));
        }
    }
}

// SAFETY: as for `ImageMemories` above: `as_ptr` is the reservation's
// base, fixed for its life; `byte_size` bytes from it are accessible;
// `grow_to` makes more accessible (zero-filled) without moving it, and
// refuses to pass `byte_capacity`, the reservation less its guard. The one
// exception is a memory its tripwire revoked to stop the guest: then only
// the guest's compiled code and wasmtime's bulk memory routines run against
// it, and what they meet is a trap or a block given back (tripwire.rs).
unsafe impl LinearMemory for ImageMemory {
    fn byte_size(&self) -> usize {
        self.memory.size()
    }

    fn byte_capacity(&self) -> usize {
        self.memory.capacity()
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let memory = &mut self.memory;
        match &self.tripwire {
            Some(tripwire) => tripwire.grow(new_size, |revoked| memory.grow_to(new_size, !revoked)),
            None => memory.grow_to(new_size, true),
        }
        .map_err(wasmtime::Error::from)
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
        /// `capacity + guard`: what is unmapped on drop (none if zero).
        total: usize,
        capacity: usize,
        size: usize,
    }

    /// No reservation: what is left in a memory whose reservation went
    /// back to its image.
    impl Default for Reservation {
        fn default() -> Self {
            Reservation { base: std::ptr::null_mut(), total: 0, capacity: 0, size: 0 }
        }
    }

    // SAFETY: the reservation is plain memory owned by this value; wasmtime
    // moves memories between threads with their store, never sharing one.
    unsafe impl Send for Reservation {}
    unsafe impl Sync for Reservation {}

    impl Reservation {
        /// A memory of `size` bytes: `image`'s (zeros past its end), or
        /// zeros. A layered image's is the image below mapped, and the
        /// pages laid over it copied.
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
            let Some(image) = image else {
                reservation.grow_to(size, true)?;
                return Ok(reservation);
            };
            let flat = image.layers().map_or(image, |layers| &*layers.below);
            let (Bytes::InFile { file, offset }, true) = (&flat.bytes, size >= image.len) else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            let offset = libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: `[base, base + flat.len)` lies inside the reservation
            // made above (the caller checked `size <= capacity`, and
            // `size >= image.len >= flat.len`: an image is at least as long
            // as the one below it), which only this value owns, so
            // `MAP_FIXED` replaces nothing else. The file is open and at
            // least `offset + len` long (`MemoryImage::in_file` and
            // `anonymous_file`).
            let at = unsafe {
                libc::mmap(
                    base,
                    flat.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    file.as_raw_fd(),
                    offset,
                )
            };
            if at == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            reservation.size = flat.len;
            reservation.grow_to(size, true)?;
            for (offset, pages) in image.layers().into_iter().flat_map(Layers::laid_over) {
                if offset.checked_add(pages.len()).is_none_or(|end| end > image.len) {
                    return Err(io::Error::from(io::ErrorKind::InvalidData));
                }
                // SAFETY: `[offset, offset + len)` was just checked to lie
                // in the image, and so in the `size` accessible bytes of
                // this reservation, which no other code can reach yet (it
                // is being made).
                let memory = unsafe { std::slice::from_raw_parts_mut(reservation.base.add(offset), pages.len()) };
                memory.copy_from_slice(pages);
            }
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

        /// Whether this reservation is what a memory of `capacity` bytes
        /// with a guard of `guard` bytes needs.
        pub(super) fn has_layout(&self, capacity: usize, guard: usize) -> bool {
            self.total != 0 && self.capacity == capacity && capacity.checked_add(guard) == Some(self.total)
        }

        /// Makes this memory, which mapped `image` and whose store is gone,
        /// what a new mapping of `image` would be: its bytes past the image
        /// inaccessible zeros again, and every page of the image it wrote
        /// (found by `PAGEMAP_SCAN`) the image's bytes again. The pages it
        /// did not write still map the image's file. Fails, for the caller
        /// to unmap it, where that cannot be done or would keep more than
        /// [`MAX_SPARE_PRIVATE`] bytes.
        #[cfg(target_os = "linux")]
        pub(super) fn reset_to(&mut self, image: &MemoryImage) -> io::Result<()> {
            if self.total == 0 || self.size < image.len {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            }
            if self.size > image.len {
                let (at, len) = (self.base.wrapping_add(image.len), self.size - image.len);
                // SAFETY: `[at, at + len)` is the part of the reservation
                // that grew past the image, anonymous memory only this
                // value owns and no code can touch (its store is gone).
                // Made inaccessible, its pages discarded, it reads as zeros
                // when grown into again, as `grow_to` requires.
                let status = unsafe {
                    if libc::mprotect(at.cast(), len, libc::PROT_NONE) != 0 {
                        -1
                    } else {
                        libc::madvise(at.cast(), len, libc::MADV_DONTNEED)
                    }
                };
                if status != 0 {
                    return Err(io::Error::last_os_error());
                }
                self.size = image.len;
            }
            let written = written_pages::scan(self.base as u64, image.len)?;
            if written.iter().map(|(_, len)| len).sum::<usize>() > MAX_SPARE_PRIVATE {
                return Err(io::Error::from(io::ErrorKind::OutOfMemory));
            }
            let original = image.bytes();
            for (offset, len) in written {
                // SAFETY: `scan` returns page ranges inside `[base, base +
                // image.len)`, which is mapped readable and writable, owned
                // by this value alone, and touched by no code now (the
                // store that ran in it is gone).
                let pages = unsafe { std::slice::from_raw_parts_mut(self.base.add(offset), len) };
                match original {
                    // A copy in memory: no system call per range.
                    Some(original) => pages.copy_from_slice(&original[offset..offset + len]),
                    None => image.read_at(pages, offset)?,
                }
            }
            Ok(())
        }

        /// Elsewhere, memories are not reused.
        #[cfg(not(target_os = "linux"))]
        pub(super) fn reset_to(&mut self, _image: &MemoryImage) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }

        /// Makes the memory `new_size` bytes long; new bytes are zero, and
        /// `accessible` unless the memory is revoked (when they become so
        /// with the rest of it).
        pub(super) fn grow_to(&mut self, new_size: usize, accessible: bool) -> io::Result<()> {
            if new_size > self.capacity {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "a memory cannot grow past its reservation"));
            }
            if new_size > self.size && !accessible {
                self.size = new_size;
            } else if new_size > self.size {
                // SAFETY: `[base + size, base + new_size)` lies inside the
                // reservation (`new_size <= capacity`), is still the
                // `PROT_NONE` anonymous mapping made in `new`, untouched
                // or discarded by `reset_to` (memories shrink only there),
                // and so reads as zeros once accessible.
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
            if self.total == 0 {
                return;
            }
            // SAFETY: the whole reservation was mapped in `new` and is
            // owned by this value alone; wasmtime drops a memory only when
            // its store is gone and no code can touch it.
            unsafe {
                libc::munmap(self.base.cast(), self.total);
            }
        }
    }

    /// The page ranges `(offset, len)` of `memory` (a linear memory made
    /// by [`Reservation::new`], idle) that are its own rather than its
    /// image's files': written, or past the image and touched. `None` where
    /// the kernel cannot tell.
    pub(super) fn pages_written(memory: &[u8]) -> Option<Vec<(usize, usize)>> {
        #[cfg(target_os = "linux")]
        return written_pages::scan(memory.as_ptr() as u64, memory.len()).ok();
        #[cfg(not(target_os = "linux"))]
        return None;
    }

    /// A file's bytes mapped read-only and shared: pages of its page cache,
    /// never copied.
    pub(super) struct View {
        base: *const u8,
        len: usize,
    }

    // SAFETY: the mapping is read-only memory owned by this value; shared
    // references to it from any thread only read.
    unsafe impl Send for View {}
    unsafe impl Sync for View {}

    impl View {
        /// `len` bytes of `file` from `offset` (a multiple of the page
        /// size), which the caller vouches are not changed or truncated
        /// while the view lives.
        pub(super) fn new(file: &File, offset: u64, len: usize) -> io::Result<Self> {
            let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            if len == 0 {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            }
            // SAFETY: a new shared read-only mapping at an address the
            // kernel chooses; nothing else can be affected. The result is
            // checked.
            let base = unsafe {
                libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), offset)
            };
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(View { base: base.cast(), len })
        }

        pub(super) fn bytes(&self) -> &[u8] {
            // SAFETY: `len` bytes from `base` are mapped readable for the
            // view's life, and their file does not change (`new`'s caller
            // vouches), so they are never written while borrowed.
            unsafe { std::slice::from_raw_parts(self.base, self.len) }
        }
    }

    impl Drop for View {
        fn drop(&mut self) {
            // SAFETY: the mapping was made in `new` and is owned by this
            // value; the borrows `bytes` gave out end before it drops.
            unsafe {
                libc::munmap(self.base.cast_mut().cast(), self.len);
            }
        }
    }

    /// The kernel's `PAGEMAP_SCAN` (Linux 6.7): which pages of a private
    /// file mapping are no longer the file's.
    #[cfg(target_os = "linux")]
    mod written_pages {
        use std::fs::File;
        use std::io;
        use std::os::fd::AsRawFd;

        const PAGE_IS_FILE: u64 = 1 << 2;
        const PAGE_IS_PRESENT: u64 = 1 << 3;
        const PAGE_IS_SWAPPED: u64 = 1 << 4;

        /// `struct page_region` of `<linux/fs.h>`.
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct PageRegion {
            start: u64,
            end: u64,
            categories: u64,
        }

        /// `struct pm_scan_arg` of `<linux/fs.h>`.
        #[repr(C)]
        struct PmScanArg {
            size: u64,
            flags: u64,
            start: u64,
            end: u64,
            walk_end: u64,
            vec: u64,
            vec_len: u64,
            max_pages: u64,
            category_inverted: u64,
            category_mask: u64,
            category_anyof_mask: u64,
            return_mask: u64,
        }

        /// `_IOWR('f', 16, struct pm_scan_arg)` in the encoding of x86,
        /// Arm and RISC-V (`dir << 30 | size << 16 | type << 8 | nr`);
        /// other architectures encode ioctls differently and get
        /// `Unsupported`.
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
        const PAGEMAP_SCAN: u64 = (3 << 30) | ((size_of::<PmScanArg>() as u64) << 16) | ((b'f' as u64) << 8) | 16;

        /// The ranges `(offset, len)` of `[start, start + len)`, page
        /// aligned, whose pages are this process's own (written after a
        /// private file mapping was made, present or swapped out) rather
        /// than the file's. Pages never touched, or only read, map the
        /// file and are not listed.
        pub(super) fn scan(start: u64, len: usize) -> io::Result<Vec<(usize, usize)>> {
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
            return Err(io::Error::from(io::ErrorKind::Unsupported));
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
            {
                // Opened each time: a descriptor kept from before an
                // `os.fork()` would scan the parent's pages.
                let pagemap = File::open("/proc/self/pagemap")?;
                let end = start.checked_add(len as u64).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
                let mut regions = [PageRegion::default(); 128];
                let mut found = Vec::new();
                let mut at = start;
                while at < end {
                    let mut arg = PmScanArg {
                        size: size_of::<PmScanArg>() as u64,
                        flags: 0,
                        start: at,
                        end,
                        walk_end: 0,
                        vec: regions.as_mut_ptr() as u64,
                        vec_len: regions.len() as u64,
                        max_pages: 0,
                        category_inverted: PAGE_IS_FILE,
                        category_mask: PAGE_IS_FILE,
                        category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        return_mask: PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                    };
                    // SAFETY: `arg` is a `pm_scan_arg` of the size it
                    // declares, and `vec` points to `vec_len` writable
                    // `page_region`s, all alive across the call; the
                    // kernel only reads the page tables of `[at, end)`.
                    let count = unsafe { libc::ioctl(pagemap.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
                    let count = usize::try_from(count).map_err(|_| io::Error::last_os_error())?;
                    for region in regions.get(..count).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))? {
                        if region.start < at || region.end > end || region.start >= region.end {
                            return Err(io::Error::from(io::ErrorKind::InvalidData));
                        }
                        found.push(((region.start - start) as usize, (region.end - region.start) as usize));
                    }
                    if arg.walk_end <= at || arg.walk_end > end {
                        return Err(io::Error::from(io::ErrorKind::InvalidData));
                    }
                    at = arg.walk_end;
                }
                Ok(found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;
    const LEN: usize = 64 * PAGE;

    /// A memory made from `image` as an instance's would be, with a
    /// reservation of 1 MiB and a guard of 64 KiB.
    fn memory_of(image: &Arc<MemoryImage>) -> Box<dyn LinearMemory> {
        let ty = MemoryType::new(1, None);
        instantiate_from(image, LEN, None, || {
            ImageMemories.new_memory(ty, LEN, None, Some(1 << 20), 64 << 10).map_err(wasmtime::Error::msg)
        })
        .expect("memory")
    }

    fn bytes(memory: &dyn LinearMemory) -> &[u8] {
        // SAFETY: `byte_size()` bytes from `as_ptr()` are mapped and
        // readable while the memory lives, and nothing writes them while
        // this borrow of it lasts.
        unsafe { std::slice::from_raw_parts(memory.as_ptr(), memory.byte_size()) }
    }

    fn write(memory: &mut dyn LinearMemory, at: usize, what: &[u8]) {
        assert!(at + what.len() <= memory.byte_size());
        // SAFETY: the range was checked to lie in the accessible memory,
        // which this exclusive borrow alone touches.
        unsafe { std::ptr::copy_nonoverlapping(what.as_ptr(), memory.as_ptr().add(at), what.len()) }
    }

    fn pattern() -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / PAGE) as u8).collect();
        // Zero pages are holes in the image's file.
        bytes[8 * PAGE..12 * PAGE].fill(0);
        bytes
    }

    fn spares(image: &MemoryImage) -> usize {
        image.spares().len()
    }

    #[test]
    fn a_memory_is_its_image() {
        let image = Arc::new(MemoryImage::copy_of(&pattern()).expect("image"));
        let memory = memory_of(&image);
        assert_eq!(memory.byte_size(), LEN);
        assert!(bytes(&*memory) == pattern());
    }

    /// Writes pages of `memory` whole, in part, in a hole and at the end,
    /// then grows it and writes past the image.
    fn scribble(memory: &mut dyn LinearMemory) {
        write(memory, 0, b"secret");
        write(memory, 3 * PAGE + 100, &[0xAA; 2 * PAGE]);
        write(memory, 9 * PAGE, b"in a hole");
        write(memory, LEN - 6, b"secret");
        memory.grow_to(LEN + 4 * PAGE).expect("grow");
        write(memory, LEN + PAGE, b"grown");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_spare_memory_is_reset_to_its_image() {
        let image = Arc::new(MemoryImage::copy_of(&pattern()).expect("image"));
        let mut first = memory_of(&image);
        scribble(&mut *first);
        // A page only read.
        assert_eq!(bytes(&*first)[20 * PAGE], pattern()[20 * PAGE]);
        let base = first.as_ptr();
        drop(first);
        assert_eq!(spares(&image), 1);

        let mut second = memory_of(&image);
        assert_eq!(second.as_ptr(), base, "the spare is reused");
        assert_eq!(spares(&image), 0);
        assert_eq!(second.byte_size(), LEN);
        assert!(bytes(&*second) == pattern());
        second.grow_to(LEN + 4 * PAGE).expect("grow");
        assert!(bytes(&*second)[LEN..].iter().all(|&b| b == 0), "grown memory is zeros again");
    }

    /// The bytes a memory made from `image` has.
    fn made_from(image: &Arc<MemoryImage>) -> Vec<u8> {
        let memory = memory_of(image);
        bytes(&*memory).to_vec()
    }

    /// The bytes of `image` as a saved snapshot reads them.
    fn read_back(image: &MemoryImage) -> Vec<u8> {
        let mut read = Vec::new();
        image
            .for_each_chunk(|chunk| {
                read.extend_from_slice(chunk);
                Ok(())
            })
            .expect("read");
        read
    }

    #[test]
    fn an_image_of_a_memory_is_that_memory_layered_or_flat() {
        let image = Arc::new(MemoryImage::copy_of(&pattern()).expect("image"));
        let mut first = memory_of(&image);
        scribble(&mut *first);
        write(&mut *first, 30 * PAGE, &[0; PAGE]);
        // Written, but as they were: left out of a layer.
        write(&mut *first, 40 * PAGE, &pattern()[40 * PAGE..41 * PAGE]);
        write(&mut *first, LEN + 2 * PAGE, &[0; PAGE]);
        let expected = bytes(&*first).to_vec();

        let taken = MemoryImage::image_of(&image, bytes(&*first)).expect("image of it");
        // Layered where the kernel tells which pages were written.
        assert_eq!(taken.layers().is_some(), mapping::pages_written(bytes(&*first)).is_some());
        if let Some(layers) = taken.layers() {
            let pages: Vec<usize> = layers
                .ranges
                .iter()
                .flat_map(|&(offset, len)| (offset..offset + len).step_by(PAGE))
                .map(|at| at / PAGE)
                .collect();
            assert_eq!(pages, [0, 3, 4, 5, 9, 30, 63, 65], "the pages that changed");
        }
        // What the original writes next is its own.
        write(&mut *first, 0, b"later!");
        assert!(made_from(&taken) == expected);
        assert!(read_back(&taken) == expected);

        // A memory made from the layered image, written, and taken again:
        // laid over the same image below.
        let mapped = taken.resolved();
        assert!(Arc::ptr_eq(&mapped, &taken), "the first memory made from it maps it layered");
        let mut second = memory_of(&mapped);
        write(&mut *second, 20 * PAGE, b"second");
        let again = MemoryImage::image_of(&mapped, bytes(&*second)).expect("image of the copy");
        if let Some(layers) = again.layers() {
            let below = mapped.layers().map_or(&mapped, |layers| &layers.below);
            assert!(Arc::ptr_eq(&layers.below, below) && below.layers().is_none(), "layers do not stack");
        }
        let expected_again = bytes(&*second).to_vec();
        assert!(made_from(&again) == expected_again);

        // A second memory made from the layered image maps its flat copy,
        // and so do the memories made after it.
        if taken.layers().is_some() {
            let flat = taken.resolved();
            assert!(Arc::ptr_eq(&taken.resolved(), &flat));
            assert!(flat.layers().is_none(), "made flat");
            assert!(made_from(&flat) == expected);
            assert!(read_back(&taken) == expected);
        }
    }

    #[test]
    fn a_memory_that_wrote_much_is_copied_flat() {
        let len = MAX_LAYERED + 2 * PAGE;
        let image = Arc::new(MemoryImage::copy_of(&vec![1; len]).expect("image"));
        let ty = MemoryType::new(1, None);
        let mut memory = instantiate_from(&image, len, None, || {
            ImageMemories.new_memory(ty, len, None, Some(64 << 20), 0).map_err(wasmtime::Error::msg)
        })
        .expect("memory");
        for page in 0..len / PAGE {
            write(&mut *memory, page * PAGE, &[2]);
        }
        let taken = MemoryImage::image_of(&image, bytes(&*memory)).expect("image of it");
        assert!(taken.layers().is_none());
        assert!(read_back(&taken) == bytes(&*memory));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn spares_are_few_and_small() {
        let image = Arc::new(MemoryImage::copy_of(&pattern()).expect("image"));
        let memories: Vec<_> = (0..MAX_SPARES + 2).map(|_| memory_of(&image)).collect();
        drop(memories);
        assert_eq!(spares(&image), MAX_SPARES);

        // A memory that wrote more than a spare may keep is unmapped.
        let big = Arc::new(MemoryImage::copy_of(&vec![1; MAX_SPARE_PRIVATE + PAGE]).expect("image"));
        let ty = MemoryType::new(1, None);
        let len = MAX_SPARE_PRIVATE + PAGE;
        let mut memory = instantiate_from(&big, len, None, || {
            ImageMemories.new_memory(ty, len, None, Some(64 << 20), 0).map_err(wasmtime::Error::msg)
        })
        .expect("memory");
        for page in 0..len / PAGE {
            write(&mut *memory, page * PAGE, &[2]);
        }
        drop(memory);
        assert_eq!(spares(&big), 0);
    }
}
