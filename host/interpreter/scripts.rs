//! The scripts the host ran in a sandbox ([`Interpreter::run_script`]), by
//! filename. An interpreter created by the sandbox's code gets their
//! source for its `linecache`: a traceback there shows the lines of a
//! function of the script (one sent by `Interpreter.call()`, or a pool's
//! task), as CPython's show them from the file, which the sandbox cannot
//! open.
//!
//! [`Interpreter::run_script`]: crate::Interpreter::run_script

use std::sync::{Arc, Mutex};

use crate::sync::lock;
use crate::value::Value;

/// At most this many bytes of source are kept per sandbox; a script past
/// it is not passed on (its lines are then missing from tracebacks in the
/// interpreters its code creates, nothing else).
const MAX_SOURCE_BYTES: usize = 1 << 20;

/// Shared by the interpreters of one sandbox.
#[derive(Default)]
pub(crate) struct Scripts(Mutex<Vec<(String, Arc<[u8]>)>>);

impl Scripts {
    /// Keeps the source of a script about to run; a later run of the same
    /// filename replaces it. Pseudo-files (`<stdin>`, `<string>`) are not
    /// kept: CPython shows no lines for them in another interpreter either.
    pub(crate) fn remember(&self, filename: &str, source: &[u8]) {
        if filename.starts_with('<') && filename.ends_with('>') {
            return;
        }
        let mut scripts = lock(&self.0);
        scripts.retain(|(kept, _)| kept != filename);
        let kept: usize = scripts.iter().map(|(_, source)| source.len()).sum();
        if kept + source.len() <= MAX_SOURCE_BYTES {
            scripts.push((filename.to_owned(), source.into()));
        }
    }

    /// The scripts as a value for a new interpreter's setup: a tuple of
    /// `(filename, source)` pairs.
    pub(crate) fn to_value(&self) -> Value {
        let scripts = lock(&self.0);
        Value::Tuple(
            scripts
                .iter()
                .map(|(filename, source)| Value::Tuple(vec![filename.as_str().into(), Value::Bytes(source.to_vec())]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_kept_once_by_filename_and_pseudo_files_never() {
        let scripts = Scripts::default();
        scripts.remember("/app/main.py", b"print(1)\n");
        scripts.remember("<stdin>", b"print(2)\n");
        scripts.remember("/app/main.py", b"print(3)\n");
        scripts.remember("/app/huge.py", &vec![b'#'; MAX_SOURCE_BYTES]);
        let pair = Value::Tuple(vec!["/app/main.py".into(), Value::Bytes(b"print(3)\n".to_vec())]);
        assert_eq!(scripts.to_value(), Value::Tuple(vec![pair]));
    }
}
