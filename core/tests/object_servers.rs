//! The object-storage test servers (tests/support/object_servers.rs) serve what the core's
//! cloud code needs from a bucket, through object_store itself and the URL each server's
//! support gives: put, get, list under a prefix, list after an offset, delete, a put that only
//! creates and one that only replaces the version read (the primitives that keep replicas
//! syncing through one bucket from overwriting each other).
//!
//! fake-gcs-server (v1.56.1, the latest) takes no upload through the XML API object_store's GCS
//! client writes with (only signed URLs): the support's front for it sends those as JSON-API
//! uploads (see `GcsFront`). It also ignores a listing's offset (`start-after`): the test
//! drops what sorts before it, and checks that it still needs to.

#[path = "support/object_servers.rs"]
mod object_servers;

use futures_util::TryStreamExt;
use object_servers::{ObjectServer, ServerKind};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// The objects every round starts with, under its prefix.
const SEED: [(&str, &str); 4] = [("a/1", "one"), ("a/2", "two"), ("a/3", "three"), ("b/1", "bee")];

/// The store and the prefix `url` names, with the options of its query.
fn open(url: &str) -> (Box<dyn ObjectStore>, Path) {
    let parsed = url::Url::parse(url).expect("a URL");
    let options: Vec<(String, String)> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut bare = parsed.clone();
    bare.set_query(None);
    object_store::parse_url_opts(&bare, options).unwrap_or_else(|e| panic!("a store for {url}: {e}"))
}

/// The location `name` (parts separated by `/`) under `root`. `Path::join` takes one part and
/// would escape the `/`.
fn under(root: &Path, name: &str) -> Path {
    Path::from(format!("{root}/{name}"))
}

/// The locations under `prefix`, sorted.
async fn names(store: &dyn ObjectStore, prefix: &Path) -> Vec<String> {
    let listing = store.list(Some(prefix));
    let mut names: Vec<String> = listing.map_ok(|meta| meta.location.to_string()).try_collect().await.expect("list");
    names.sort();
    names
}

/// The locations under `prefix` after `offset`, sorted. When the server ignores the offset
/// (`honours_offset` false: fake-gcs-server ignores the XML API's `start-after`), the listing
/// must still hold every location after it, and the rest is dropped here as a caller must.
async fn names_after(store: &dyn ObjectStore, prefix: &Path, offset: &Path, honours_offset: bool) -> Vec<String> {
    let listing = store.list_with_offset(Some(prefix), offset);
    let mut names: Vec<String> = listing.map_ok(|meta| meta.location.to_string()).try_collect().await.expect("list");
    names.sort();
    if honours_offset {
        return names;
    }
    let all = names.len();
    names.retain(|name| name.as_str() > offset.as_ref());
    assert!(
        names.len() < all,
        "fake-gcs-server now honours the listing's offset: drop honours_offset=false from its test"
    );
    names
}

/// A current-thread runtime for one test, after installing rustls's provider (object_store's
/// client needs one; another test may have installed it already).
fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Reads, lists and deletes on `store` under `root` = `suite/run`, which holds [`SEED`], and
/// `suite/other/x` outside it.
async fn reads_lists_deletes(kind: ServerKind, store: &dyn ObjectStore, root: &Path, honours_offset: bool) {
    let full = |name: &str| format!("suite/run/{name}");
    let got = store.get(&under(root, "a/2")).await.expect("get").bytes().await.expect("body");
    assert_eq!(&got[..], b"two");
    let missing = store.get(&under(root, "a/9")).await.expect_err("a missing object");
    assert!(matches!(missing, object_store::Error::NotFound { .. }), "{kind:?}: {missing}");

    // Under a prefix only what is under it (not suite/other/x), after an offset only what
    // sorts after it.
    assert_eq!(names(store, root).await, [full("a/1"), full("a/2"), full("a/3"), full("b/1")]);
    assert_eq!(names(store, &under(root, "a")).await, [full("a/1"), full("a/2"), full("a/3")]);
    let after_a1 = names_after(store, &under(root, "a"), &under(root, "a/1"), honours_offset).await;
    assert_eq!(after_a1, [full("a/2"), full("a/3")]);
    assert_eq!(names_after(store, root, &under(root, "a/3"), honours_offset).await, [full("b/1")]);

    store.delete(&under(root, "a/2")).await.expect("delete");
    let gone = store.get(&under(root, "a/2")).await.expect_err("a deleted object");
    assert!(matches!(gone, object_store::Error::NotFound { .. }), "{kind:?}: {gone}");
    assert_eq!(names(store, &under(root, "a")).await, [full("a/1"), full("a/3")]);
    assert_eq!(names(store, &root.clone().join("other")).await, Vec::<String>::new());
}

