//! Feeds arbitrary bytes to every wire decoder: each message kind in each form, the binary ones
//! a second time with the checksum repaired (so that mutations reach the body parser instead of
//! stopping at the CRC), and zstd decompression followed by the same decoders.
//!
//! Besides "never panics", whatever decodes must round-trip: binary input that is accepted is
//! canonical (re-encoding gives the input back), and every decoded value survives both forms.

#![no_main]

use libfuzzer_sys::fuzz_target;
use statesync::{decode, encode, ChangeSet, Encoding, PendingOperations, Snapshot, SyncState, WireMessage};
use std::fmt::Debug;

fn check<T: WireMessage + PartialEq + Debug>(bytes: &[u8], encoding: Encoding) {
    let Ok(value) = decode::<T>(bytes, encoding) else { return };
    if encoding == Encoding::Binary {
        assert!(encode(&value, Encoding::Binary) == bytes, "accepted binary {} input is not canonical", T::KIND);
    }
    for form in [Encoding::Json, Encoding::Binary] {
        let again = encode(&value, form);
        let back = decode::<T>(&again, form).unwrap_or_else(|e| panic!("re-encoded {} ({form:?}) fails: {e}", T::KIND));
        assert_eq!(back, value, "{} round trip through {form:?}", T::KIND);
        assert!(encode(&back, form) == again, "{} re-encoding through {form:?} differs", T::KIND);
    }
}

fn every_kind(bytes: &[u8], encoding: Encoding) {
    check::<SyncState>(bytes, encoding);
    check::<ChangeSet>(bytes, encoding);
    check::<Snapshot>(bytes, encoding);
    check::<PendingOperations>(bytes, encoding);
}

fuzz_target!(|data: &[u8]| {
    every_kind(data, Encoding::Json);
    every_kind(data, Encoding::Binary);
    if data.len() >= 4 {
        let mut sealed = data[..data.len() - 4].to_vec();
        let crc = crc32fast::hash(&sealed);
        sealed.extend_from_slice(&crc.to_le_bytes());
        if sealed != data {
            every_kind(&sealed, Encoding::Binary);
        }
    }
    if let Ok(plain) = statesync::decompress(data) {
        every_kind(&plain, Encoding::Json);
        every_kind(&plain, Encoding::Binary);
    }
});
