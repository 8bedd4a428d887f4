//! The guest's matrix products, computed natively on its memory.
//!
//! build.rs makes each of OpenBLAS's level-3 drivers (`dgemm_nn`,
//! `zgemm_ct`, ...) begin by handing its operation to the host (see
//! `build/gemm_hand_off.rs`): the driver's kind and the address of its
//! `blas_arg_t`, and of its row and column ranges. [`Product::read`] reads
//! them from the guest's memory and checks them; [`Product::compute`]
//! computes `C = alpha·op(A)·op(B) + beta·C` with faer, in place, on the
//! guest's own bytes.
//!
//! Nothing the guest hands over is trusted. Every operand's extent is
//! computed with checked arithmetic from its address, its dimensions and
//! its leading dimension, and must lie inside the memory; the operands are
//! then borrowed as slices, C's mutably and apart from A's and B's. A
//! product the host does not take is left to the guest's own kernels, which
//! are sandboxed like any guest code: one too small to pay for the hand-off,
//! one whose operands overlap C or are misaligned, one with arguments
//! BLAS does not allow, or with `alpha == 0` (where BLAS must not read A
//! and B at all). So a forged call can never make the host read or write
//! outside the guest's memory, nor fault: at worst the guest computes
//! garbage for itself.

use std::ops::Range;

use bytemuck::Pod;
use faer::linalg::matmul::matmul_with_conj;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::ReborrowMut;
use faer::traits::ComplexField;
use faer::{Accum, Conj, MatMut, MatRef, Par};
use num_complex::Complex;

/// Products of fewer multiply-adds than this stay in the guest, where a
/// small product costs less than the hand-off (measured: see the README's
/// Scientific Python section).
pub(crate) const HAND_OFF_MIN_MULADDS: u64 = 32 * 32 * 32;

/// How much of a product is computed between two checks of whether the run
/// must stop: a few milliseconds.
const MULADDS_PER_CHECK: usize = 1 << 27;

/// The deepest part a product is split into along its inner dimension.
const DEPTH_MAX: usize = 2048;

/// The shape (rows, columns, depth) of the parts a product of `rows ×
/// cols` over `depth` is computed in: each at most [`MULADDS_PER_CHECK`]
/// multiply-adds, and as square as that allows, since each part packs its
/// operands anew (a part of `r × c` packs `(r + c)·depth` elements for
/// `r·c·depth` multiply-adds).
fn part_shape(rows: usize, cols: usize, depth: usize) -> (usize, usize, usize) {
    let depth = depth.clamp(1, DEPTH_MAX);
    let area = (MULADDS_PER_CHECK / depth).max(1);
    let side = area.isqrt();
    let part_rows = rows.min(side.max(area / cols.max(1))).max(1);
    let part_cols = cols.min((area / part_rows).max(1)).max(1);
    (part_rows, part_cols, depth)
}

/// The scalar type of a driver, as the first part of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    F32,
    F64,
    C32,
    C64,
}

/// What a driver does to an operand before the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// As it is (BLAS's `N`).
    Plain,
    /// Transposed (`T`).
    Transpose,
    /// Conjugated (OpenBLAS's `R`).
    Conjugate,
    /// Conjugated and transposed (`C`).
    Adjoint,
}

impl Op {
    fn of(bits: u32) -> Op {
        [Op::Plain, Op::Transpose, Op::Conjugate, Op::Adjoint][bits as usize & 3]
    }

    fn transposes(self) -> bool {
        matches!(self, Op::Transpose | Op::Adjoint)
    }

    fn conj(self) -> Conj {
        if matches!(self, Op::Conjugate | Op::Adjoint) { Conj::Yes } else { Conj::No }
    }
}

/// A block of a column-major matrix in the guest's memory: `rows × cols`
/// elements of `width` bytes from byte `start`, a column every `ld`
/// elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    start: u64,
    rows: u64,
    cols: u64,
    ld: u64,
    width: u64,
}

impl Block {
    /// The block of `rows × cols` elements at row `row` and column `col` of
    /// the matrix at `address`.
    pub(crate) fn new(
        address: u64,
        width: u64,
        ld: u64,
        (row, col): (u64, u64),
        rows: u64,
        cols: u64,
    ) -> Option<Block> {
        let offset = col.checked_mul(ld)?.checked_add(row)?.checked_mul(width)?;
        Some(Block { start: address.checked_add(offset)?, rows, cols, ld, width })
    }

    /// The size of its elements, in bytes.
    pub(crate) fn width(&self) -> u64 {
        self.width
    }

    /// Its leading dimension, in elements.
    pub(crate) fn ld(&self) -> u64 {
        self.ld
    }

