//! Medians, shared by the bench binaries that print figures.

use std::time::Instant;

/// The median of `samples`.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The median time of `samples` calls of `f`, in seconds.
#[allow(dead_code)] // not every bench times closures
pub fn timed(samples: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..samples)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}
