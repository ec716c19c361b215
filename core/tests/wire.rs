//! Wire formats: round trips of random values in both forms, the golden files and negative cases
//! of conformance/wire/ (manifest-driven, as every binding replays them), zstd, depth limits, and
//! a replay of the committed fuzz corpus through every decoder.
//!
//! `STATESYNC_REGENERATE_WIRE=1 cargo test -p statesync --test wire golden_files` rewrites the
//! golden files and the manifest from the values built in `golden_cases` (deterministic: fixed
//! node ids and manual clocks); without it, the test only reads and checks the committed files,
//! so a change of either encoder shows as a mismatch with the committed bytes.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use statesync::{
    decode, encode, state_hash, ChangeSet, ConflictStrategy, CreateOptions, Encoding, FieldNode, ManagerConfig,
    ManualClock, OperationKind, PendingOperations, Snapshot, SyncContext, SyncError, SyncManager, SyncOperation,
    SyncState, Timestamp, VectorClock, WireMessage, MAX_COUNTER, MAX_DATA_DEPTH, MAX_MESSAGE_BYTES, MAX_SAFE_INTEGER,
    WIRE_FORMAT,
};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::Binary];

fn wire_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/wire")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Both forms of `value` decode back to it, and re-encode to the same bytes.
fn assert_round_trip<T: WireMessage + PartialEq + Debug>(value: &T) {
    for encoding in BOTH {
        let bytes = encode(value, encoding);
        let back: T = decode(&bytes, encoding).unwrap_or_else(|e| panic!("{encoding:?} {}: {e}", T::KIND));
        assert_eq!(&back, value, "{encoding:?} {} round trip", T::KIND);
        assert_eq!(encode(&back, encoding), bytes, "{encoding:?} {} re-encoding", T::KIND);
    }
}

// ---- every decoder on arbitrary bytes ---------------------------------------------------------------

/// Decodes `bytes` as `T`; whatever decodes must round-trip through both forms.
fn probe<T: WireMessage + PartialEq + Debug>(bytes: &[u8], encoding: Encoding) -> bool {
    let Ok(value) = decode::<T>(bytes, encoding) else { return false };
    if encoding == Encoding::Binary {
        assert_eq!(encode(&value, Encoding::Binary), bytes, "accepted binary input is canonical");
    }
    assert_round_trip(&value);
    true
}

/// Runs `bytes` through every decoder (each kind in each form, the binary ones also with the
/// checksum repaired so that the body is reached, and decompression), checking that whatever
/// decodes round-trips. Returns how many decoders accepted the input.
fn decode_everything(bytes: &[u8]) -> usize {
    let mut accepted = 0;
    let mut inputs = vec![bytes.to_vec()];
    if bytes.len() >= 4 {
        let mut fixed = bytes[..bytes.len() - 4].to_vec();
        let crc = crc32fast::hash(&fixed);
        fixed.extend_from_slice(&crc.to_le_bytes());
        inputs.push(fixed);
    }
    #[cfg(feature = "zstd")]
    if let Ok(plain) = statesync::decompress(bytes) {
        accepted += 1;
        inputs.push(plain);
    }
    for input in &inputs {
        for encoding in BOTH {
            accepted += usize::from(probe::<SyncState>(input, encoding));
            accepted += usize::from(probe::<ChangeSet>(input, encoding));
            accepted += usize::from(probe::<Snapshot>(input, encoding));
            accepted += usize::from(probe::<PendingOperations>(input, encoding));
        }
    }
    accepted
}

// ---- golden values --------------------------------------------------------------------------------

const PHONE: &str = "5b0b2c4e-8a51-4d1c-9b7e-0c2f6a1d9e33";
const LAPTOP: &str = "laptop";
const START: u64 = 1_700_000_000_000;

fn replica(node: &str, clock: &Arc<ManualClock>, strategy: ConflictStrategy) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node).clock(clock.clone()).strategy(strategy)).expect("open")
}

fn own<T: Clone>(value: Arc<T>) -> T {
    Arc::unwrap_or_clone(value)
}

/// A golden case: its name, what it shows, and the value (of one of the four kinds).
enum Golden {
    State(SyncState),
    ChangeSet(ChangeSet),
    Snapshot(Snapshot),
    Pending(PendingOperations),
}

impl Golden {
    fn kind(&self) -> &'static str {
        match self {
            Golden::State(_) => SyncState::KIND,
            Golden::ChangeSet(_) => ChangeSet::KIND,
            Golden::Snapshot(_) => Snapshot::KIND,
            Golden::Pending(_) => PendingOperations::KIND,
        }
    }

    fn encode(&self, encoding: Encoding) -> Vec<u8> {
        match self {
            Golden::State(v) => encode(v, encoding),
            Golden::ChangeSet(v) => encode(v, encoding),
            Golden::Snapshot(v) => encode(v, encoding),
            Golden::Pending(v) => encode(v, encoding),
        }
    }
}

