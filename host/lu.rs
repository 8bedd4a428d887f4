//! LAPACK's LU factorisation with partial pivoting (`getrf`), computed
//! natively on a guest's memory.
//!
//! build.rs makes OpenBLAS's `sgetrf_single` and `dgetrf_single` hand their
//! work to the host first (see `build/gemm_hand_off.rs`), as the BLAS
//! drivers do: `np.linalg.solve`, `inv`, `det` and scipy's `lu_factor` all
//! reach them. [`Lu::read`] reads and checks the arguments as
//! `host/gemm.rs` does a product's (whatever it does not take, the guest
//! factorises itself); [`Lu::compute`] factorises in place, recursively as
//! LAPACK's `getrf2` does:
//! - the left half of the columns is factorised;
//! - its row swaps are applied to the right half;
//! - the top of the right half is solved with the left's unit lower
//!   triangle;
//! - the rest of the right half is updated by a product in parts
//!   (`host/gemm.rs`), with a check between parts of whether the run must
//!   stop;
//! - the rest of the right half is factorised, and its swaps applied to the
//!   left half.
//!
//! A single column is the base case: its pivot is chosen as LAPACK chooses
//! it (the first entry of largest magnitude); it is swapped into place and
//! the column below it is scaled. A zero pivot is neither swapped nor
//! divided by, and its column is reported in `info`. Nearly all the work
//! is in the products, which run as fast as a product does.
//!
//! The factors and pivots are LAPACK's: `A = P·L·U`, `ipiv` 1-based and in
//! the order the swaps are made, equal to a guest's own up to rounding.

use faer::linalg::triangular_solve::solve_unit_lower_triangular_in_place;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Conj, MatMut, Par};

use crate::gemm::{Block, Element, Operand, Parts, Scalar, read_i32s};

/// `getrf`'s first kind (see build/gemm_hand_off.rs): `128 + scalar`, for
/// `sgetrf_single` and `dgetrf_single`.
pub(crate) const GETRF_KIND: i32 = 128;

/// Factorisations of fewer multiply-adds than this stay in the guest.
pub(crate) const HAND_OFF_MIN_MULADDS: u64 = 64 * 64 * 64;

/// One `getrf` call's factorisation, read from the guest's memory and
/// checked.
#[derive(Debug)]
pub(crate) struct Lu {
    scalar: Scalar,
    a: Block,
    /// Where the pivots go: `min(m, n)` `i32`s.
    ipiv: u64,
    m: usize,
    n: usize,
}

/// What [`Lu::compute`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A holds L and U, and the pivots are written: LAPACK's `info` (0, or
    /// the 1-based column of the first zero pivot).
    Done(i32),
    /// The host did not take it: the guest factorises it itself.
    Declined,
    /// Asked to stop between two parts: A is partly factorised.
    Stopped,
}

impl Lu {
    /// The factorisation `getrf_single` (of `kind`) was called for, with its
    /// arguments at `args`: OpenBLAS's `blas_arg_t` with `a`, `c` (the
    /// pivots), `m`, `n` and `lda`. A call with a range (OpenBLAS's own
    /// recursion on a panel) is left to the guest, as is one LAPACK refuses.
    pub(crate) fn read(memory: &[u8], kind: i32, args: i32, range_m: i32, range_n: i32) -> Option<Lu> {
        let scalar = match kind.checked_sub(GETRF_KIND)? {
            0 => Scalar::F32,
            1 => Scalar::F64,
            _ => return None,
        };
        if range_m != 0 || range_n != 0 {
            return None;
        }
        let [a, _b, ipiv, _d, _alpha, _beta, m, n, _k, lda] = read_i32s::<10>(memory, args as u32)?;
        let count = |value: i32| usize::try_from(value).ok();
        let (m, n, lda) = (count(m)?, count(n)?, count(lda)?);
        if m == 0 || n == 0 || lda < m {
            return None;
        }
        let width = if scalar == Scalar::F32 { 4 } else { 8 };
        let a = Block::new(u64::from(a as u32), width, lda as u64, (0, 0), m as u64, n as u64)?;
        Some(Lu { scalar, a, ipiv: u64::from(ipiv as u32), m, n })
    }

    pub(crate) fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// About how many multiply-adds the factorisation takes.
    pub(crate) fn muladds(&self) -> u64 {
        let (m, n) = (self.m as u64, self.n as u64);
        m.saturating_mul(n).saturating_mul(m.min(n)) / 3
    }

