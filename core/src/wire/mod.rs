//! Wire formats (docs/design.md#4-sync-protocol): see [`WireMessage`] for the forms, conformance/wire/README.md for
//! the byte-level specification and docs/adr/0010-wire-formats.md for the choices.

mod binary;
#[cfg(feature = "zstd")]
mod compress;
mod crc32;
mod crypto;
mod json;
mod snapshot;
pub use crypto::{EncryptionKey, KdfParams, KEY_BYTES, MAX_SALT_BYTES, MIN_SALT_BYTES};
pub(crate) use json::check_format;
pub use snapshot::{Snapshot, SNAPSHOT_FORMAT};

use crate::model::change_set::ChangeSet;
use crate::model::error::{Result, SyncError};
use crate::model::operation::SyncOperation;
use crate::model::state::SyncState;
use binary::{Reader, Writer};

#[cfg(feature = "zstd")]
pub use compress::{compress, decompress, decompress_within};

/// Version of the wire formats this build writes and reads.
pub const WIRE_FORMAT: u64 = 1;

/// Largest encoded message [`decode`] accepts (bytes), and the decompressed size cap of
/// `decompress`. Binary messages are also refused when their interned strings would expand
/// beyond it.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The two forms of every wire message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Versioned JSON text (UTF-8): debuggable, what a browser or a log shows.
    Json,
    /// The compact binary form.
    Binary,
}

impl Encoding {
    /// The HTTP content type of this form: `application/json` or
    /// `application/vnd.statesync+binary`.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Binary => "application/vnd.statesync+binary",
        }
    }

    /// The form named by an HTTP content type. Case-insensitive; parameters such as
    /// `; charset=utf-8` are ignored.
    pub fn from_content_type(s: &str) -> Option<Encoding> {
        let media = s.split(';').next().unwrap_or("").trim();
        [Encoding::Json, Encoding::Binary].into_iter().find(|e| media.eq_ignore_ascii_case(e.content_type()))
    }

    /// The form a message is in, told by its first byte: binary messages start with
    /// the binary magic (`0xF5`, never the first byte of UTF-8 text), anything else is read
    /// as JSON. What the bindings decode with when the application names no encoding.
    pub fn of_message(bytes: &[u8]) -> Encoding {
        if bytes.first() == Some(&binary::MAGIC[0]) {
            Encoding::Binary
        } else {
            Encoding::Json
        }
    }

    /// The name every binding's options use for this form: `"json"` or `"binary"`; what
    /// [`Encoding::from_str`](std::str::FromStr) takes back.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Binary => "binary",
        }
    }
}

/// Parses an encoding's [name](Encoding::name), exactly (`"json"` or `"binary"`, lowercase as
/// every binding has always spelled them); anything else is `INVALID_INPUT` naming both.
impl std::str::FromStr for Encoding {
    type Err = SyncError;

    fn from_str(name: &str) -> Result<Encoding> {
        [Encoding::Json, Encoding::Binary].into_iter().find(|e| e.name() == name).ok_or_else(|| {
            SyncError::InvalidInput(format!("unknown wire encoding {name:?}: use \"json\" or \"binary\""))
        })
    }
}

/// The pending queue as a wire message of its own (docs/design.md#25-operation-and-the-pending-queue: operations in queue order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PendingOperations(pub Vec<SyncOperation>);

impl From<Vec<SyncOperation>> for PendingOperations {
    fn from(operations: Vec<SyncOperation>) -> Self {
        PendingOperations(operations)
    }
}

impl PendingOperations {
    /// The checks a snapshot applies to its pending queue (see [`Snapshot::validate`]).
    pub fn validate(&self) -> Result<()> {
        validate_operations(&self.0)
    }
}

/// The per-operation checks of [`Snapshot::validate`], shared so that a snapshot's queue and a
/// [`PendingOperations`] message accept the same operations.
fn validate_operations(operations: &[SyncOperation]) -> Result<()> {
    operations.iter().try_for_each(SyncOperation::validate)
}

mod sealed {
    use super::binary::{Kind, Reader, Writer};
    use crate::model::error::Result;

