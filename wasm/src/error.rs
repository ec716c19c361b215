//! The one place where core errors become JS errors: a `SyncError` instance (made by the factory
//! the TypeScript layer registers at start-up) with `code` = [`statesync::SyncError::code`].
//! What an application callback threw becomes the error's `cause` in the shared JS layer
//! (js/src/manager.ts), not here.

use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// `(code, message) => SyncError`, set by [`set_error_factory`].
    static FACTORY: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Registers the function that builds the package's `SyncError` from a code and a message.
/// Called once by the TypeScript layer when the module starts.
#[wasm_bindgen(js_name = setErrorFactory)]
pub fn set_error_factory(factory: js_sys::Function) {
    FACTORY.with(|f| *f.borrow_mut() = Some(factory));
}

/// A `SyncError` with this code and message.
pub(crate) fn make(code: &str, message: &str) -> JsValue {
    let made = FACTORY.with(|f| {
        f.borrow()
            .as_ref()
            .and_then(|f| f.call2(&JsValue::NULL, &JsValue::from_str(code), &JsValue::from_str(message)).ok())
    });
    made.unwrap_or_else(|| {
        // Before the factory is registered (wasm-bindgen tests): a plain Error with a code.
        let e = js_sys::Error::new(message);
        e.set_name("SyncError");
        let _ = js_sys::Reflect::set(&e, &"code".into(), &code.into());
        e.into()
    })
}

/// The JS error for a core error: its text with its causes (`SyncError::text_with_causes`).
pub(crate) fn to_js(e: statesync::SyncError) -> JsValue {
    make(e.code(), &e.text_with_causes())
}

/// `INVALID_INPUT` with this message.
pub(crate) fn invalid_input(message: impl std::fmt::Display) -> JsValue {
    to_js(statesync::SyncError::InvalidInput(message.to_string()))
}

/// The result of a core call, with its error mapped.
pub(crate) trait OrJs<T> {
    /// Maps the error to a JS `SyncError`.
    fn js(self) -> Result<T, JsValue>;
}

impl<T> OrJs<T> for statesync::Result<T> {
    fn js(self) -> Result<T, JsValue> {
        self.map_err(to_js)
    }
}