    /// The bytes the block spans, if it lies inside a memory of `size`
    /// bytes.
    pub(crate) fn bytes(&self, size: u64) -> Option<Range<usize>> {
        let elements = match self.cols.checked_sub(1) {
            Some(before_last) => before_last.checked_mul(self.ld)?.checked_add(self.rows)?,
            None => 0,
        };
        let end = self.start.checked_add(elements.checked_mul(self.width)?)?;
        (end <= size).then_some(usize::try_from(self.start).ok()?..usize::try_from(end).ok()?)
    }
}

/// One driver call's product, read from the guest's memory and checked.
#[derive(Debug)]
pub(crate) struct Product {
    scalar: Scalar,
    op_a: Op,
    op_b: Op,
    /// The block of A that `op(A)`'s rows `m_from..m_to` come from.
    a: Block,
    /// The block of B that `op(B)`'s columns `n_from..n_to` come from (A's
    /// own, for a rank-k update).
    b: Block,
    /// The block of C the product updates.
    c: Block,
    /// Where alpha and beta are (beta may be absent: `C += alpha·AB`).
    alpha: u64,
    beta: Option<u64>,
    /// The inner dimension.
    k: u64,
    /// For a rank-k update (`syrk`, `herk`), the triangle of C it updates.
    triangle: Option<Triangle>,
}

/// The triangle of C a rank-k update (`C = alpha·A·Aᵀ + beta·C`, or `Aᴴ`
/// for `herk`) computes: BLAS leaves the other untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Triangle {
    lower: bool,
    /// `herk`: alpha and beta are real, and C's diagonal is made real.
    hermitian: bool,
}

/// What [`Product::compute`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// C holds the result.
    Done,
    /// The host did not take it: the guest computes it itself.
    Declined,
    /// `must_stop` answered true between two parts: C is partly updated,
    /// as it would be by a guest stopped inside its own kernel.
    Stopped,
}

/// Reads little-endian `i32`s at `at` in `memory`, if they are all inside.
pub(crate) fn read_i32s<const N: usize>(memory: &[u8], at: u32) -> Option<[i32; N]> {
    let start = usize::try_from(at).ok()?;
    let bytes = memory.get(start..start.checked_add(4 * N)?)?;
    let mut out = [0; N];
    for (value, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *value = i32::from_le_bytes(chunk.try_into().ok()?);
    }
    Some(out)
}

/// The kinds of the drivers (see build/gemm_hand_off.rs): `gemm`'s are
/// `16·scalar + 4·op(A) + op(B)`; `syrk`'s and `herk`'s are
/// `RANK_K + 16·scalar + 8·herk + 2·lower + transposed`.
const RANK_K: u32 = 64;

impl Product {
    /// The product a driver of `kind` was called for, with its arguments
    /// at `args` and its ranges at `range_m` and `range_n` (0 for none),
    /// or `None` if the host should not take it (see the module's comment).
    ///
    /// OpenBLAS's `blas_arg_t` on wasm32 begins with the pointers `a, b, c,
    /// d, alpha, beta` and the `BLASLONG`s (`i32`) `m, n, k, lda, ldb, ldc`;
    /// a range is two `BLASLONG`s, from and to.
    pub(crate) fn read(memory: &[u8], kind: i32, args: i32, range_m: i32, range_n: i32) -> Option<Product> {
        let kind = u32::try_from(kind).ok().filter(|kind| *kind < 2 * RANK_K)?;
        let scalar = [Scalar::F32, Scalar::F64, Scalar::C32, Scalar::C64][(kind as usize >> 4) & 3];
        let width = [4, 8, 8, 16][scalar as usize];
        let [a, b, c, _d, alpha, beta, m, n, k, lda, ldb, ldc] = read_i32s::<12>(memory, args as u32)?;
        let address = |pointer: i32| u64::from(pointer as u32);
        let count = |value: i32| u64::try_from(value).ok();
        let (m, n, k) = (count(m)?, count(n)?, count(k)?);
        let (lda, ldb, ldc) = (count(lda)?, count(ldb)?, count(ldc)?);
        let beta = (beta != 0).then(|| address(beta));
        if alpha == 0 || k == 0 {
            return None;
        }

        if kind >= RANK_K {
            // C is n×n; A is n×k (k×n transposed), and B is A. OpenBLAS's
            // interface passes no ranges: a caller that does is left to
            // the guest.
            let triangle = Triangle { lower: kind & 2 != 0, hermitian: kind & 8 != 0 };
            if range_m != 0
                || range_n != 0
                || n == 0
                || (triangle.hermitian && matches!(scalar, Scalar::F32 | Scalar::F64))
            {
                return None;
            }
            let transposed = kind & 1 != 0;
            let flip = if triangle.hermitian { Op::Adjoint } else { Op::Transpose };
            let (op_a, op_b) = if transposed { (flip, Op::Plain) } else { (Op::Plain, flip) };
            let (rows, cols) = if transposed { (k, n) } else { (n, k) };
            let a = Block::new(address(a), width, lda, (0, 0), rows, cols)?;
            let c = Block::new(address(c), width, ldc, (0, 0), n, n)?;
            if lda < rows.max(1) || ldc < n.max(1) {
                return None;
            }
            let b = a.clone();
            return Some(Product {
                scalar,
                op_a,
                op_b,
                a,
                b,
                c,
                alpha: address(alpha),
                beta,
                k,
                triangle: Some(triangle),
            });
        }

        let (op_a, op_b) = (Op::of(kind >> 2), Op::of(kind));
        let range = |at: i32, whole: u64| -> Option<(u64, u64)> {
            if at == 0 {
                return Some((0, whole));
            }
            let [from, to] = read_i32s::<2>(memory, at as u32)?;
            let (from, to) = (count(from)?, count(to)?);
            (from <= to && to <= whole).then_some((from, to))
        };
        let (m_from, m_to) = range(range_m, m)?;
        let (n_from, n_to) = range(range_n, n)?;
        let (rows, cols) = (m_to - m_from, n_to - n_from);
        if rows == 0 || cols == 0 {
            return None;
        }
        // The stored operands: A is m×k (k×m to be transposed), B is k×n
        // (n×k), and BLAS wants each leading dimension at least its rows.
        let a = match op_a.transposes() {
            false => Block::new(address(a), width, lda, (m_from, 0), rows, k)?,
            true => Block::new(address(a), width, lda, (0, m_from), k, rows)?,
        };
        let b = match op_b.transposes() {
            false => Block::new(address(b), width, ldb, (0, n_from), k, cols)?,
            true => Block::new(address(b), width, ldb, (n_from, 0), cols, k)?,
        };
        let c = Block::new(address(c), width, ldc, (m_from, n_from), rows, cols)?;
        let whole_a_rows = if op_a.transposes() { k } else { m };
        let whole_b_rows = if op_b.transposes() { n } else { k };
        if lda < whole_a_rows.max(1) || ldb < whole_b_rows.max(1) || ldc < m.max(1) {
            return None;
        }
        Some(Product { scalar, op_a, op_b, a, b, c, alpha: address(alpha), beta, k, triangle: None })
    }

