//! The secret behind `hash()` of `str` and `bytes`: which one an
//! interpreter gets, as CPython's `PYTHONHASHSEED` chooses it.
//!
//! CPython draws the secret once, when it starts, and every string hashed
//! after depends on it, so it cannot change later. An interpreter here is a
//! copy of a template that started once; the secret is the template's.
//!
//! - **Not granted** ([`HashSeed::PerCache`]): the runtime's own template,
//!   booted once per cache folder with a secret drawn from the system's
//!   random source, and kept (owner-only) in the cache. Every process using
//!   that cache shares it. Drawing one per process, as CPython does, means
//!   starting CPython anew in every process: about 0.15 s, against 30 ms
//!   for a whole `isolate run` of a small script.
//! - **`PYTHONHASHSEED=random`** ([`HashSeed::Random`]): a template booted
//!   by this runtime, with a secret of its own: CPython's behaviour, at the
//!   cost of that boot, once per runtime.
//! - **`PYTHONHASHSEED=N`**, `N` in `0..=4294967295`
//!   ([`HashSeed::Fixed`]): the secret CPython derives from `N` (zero for
//!   0, which turns randomisation off), in a template booted by this
//!   runtime.
//!
//! The guest draws its secret as its first WASI `random_get` (build.rs
//! makes its start do so). A fixed seed is honoured by answering that draw
//! with the secret CPython derives from it: `wasi/random.rs` replaces
//! wasmtime-wasi's `random_get`, and gives a boot's [`PendingSecret`]
//! before anything from the system's random source.

use crate::error::{Error, Result};

/// Which secret an interpreter's hashes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum HashSeed {
    /// Drawn when the cache's template was booted.
    #[default]
    PerCache,
    /// Drawn when this runtime boots a template for it.
    Random,
    /// CPython's `PYTHONHASHSEED=N`.
    Fixed(u32),
}

/// The variable that chooses, as in CPython.
pub(crate) const VARIABLE: &str = "PYTHONHASHSEED";

/// The size of CPython's `_Py_HashSecret_t`.
const SECRET_LEN: usize = 24;

impl HashSeed {
    /// The seed an environment chooses. As in CPython, an empty value is
    /// no value; the last of several wins, as in `os.environ`.
    pub(crate) fn of_environment(env: &[(String, String)]) -> Result<HashSeed> {
        let Some((_, value)) = env.iter().rev().find(|(key, _)| key == VARIABLE) else {
            return Ok(HashSeed::PerCache);
        };
        match value.as_str() {
            "" => Ok(HashSeed::PerCache),
            "random" => Ok(HashSeed::Random),
            digits => match digits.parse::<u32>() {
                Ok(seed) if digits.bytes().all(|byte| byte.is_ascii_digit()) => Ok(HashSeed::Fixed(seed)),
                _ => Err(Error::Config(format!(
                    "{VARIABLE} must be \"random\" or an integer in range [0; 4294967295], not {value:?}"
                ))),
            },
        }
    }

    /// What a template's boot answers its first draws with: `None` for
    /// the system's random source.
    pub(crate) fn pending_secret(self) -> Option<PendingSecret> {
        match self {
            HashSeed::PerCache | HashSeed::Random => None,
            HashSeed::Fixed(seed) => Some(PendingSecret { bytes: derived_secret(seed), given: 0 }),
        }
    }
}

/// The secret CPython derives from `PYTHONHASHSEED=seed`
/// (`Python/bootstrap_hash.c`): zero for 0, else the bytes of a linear
/// congruential generator.
fn derived_secret(seed: u32) -> [u8; SECRET_LEN] {
    let mut secret = [0; SECRET_LEN];
    if seed != 0 {
        let mut x = seed;
        for byte in &mut secret {
            x = x.wrapping_mul(214_013).wrapping_add(2_531_011);
            *byte = (x >> 16) as u8;
        }
    }
    secret
}

/// A secret a store's first draws get, in order, before the system's
/// random source answers.
#[derive(Debug)]
pub(crate) struct PendingSecret {
    bytes: [u8; SECRET_LEN],
    given: usize,
}

impl PendingSecret {
    /// The next at most `len` bytes of the secret.
    pub(crate) fn take(&mut self, len: usize) -> &[u8] {
        let from = self.given;
        self.given += len.min(SECRET_LEN - from);
        &self.bytes[from..self.given]
    }

    /// Whether every byte of the secret was given.
    pub(crate) fn is_spent(&self) -> bool {
        self.given == SECRET_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(value: &str) -> Vec<(String, String)> {
        vec![(VARIABLE.to_owned(), value.to_owned())]
    }

    #[test]
    fn the_environment_chooses_as_in_cpython() {
        assert_eq!(HashSeed::of_environment(&[]).unwrap(), HashSeed::PerCache);
        assert_eq!(HashSeed::of_environment(&env("")).unwrap(), HashSeed::PerCache);
        assert_eq!(HashSeed::of_environment(&env("random")).unwrap(), HashSeed::Random);
        assert_eq!(HashSeed::of_environment(&env("0")).unwrap(), HashSeed::Fixed(0));
        assert_eq!(HashSeed::of_environment(&env("4294967295")).unwrap(), HashSeed::Fixed(u32::MAX));
        for bad in ["4294967296", "-1", "+1", " 1", "0x10", "Random"] {
            assert!(matches!(HashSeed::of_environment(&env(bad)), Err(Error::Config(_))), "{bad}");
        }
        let twice = [env("1"), env("2")].concat();
        assert_eq!(HashSeed::of_environment(&twice).unwrap(), HashSeed::Fixed(2));
    }

    #[test]
    fn a_fixed_seed_gives_cpythons_secret_once_in_order() {
        // CPython's lcg_urandom(1): x = x * 214013 + 2531011, byte = x >> 16.
        let mut pending = HashSeed::Fixed(1).pending_secret().unwrap();
        assert_eq!(pending.take(3), [0x29, 0x23, 0xbe].as_slice());
        assert_eq!(pending.take(100), &derived_secret(1)[3..]);
        assert!(pending.take(4).is_empty());
        assert_eq!(HashSeed::Fixed(0).pending_secret().unwrap().take(24), [0; SECRET_LEN].as_slice());
        assert!(HashSeed::Random.pending_secret().is_none());
        assert!(HashSeed::PerCache.pending_secret().is_none());
    }
}