/// The representative values of conformance/wire/, built on replicas with fixed node ids and
/// manual clocks, so regenerating gives the same bytes.
fn golden_cases() -> Vec<(&'static str, &'static str, Golden)> {
    let clock = Arc::new(ManualClock::new(START));
    let phone = replica(PHONE, &clock, ConflictStrategy::LastWriteWins);
    let laptop = replica(LAPTOP, &clock, ConflictStrategy::LastWriteWins);

    phone.create_state(json!({"theme": "dark", "font": {"size": 12}}), CreateOptions::id("settings")).expect("create");
    clock.advance(1_500);
    let plain = phone.update_state("settings", json!({"theme": "light", "font": {"size": 12}})).expect("update");

    phone.create_state(json!(["draft"]), CreateOptions::id("draft-1")).expect("create");
    clock.advance(20);
    let tombstone = phone.delete_state("draft-1").expect("delete");

    let data = json!({
        "title": "Grüße 👋 «quoted» \"text\"\n\ttabbed",
        "floats": [0.1, -2.5e-300, 1.7976931348623157e308, 3.0, -0.0],
        "negative": -42,
        "min_safe": -(MAX_SAFE_INTEGER as i64),
        "max_safe": MAX_SAFE_INTEGER,
        "nested": {"a": [null, true, false, ""], "b": {"c": {"d": [[], {}, [1, [2, [3]]]]}}},
        "empty": {}
    });
    let remote = laptop
        .create_state(data, CreateOptions::id("ноутбук/📓 entry").in_collection("заметки · notes"))
        .expect("create");
    phone.apply_remote_state(remote).expect("apply");
    clock.advance(7);
    let mut updated = phone.get_state("ноутбук/📓 entry").expect("get").expect("present").data.clone();
    updated["pinned"] = json!(true);
    let unicode = phone.update_state("ноутбук/📓 entry", updated).expect("update");

    // MergeFields: concurrent edits of different fields on two replicas, merged.
    let merge_clock = Arc::new(ManualClock::new(START));
    let a = replica(PHONE, &merge_clock, ConflictStrategy::MergeFields);
    let b = replica(LAPTOP, &merge_clock, ConflictStrategy::MergeFields);
    let base = a
        .create_state(
            json!({"theme": "dark", "font": {"size": 12, "face": "mono"}, "tags": ["x"]}),
            CreateOptions::id("prefs"),
        )
        .expect("create");
    b.apply_remote_state(base).expect("apply");
    merge_clock.advance(10);
    a.update_state("prefs", json!({"theme": "light", "font": {"size": 12, "face": "mono"}, "tags": ["x"]}))
        .expect("update");
    merge_clock.advance(10);
    let from_b =
        b.update_state("prefs", json!({"theme": "dark", "font": {"size": 14, "face": "mono"}})).expect("update");
    a.apply_remote_state(from_b).expect("merge");
    let merged = own(a.get_state("prefs").expect("get").expect("present"));
    assert!(merged.fields.is_some(), "a MergeFields state keeps its field history");

    // Cursors name the replica's feed, a random name: the golden pages carry the sequence number
    // alone (cursors are opaque to the receiver), so that the same scenario gives the same bytes.
    let sequence_only = |mut page: ChangeSet| {
        page.cursor = page.cursor.rsplit_once('.').map(|(_, seq)| seq.to_owned()).expect("feed.seq");
        page
    };
    let page = sequence_only(phone.changes_since(None, &SyncContext::all().with_limit(2)).expect("changes"));
    assert!(page.has_more);
    let end = phone.changes_since(None, &SyncContext::all()).expect("changes");
    let empty = sequence_only(phone.changes_since(Some(&end.cursor), &SyncContext::all()).expect("changes"));
    assert!(empty.states.is_empty() && !empty.has_more);

    let mut pending = phone.pending_operations().expect("pending");
    pending.truncate(3);
    // Operation ids of other shapes (say, restored from another tool's export).
    let mut odd = pending[0].clone();
    odd.op_id = format!("{PHONE}:900");
    pending.push(odd);
    let mut odd = pending[1].clone();
    odd.op_id = "import/2024-01-01#7".into();
    pending.push(odd);

    // A small snapshot: pending operations and an unresolved manual conflict.
    let manual_clock = Arc::new(ManualClock::new(START));
    let m = replica(PHONE, &manual_clock, ConflictStrategy::Manual);
    let other = replica(LAPTOP, &manual_clock, ConflictStrategy::Manual);
    let doc = m.create_state(json!({"body": "hello"}), CreateOptions::id("doc")).expect("create");
    other.apply_remote_state(doc).expect("apply");
    manual_clock.advance(5);
    m.update_state("doc", json!({"body": "hello from the phone"})).expect("update");
    let theirs = other.update_state("doc", json!({"body": "hello from the laptop"})).expect("update");
    m.apply_remote_state(theirs).expect("conflict");
    m.create_state(json!(1), CreateOptions::id("counter").in_collection("stats")).expect("create");
    let snapshot = m.export_state().expect("export");
    assert_eq!(snapshot.conflicts.len(), 1);
    assert!(!snapshot.pending.is_empty());

    vec![
        ("state_plain", "a live state in the default collection", Golden::State(own(plain))),
        ("state_tombstone", "a deleted state (tombstone): data null, deleted true", Golden::State(own(tombstone))),
        (
            "state_unicode",
            "a state in another collection with a unicode id, a two-entry clock and nested data with \
             floats (incl. -0.0 and the largest double), negative and extreme integers, escapes",
            Golden::State(own(unicode)),
        ),
        (
            "state_merge_fields",
            "a MergeFields state with its field history (register tree) after merging concurrent edits: \
             theme from one replica, font size from the other, a removed key (tags) as a tombstone",
            Golden::State(merged),
        ),
        ("changeset_more", "a page of the changes feed with has_more: true", Golden::ChangeSet(page)),
        ("changeset_empty", "an empty page at the end of the feed", Golden::ChangeSet(empty)),
        (
            "snapshot_small",
            "a snapshot with states in two collections, pending operations and a manual conflict",
            Golden::Snapshot(snapshot),
        ),
        (
            "pending_ops",
            "pending operations: create, update, delete, and operation ids of other shapes",
            Golden::Pending(PendingOperations(pending)),
        ),
    ]
}

// ---- negative cases -----------------------------------------------------------------------------

/// Replaces the checksum of a binary message by the right one for its (tampered) content.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len() - 4);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Header length of a version-1 message: magic, version (1 byte), kind.
const HEADER: usize = 6;

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A binary message from its kind tag and body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xF5, b'S', b'S', b'W', 1, kind];
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(&[0; 4]);
    reseal(bytes)
}

fn deep_array(levels: usize) -> Value {
    (0..levels).fold(json!(0), |inner, _| json!([inner]))
}

/// A valid state with `data`.
fn state_with(id: &str, data: Value) -> SyncState {
    let ts = Timestamp { millis: START, counter: 0, node: LAPTOP.into() };
    SyncState {
        id: id.into(),
        collection: "default".into(),
        hash: state_hash(&data, false),
        data,
        clock: [(LAPTOP, 1)].into_iter().collect(),
        modified_by: ts.node.clone(),
        timestamp: ts,
        deleted: false,
        version: 1,
        fields: None,
    }
}

