//! Optional zstd compression of encoded messages (feature `zstd`; off in the browser build,
//! where the C library is not available).

use super::MAX_MESSAGE_BYTES;
use crate::model::error::{Result, SyncError};
use std::io::Read;

/// zstd's default level: fast, and most of the gain on wire messages.
const LEVEL: i32 = 3;

/// Largest back-reference window accepted when decompressing, as a power of two (8 MiB). What
/// [`compress`] writes needs at most 2 MiB; a frame asking for more is refused instead of making
/// the decoder allocate it.
const WINDOW_LOG_MAX: u32 = 23;

/// Compresses encoded bytes (one zstd frame).
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    // Compressing into memory fails only if memory runs out.
    zstd::bulk::compress(bytes, LEVEL).expect("zstd compresses any input in memory")
}

/// Decompresses what [`compress`] wrote. Output larger than [`MAX_MESSAGE_BYTES`], input that is
/// not zstd, truncated or damaged → [`SyncError::Corrupt`]. Memory use is bounded by the size cap
/// and the window limit, whatever the input claims.
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>> {
    decompress_within(bytes, MAX_MESSAGE_BYTES).map_err(|e| match e {
        SyncError::InvalidInput(m) => SyncError::Corrupt(m),
        e => e,
    })
}

/// [`decompress`] with a smaller size cap, `limit` bytes of output (at most
/// [`MAX_MESSAGE_BYTES`]): a server decompressing what a client sent stops there instead of
/// allocating what a small bomb expands to. Input or output beyond the cap →
/// [`SyncError::InvalidInput`] (too large for this receiver: send less); input that is not a
/// valid zstd frame → [`SyncError::Corrupt`].
pub fn decompress_within(bytes: &[u8], limit: usize) -> Result<Vec<u8>> {
    let limit = limit.min(MAX_MESSAGE_BYTES);
    let corrupt = |detail: String| SyncError::Corrupt(format!("compressed message: {detail}"));
    let too_large = |detail: String| SyncError::InvalidInput(format!("compressed message: {detail}"));
    if bytes.len() > limit {
        return Err(too_large(format!("{} bytes is larger than the limit of {limit}", bytes.len())));
    }
    if bytes.is_empty() {
        return Err(corrupt("empty input is not a zstd frame".into()));
    }
    let zstd_error = |e: std::io::Error| corrupt(format!("not a valid zstd frame: {e}"));
    let mut decoder = zstd::stream::read::Decoder::with_buffer(bytes).map_err(zstd_error)?;
    decoder.window_log_max(WINDOW_LOG_MAX).map_err(zstd_error)?;
    let mut out = Vec::new();
    decoder.take(limit as u64 + 1).read_to_end(&mut out).map_err(zstd_error)?;
    if out.len() > limit {
        return Err(too_large(format!("decompresses to more than {limit} bytes")));
    }
    Ok(out)
}