    pub(crate) fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// How many multiply-adds the product takes.
    pub(crate) fn muladds(&self) -> u64 {
        let all = self.c.rows.saturating_mul(self.c.cols).saturating_mul(self.k);
        if self.triangle.is_some() { all / 2 } else { all }
    }

    /// Computes the product in `memory` with `T` its scalar (which must be
    /// [`Product::scalar`]'s), `par` the threads to use, asking
    /// `must_stop` between parts.
    pub(crate) fn compute<T: Element>(&self, memory: &mut [u8], par: Par, must_stop: impl Fn() -> bool) -> Outcome {
        match self.try_compute::<T>(memory, par, must_stop) {
            Some(outcome) => outcome,
            None => Outcome::Declined,
        }
    }

    fn try_compute<T: Element>(&self, memory: &mut [u8], par: Par, must_stop: impl Fn() -> bool) -> Option<Outcome> {
        if self.c.width != std::mem::size_of::<T>() as u64 {
            return None;
        }
        let size = memory.len() as u64;
        let (a, b, c) = (self.a.bytes(size)?, self.b.bytes(size)?, self.c.bytes(size)?);
        let apart = |x: &Range<usize>| x.end <= c.start || c.end <= x.start;
        if !apart(&a) || !apart(&b) {
            return None;
        }
        let hermitian = self.triangle.is_some_and(|triangle| triangle.hermitian);
        let scalar = |at: u64| if hermitian { T::read_real(memory, at) } else { T::read(memory, at) };
        let alpha = scalar(self.alpha)?;
        let beta = match self.beta {
            Some(at) => Some(scalar(at)?),
            None => None,
        };
        if alpha == T::ZERO {
            return None;
        }

        // C apart from the rest, so that A and B can be read while C is
        // written.
        let (below, rest) = memory.split_at_mut(c.start);
        let (c_bytes, above) = rest.split_at_mut(c.end - c.start);
        let operand = |range: &Range<usize>| -> &[u8] {
            if range.end <= c.start { &below[range.clone()] } else { &above[range.start - c.end..range.end - c.end] }
        };
        let a_elements: &[T] = bytemuck::try_cast_slice(operand(&a)).ok()?;
        let b_elements: &[T] = bytemuck::try_cast_slice(operand(&b)).ok()?;
        let c_elements: &mut [T] = bytemuck::try_cast_slice_mut(c_bytes).ok()?;
        let dim = |value: u64| usize::try_from(value).ok();
        let view = |elements, block: &Block| -> Option<MatRef<'_, T>> {
            Some(MatRef::from_column_major_slice_with_stride(
                elements,
                dim(block.rows)?,
                dim(block.cols)?,
                dim(block.ld)?,
            ))
        };
        let a_view = view(a_elements, &self.a)?;
        let b_view = view(b_elements, &self.b)?;
        let lhs =
            Operand { view: if self.op_a.transposes() { a_view.transpose() } else { a_view }, conj: self.op_a.conj() };
        let rhs =
            Operand { view: if self.op_b.transposes() { b_view.transpose() } else { b_view }, conj: self.op_b.conj() };
        let mut c_view = MatMut::from_column_major_slice_with_stride_mut(
            c_elements,
            dim(self.c.rows)?,
            dim(self.c.cols)?,
            dim(self.c.ld)?,
        );