    /// Factorises in `memory` with `T` its scalar (which must be
    /// [`Lu::scalar`]'s), `par` the threads for the trailing updates,
    /// asking `must_stop` between parts.
    pub(crate) fn compute<T: Real>(&self, memory: &mut [u8], par: Par, must_stop: impl Fn() -> bool) -> Outcome {
        match self.try_compute::<T>(memory, par, must_stop) {
            Some(outcome) => outcome,
            None => Outcome::Declined,
        }
    }

    fn try_compute<T: Real>(&self, memory: &mut [u8], par: Par, must_stop: impl Fn() -> bool) -> Option<Outcome> {
        if self.a.width() != std::mem::size_of::<T>() as u64 {
            return None;
        }
        let (m, n, lda) = (self.m, self.n, usize::try_from(self.a.ld()).ok()?);
        let steps = m.min(n);
        let size = memory.len() as u64;
        let a = self.a.bytes(size)?;
        let ipiv_start = usize::try_from(self.ipiv).ok()?;
        let ipiv = ipiv_start..ipiv_start.checked_add(4 * steps)?;
        if ipiv.end > memory.len() || (ipiv.start < a.end && a.start < ipiv.end) {
            return None;
        }
        let data: &mut [T] = bytemuck::try_cast_slice_mut(&mut memory[a]).ok()?;
        let matrix = MatMut::from_column_major_slice_with_stride_mut(data, m, n, lda);
        let mut pivots = vec![0; steps];
        let Ok(info) = factor(matrix, &mut pivots, par, &must_stop) else { return Some(Outcome::Stopped) };
        for (slot, &p) in memory[ipiv].chunks_exact_mut(4).zip(&pivots) {
            slot.copy_from_slice(&i32::try_from(p + 1).ok()?.to_le_bytes());
        }
        Some(Outcome::Done(i32::try_from(info).ok()?))
    }
}

/// Asked to stop.
struct Stopped;

/// Factorises `a` in place: `pivots` (`min(m, n)` of them) get the row
/// each step swapped with, 0-based; LAPACK's `info`, 0-based plus one, or 0.
fn factor<T: Real>(
    a: MatMut<'_, T>,
    pivots: &mut [usize],
    par: Par,
    must_stop: &impl Fn() -> bool,
) -> Result<usize, Stopped> {
    let (m, n) = (a.nrows(), a.ncols());
    if m == 1 || n == 1 {
        if must_stop() {
            return Err(Stopped);
        }
        return Ok(factor_column(a.col_mut(0), &mut pivots[0]));
    }
    let n1 = m.min(n) / 2;
    let (mut left, mut right) = a.split_at_col_mut(n1);
    let mut info = factor(left.rb_mut(), &mut pivots[..n1], par, must_stop)?;
    swap_rows(right.rb_mut(), &pivots[..n1], 0);
    let (mut a12, mut a22) = right.split_at_row_mut(n1);
    let l11 = left.rb().submatrix(0, 0, n1, n1);
    let columns = a12.ncols();
    for c in (0..columns).step_by(SOLVE_COLUMNS) {
        if must_stop() {
            return Err(Stopped);
        }
        let width = SOLVE_COLUMNS.min(columns - c);
        solve_unit_lower_triangular_in_place(l11, a12.rb_mut().subcols_mut(c, width), par);
    }
    let update = Parts {
        lhs: Operand { view: left.rb().submatrix(n1, 0, m - n1, n1), conj: Conj::No },
        rhs: Operand { view: a12.rb(), conj: Conj::No },
        alpha: -T::ONE,
        par,
        must_stop,
    };
    if !update.rectangle(a22.rb_mut(), Accum::Add) {
        return Err(Stopped);
    }
    let rest = &mut pivots[n1..];
    let info_rest = factor(a22, rest, par, must_stop)?;
    if info == 0 && info_rest > 0 {
        info = info_rest + n1;
    }
    rest.iter_mut().for_each(|p| *p += n1);
    swap_rows(left.rb_mut().subrows_mut(0, m), &pivots[n1..], n1);
    Ok(info)
}

/// Columns solved between two checks of whether to stop.
const SOLVE_COLUMNS: usize = 1024;