/// An invalid input and the error code decoding it must give.
struct Invalid {
    name: String,
    kind: &'static str,
    encoding: Encoding,
    bytes: Vec<u8>,
    code: &'static str,
    description: String,
}

/// The invalid inputs of the manifest, most derived from the golden bytes.
fn invalid_cases(golden: &dyn Fn(&str, Encoding) -> Vec<u8>) -> Vec<Invalid> {
    use Encoding::{Binary, Json};
    let mut out = Vec::new();
    let mut add =
        |name: &str, kind: &'static str, encoding: Encoding, bytes: Vec<u8>, code: &'static str, what: &str| {
            out.push(Invalid { name: name.to_owned(), kind, encoding, bytes, code, description: what.to_owned() });
        };
    let page_bin = golden("changeset_more", Binary);
    let page_json = golden("changeset_more", Json);
    let state_bin = golden("state_plain", Binary);
    let state_json = golden("state_plain", Json);
    let snap_bin = golden("snapshot_small", Binary);

    add("empty_binary", "state", Binary, Vec::new(), "CORRUPT", "no bytes at all");
    add("empty_json", "state", Json, Vec::new(), "CORRUPT", "no bytes at all");
    add("truncated_binary", "changeset", Binary, page_bin[..page_bin.len() / 2].to_vec(), "CORRUPT", "cut in half");
    add("truncated_header", "changeset", Binary, page_bin[..5].to_vec(), "CORRUPT", "cut inside the header");
    add("truncated_json", "changeset", Json, page_json[..page_json.len() / 2].to_vec(), "CORRUPT", "cut in half");
    let mut bad = state_bin.clone();
    bad[0] = b'{';
    add("wrong_magic", "state", Binary, bad, "CORRUPT", "first byte is not the magic");
    add("json_as_binary", "state", Binary, state_json.clone(), "CORRUPT", "JSON bytes given to the binary decoder");
    add("binary_as_json", "state", Json, state_bin.clone(), "CORRUPT", "binary bytes given to the JSON decoder");
    let mut bad = state_bin.clone();
    bad[4] = 2;
    add("unknown_version_binary", "state", Binary, bad, "UNSUPPORTED_FORMAT", "format version 2 in the header");
    let text = String::from_utf8(state_json.clone()).expect("utf-8").replacen("\"format\":1", "\"format\":2", 1);
    add("unknown_version_json", "state", Json, text.into_bytes(), "UNSUPPORTED_FORMAT", "\"format\": 2");
    let text =
        String::from_utf8(golden("snapshot_small", Json)).expect("utf-8").replacen("\"format\":1", "\"format\":7", 1);
    add(
        "unknown_version_snapshot_json",
        "snapshot",
        Json,
        text.into_bytes(),
        "UNSUPPORTED_FORMAT",
        "snapshot \"format\": 7",
    );
    let text = String::from_utf8(state_json.clone()).expect("utf-8").replacen("\"format\":1,", "", 1);
    add("missing_format_json", "state", Json, text.into_bytes(), "CORRUPT", "no format field");
    let text = String::from_utf8(state_json.clone()).expect("utf-8").replacen("\"format\":1", "\"format\":\"1\"", 1);
    add("format_not_a_number_json", "state", Json, text.into_bytes(), "CORRUPT", "format is a string");
    add("wrong_kind_binary", "changeset", Binary, state_bin.clone(), "CORRUPT", "a state message read as a changeset");
    add("wrong_kind_json", "changeset", Json, state_json.clone(), "CORRUPT", "a state message read as a changeset");
    let mut bad = snap_bin.clone();
    let mid = HEADER + (bad.len() - HEADER - 4) / 2;
    bad[mid] ^= 0x10;
    add("bit_flip", "snapshot", Binary, bad, "CORRUPT", "one bit flipped in the body: checksum mismatch");
    let mut bad = state_bin.clone();
    bad[HEADER] ^= 0x01;
    add("bit_flip_table", "state", Binary, bad, "CORRUPT", "one bit flipped in the string-table count");
    let mut bad = state_bin.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x80;
    add("bit_flip_checksum", "state", Binary, bad, "CORRUPT", "one bit flipped in the checksum");
    // The string-table count of the body replaced by 2^62 (checksum repaired).
    let mut bad = state_bin[..HEADER].to_vec();
    bad.extend(varint(1 << 62));
    bad.extend_from_slice(&state_bin[HEADER + 1..]);
    add("oversize_count", "state", Binary, reseal(bad), "CORRUPT", "string-table count of 2^62 (checksum repaired)");
    // The first string's length replaced by 2^40 (checksum repaired).
    let mut bad = state_bin[..HEADER + 1].to_vec();
    bad.extend(varint(1 << 40));
    bad.extend_from_slice(&state_bin[HEADER + 2..]);
    add("oversize_string", "state", Binary, reseal(bad), "CORRUPT", "string length of 2^40 (checksum repaired)");
    let mut bad = state_bin[..state_bin.len() - 4].to_vec();
    bad.extend_from_slice(&[0, 0, 0, 0, 0]);
    add("trailing_bytes_binary", "state", Binary, reseal(bad), "CORRUPT", "a byte after the body (checksum repaired)");
    let mut bad = state_bin.clone();
    bad.push(0);
    add("trailing_byte_after_checksum", "state", Binary, bad, "CORRUPT", "a byte after the checksum");
    let mut bad = state_json.clone();
    bad.extend_from_slice(b" x");
    add("trailing_bytes_json", "state", Json, bad, "CORRUPT", "garbage after the JSON object");
    // The string-table count written as an overlong varint: same number, not canonical.
    let count = state_bin[HEADER];
    let mut bad = state_bin[..HEADER].to_vec();
    bad.extend_from_slice(&[count | 0x80, 0]);
    bad.extend_from_slice(&state_bin[HEADER + 1..]);
    add("non_canonical_varint", "state", Binary, reseal(bad), "CORRUPT", "overlong varint (checksum repaired)");
    // Body: empty table, then a state whose id refers to string 0.
    add("symbol_out_of_range", "state", Binary, message(1, &[0, 0, 0]), "CORRUPT", "string reference past the table");
    let mut bad = state_bin.clone();
    bad[5] = 9;
    add("unknown_kind", "state", Binary, bad, "CORRUPT", "message kind 9");
    let bin = encode(&state_with("f", json!(1.5)), Binary);
    let at = bin.windows(8).position(|w| w == 1.5f64.to_le_bytes()).expect("the float's bytes");
    let mut bad = bin.clone();
    bad[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
    add("float_nan", "state", Binary, reseal(bad), "CORRUPT", "a NaN float (checksum repaired)");
    let deep = state_with("deep", deep_array(200));
    add("too_deep_binary", "state", Binary, encode(&deep, Binary), "CORRUPT", "data nested 200 levels deep");
    add("too_deep_json", "state", Json, encode(&deep, Json), "CORRUPT", "data nested 200 levels deep");
    let mut wrong = state_with("h", json!({"x": 1}));
    wrong.hash = "0000000000000000".into();
    add(
        "hash_mismatch_binary",
        "state",
        Binary,
        encode(&wrong, Binary),
        "INVALID_STATE",
        "hash does not match the data",
    );
    add("hash_mismatch_json", "state", Json, encode(&wrong, Json), "INVALID_STATE", "hash does not match the data");
    let no_id = state_with("", json!(null));
    add("empty_id_binary", "state", Binary, encode(&no_id, Binary), "INVALID_STATE", "empty state id");
    let no_id = ChangeSet { states: vec![Arc::new(state_with("", json!(null)))], cursor: "1".into(), has_more: false };
    add("empty_id_in_changeset_json", "changeset", Json, encode(&no_id, Json), "INVALID_STATE", "empty state id");
    add("not_utf8_json", "state", Json, b"{\"format\":1,\"state\":\"\xff\"}".to_vec(), "CORRUPT", "invalid UTF-8");
    add("array_json", "changeset", Json, b"[1,[],\"1\",false]".to_vec(), "CORRUPT", "an array, not an object");
    out
}

fn encoding_name(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Json => "json",
        Encoding::Binary => "binary",
    }
}