    /// How one message type is written and read; private, so [`super::WireMessage`] is sealed.
    pub trait Codec: Sized {
        /// The binary kind tag.
        const TAG: Kind;
        /// The JSON wire bytes.
        fn to_json(&self) -> Vec<u8>;
        /// Parses JSON wire bytes, version checked, fully validated.
        fn from_json(bytes: &[u8]) -> Result<Self>;
        /// Writes the binary body.
        fn write<'a>(&'a self, w: &mut Writer<'a>);
        /// Reads the binary body (not yet validated).
        fn read(r: &mut Reader<'_>) -> Result<Self>;
        /// The validation every decoded message goes through.
        fn check(&self) -> Result<()>;
    }
}

/// A message with a wire form: implemented for [`SyncState`], [`ChangeSet`], [`Snapshot`] and
/// [`PendingOperations`] (and sealed: no other type can implement it). Use [`encode`] and
/// [`decode`]; with the `zstd` feature, `compress` and `decompress` wrap either form. Both
/// forms round-trip exactly, and decoding never trusts its input.
///
/// * **JSON** — every message is an object with a top-level `"format"` field:
///   - [`SyncState`] — `{"format":1,"state":{...}}`
///   - [`ChangeSet`] — `{"format":1,"states":[...],"cursor":"12","has_more":false}`
///   - [`Snapshot`] — exactly [`Snapshot::to_json`] (its `format` is [`crate::SNAPSHOT_FORMAT`])
///   - [`PendingOperations`] — `{"format":1,"operations":[...]}`
///
///   States and operations inside are their compact JSON forms as serialised everywhere else
///   (see docs/adr/0008-state-json-forms.md).
/// * **Binary** — magic `F5 53 53 57`, the format version, a message-kind tag, a body in
///   [postcard](https://docs.rs/postcard) encoding with node ids, collections, state ids and
///   object keys interned in a per-message string table, and a CRC-32 of everything before it.
///   Derivable fields (the hash, `modified_by`, operation ids of the usual shape) are left out.
///   Decoding accepts only the canonical bytes [`encode`] writes.
///
/// conformance/wire/README.md specifies both forms byte by byte; docs/adr/0010-wire-formats.md
/// explains the choices.
///
/// ```
/// use statesync::{decode, encode, ChangeSet, Encoding};
///
/// let page = ChangeSet { states: vec![], cursor: "12".into(), has_more: false };
/// let json = encode(&page, Encoding::Json);
/// assert_eq!(json, br#"{"format":1,"states":[],"cursor":"12","has_more":false}"#);
/// let bytes = encode(&page, Encoding::Binary);
/// assert_eq!(decode::<ChangeSet>(&bytes, Encoding::Binary)?, page);
/// # Ok::<(), statesync::SyncError>(())
/// ```
pub trait WireMessage: sealed::Codec {
    /// The kind's name, as used in error messages and in conformance/wire/manifest.json:
    /// `state`, `changeset`, `snapshot` or `pending`.
    const KIND: &'static str;
}

impl WireMessage for SyncState {
    const KIND: &'static str = "state";
}

impl WireMessage for ChangeSet {
    const KIND: &'static str = "changeset";
}

impl WireMessage for Snapshot {
    const KIND: &'static str = "snapshot";
}

impl WireMessage for PendingOperations {
    const KIND: &'static str = "pending";
}

/// Encodes a message. Deterministic: the same value always gives the same bytes.
pub fn encode<T: WireMessage>(value: &T, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Json => value.to_json(),
        Encoding::Binary => binary::encode(value),
    }
}

/// Decodes and validates a message.
///
/// Errors: input over [`MAX_MESSAGE_BYTES`], truncated, garbled, damaged (checksum), of another
/// message kind, or binary input not in canonical form → [`SyncError::Corrupt`]; an unknown
/// format version → [`SyncError::UnsupportedFormat`]; a well-formed message holding an invalid
/// state or operation → what [`SyncState::validate`] / [`Snapshot::validate`] return
/// (usually [`SyncError::InvalidState`]). Never panics, whatever the input.
pub fn decode<T: WireMessage>(bytes: &[u8], encoding: Encoding) -> Result<T> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(SyncError::Corrupt(format!(
            "{} message of {} bytes is larger than the limit of {MAX_MESSAGE_BYTES}",
            T::KIND,
            bytes.len()
        )));
    }
    match encoding {
        Encoding::Json => T::from_json(bytes),
        Encoding::Binary => {
            let value = binary::decode::<T>(bytes)?;
            value.check()?;
            Ok(value)
        }
    }
}

/// Decodes a change set as received from a peer (a pulled page, a pushed one): its format,
/// size and structure are checked as [`decode`] checks them, but each state's validity is left
/// to the replica that applies it ([`crate::SyncManager::reconcile`],
/// [`crate::SyncManager::apply_changes`]), which refuses an invalid state alone instead of the
/// whole page. Use [`decode`] to refuse a page holding any invalid state.
pub fn decode_page(bytes: &[u8], encoding: Encoding) -> Result<ChangeSet> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(SyncError::Corrupt(format!(
            "changeset message of {} bytes is larger than the limit of {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }
    match encoding {
        Encoding::Json => json::parse_change_set_unchecked(bytes),
        Encoding::Binary => binary::decode::<ChangeSet>(bytes),
    }
}

impl sealed::Codec for SyncState {
    const TAG: binary::Kind = binary::Kind::State;

    fn to_json(&self) -> Vec<u8> {
        json::state(self)
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        json::parse_state(bytes)
    }

    fn write<'a>(&'a self, w: &mut Writer<'a>) {
        w.state(self);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.state(binary::depth::LONE_STATE)
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl sealed::Codec for ChangeSet {
    const TAG: binary::Kind = binary::Kind::ChangeSet;

    fn to_json(&self) -> Vec<u8> {
        json::change_set(self)
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        json::parse_change_set(bytes)
    }

    fn write<'a>(&'a self, w: &mut Writer<'a>) {
        w.change_set(self);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.change_set()
    }

    fn check(&self) -> Result<()> {
        self.states.iter().try_for_each(|s| s.validate())
    }
}

impl sealed::Codec for Snapshot {
    const TAG: binary::Kind = binary::Kind::Snapshot;

    fn to_json(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| SyncError::Corrupt(format!("snapshot is not valid JSON: not UTF-8 ({e})")))?;
        Snapshot::from_json(text)
    }

    fn write<'a>(&'a self, w: &mut Writer<'a>) {
        w.snapshot(self);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.snapshot()
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }
}

impl sealed::Codec for PendingOperations {
    const TAG: binary::Kind = binary::Kind::Pending;

    fn to_json(&self) -> Vec<u8> {
        json::pending(self)
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        json::parse_pending(bytes)
    }

    fn write<'a>(&'a self, w: &mut Writer<'a>) {
        w.operations(&self.0);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.operations(binary::depth::LISTED).map(PendingOperations)
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding;

    #[test]
    fn encodings_parse_from_their_names_only() {
        for e in [Encoding::Json, Encoding::Binary] {
            assert_eq!(e.name().parse::<Encoding>().unwrap(), e);
        }
        for bad in ["JSON", "Binary", "", "application/json", "zstd"] {
            let e = bad.parse::<Encoding>().unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT", "{bad:?}");
            assert_eq!(e.message(), format!("unknown wire encoding {bad:?}: use \"json\" or \"binary\""));
        }
    }
}