/// The base case, one column: chooses its pivot as LAPACK's `i?amax` does
/// (the first entry of largest magnitude; a NaN is never larger, so it is
/// chosen only if it comes first), swaps it to the top and scales the
/// entries below by it. Its info: 1 if the pivot is zero (then nothing is
/// swapped or scaled, as in LAPACK), else 0.
fn factor_column<T: Real>(mut column: faer::ColMut<'_, T>, pivot: &mut usize) -> usize {
    let m = column.nrows();
    let mut p = 0;
    let mut largest = column[0].abs();
    for i in 1..m {
        let magnitude = column[i].abs();
        if magnitude > largest {
            largest = magnitude;
            p = i;
        }
    }
    *pivot = p;
    let value = column[p];
    if value == T::ZERO {
        return 1;
    }
    if p != 0 {
        column[p] = column[0];
        column[0] = value;
    }
    // As LAPACK's `getf2`: by the reciprocal, unless it would overflow.
    if value.abs() >= T::MIN_POSITIVE {
        let reciprocal = T::ONE / value;
        for i in 1..m {
            column[i] = column[i] * reciprocal;
        }
    } else {
        for i in 1..m {
            column[i] = column[i] / value;
        }
    }
    0
}

/// Swaps, in every column of `a`, row `first + k` with row `pivots[k]`, in
/// order (LAPACK's `laswp`).
fn swap_rows<T: Real>(mut a: MatMut<'_, T>, pivots: &[usize], first: usize) {
    for c in 0..a.ncols() {
        let mut column = a.rb_mut().col_mut(c);
        for (k, &p) in pivots.iter().enumerate() {
            let row = first + k;
            if p != row {
                let value = column[p];
                column[p] = column[row];
                column[row] = value;
            }
        }
    }
}

/// The real scalars `getrf` is handed over for.
pub(crate) trait Real:
    Element + PartialOrd + std::ops::Sub<Output = Self> + std::ops::Div<Output = Self> + std::ops::Neg<Output = Self>
{
    /// The smallest positive normal number: LAPACK's `sfmin`, below which
    /// a reciprocal would overflow.
    const MIN_POSITIVE: Self;

    fn abs(self) -> Self;
}

impl Real for f32 {
    const MIN_POSITIVE: Self = f32::MIN_POSITIVE;

    fn abs(self) -> Self {
        f32::abs(self)
    }
}

impl Real for f64 {
    const MIN_POSITIVE: Self = f64::MIN_POSITIVE;

