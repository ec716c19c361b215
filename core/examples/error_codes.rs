//! Prints statesync's error codes, one a line, in the order of `ErrorCode::ALL`: the source for
//! every host's literal list of codes (`core/tests/error_codes.rs` checks those lists).
//!
//! `cargo run -p statesync --example error_codes` prints the bare codes; with `--quoted` each
//! is printed as `"CODE",` to paste into a host file's marked list (see core/tests/error_codes.rs).

fn main() {
    let quoted = std::env::args().skip(1).any(|a| a == "--quoted");
    for code in statesync::ErrorCode::ALL {
        if quoted {
            println!("\"{code}\",");
        } else {
            println!("{code}");
        }
    }
}