fn decode_kind(kind: &str, bytes: &[u8], encoding: Encoding) -> Result<Value, SyncError> {
    // The JSON wire form is the binding-neutral picture of a decoded value.
    let as_json = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).expect("JSON wire bytes");
    Ok(match kind {
        "state" => as_json(encode(&decode::<SyncState>(bytes, encoding)?, Encoding::Json)),
        "changeset" => as_json(encode(&decode::<ChangeSet>(bytes, encoding)?, Encoding::Json)),
        "snapshot" => as_json(encode(&decode::<Snapshot>(bytes, encoding)?, Encoding::Json)),
        "pending" => as_json(encode(&decode::<PendingOperations>(bytes, encoding)?, Encoding::Json)),
        other => panic!("unknown kind {other}"),
    })
}

/// Decodes `bytes` as `kind` and re-encodes in both forms: (JSON bytes, binary bytes).
fn reencode(kind: &str, bytes: &[u8], encoding: Encoding) -> Result<(Vec<u8>, Vec<u8>), SyncError> {
    fn both<T: WireMessage>(v: T) -> (Vec<u8>, Vec<u8>) {
        (encode(&v, Encoding::Json), encode(&v, Encoding::Binary))
    }
    Ok(match kind {
        "state" => both(decode::<SyncState>(bytes, encoding)?),
        "changeset" => both(decode::<ChangeSet>(bytes, encoding)?),
        "snapshot" => both(decode::<Snapshot>(bytes, encoding)?),
        "pending" => both(decode::<PendingOperations>(bytes, encoding)?),
        other => panic!("unknown kind {other}"),
    })
}

fn regenerate() {
    let dir = wire_dir();
    std::fs::create_dir_all(dir.join("invalid")).expect("mkdir");
    let cases = golden_cases();
    let mut manifest_cases = Vec::new();
    for (name, description, value) in &cases {
        std::fs::write(dir.join(format!("{name}.json")), value.encode(Encoding::Json)).expect("write");
        std::fs::write(dir.join(format!("{name}.bin")), value.encode(Encoding::Binary)).expect("write");
        manifest_cases.push(json!({
            "name": name, "kind": value.kind(), "description": description,
            "json": format!("{name}.json"), "binary": format!("{name}.bin"),
        }));
    }
    let golden = |name: &str, encoding: Encoding| {
        let (_, _, value) = cases.iter().find(|(n, _, _)| *n == name).expect("golden case");
        value.encode(encoding)
    };
    let mut manifest_invalid = Vec::new();
    for Invalid { name, kind, encoding, bytes, code, description } in invalid_cases(&golden) {
        let file = format!("invalid/{name}.{}", if encoding == Encoding::Json { "json" } else { "bin" });
        std::fs::write(dir.join(&file), bytes).expect("write");
        manifest_invalid.push(json!({
            "name": name, "kind": kind, "encoding": encoding_name(encoding), "file": file,
            "error": code, "description": description,
        }));
    }
    let manifest = json!({
        "description": "Golden wire messages (both forms of each value) and invalid inputs with the error \
                        code decoding must give. See README.md.",
        "wire_format": WIRE_FORMAT,
        "cases": manifest_cases,
        "invalid": manifest_invalid,
    });
    let mut text = serde_json::to_string_pretty(&manifest).expect("manifest");
    text.push('\n');
    std::fs::write(dir.join("manifest.json"), text).expect("write manifest");
}

fn manifest() -> Value {
    serde_json::from_slice(&read(&wire_dir().join("manifest.json"))).expect("manifest.json is JSON")
}

fn field<'a>(case: &'a Value, key: &str) -> &'a str {
    case.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("manifest case without {key}: {case}"))
}