    fn abs(self) -> Self {
        f64::abs(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARGS: i32 = 0;
    const IPIV: u32 = 64;
    const A: u32 = 4096;

    /// A memory with `getrf`'s arguments at 0 (`a`, `c` = the pivots, `m`,
    /// `n`, `lda`), the pivots at 64 and A (column-major, f64) at 4096.
    fn memory(m: usize, n: usize, lda: usize, columns: &[f64]) -> Vec<u8> {
        let mut bytes = vec![0; A as usize + 8 * columns.len() + 64];
        let args = [A as i32, 0, IPIV as i32, 0, 0, 0, m as i32, n as i32, 0, lda as i32];
        for (i, value) in args.iter().enumerate() {
            bytes[4 * i..4 * i + 4].copy_from_slice(&value.to_le_bytes());
        }
        for (i, value) in columns.iter().enumerate() {
            let at = A as usize + 8 * i;
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    fn factors(bytes: &[u8], count: usize) -> Vec<f64> {
        (0..count).map(|i| f64::from_le_bytes(bytes[A as usize + 8 * i..][..8].try_into().unwrap())).collect()
    }

    fn pivots(bytes: &[u8], count: usize) -> Vec<i32> {
        (0..count).map(|i| i32::from_le_bytes(bytes[IPIV as usize + 4 * i..][..4].try_into().unwrap())).collect()
    }

    fn factorise(bytes: &mut [u8]) -> Outcome {
        let lu = Lu::read(bytes, GETRF_KIND + 1, ARGS, 0, 0).expect("a factorisation");
        lu.compute::<f64>(bytes, Par::Seq, || false)
    }

    #[test]
    fn a_known_factorisation_and_its_pivots() {
        // A = [[1, 2, 3], [4, 5, 6], [7, 8, 10]] (rows), column-major. LAPACK:
        // pivots 3, 3, 3; L = [[1], [1/7, 1], [4/7, 1/2, 1]];
        // U = [[7, 8, 10], [0, 6/7, 11/7], [0, 0, -1/2]].
        let mut bytes = memory(3, 3, 3, &[1.0, 4.0, 7.0, 2.0, 5.0, 8.0, 3.0, 6.0, 10.0]);
        assert_eq!(factorise(&mut bytes), Outcome::Done(0));
        assert_eq!(pivots(&bytes, 3), [3, 3, 3]);
        let want = [7.0, 1.0 / 7.0, 4.0 / 7.0, 8.0, 6.0 / 7.0, 0.5, 10.0, 11.0 / 7.0, -0.5];
        for (got, want) in factors(&bytes, 9).iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} != {want}");
        }
    }

    #[test]
    fn a_zero_pivot_is_reported_and_the_factorisation_goes_on() {
        // The second column is the first's double, and every multiplier
        // (1/4, 1/2) is exact: U's second pivot is exactly 0.
        let mut bytes = memory(3, 3, 3, &[1.0, 2.0, 4.0, 2.0, 4.0, 8.0, 0.0, 1.0, 5.0]);
        assert_eq!(factorise(&mut bytes), Outcome::Done(2));
        let lu = factors(&bytes, 9);
        assert_eq!(pivots(&bytes, 3)[0], 3);
        assert_eq!(lu[4], 0.0, "U[1][1]");
        assert!(lu.iter().all(|x| x.is_finite()), "{lu:?}");
    }

    #[test]
    fn a_larger_factorisation_reconstructs_its_matrix() {
        let (m, n, lda) = (150, 130, 151);
        let a: Vec<f64> = (0..lda * n).map(|i| ((i as u64 * 2654435761 % 1000) as f64) / 500.0 - 1.0).collect();
        let mut bytes = memory(m, n, lda, &a);
        assert_eq!(factorise(&mut bytes), Outcome::Done(0));
        let lu = factors(&bytes, a.len());
        let ipiv = pivots(&bytes, m.min(n));
        // P·A: A's rows swapped as the pivots say, in order.
        let mut pa = a.clone();
        for (j, &p) in ipiv.iter().enumerate() {
            for c in 0..n {
                pa.swap(c * lda + j, c * lda + p as usize - 1);
            }
        }
        for c in 0..n {
            for r in 0..m {
                let sum: f64 = (0..=r.min(c))
                    .map(|k| {
                        let l = if k == r { 1.0 } else { lu[k * lda + r] };
                        l * lu[c * lda + k]
                    })
                    .sum();
                assert!((sum - pa[c * lda + r]).abs() < 1e-9, "({r}, {c}): {sum} != {}", pa[c * lda + r]);
            }
        }
    }

    #[test]
    fn arguments_lapack_refuses_or_past_the_memory_are_left_to_the_guest() {
        let bytes = memory(4, 4, 4, &[1.0; 16]);
        let read = |bytes: &[u8]| Lu::read(bytes, GETRF_KIND + 1, ARGS, 0, 0);
        let forged = |m: i32, n: i32, lda: i32| {
            let mut bytes = bytes.clone();
            for (i, value) in [(6, m), (7, n), (9, lda)] {
                bytes[4 * i..4 * i + 4].copy_from_slice(&value.to_le_bytes());
            }
            bytes
        };
        assert!(read(&forged(-1, 4, 4)).is_none());
        assert!(read(&forged(4, 0, 4)).is_none());
        assert!(read(&forged(4, 4, 3)).is_none(), "lda < m");
        assert!(Lu::read(&bytes, GETRF_KIND + 1, ARGS, 0, 64).is_none(), "a range");
        assert!(Lu::read(&bytes, GETRF_KIND + 2, ARGS, 0, 0).is_none(), "a complex getrf");
        let declined = |mut bytes: Vec<u8>| {
            let before = bytes.clone();
            let outcome = read(&bytes).map(|lu| lu.compute::<f64>(&mut bytes, Par::Seq, || false));
            assert!(matches!(outcome, None | Some(Outcome::Declined)), "{outcome:?}");
            assert!(bytes == before, "the memory changed");
        };
        declined(forged(4, 1 << 20, 4));
        declined(forged(i32::MAX, i32::MAX, i32::MAX));
        let mut overlapping = bytes.clone();
        overlapping[8..12].copy_from_slice(&(A as i32 + 8).to_le_bytes());
        declined(overlapping);
        let mut misaligned = bytes.clone();
        misaligned[0..4].copy_from_slice(&(A as i32 + 4).to_le_bytes());
        declined(misaligned);
        let lu = read(&bytes).unwrap();
        let mut copy = bytes.clone();
        assert_eq!(lu.compute::<f32>(&mut copy, Par::Seq, || false), Outcome::Declined, "another scalar");
    }

    #[test]
    fn a_stop_ends_the_factorisation() {
        let mut bytes = memory(100, 100, 100, &[1.0; 10_000]);
        let lu = Lu::read(&bytes, GETRF_KIND + 1, ARGS, 0, 0).unwrap();
        assert_eq!(lu.compute::<f64>(&mut bytes, Par::Seq, || true), Outcome::Stopped);
    }
}
