//! `uniffi-bindgen`: generates the Kotlin and Swift sources of `statesync-ffi` from the built
//! library (`generate --library target/<profile>/libstatesync_ffi.so --language kotlin|swift`).
//! A crate of its own so that the `cli` feature never reaches the cdylib.

fn main() {
    uniffi::uniffi_bindgen_main()
}
