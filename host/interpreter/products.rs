//! The dense linear algebra the guest hands to the host (see
//! `host/gemm.rs` and `host/lu.rs`): the function in the slot build.rs
//! added to the guest's function table, which its OpenBLAS drivers and
//! `getrf` call first.

use faer::Par;
use num_complex::Complex;
use wasmtime::{Caller, Func, Instance, Ref, Store, Trap};

use crate::gemm::{HAND_OFF_MIN_MULADDS, Outcome, Product, Scalar};
use crate::guest;
use crate::interpreter::store::HostState;
use crate::lu::{self, GETRF_KIND, Lu};

/// Puts the hand-off in the last slot of `instance`'s function table.
pub(crate) fn install(store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<()> {
    let table = instance
        .get_table(&mut *store, guest::TABLE_EXPORT)
        .ok_or_else(|| wasmtime::Error::msg("the guest exports no function table"))?;
    let slot = table.size(&*store).checked_sub(1).ok_or_else(|| wasmtime::Error::msg("the guest's table is empty"))?;
    let hand_off = Func::wrap(&mut *store, hand_off);
    table.set(&mut *store, slot, Ref::Func(Some(hand_off)))
}

/// A driver's call (see build/gemm_hand_off.rs): 0 if the guest's own
/// code is to do the work, else what the driver returns, plus one; a trap
/// if the run must stop (C, or A, is then partly computed, as a guest
/// stopped in its own kernel would leave it).
fn hand_off(
    mut caller: Caller<'_, HostState>,
    kind: i32,
    args: i32,
    range_m: i32,
    range_n: i32,
) -> wasmtime::Result<i32> {
    let runtime = caller.data().link.runtime().clone();
    let Some(threads) = runtime.product_threads() else { return Ok(0) };
    let Some(memory) = caller.data().exports.as_ref().map(|exports| exports.memory) else { return Ok(0) };
    let (bytes, state) = memory.data_and_store_mut(&mut caller);
    let stop = state.link.stop();
    let must_stop = || stop.must_stop();
    let par = Par::rayon(threads.current_num_threads());
    if kind >= GETRF_KIND {
        let Some(lu) = Lu::read(bytes, kind, args, range_m, range_n) else { return Ok(0) };
        if lu.muladds() < lu::HAND_OFF_MIN_MULADDS {
            return Ok(0);
        }
        let outcome = threads.install(|| match lu.scalar() {
            Scalar::F32 => lu.compute::<f32>(bytes, par, must_stop),
            _ => lu.compute::<f64>(bytes, par, must_stop),
        });
        return match outcome {
            lu::Outcome::Done(info) => Ok(info.saturating_add(1)),
            lu::Outcome::Declined => Ok(0),
            lu::Outcome::Stopped => Err(Trap::Interrupt.into()),
        };
    }
    let Some(product) = Product::read(bytes, kind, args, range_m, range_n) else { return Ok(0) };
    if product.muladds() < HAND_OFF_MIN_MULADDS {
        return Ok(0);
    }
    let outcome = threads.install(|| match product.scalar() {
        Scalar::F32 => product.compute::<f32>(bytes, par, must_stop),
        Scalar::F64 => product.compute::<f64>(bytes, par, must_stop),
        Scalar::C32 => product.compute::<Complex<f32>>(bytes, par, must_stop),
        Scalar::C64 => product.compute::<Complex<f64>>(bytes, par, must_stop),
    });
    match outcome {
        Outcome::Done => Ok(1),
        Outcome::Declined => Ok(0),
        Outcome::Stopped => Err(Trap::Interrupt.into()),
    }
}