#[test]
fn golden_files() {
    if std::env::var_os("STATESYNC_REGENERATE_WIRE").is_some() {
        regenerate();
    }
    // Today's encoders, run on today's scenarios, still write the committed bytes: the files are
    // not only self-consistent but what the core produces.
    let cases = golden_cases();
    for (name, _, value) in &cases {
        for (encoding, ext) in [(Encoding::Json, "json"), (Encoding::Binary, "bin")] {
            let committed = read(&wire_dir().join(format!("{name}.{ext}")));
            assert!(value.encode(encoding) == committed, "{name}.{ext}: the core no longer writes the committed bytes");
        }
    }
    let golden = |name: &str, encoding: Encoding| {
        let (_, _, value) = cases.iter().find(|(n, _, _)| *n == name).expect("golden case");
        value.encode(encoding)
    };
    for Invalid { name, encoding, bytes, .. } in invalid_cases(&golden) {
        let ext = if encoding == Encoding::Json { "json" } else { "bin" };
        let committed = read(&wire_dir().join(format!("invalid/{name}.{ext}")));
        assert!(bytes == committed, "invalid/{name}.{ext}: no longer what the scenario gives");
    }
    let manifest = manifest();
    assert_eq!(manifest["wire_format"], json!(WIRE_FORMAT));
    let cases = manifest["cases"].as_array().expect("cases");
    assert!(cases.len() >= 8, "every representative value has a golden case");
    for case in cases {
        let (name, kind) = (field(case, "name"), field(case, "kind"));
        let json_bytes = read(&wire_dir().join(field(case, "json")));
        let bin_bytes = read(&wire_dir().join(field(case, "binary")));
        let from_json = decode_kind(kind, &json_bytes, Encoding::Json).unwrap_or_else(|e| panic!("{name}.json: {e}"));
        let from_bin = decode_kind(kind, &bin_bytes, Encoding::Binary).unwrap_or_else(|e| panic!("{name}.bin: {e}"));
        assert_eq!(from_json, from_bin, "{name}: both forms hold the same value");
        for (encoding, bytes) in [(Encoding::Json, &json_bytes), (Encoding::Binary, &bin_bytes)] {
            let (json_again, bin_again) = reencode(kind, bytes, encoding).expect("decodes");
            assert!(json_again == json_bytes, "{name}: {encoding:?} → JSON gives the golden bytes");
            assert!(bin_again == bin_bytes, "{name}: {encoding:?} → binary gives the golden bytes");
        }
        assert!(bin_bytes.len() < json_bytes.len(), "{name}: binary is smaller than JSON");
    }
    // The snapshot's JSON wire form is `Snapshot::to_json`.
    let snap = read(&wire_dir().join("snapshot_small.json"));
    let snapshot = Snapshot::from_json(std::str::from_utf8(&snap).expect("utf-8")).expect("from_json");
    assert_eq!(snapshot.to_json().as_bytes(), snap.as_slice());
}

#[test]
fn invalid_inputs_give_their_error_code() {
    let manifest = manifest();
    let invalid = manifest["invalid"].as_array().expect("invalid");
    let codes: std::collections::BTreeSet<&str> = invalid.iter().map(|c| field(c, "error")).collect();
    for code in ["CORRUPT", "UNSUPPORTED_FORMAT", "INVALID_STATE"] {
        assert!(codes.contains(code), "a negative case for {code}");
    }
    for case in invalid {
        let (name, kind) = (field(case, "name"), field(case, "kind"));
        let encoding = match field(case, "encoding") {
            "json" => Encoding::Json,
            "binary" => Encoding::Binary,
            other => panic!("{name}: unknown encoding {other}"),
        };
        let bytes = read(&wire_dir().join(field(case, "file")));
        match decode_kind(kind, &bytes, encoding) {
            Ok(v) => panic!("{name}: decoded, expected {}: {v}", field(case, "error")),
            Err(e) => assert_eq!(e.code(), field(case, "error"), "{name}: {e}"),
        }
        decode_everything(&bytes);
    }
}

/// Files the committed corpus of each fuzz target holds at least: scripts/fuzz.sh's
/// `CORPUS_FLOOR`, which fails the fuzz step below it; keep the two the same.
const CORPUS_FLOOR: usize = 50;

/// The files of `dir`, which must exist: a folder that vanished would otherwise replay nothing.
fn files_of(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    entries.map(|e| e.expect("entry").path()).filter(|p| p.is_file()).collect()
}

#[test]
fn every_committed_file_survives_every_decoder() {
    let golden: Vec<PathBuf> = [wire_dir(), wire_dir().join("invalid")].iter().flat_map(|d| files_of(d)).collect();
    assert!(golden.len() > 40, "the golden files and the invalid cases at least");
    // The decode_any fuzz target's own corpus, counted apart: the golden files must not be what
    // meets its floor.
    let corpus = files_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_any"));
    assert!(
        corpus.len() >= CORPUS_FLOOR,
        "the committed decode_any corpus holds {} files, fewer than the floor of {CORPUS_FLOOR}",
        corpus.len()
    );
    let decoding = |files: &[PathBuf]| files.iter().filter(|file| decode_everything(&read(file)) > 0).count();
    let (golden_accepted, corpus_accepted) = (decoding(&golden), decoding(&corpus));
    eprintln!(
        "{golden_accepted} of {} golden files and {corpus_accepted} of {} corpus files decode as some message",
        golden.len(),
        corpus.len()
    );
    assert!(golden_accepted >= 16, "the golden files decode");
    // A corpus grown by fuzzing decoders keeps inputs that get past the format checks: one in
    // which nothing decodes is not that corpus any more.
    assert!(corpus_accepted > 0, "no file of the decode_any corpus decodes as any message");
}

// ---- specific behaviour ---------------------------------------------------------------------------

