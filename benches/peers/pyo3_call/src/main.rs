//! Prints the median time, in seconds, of calling `handle(event)` (the
//! embed bench's handler) from Rust through pyo3, with a new small dict
//! each time and the returned dict converted back: what `isolate`'s
//! `Interpreter::call` does across the sandbox.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;

const HANDLER: &str = "def handle(event):\n    return {'kind': event['kind'], 'count': event['count'] + 1}";

fn main() -> PyResult<()> {
    let samples: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    Python::with_gil(|py| {
        let main = PyModule::import(py, "__main__")?;
        py.run(&std::ffi::CString::new(HANDLER).expect("no NUL"), Some(&main.dict()), None)?;
        let handle = main.getattr("handle")?;
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let start = Instant::now();
            let event = PyDict::new(py);
            event.set_item("kind", "click")?;
            event.set_item("count", 1)?;
            let result = handle.call1((event,))?;
            let result = result.downcast::<PyDict>()?;
            let count: i64 = result.get_item("count")?.expect("a count").extract()?;
            let kind: String = result.get_item("kind")?.expect("a kind").extract()?;
            assert_eq!((count, kind.as_str()), (2, "click"));
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!("{}", times[times.len() / 2]);
        Ok(())
    })
}
