//! Test builds only (cargo feature `testing`, which `npm run build:testing` turns on and the
//! published package never has): the entry points with which `test/panic.test.mjs` proves that a
//! panic, inside the core or in the binding's own code, reaches JS as a `SyncError` with code
//! `INTERNAL`, and that the replica stays usable.

use crate::callbacks::run_on;
use crate::errors::Result;
use crate::manager::NativeManager;
use napi_derive::napi;

/// Panics inside a transaction of `manager`'s replica with its lock held
/// (`SyncManager::panic_for_tests`): always throws, an error with code `INTERNAL`.
#[napi(catch_unwind)]
pub fn panic_for_tests(manager: &NativeManager) -> Result<()> {
    run_on(&manager.owner, &manager.core, |m| m.panic_for_tests())
}

/// Panics in the binding's own code, outside the core: what napi's `catch_unwind` on every
/// export catches (always throws; `lib/errors.cjs` makes it `INTERNAL`).
#[napi(catch_unwind)]
pub fn panic_in_binding_for_tests() -> Result<()> {
    panic!("a panic in the Node binding, outside the core")
}