#[test]
fn json_shapes() {
    let s = state_with("k", json!({"a": 1}));
    let text = String::from_utf8(encode(&s, Encoding::Json)).expect("utf-8");
    assert_eq!(text, format!("{{\"format\":1,\"state\":{}}}", s.to_json()));
    let page = ChangeSet { states: vec![Arc::new(s.clone())], cursor: "12".into(), has_more: true };
    let text = String::from_utf8(encode(&page, Encoding::Json)).expect("utf-8");
    assert_eq!(text, format!("{{\"format\":1,\"states\":[{}],\"cursor\":\"12\",\"has_more\":true}}", s.to_json()));
    let pending = PendingOperations(vec![]);
    assert_eq!(encode(&pending, Encoding::Json), br#"{"format":1,"operations":[]}"#);
    // Readers are lenient about whitespace, field order and unknown fields.
    let text = format!(
        " {{ \"cursor\": \"12\", \"x\": [1], \"has_more\": true,\n \"states\": [{}], \"format\": 1 }} ",
        s.to_json()
    );
    assert_eq!(decode::<ChangeSet>(text.as_bytes(), Encoding::Json).expect("decode"), page);
}

#[test]
fn binary_layout() {
    let s = state_with("k", json!(null));
    let bytes = encode(&s, Encoding::Binary);
    assert_eq!(&bytes[..6], &[0xF5, b'S', b'S', b'W', 1, 1]);
    let n = bytes.len();
    assert_eq!(u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes")), crc32fast::hash(&bytes[..n - 4]));
    // table: "k", "default", "laptop"; state: flags, id, collection, null, clock, timestamp, version.
    let mut body = vec![3, 1, b'k', 7];
    body.extend_from_slice(b"default");
    body.push(6);
    body.extend_from_slice(b"laptop");
    body.extend_from_slice(&[0, 0, 1, 0, 1, 2, 1]);
    body.extend(varint(START));
    body.extend_from_slice(&[0, 2, 1]);
    assert_eq!(&bytes[6..n - 4], body.as_slice());
    let kinds = [
        encode(&ChangeSet { states: vec![], cursor: String::new(), has_more: false }, Encoding::Binary)[5],
        encode(
            &Snapshot { format: 1, node_id: "n".into(), states: vec![], pending: vec![], conflicts: vec![] },
            Encoding::Binary,
        )[5],
        encode(&PendingOperations::default(), Encoding::Binary)[5],
    ];
    assert_eq!(kinds, [2, 3, 4]);
}

#[test]
fn numbers_keep_their_kind() {
    let safe = MAX_SAFE_INTEGER;
    let data = json!([0, 1, safe, -1, -(safe as i64), 0.0, -0.0, 1.0, 0.1, -1.5e-320, f64::MAX, f64::MIN_POSITIVE]);
    let s = state_with("n", data.clone());
    for encoding in BOTH {
        let back: SyncState = decode(&encode(&s, encoding), encoding).expect("decode");
        let (a, b) = (back.data.as_array().expect("array"), data.as_array().expect("array"));
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (x.as_number().expect("number"), y.as_number().expect("number"));
            assert_eq!((x.is_u64(), x.is_i64(), x.is_f64()), (y.is_u64(), y.is_i64(), y.is_f64()), "{x} vs {y}");
            assert_eq!(x.as_f64().map(f64::to_bits), y.as_f64().map(f64::to_bits), "{x} vs {y}");
        }
    }
}

#[test]
fn integers_beyond_2_pow_53_are_refused_by_both_forms() {
    for big in [json!(MAX_SAFE_INTEGER + 1), json!(u64::MAX), json!(i64::MIN), json!(-(MAX_SAFE_INTEGER as i64) - 1)] {
        // Built around validation, as a peer of an older release could send it.
        let mut s = state_with("n", json!(0));
        s.data = json!({ "big": big });
        s.hash = state_hash(&s.data, false);
        for encoding in BOTH {
            let e = decode::<SyncState>(&encode(&s, encoding), encoding).unwrap_err();
            assert_eq!(e.code(), "INVALID_STATE", "{big} {encoding:?}");
            assert!(e.to_string().contains(&big.to_string()), "{e}");
        }
    }
    // An integer too large for 64 bits is refused before a JSON reader rounds it.
    let text = r#"{"format":1,"state":{"id":"n","data":123456789012345678901234567890,"clock":{"a":1},"timestamp":{"millis":1,"counter":0,"node":"a"}}}"#;
    let e = decode::<SyncState>(text.as_bytes(), Encoding::Json).unwrap_err();
    assert!(e.to_string().contains("123456789012345678901234567890"), "{e}");
}

#[test]
fn every_valid_depth_travels_in_both_forms_and_deeper_data_is_refused_by_both() {
    // MAX_DATA_DEPTH keeps every wire form within serde_json's nesting limit of 128, even
    // where a state sits deepest: inside a conflict inside a snapshot.
    for (levels, ok) in [(MAX_DATA_DEPTH, true), (MAX_DATA_DEPTH + 1, false)] {
        let s = state_with("d", deep_array(levels));
        for encoding in BOTH {
            let result = decode::<SyncState>(&encode(&s, encoding), encoding);
            assert_eq!(result.is_ok(), ok, "{levels} levels, {encoding:?}: {result:?}");
            if !ok {
                assert_eq!(result.unwrap_err().code(), "INVALID_STATE");
            }
        }
    }
    let clock = Arc::new(ManualClock::new(START));
    let m = replica("a", &clock, ConflictStrategy::Manual);
    let other = replica("b", &clock, ConflictStrategy::Manual);
    let s = m.create_state(json!(0), CreateOptions::id("d")).expect("create");
    other.apply_remote_state(s).expect("apply");
    m.update_state("d", deep_array(MAX_DATA_DEPTH)).expect("update");
    m.apply_remote_state(other.update_state("d", deep_array(MAX_DATA_DEPTH)).expect("update")).expect("conflict");
    let snapshot = m.export_state().expect("export");
    assert_eq!(snapshot.conflicts.len(), 1);
    for encoding in BOTH {
        assert_eq!(decode::<Snapshot>(&encode(&snapshot, encoding), encoding).expect("decode"), snapshot);
    }
}

#[test]
fn field_histories_of_the_deepest_data_travel_in_both_forms() {
    let ts = Timestamp { millis: START, counter: 0, node: LAPTOP.into() };
    let data = (0..MAX_DATA_DEPTH).fold(json!(1), |inner, _| json!({ "k": inner }));
    let mut s = state_with("f", data.clone());
    s.fields = Some(Box::new(FieldNode::from_value(&data, &ts)));
    let page = ChangeSet { states: vec![Arc::new(s.clone())], cursor: "1".into(), has_more: false };
    let snapshot =
        Snapshot { format: 1, node_id: "n".into(), states: vec![s.clone()], pending: vec![], conflicts: vec![] };
    for encoding in BOTH {
        assert_eq!(decode::<SyncState>(&encode(&s, encoding), encoding).expect("state"), s);
        assert_eq!(decode::<ChangeSet>(&encode(&page, encoding), encoding).expect("page"), page);
        assert_eq!(decode::<Snapshot>(&encode(&snapshot, encoding), encoding).expect("snapshot"), snapshot);
    }
}

#[test]
fn content_types() {
    for encoding in BOTH {
        assert_eq!(Encoding::from_content_type(encoding.content_type()), Some(encoding));
    }
    assert_eq!(Encoding::from_content_type("Application/JSON; charset=utf-8"), Some(Encoding::Json));
    assert_eq!(Encoding::from_content_type(" application/vnd.statesync+binary "), Some(Encoding::Binary));
    assert_eq!(Encoding::from_content_type("text/plain"), None);
    assert_eq!(Encoding::from_content_type(""), None);
}

/// A value hidden in a MergeFields state's field history (a sub-field of a removed key) obeys
/// the data's rules: an integer beyond 2^53 - 1 there is refused by both forms alike, as the
/// JSON reader refuses it anywhere in the text. Found by `damaged_binary_never_panics`: the
/// binary form accepted such a state, which then failed its JSON round trip.
#[test]
fn a_large_integer_hidden_in_the_field_history_is_refused_by_both_forms() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let phone = replica("phone", &clock, ConflictStrategy::MergeFields);
    phone.create_state(json!({"font": {"size": 12}}), CreateOptions::id("prefs")).expect("create");
    clock.advance(5);
    let mut state = own(phone.update_state("prefs", json!({})).expect("update"));
    let removed = state.fields.as_mut().expect("field history").children.get_mut("font").expect("tombstone");
    let size = removed.children.get_mut("size").expect("hidden sub-field");
    size.kind = statesync::FieldKind::Value(json!(MAX_SAFE_INTEGER + 1));
    assert_eq!(state.data, json!({}), "the changed value is hidden");
    let err = state.validate().expect_err("a hidden large integer is refused");
    assert_eq!(err.code(), "INVALID_STATE", "{err}");
    assert!(err.to_string().contains("field history"), "{err}");
    for encoding in BOTH {
        let bytes = encode(&state, encoding);
        let err = decode::<SyncState>(&bytes, encoding).expect_err("refused on decoding");
        assert_eq!(err.code(), "INVALID_STATE", "{encoding:?}: {err}");
    }
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
    for encoding in BOTH {
        assert_eq!(decode::<SyncState>(&big, encoding).expect_err("too big").code(), "CORRUPT");
    }
}