        // BLAS's beta: 0 ignores what C held (NaNs included), 1 adds to it,
        // anything else scales it first (only the triangle, for a rank-k
        // update).
        let accum = match beta {
            Some(beta) if beta == T::ZERO => Accum::Replace,
            Some(beta) if beta != T::ONE => {
                for j in 0..c_view.ncols() {
                    let rows = match self.triangle {
                        None => 0..c_view.nrows(),
                        Some(Triangle { lower: false, .. }) => 0..j + 1,
                        Some(Triangle { lower: true, .. }) => j..c_view.nrows(),
                    };
                    for i in rows {
                        c_view[(i, j)] = c_view[(i, j)] * beta;
                    }
                }
                Accum::Add
            }
            _ => Accum::Add,
        };

        let product = Parts { lhs, rhs, alpha, par, must_stop: &must_stop };
        let done = match self.triangle {
            None => product.rectangle(c_view.rb_mut(), accum),
            Some(triangle) => product.triangle(c_view.rb_mut(), accum, triangle.lower),
        };
        if hermitian {
            for i in 0..c_view.nrows() {
                c_view[(i, i)] = c_view[(i, i)].real_part();
            }
        }
        Some(if done { Outcome::Done } else { Outcome::Stopped })
    }
}

/// An operand as the product reads it: a view (transposed if its op
/// says), and whether to conjugate it.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a, T> {
    pub(crate) view: MatRef<'a, T>,
    pub(crate) conj: Conj,
}

/// A product computed in parts, with a check of whether to stop before
/// each.
pub(crate) struct Parts<'a, T, S> {
    pub(crate) lhs: Operand<'a, T>,
    pub(crate) rhs: Operand<'a, T>,
    pub(crate) alpha: T,
    pub(crate) par: Par,
    pub(crate) must_stop: &'a S,
}

impl<T: Element, S: Fn() -> bool> Parts<'_, T, S> {
    /// `c = alpha·lhs·rhs` (`accum` says whether added to c): false if it
    /// stopped.
    pub(crate) fn rectangle(&self, mut c: MatMut<'_, T>, accum: Accum) -> bool {
        self.rectangle_at(c.rb_mut(), accum, (0, 0))
    }

    /// The rectangle of C at `(row, col)` of the whole product.
    fn rectangle_at(&self, mut c: MatMut<'_, T>, accum: Accum, (row, col): (usize, usize)) -> bool {
        let (rows, cols, depth) = (c.nrows(), c.ncols(), self.lhs.view.ncols());
        let (part_rows, part_cols, part_depth) = part_shape(rows, cols, depth);
        for l in (0..depth).step_by(part_depth) {
            let part_depth = part_depth.min(depth - l);
            // The first part along k sets C as beta says; the others add.
            let accum = if l == 0 { accum } else { Accum::Add };
            for j in (0..cols).step_by(part_cols) {
                let part_cols = part_cols.min(cols - j);
                for i in (0..rows).step_by(part_rows) {
                    let part_rows = part_rows.min(rows - i);
                    if (self.must_stop)() {
                        return false;
                    }
                    matmul_with_conj(
                        c.rb_mut().submatrix_mut(i, j, part_rows, part_cols),
                        accum,
                        self.lhs.view.submatrix(row + i, l, part_rows, part_depth),
                        self.lhs.conj,
                        self.rhs.view.submatrix(l, col + j, part_depth, part_cols),
                        self.rhs.conj,
                        self.alpha,
                        self.par,
                    );
                }
            }
        }
        true
    }

    /// The upper (or `lower`) triangle of the square `c = alpha·lhs·rhs`,
    /// in blocks of columns: each a triangle on the diagonal and the
    /// rectangle above (below) it.
    fn triangle(&self, mut c: MatMut<'_, T>, accum: Accum, lower: bool) -> bool {
        let (n, depth) = (c.ncols(), self.lhs.view.ncols());
        let (side, _, part_depth) = part_shape(n, n, depth);
        let structure = if lower { BlockStructure::TriangularLower } else { BlockStructure::TriangularUpper };
        for l in (0..depth).step_by(part_depth) {
            let part_depth = part_depth.min(depth - l);
            let accum = if l == 0 { accum } else { Accum::Add };
            let slice = Parts {
                lhs: Operand { view: self.lhs.view.subcols(l, part_depth), conj: self.lhs.conj },
                rhs: Operand { view: self.rhs.view.subrows(l, part_depth), conj: self.rhs.conj },
                alpha: self.alpha,
                par: self.par,
                must_stop: self.must_stop,
            };
            for j in (0..n).step_by(side) {
                let width = side.min(n - j);
                if (self.must_stop)() {
                    return false;
                }
                triangular::matmul_with_conj(
                    c.rb_mut().submatrix_mut(j, j, width, width),
                    structure,
                    accum,
                    slice.lhs.view.subrows(j, width),
                    BlockStructure::Rectangular,
                    slice.lhs.conj,
                    slice.rhs.view.subcols(j, width),
                    BlockStructure::Rectangular,
                    slice.rhs.conj,
                    slice.alpha,
                    slice.par,
                );
                let (rows, first) = if lower { (n - j - width, j + width) } else { (j, 0) };
                if rows > 0 && !slice.rectangle_at(c.rb_mut().submatrix_mut(first, j, rows, width), accum, (first, j)) {
                    return false;
                }
            }
        }
        true
    }
}