/// The whole round through object_store against a fresh `kind` server.
fn whole_round(kind: ServerKind) {
    let runtime = runtime();
    let server = ObjectServer::start(kind);
    let (store, root) = open(&server.url("suite/run"));
    assert_eq!(root.as_ref(), "suite/run", "the URL's path is the prefix");
    let (outside, outside_root) = open(&server.url("suite/other"));

    runtime.block_on(async {
        outside.put(&under(&outside_root, "x"), PutPayload::from_static(b"elsewhere")).await.expect("put outside");
        for (name, body) in SEED {
            store.put(&under(&root, name), PutPayload::from(body.as_bytes().to_vec())).await.expect("put");
        }
        // fake-gcs-server ignores the XML API's `start-after`.
        reads_lists_deletes(kind, &*store, &root, kind != ServerKind::Gcs).await;

        // Creating an object that exists is refused and leaves it as it was.
        let create = || PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let first = store.put_opts(&under(&root, "c"), PutPayload::from_static(b"first"), create()).await;
        let first = first.expect("the first create");
        let second = store.put_opts(&under(&root, "c"), PutPayload::from_static(b"second"), create()).await;
        assert!(
            matches!(second, Err(object_store::Error::AlreadyExists { .. })),
            "{kind:?}: a second create must be refused with AlreadyExists, got {second:?}"
        );
        let kept = store.get(&under(&root, "c")).await.expect("get").bytes().await.expect("body");
        assert_eq!(&kept[..], b"first", "{kind:?}: the refused create changed the object");

        // Replacing the version one has read succeeds once: a replacement from the same,
        // now stale, version is refused (compare-and-swap, for pointers several replicas move).
        let update = |from: &object_store::PutResult| PutOptions {
            mode: PutMode::Update(object_store::UpdateVersion {
                e_tag: from.e_tag.clone(),
                version: from.version.clone(),
            }),
            ..PutOptions::default()
        };
        let swapped = store.put_opts(&under(&root, "c"), PutPayload::from_static(b"swapped"), update(&first)).await;
        let swapped = swapped.unwrap_or_else(|e| panic!("{kind:?}: an update from the current version: {e}"));
        let stale = store.put_opts(&under(&root, "c"), PutPayload::from_static(b"stale"), update(&first)).await;
        assert!(
            matches!(stale, Err(object_store::Error::Precondition { .. })),
            "{kind:?}: an update from a stale version must be refused with Precondition, got {stale:?}"
        );
        let again = store.put_opts(&under(&root, "c"), PutPayload::from_static(b"again"), update(&swapped)).await;
        again.unwrap_or_else(|e| panic!("{kind:?}: an update from the new version: {e}"));
        let now = store.get(&under(&root, "c")).await.expect("get").bytes().await.expect("body");
        assert_eq!(&now[..], b"again");

        assert_eq!(names(&*outside, &outside_root).await, ["suite/other/x"]);
    });
    drop(server);
}

#[test]
fn s3_on_moto() {
    whole_round(ServerKind::S3);
}

#[test]
fn azure_on_azurite() {
    whole_round(ServerKind::Azure);
}

#[test]
fn gcs_on_fake_gcs_server() {
    whole_round(ServerKind::Gcs);
}
