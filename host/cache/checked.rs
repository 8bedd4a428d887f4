//! The record that a file passed its check: kept beside the file, it holds
//! what the file should be (such as its hash; nothing if the file says so
//! itself) and the identity of the file last found to be it. A file with
//! that identity is not checked again: hashing the 280 MB compiled guest took
//! 60 of a warm start's 140 ms, and the template's 100 MB about 40. A file
//! written, replaced or copied since has another identity, and is checked.

use std::fs;
use std::path::Path;

use super::write_atomically;

const IDENTITY_LEN: usize = 8 + 16 + 8;

/// What tells a file apart from one written or copied since: its size,
/// modification time and inode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity([u8; IDENTITY_LEN]);

impl Identity {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        let mut identity = [0; IDENTITY_LEN];
        identity[..8].copy_from_slice(&meta.len().to_le_bytes());
        let modified = meta.modified().ok().and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok());
        identity[8..24].copy_from_slice(&modified.map_or(0, |time| time.as_nanos()).to_le_bytes());
        #[cfg(unix)]
        identity[24..].copy_from_slice(&std::os::unix::fs::MetadataExt::ino(meta).to_le_bytes());
        Identity(identity)
    }
}

/// A record read from its file.
pub(crate) struct Record {
    /// What the file should be: `expected_len` bytes.
    pub(crate) expected: Vec<u8>,
    /// The identity of the file last found to be it, if one was.
    passed: Option<Identity>,
}

impl Record {
    /// The record at `path`, whose statement of what the file should be is
    /// `expected_len` bytes long; `None` if there is none, or it is not one.
    pub(crate) fn read(path: &Path, expected_len: usize) -> Option<Record> {
        let bytes = fs::read(path).ok()?;
        if bytes.len() == expected_len {
            // Written before any file was found to match.
            return Some(Record { expected: bytes, passed: None });
        }
        if bytes.len() != expected_len + IDENTITY_LEN {
            return None;
        }
        let (expected, identity) = bytes.split_at(expected_len);
        Some(Record { expected: expected.to_vec(), passed: Some(Identity(identity.try_into().ok()?)) })
    }

    /// Whether the file of this `identity` passed already.
    pub(crate) fn passed(&self, identity: Identity) -> bool {
        self.passed == Some(identity)
    }

    /// Records at `path` that the file of `identity` is what `expected` says.
    /// Best effort: a record that cannot be written only costs the next
    /// process a check.
    pub(crate) fn write(path: &Path, expected: &[u8], identity: Identity) {
        let _ = write_atomically(path, &[expected, &identity.0[..]].concat());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_for_the_very_file_it_was_written_for() {
        let dir = std::env::temp_dir().join(format!("isolate-checked-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (file, record) = (dir.join("file"), dir.join("file.checked"));
        fs::write(&file, b"contents").unwrap();
        let identity = Identity::of(&fs::metadata(&file).unwrap());
        assert!(Record::read(&record, 4).is_none(), "no record yet");
        Record::write(&record, b"sum!", identity);
        let read = Record::read(&record, 4).unwrap();
        assert!(read.passed(identity));
        assert_eq!(read.expected, b"sum!");
        // Replaced (as a cache file is): another file, checked again.
        let replacement = dir.join("replacement");
        fs::write(&replacement, b"contents").unwrap();
        fs::rename(&replacement, &file).unwrap();
        assert!(!read.passed(Identity::of(&fs::metadata(&file).unwrap())));
        // A record of the wrong length is no record.
        assert!(Record::read(&record, 5).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