/// The scalars of OpenBLAS's drivers, as faer computes with them and as
/// they lie in the guest's memory.
pub(crate) trait Element: Pod + ComplexField + PartialEq + std::ops::Mul<Output = Self> {
    const ZERO: Self;
    const ONE: Self;

    /// Its real scalar: `herk`'s alpha and beta are of it.
    type RealScalar: Pod;

    fn from_real(real: Self::RealScalar) -> Self;

    /// The number without its imaginary part.
    fn real_part(self) -> Self;

    /// A real scalar at byte `at` of `memory`, as this one.
    fn read_real(memory: &[u8], at: u64) -> Option<Self> {
        let start = usize::try_from(at).ok()?;
        let bytes = memory.get(start..start.checked_add(std::mem::size_of::<Self::RealScalar>())?)?;
        Some(Self::from_real(bytemuck::pod_read_unaligned(bytes)))
    }

    /// The scalar at byte `at` of `memory`, if it is inside (BLAS's alpha
    /// and beta need no alignment).
    fn read(memory: &[u8], at: u64) -> Option<Self> {
        let start = usize::try_from(at).ok()?;
        let bytes = memory.get(start..start.checked_add(std::mem::size_of::<Self>())?)?;
        Some(bytemuck::pod_read_unaligned(bytes))
    }
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    type RealScalar = f32;

    fn from_real(real: f32) -> Self {
        real
    }

    fn real_part(self) -> Self {
        self
    }
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    type RealScalar = f64;

    fn from_real(real: f64) -> Self {
        real
    }

    fn real_part(self) -> Self {
        self
    }
}

impl Element for Complex<f32> {
    const ZERO: Self = Complex::new(0.0, 0.0);
    const ONE: Self = Complex::new(1.0, 0.0);
    type RealScalar = f32;

    fn from_real(real: f32) -> Self {
        Complex::new(real, 0.0)
    }

    fn real_part(self) -> Self {
        Complex::new(self.re, 0.0)
    }
}

impl Element for Complex<f64> {
    const ZERO: Self = Complex::new(0.0, 0.0);
    const ONE: Self = Complex::new(1.0, 0.0);
    type RealScalar = f64;

    fn from_real(real: f64) -> Self {
        Complex::new(real, 0.0)
    }