#[test]
fn interned_strings_cannot_blow_up() {
    // One 4 KiB node id referenced from 20,000 clock entries of one state would expand to 80 MB.
    let node = "n".repeat(4096);
    let mut body = varint(1);
    body.extend(varint(node.len() as u64));
    body.extend_from_slice(node.as_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]); // flags, id, collection, null
    body.extend(varint(20_000));
    for _ in 0..20_000 {
        body.extend_from_slice(&[0, 1]);
    }
    let err = decode::<SyncState>(&message(1, &body), Encoding::Binary).expect_err("refused");
    assert_eq!(err.code(), "CORRUPT");
    assert!(err.to_string().contains("expand"), "{err}");
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_round_trip_and_garbage() {
    use statesync::{compress, decompress};
    let page = ChangeSet {
        states: (0..50).map(|i| Arc::new(state_with(&format!("key-{i}"), json!({"n": i})))).collect(),
        cursor: "50".into(),
        has_more: false,
    };
    for encoding in BOTH {
        let bytes = encode(&page, encoding);
        let packed = compress(&bytes);
        assert!(packed.len() < bytes.len());
        assert_eq!(decompress(&packed).expect("decompress"), bytes);
        // Every truncation and a bit flip in every byte are errors or (rarely) other bytes, never a panic.
        for cut in 0..packed.len() {
            assert_eq!(decompress(&packed[..cut]).expect_err("truncated").code(), "CORRUPT", "cut at {cut}");
        }
        for i in 0..packed.len() {
            let mut bad = packed.clone();
            bad[i] ^= 0x04;
            if let Ok(out) = decompress(&bad) {
                decode_everything(&out);
            }
        }
    }
    assert_eq!(decompress(b"").expect_err("empty").code(), "CORRUPT");
    assert_eq!(decompress(b"definitely not zstd").expect_err("garbage").code(), "CORRUPT");
    let mut trailing = compress(b"abc");
    trailing.extend_from_slice(b"xyz");
    assert_eq!(decompress(&trailing).expect_err("trailing garbage").code(), "CORRUPT");
    // A bomb: 80 MiB of zeros is refused at the cap, whatever the frame claims.
    let bomb = compress(&vec![0; MAX_MESSAGE_BYTES + 16 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    assert_eq!(decompress(&bomb).expect_err("bomb").code(), "CORRUPT");
}

// ---- properties -----------------------------------------------------------------------------------

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("default".to_owned()),
        Just(PHONE.to_owned()),
        Just("laptop".to_owned()),
        "[a-z0-9-]{1,12}",
        "[^\\x00-\\x1f\\x7f-\\x9f\\u{202A}-\\u{202E}\\u{2066}-\\u{2069}]{1,16}",
    ]
}

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..=MAX_SAFE_INTEGER).prop_map(Value::from),
        (0u64..300).prop_map(Value::from),
        (-(MAX_SAFE_INTEGER as i64)..0).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![arb_name(), ".{0,6}"], inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

