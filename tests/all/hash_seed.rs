//! The secret behind `hash()` of `str` and `bytes`: random unless
//! `PYTHONHASHSEED` is granted, and then CPython's own for the seed.

use isolate::{Error, Runtime};

use crate::cli::isolate;
use crate::runtime;

/// `hash(text)` as CPython computes it on a 32-bit build (the guest's
/// `Py_hash_t` is 32 bits): SipHash-1-3 keyed with the first 16 bytes of
/// the secret, truncated, -1 made -2.
fn cpython_hash(secret: &[u8; 24], text: &[u8]) -> i32 {
    let k0 = u64::from_le_bytes(secret[..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(secret[8..16].try_into().unwrap());
    let mut v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let m = u64::from_le_bytes(chunk.try_into().unwrap());
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = (text.len() as u64 & 0xff) << 56;
    for (i, byte) in chunks.remainder().iter().enumerate() {
        last |= u64::from(*byte) << (8 * i);
    }
    v[3] ^= last;
    round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..3 {
        round(&mut v);
    }
    match (v[0] ^ v[1] ^ v[2] ^ v[3]) as u32 as i32 {
        -1 => -2,
        hash => hash,
    }
}

/// The secret CPython derives from `PYTHONHASHSEED=seed`
/// (`Python/bootstrap_hash.c`, `lcg_urandom`); zero for 0.
fn cpython_secret(seed: u32) -> [u8; 24] {
    let mut secret = [0; 24];
    let mut x = seed;
    for byte in secret.iter_mut().filter(|_| seed != 0) {
        x = x.wrapping_mul(214013).wrapping_add(2531011);
        *byte = (x >> 16) as u8;
    }
    secret
}

const PROBE: &str = "print(hash('abc'), hash(b'some bytes, longer than eight'), sys.flags.hash_randomization)";

fn probe(runtime: &Runtime, seed: Option<&str>) -> (i32, i32, String) {
    let mut builder = runtime.interpreter();
    if let Some(seed) = seed {
        builder = builder.env("PYTHONHASHSEED", seed);
    }
    let interp = builder.build().unwrap();
    interp.run(&format!("import sys\n{PROBE}")).unwrap();
    let printed = interp.take_stdout().text();
    let mut fields = printed.split_whitespace();
    let mut hash = || fields.next().unwrap().parse::<i32>().unwrap();
    let (text, bytes) = (hash(), hash());
    (text, bytes, fields.next().unwrap().to_owned())
}

#[test]
fn the_checker_agrees_with_cpythons_published_algorithm() {
    // With PYTHONHASHSEED=0, a 64-bit CPython's hash('abc') is
    // -4594863902769663758, whose low 32 bits this is.
    assert_eq!(cpython_hash(&cpython_secret(0), b"abc"), (-4594863902769663758_i64 as u64 as u32) as i32);
}

#[test]
fn a_granted_seed_gives_cpythons_hashes_for_it() {
    for seed in [0, 1, 12345, u32::MAX] {
        let (text, bytes, _) = probe(runtime(), Some(&seed.to_string()));
        let secret = cpython_secret(seed);
        assert_eq!(text, cpython_hash(&secret, b"abc"), "seed {seed}");
        assert_eq!(bytes, cpython_hash(&secret, b"some bytes, longer than eight"), "seed {seed}");
    }
}

#[test]
fn without_a_seed_the_secret_is_random_not_the_snapshots_zero() {
    let (text, bytes, randomized) = probe(runtime(), None);
    assert_eq!(randomized, "1");
    // A random secret meets the zero one with odds of 2^-32 per value.
    let zero = cpython_secret(0);
    assert!(text != cpython_hash(&zero, b"abc") || bytes != cpython_hash(&zero, b"some bytes, longer than eight"));
    // Interpreters of one runtime are copies of one template: one secret.
    assert_eq!(probe(runtime(), None), (text, bytes, randomized));
}

#[test]
fn random_draws_a_secret_per_runtime_that_its_interpreters_share() {
    let other = Runtime::new().unwrap();
    let first = probe(runtime(), Some("random"));
    assert_eq!(probe(runtime(), Some("random")), first);
    assert_ne!(probe(&other, Some("random")), first);
    assert_ne!(probe(runtime(), None), first);
}

#[test]
fn interpreters_created_by_python_share_their_creators_secret() {
    let interp = runtime().interpreter().env("PYTHONHASHSEED", "1").build().unwrap();
    interp
        .run(
            "from concurrent import interpreters\n\
             child = interpreters.create()\n\
             print(child.call(hash, 'abc'), child.call(eval, \"__import__('os').environ.get('PYTHONHASHSEED')\"))",
        )
        .unwrap();
    let expected = cpython_hash(&cpython_secret(1), b"abc");
    // The seed carries over, not the variable: a child sees no environment.
    assert_eq!(interp.take_stdout().text(), format!("{expected} None\n"));
}

#[test]
fn a_seed_cpython_would_refuse_is_a_config_error() {
    for bad in ["-1", "4294967296", "0x10", " 1", "Random"] {
        let err = runtime().interpreter().env("PYTHONHASHSEED", bad).build().unwrap_err();
        assert!(matches!(&err, Error::Config(message) if message.contains("PYTHONHASHSEED")), "{bad}: {err}");
    }
    // Empty is unset, as in CPython.
    assert_eq!(probe(runtime(), Some("")), probe(runtime(), None));
}

#[test]
fn the_cli_passes_a_seed_through_and_runs_are_reproducible() {
    let run = |seed: &str| {
        let out = isolate()
            .args(["run", "--env", "PYTHONHASHSEED", "-c", "print(hash('abc'))"])
            .env("PYTHONHASHSEED", seed)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().parse::<i32>().unwrap()
    };
    assert_eq!(run("12345"), cpython_hash(&cpython_secret(12345), b"abc"));
    assert_eq!(run("12345"), run("12345"));
    assert_ne!(run("random"), run("random"));
}