    fn real_part(self) -> Self {
        Complex::new(self.re, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guest memory for tests: the arguments at 0, the ranges at 64 and
    /// 72, alpha at 80, beta at 96, the operands from 128.
    struct Memory {
        bytes: Vec<u8>,
    }

    const ARGS: i32 = 0;
    const ALPHA: u32 = 80;
    const BETA: u32 = 96;

    /// `dgemm`'s kind with these ops (see build/gemm_hand_off.rs).
    fn kind(scalar: u32, op_a: u32, op_b: u32) -> i32 {
        (16 * scalar + 4 * op_a + op_b) as i32
    }

    impl Memory {
        fn new(size: usize) -> Self {
            Memory { bytes: vec![0; size] }
        }

        fn put_i32s(&mut self, at: usize, values: &[i32]) {
            for (i, value) in values.iter().enumerate() {
                self.bytes[at + 4 * i..at + 4 * i + 4].copy_from_slice(&value.to_le_bytes());
            }
        }

        fn put_f64s(&mut self, at: u32, values: &[f64]) {
            for (i, value) in values.iter().enumerate() {
                let at = at as usize + 8 * i;
                self.bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
        }

        fn f64s(&self, at: u32, count: usize) -> Vec<f64> {
            (0..count)
                .map(|i| {
                    let at = at as usize + 8 * i;
                    f64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
                })
                .collect()
        }

        /// `blas_arg_t` with `a, b, c` and `m, n, k, lda, ldb, ldc`.
        fn args(&mut self, [a, b, c]: [u32; 3], dims: [i32; 6], beta: bool) {
            let beta = if beta { BETA as i32 } else { 0 };
            self.put_i32s(0, &[a as i32, b as i32, c as i32, 0, ALPHA as i32, beta]);
            self.put_i32s(24, &dims);
        }

        fn product(&self, kind: i32) -> Option<Product> {
            Product::read(&self.bytes, kind, ARGS, 0, 0)
        }

        fn compute(&mut self, kind: i32) -> Outcome {
            let product = self.product(kind).expect("a product");
            product.compute::<f64>(&mut self.bytes, Par::Seq, || false)
        }
    }

    /// `alpha·op(A)·op(B) + beta·C`, column-major, the plain way.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        (m, n, k): (usize, usize, usize),
        a: &[f64],
        lda: usize,
        ta: bool,
        b: &[f64],
        ldb: usize,
        tb: bool,
        c: &[f64],
        ldc: usize,
        alpha: f64,
        beta: f64,
    ) -> Vec<f64> {
        let mut out = c.to_vec();
        for j in 0..n {
            for i in 0..m {
                let mut sum = 0.0;
                for l in 0..k {
                    let x = if ta { a[l + i * lda] } else { a[i + l * lda] };
                    let y = if tb { b[j + l * ldb] } else { b[l + j * ldb] };
                    sum += x * y;
                }
                out[i + j * ldc] = alpha * sum + if beta == 0.0 { 0.0 } else { beta * c[i + j * ldc] };
            }
        }
        out
    }

    fn values(count: usize, seed: u64) -> Vec<f64> {
        (0..count).map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 250.0 - 2.0).collect()
    }

    #[test]
    fn products_equal_the_plain_computation_for_every_transpose_and_beta() {
        let (m, n, k) = (37, 29, 41);
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            for beta in [0.0, 1.0, -0.5] {
                let lda = if ta { k } else { m } + 3;
                let ldb = if tb { n } else { k } + 1;
                let ldc = m + 2;
                let a = values(lda * if ta { m } else { k }, 1);
                let b = values(ldb * if tb { k } else { n }, 2);
                let mut c = values(ldc * n, 3);
                if beta == 0.0 {
                    c[5] = f64::NAN; // beta = 0 ignores what C held
                }
                let (at, bt, ct) = (128, 128 + 8 * a.len() as u32, 128 + 8 * (a.len() + b.len()) as u32);
                let mut memory = Memory::new(ct as usize + 8 * c.len() + 64);
                memory.put_f64s(at, &a);
                memory.put_f64s(bt, &b);
                memory.put_f64s(ct, &c);
                memory.put_f64s(ALPHA, &[1.5]);
                memory.put_f64s(BETA, &[beta]);
                let dims = [m, n, k, lda, ldb, ldc].map(|x| x as i32);
                memory.args([at, bt, ct], dims, true);
                assert_eq!(memory.compute(kind(1, ta as u32, tb as u32)), Outcome::Done);
                let want = reference((m, n, k), &a, lda, ta, &b, ldb, tb, &c, ldc, 1.5, beta);
                let got = memory.f64s(ct, c.len());
                for (i, (got, want)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "{ta} {tb} {beta}: [{i}] {got} != {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn nan_and_infinity_in_the_operands_propagate() {
        let mut memory = Memory::new(4096);
        memory.put_f64s(128, &[f64::NAN, 1.0, f64::INFINITY, 1.0]); // A, 2×2
        memory.put_f64s(256, &[1.0, 1.0, 1.0, 1.0]); // B
        memory.put_f64s(ALPHA, &[1.0]);
        memory.args([128, 256, 512], [2, 2, 2, 2, 2, 2], false);
        assert_eq!(memory.compute(kind(1, 0, 0)), Outcome::Done);
        let c = memory.f64s(512, 4);
        assert!(c[0].is_nan() && c[2].is_nan(), "{c:?}");
        assert_eq!([c[1], c[3]], [2.0, 2.0]);
    }

    #[test]
    fn arguments_blas_forbids_are_left_to_the_guest() {
        let mut memory = Memory::new(1 << 16);
        memory.put_f64s(ALPHA, &[1.0]);
        let forged: &[[i32; 6]] = &[
            [-1, 4, 4, 4, 4, 4], // negative m
            [4, 4, -7, 4, 4, 4], // negative k
            [4, 4, 4, 3, 4, 4],  // lda < m
            [4, 4, 4, 4, 4, 3],  // ldc < m
            [0, 4, 4, 4, 4, 4],  // nothing to compute
            [4, 4, 0, 4, 4, 4],  // k = 0: C = beta·C, the guest's to do
        ];
        for dims in forged {
            memory.args([128, 1024, 2048], *dims, false);
            assert!(memory.product(kind(1, 0, 0)).is_none(), "{dims:?}");
        }
        memory.args([128, 1024, 2048], [4, 4, 4, 4, 4, 4], false);
        assert!(memory.product(128).is_none(), "a kind past the drivers'");
        assert!(memory.product(-1).is_none());
        assert!(Product::read(&memory.bytes, kind(1, 0, 0), (1 << 16) - 8, 0, 0).is_none(), "arguments past the end");
        assert!(Product::read(&memory.bytes, kind(1, 0, 0), -4, 0, 0).is_none());
        memory.put_i32s(64, &[3, 2]);
        assert!(
            Product::read(&memory.bytes, kind(1, 0, 0), ARGS, 64, 0).is_none(),
            "a range that ends before it starts"
        );
        memory.put_i32s(64, &[0, 5]);
        assert!(Product::read(&memory.bytes, kind(1, 0, 0), ARGS, 64, 0).is_none(), "a range past m");
    }

    #[test]
    fn operands_outside_the_memory_overlapping_or_misaligned_are_left_to_the_guest() {
        let size = 1 << 16;
        let mut memory = Memory::new(size);
        memory.put_f64s(ALPHA, &[1.0]);
        let cases: &[([u32; 3], [i32; 6], &str)] = &[
            ([size as u32 - 64, 1024, 2048], [4, 4, 4, 4, 4, 4], "A runs past the end"),
            ([128, 1024, u32::MAX - 7], [4, 4, 4, 4, 4, 4], "C wraps around"),
            ([128, 1024, 2048], [4, 4, 4, 4, 4, i32::MAX], "C's columns run past the end"),
            ([128, 1024, 2048], [i32::MAX, i32::MAX, i32::MAX, i32::MAX, i32::MAX, i32::MAX], "absurd sizes"),
            ([2048, 1024, 2048], [4, 4, 4, 4, 4, 4], "C is A"),
            ([128, 2056, 2048], [4, 4, 4, 4, 4, 4], "B overlaps C"),
            ([132, 1024, 2048], [4, 4, 4, 4, 4, 4], "A is misaligned"),
            ([128, 1024, 2052], [4, 4, 4, 4, 4, 4], "C is misaligned"),
        ];
        for (addresses, dims, what) in cases {
            memory.args(*addresses, *dims, false);
            let before = memory.bytes.clone();
            let outcome =
                memory.product(kind(1, 0, 0)).map(|p| p.compute::<f64>(&mut memory.bytes, Par::Seq, || false));
            assert!(matches!(outcome, None | Some(Outcome::Declined)), "{what}: {outcome:?}");
            assert!(memory.bytes == before, "{what}: the memory changed");
        }
        // A product of another scalar than its driver's is refused too.
        memory.args([128, 1024, 2048], [4, 4, 4, 4, 4, 4], false);
        let product = memory.product(kind(0, 0, 0)).unwrap();
        assert_eq!(product.compute::<f64>(&mut memory.bytes, Par::Seq, || false), Outcome::Declined);
    }

    #[test]
    fn alpha_zero_leaves_the_product_to_the_guest_which_must_not_read_a() {
        let mut memory = Memory::new(4096);
        memory.put_f64s(ALPHA, &[0.0]);
        memory.args([128, 1024, 2048], [4, 4, 4, 4, 4, 4], false);
        let product = memory.product(kind(1, 0, 0)).unwrap();
        assert_eq!(product.compute::<f64>(&mut memory.bytes, Par::Seq, || false), Outcome::Declined);
    }

    #[test]
    fn a_product_asks_whether_to_stop_between_its_parts_and_stops() {
        // Twice the multiply-adds of a part.
        let (m, n, k) = (64, 4096, 1024);
        let size = 128 + 8 * (m * k + k * n + m * n);
        let mut memory = Memory::new(size);
        memory.put_f64s(ALPHA, &[1.0]);
        let (at, bt, ct) = (128, 128 + 8 * (m * k) as u32, 128 + 8 * (m * k + k * n) as u32);
        memory.args([at, bt, ct], [m, n, k, m, k, m].map(|x| x as i32), false);
        let product = memory.product(kind(1, 0, 0)).unwrap();
        let checks = std::cell::Cell::new(0);
        let outcome = product.compute::<f64>(&mut memory.bytes, Par::Seq, || {
            checks.set(checks.get() + 1);
            false
        });
        assert_eq!(outcome, Outcome::Done);
        assert!(checks.get() >= 2, "{} checks", checks.get());
        memory.put_f64s(ct, &[7.0]);
        assert_eq!(product.compute::<f64>(&mut memory.bytes, Par::Seq, || true), Outcome::Stopped);
        assert_eq!(memory.f64s(ct, 1), [7.0], "C is untouched by a product stopped before its first part");
    }

    /// `syrk`'s and `herk`'s kinds (see build/gemm_hand_off.rs).
    fn rank_k(scalar: u32, herk: bool, lower: bool, transposed: bool) -> i32 {
        (64 + 16 * scalar + 8 * herk as u32 + 2 * lower as u32 + transposed as u32) as i32
    }

    #[test]
    fn rank_k_updates_compute_their_triangle_and_leave_the_other() {
        let (n, k) = (70, 45);
        for lower in [false, true] {
            for transposed in [false, true] {
                let lda = if transposed { k } else { n } + 2;
                let ldc = n + 1;
                let a = values(lda * if transposed { n } else { k }, 4);
                let c = values(ldc * n, 5);
                let (at, ct) = (128, 128 + 8 * a.len() as u32);
                let mut memory = Memory::new(ct as usize + 8 * c.len() + 64);
                memory.put_f64s(at, &a);
                memory.put_f64s(ct, &c);
                memory.put_f64s(ALPHA, &[2.0]);
                memory.put_f64s(BETA, &[0.5]);
                // syrk's arguments: a, c, alpha, beta; n at m's and n's
                // places (OpenBLAS reads n), k, lda, ldc.
                memory.args([at, 0, ct], [0, n as i32, k as i32, lda as i32, 0, ldc as i32], true);
                let product = memory.product(rank_k(1, false, lower, transposed)).unwrap();
                assert_eq!(product.compute::<f64>(&mut memory.bytes, Par::Seq, || false), Outcome::Done);
                let full = reference((n, n, k), &a, lda, transposed, &a, lda, !transposed, &c, ldc, 2.0, 0.5);
                let got = memory.f64s(ct, c.len());
                for j in 0..n {
                    for i in 0..n {
                        let at = i + j * ldc;
                        let inside = if lower { i >= j } else { i <= j };
                        let want = if inside { full[at] } else { c[at] };
                        assert!(
                            (got[at] - want).abs() <= 1e-9 * want.abs().max(1.0),
                            "{lower} {transposed} ({i}, {j})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn herk_takes_real_scalars_and_makes_the_diagonal_real() {
        // C = alpha·A·Aᴴ + beta·C with A = [(1 + 2i), (3 - i)] as a 1×2
        // matrix: A·Aᴴ = 5 + 10 = 15; C's diagonal held 1 + 1i.
        let mut memory = Memory::new(4096);
        memory.put_f64s(128, &[1.0, 2.0, 3.0, -1.0]);
        memory.put_f64s(512, &[1.0, 1.0]);
        memory.put_f64s(ALPHA, &[2.0]); // real, unlike a complex gemm's
        memory.put_f64s(BETA, &[3.0]);
        memory.args([128, 0, 512], [0, 1, 2, 1, 0, 1], true);
        let product = memory.product(rank_k(3, true, false, false)).unwrap();
        assert_eq!(product.compute::<Complex<f64>>(&mut memory.bytes, Par::Seq, || false), Outcome::Done);
        assert_eq!(memory.f64s(512, 2), [33.0, 0.0]);
        // A real scalar's herk does not exist: left to the guest.
        assert!(memory.product(rank_k(1, true, false, false)).is_none());
    }

    #[test]
    fn rank_k_updates_with_ranges_are_left_to_the_guest() {
        let mut memory = Memory::new(4096);
        memory.put_f64s(ALPHA, &[1.0]);
        memory.put_i32s(64, &[0, 2]);
        memory.args([128, 0, 1024], [0, 4, 4, 4, 0, 4], false);
        assert!(Product::read(&memory.bytes, rank_k(1, false, false, false), ARGS, 64, 0).is_none());
        assert!(memory.product(rank_k(1, false, false, false)).is_some());
    }

    #[test]
    fn complex_products_conjugate_as_their_driver_says() {
        // zgemm_cn: C = A^H·B, with A 1×1 = (1 + 2i) and B = (3 - i).
        let mut memory = Memory::new(4096);
        memory.put_f64s(128, &[1.0, 2.0]);
        memory.put_f64s(256, &[3.0, -1.0]);
        memory.put_f64s(ALPHA, &[1.0, 0.0]);
        memory.args([128, 256, 512], [1, 1, 1, 1, 1, 1], false);
        let product = memory.product(kind(3, 3, 0)).unwrap();
        assert_eq!(product.compute::<Complex<f64>>(&mut memory.bytes, Par::Seq, || false), Outcome::Done);
        // (1 - 2i)(3 - i) = 3 - i - 6i + 2i² = 1 - 7i
        assert_eq!(memory.f64s(512, 2), [1.0, -7.0]);
    }
}
