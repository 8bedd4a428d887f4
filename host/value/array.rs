//! [`Array`]: a numpy array's dtype, shape and bytes, as it crosses.

use crate::error::{Error, Result};

/// The most dimensions an array may have: numpy's own limit.
pub const MAX_DIMENSIONS: usize = 64;

/// A numpy array copied out of (or into) an interpreter: its element type
/// as numpy names it (`dtype.str`: `"<f8"`, `"|b1"`, `"<U5"`,
/// `"<M8[ns]"`), its shape, and its elements' bytes in C order.
///
/// An `Array` is always well formed: the dtype is one numpy can rebuild
/// (no objects, no fields), and the bytes are exactly the shape's elements.
/// Arrays are copies, as lists are: they cross between the Rust program and
/// an interpreter ([`eval`](crate::Interpreter::eval) and
/// [`call`](crate::Interpreter::call) results and arguments), where they
/// are numpy arrays again, never through a channel.
///
/// ```
/// # let runtime = isolate::Runtime::new()?;
/// let interp = runtime.create_interpreter()?;
/// interp.run("import numpy as np")?;
/// let isolate::Value::Array(array) = interp.eval("np.arange(6, dtype=np.int32).reshape(2, 3)")? else {
///     panic!("an array was expected");
/// };
/// assert_eq!((array.dtype(), array.shape()), ("<i4", &[2, 3][..]));
/// assert_eq!(&array.data()[..8], &[0, 0, 0, 0, 1, 0, 0, 0]);
/// # Ok::<(), isolate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Array {
    /// An array of `dtype` (numpy's `dtype.str`) and `shape`, its elements
    /// `data` in C order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] if the dtype is not a byte order (`<`, `>`,
    /// `|`, `=`, or none), one of numpy's kinds `b i u f c S U V M m`, an
    /// item size and, for `M` and `m`, a unit in brackets; if there are
    /// more than [`MAX_DIMENSIONS`]; or if `data` is not the size the
    /// dtype and shape make.
    pub fn new(dtype: impl Into<String>, shape: Vec<usize>, data: Vec<u8>) -> Result<Array> {
        let dtype = dtype.into();
        Array::check(&dtype, &shape, data.len())?;
        Ok(Array { dtype, shape, data })
    }

    /// Whether `new` would accept an array of `len` bytes.
    pub(crate) fn check(dtype: &str, shape: &[usize], len: usize) -> Result<()> {
        let item_size = item_size(dtype)
            .ok_or_else(|| Error::InvalidValue(format!("{dtype:?} is not a dtype an array can cross in")))?;
        if shape.len() > MAX_DIMENSIONS {
            return Err(Error::InvalidValue(format!(
                "an array of {} dimensions (numpy allows {MAX_DIMENSIONS})",
                shape.len()
            )));
        }
        // numpy's own bound: the nonzero dimensions' elements fit an `intp`.
        let bound = shape.iter().filter(|&&n| n != 0).try_fold(item_size, |size, &n| size.checked_mul(n));
        if bound.is_none_or(|bound| bound > isize::MAX as usize) {
            return Err(Error::InvalidValue(format!("an array of {dtype} and shape {shape:?} is too large")));
        }
        let size = shape.iter().try_fold(item_size, |size, &n| size.checked_mul(n));
        if size != Some(len) {
            return Err(Error::InvalidValue(format!(
                "an array of {dtype} and shape {shape:?} cannot hold {len} bytes"
            )));
        }
        Ok(())
    }

    /// numpy's name of the element type (`dtype.str`).
    pub fn dtype(&self) -> &str {
        &self.dtype
    }

    /// The length of each dimension; empty for a 0-dimensional array.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements' bytes, in C order.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The elements' bytes, in C order.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

/// The size in bytes of one element of `dtype`, if it is a dtype's `str`
/// of a kind that holds no objects: `[<>|=]?` kind digits (`[unit]`).
fn item_size(dtype: &str) -> Option<usize> {
    let rest = dtype.strip_prefix(['<', '>', '|', '=']).unwrap_or(dtype);
    let mut chars = rest.chars();
    let kind = chars.next()?;
    let rest = chars.as_str();
    let (digits, unit) = match rest.find('[') {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: usize = digits.parse().ok()?;
    match (kind, unit) {
        ('M' | 'm', Some(unit)) => {
            let name = unit.strip_prefix('[')?.strip_suffix(']')?;
            (count == 8 && !name.is_empty() && name.len() <= 16 && name.bytes().all(|b| b.is_ascii_alphanumeric()))
                .then_some(8)
        }
        ('M' | 'm', None) => (count == 8).then_some(8),
        (_, Some(_)) => None,
        ('b', None) => (count == 1).then_some(1),
        ('i' | 'u', None) => matches!(count, 1 | 2 | 4 | 8).then_some(count),
        ('f', None) => matches!(count, 2 | 4 | 8 | 12 | 16).then_some(count),
        ('c', None) => matches!(count, 8 | 16 | 24 | 32).then_some(count),
        // Bytes and raw records by their size, strings by their length in
        // UCS-4 characters.
        ('S' | 'V', None) => (count > 0).then_some(count),
        ('U', None) => count.checked_mul(4).filter(|&size| size > 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_numpy_names() {
        for (dtype, size) in [
            ("<f8", 8),
            (">i4", 4),
            ("|b1", 1),
            ("|u1", 1),
            ("<c16", 16),
            ("<U5", 20),
            ("|S3", 3),
            ("|V12", 12),
            ("<M8[ns]", 8),
            ("<m8[D]", 8),
            ("<M8", 8),
            ("<f2", 2),
            ("f8", 8),
        ] {
            assert_eq!(item_size(dtype), Some(size), "{dtype}");
        }
        for dtype in
            ["", "|O", "|O8", "<f3", "<i16", "<U0", "<f8[s]", "<M8[]", "<M4[s]", "<x4", "<<f8", "<f 8", "<f08x"]
        {
            assert_eq!(item_size(dtype), None, "{dtype}");
        }
    }

    #[test]
    fn an_array_holds_exactly_its_elements() {
        assert!(Array::new("<f8", vec![2, 3], vec![0; 48]).is_ok());
        assert!(Array::new("<f8", vec![], vec![0; 8]).is_ok());
        assert!(Array::new("<f8", vec![0, 5], vec![]).is_ok());
        assert!(Array::new("<f8", vec![2, 3], vec![0; 47]).is_err());
        assert!(Array::new("|O", vec![1], vec![0; 4]).is_err());
        assert!(Array::new("<f8", vec![usize::MAX, 2], vec![]).is_err());
        assert!(Array::new("<f8", vec![0, usize::MAX], vec![]).is_err());
        assert!(Array::new("<f8", vec![1; MAX_DIMENSIONS + 1], vec![0; 8]).is_err());
    }
}