prop_compose! {
    fn arb_state()(
        id in "[^\\x00-\\x1f\\x7f-\\x9f\\u{202A}-\\u{202E}\\u{2066}-\\u{2069}]{1,20}",
        collection in arb_name(),
        node in arb_name(),
        others in prop::collection::vec((arb_name(), 1..=MAX_COUNTER), 0..3),
        own in 1..=MAX_COUNTER,
        data in arb_json(),
        old in arb_json(),
        deleted in prop::bool::weighted(0.2),
        version in prop_oneof![1u64..5, 1..=MAX_COUNTER],
        history in 0u8..3,
        millis in 1..MAX_COUNTER - 10,
        counter in any::<u32>(),
    ) -> SyncState {
        let timestamp = Timestamp { millis, counter, node: node.clone() };
        let data = if deleted { Value::Null } else { data };
        let mut clock: VectorClock = others.into_iter().collect();
        clock.set(&node, own);
        let earlier = Timestamp { millis: millis - 1, counter, node: node.clone() };
        let fields = match history {
            0 => None,
            1 => Some(Box::new(FieldNode::from_state(&data, deleted, &timestamp))),
            _ => {
                let mut tree = FieldNode::from_value(&old, &earlier);
                if deleted { tree.delete(&timestamp) } else { tree.write(&data, &timestamp) }
                Some(Box::new(tree))
            }
        };
        SyncState {
            id, collection, hash: state_hash(&data, deleted), data, clock, modified_by: node, timestamp,
            deleted, version, fields,
        }
    }
}

prop_compose! {
    fn arb_operation()(state in arb_state(), kind in 0usize..3, form in 0..3, n in any::<u64>(), text in ".{0,20}")
        -> SyncOperation {
        let node_id = state.modified_by.clone();
        let op_id = match form {
            0 => format!("{node_id}:{}", state.clock.get(&node_id)),
            1 => format!("{node_id}:{n}"),
            _ => text,
        };
        SyncOperation {
            op_id,
            kind: [OperationKind::Create, OperationKind::Update, OperationKind::Delete][kind],
            state_id: state.id,
            collection: state.collection,
            data: state.data,
            clock: state.clock,
            timestamp: state.timestamp,
            node_id,
        }
    }
}

fn unique(states: Vec<SyncState>) -> Vec<SyncState> {
    let mut seen = std::collections::HashSet::new();
    states.into_iter().filter(|s| seen.insert(s.id.clone())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn states_round_trip(state in arb_state()) {
        prop_assert!(state.validate().is_ok(), "generator made an invalid state: {:?}", state.validate());
        assert_round_trip(&state);
    }

    #[test]
    fn change_sets_round_trip(states in prop::collection::vec(arb_state(), 0..6), cursor in ".{0,10}", has_more: bool) {
        let page = ChangeSet { states: states.into_iter().map(Arc::new).collect(), cursor, has_more };
        assert_round_trip(&page);
    }

    #[test]
    fn pending_operations_round_trip(ops in prop::collection::vec(arb_operation(), 0..6)) {
        assert_round_trip(&PendingOperations(ops));
    }

    #[test]
    fn snapshots_round_trip(
        node in arb_name(),
        states in prop::collection::vec(arb_state(), 0..5),
        pending in prop::collection::vec(arb_operation(), 0..4),
        pairs in prop::collection::vec((arb_state(), arb_state(), ".{1,16}", 0..=MAX_COUNTER), 0..3),
    ) {
        let conflicts = pairs
            .into_iter()
            .map(|(local, remote, conflict_id, detected_at)| statesync::SyncConflict {
                conflict_id, state_id: local.id.clone(), local, remote, detected_at,
            })
            .collect();
        let snapshot = Snapshot { format: 1, node_id: node, states: unique(states), pending, conflicts };
        assert_round_trip(&snapshot);
    }

    #[test]
    fn damaged_binary_never_panics(state in arb_state(), cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let page = ChangeSet { states: vec![Arc::new(state)], cursor: "7".into(), has_more: false };
        let bytes = encode(&page, Encoding::Binary);
        let mut bad = bytes.clone();
        for (at, byte) in cuts {
            let i = at.index(bad.len());
            bad[i] ^= byte | 1;
        }
        // Decoding fails on the checksum; with the checksum repaired the body parser must cope.
        if bad != bytes {
            prop_assert!(decode::<ChangeSet>(&bad, Encoding::Binary).is_err());
        }
        decode_everything(&bad);
        decode_everything(&bytes[..bytes.len() / 2]);
    }
}

#[test]
fn a_message_tells_its_encoding_by_its_first_byte() {
    let m = SyncManager::open(ManagerConfig::memory().node_id("a")).unwrap();
    let state = m.create_state(json!({"n": 1}), CreateOptions::id("s")).unwrap();
    for encoding in [Encoding::Json, Encoding::Binary] {
        let bytes = encode(&*state, encoding);
        assert_eq!(Encoding::of_message(&bytes), encoding);
        assert_eq!(decode::<SyncState>(&bytes, Encoding::of_message(&bytes)).unwrap(), *state);
    }
    // Empty or unknown bytes are read as JSON, which then says what is wrong with them.
    assert_eq!(Encoding::of_message(b""), Encoding::Json);
    assert_eq!(decode::<SyncState>(b"", Encoding::of_message(b"")).unwrap_err().code(), "CORRUPT");
}

#[test]
fn javascript_number_limits_are_whole_numbers_in_range() {
    for ms in [0.0, 1.0, MAX_SAFE_INTEGER as f64] {
        assert!(ManagerConfig::memory().max_clock_skew_number(ms).is_ok(), "{ms}");
    }
    for ms in [-1.0, 0.5, f64::NAN, f64::INFINITY, MAX_SAFE_INTEGER as f64 * 2.0] {
        let e = ManagerConfig::memory().max_clock_skew_number(ms).err().unwrap();
        assert_eq!(e.code(), "INVALID_INPUT", "{ms}");
        assert!(e.to_string().contains("maxClockSkewMs"), "{e}");
    }
    assert!(ManagerConfig::memory().max_state_bytes_number(1.0).is_ok());
    for bytes in [0.0, -3.0, 2.5, f64::NAN] {
        assert_eq!(
            ManagerConfig::memory().max_state_bytes_number(bytes).err().unwrap().code(),
            "INVALID_INPUT",
            "{bytes}"
        );
    }
    let m = SyncManager::open(ManagerConfig::memory().max_state_bytes_number(10.0).unwrap()).unwrap();
    assert_eq!(
        m.create_state(json!("more than ten bytes"), CreateOptions::default()).unwrap_err().code(),
        "INVALID_INPUT"
    );
}
