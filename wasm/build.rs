//! Embeds the conformance suite for the wasm-bindgen tests (there is no file system in the
//! browser): every file under `conformance/`, listed in `OUT_DIR/conformance_files.rs`.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("conformance/ is readable").map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, root, out);
        } else {
            let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((name, path));
        }
    }
}

fn main() {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance").canonicalize().expect("conformance/ exists");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-env-changed=CONFORMANCE_CASE");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    let mut text = String::from(
        "/// Every file under conformance/: (path relative to it, bytes).\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        text.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    text.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("conformance_files.rs");
    std::fs::write(out, text).unwrap();
}
