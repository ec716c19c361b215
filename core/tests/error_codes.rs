//! Every literal list of error codes in the repository is `ErrorCode::ALL`, in order.
//!
//! A host that needs the codes as a literal (a TypeScript union, a Kotlin `when`, a Python
//! comment) marks the list: a line containing `statesync:error-codes`, the list, and a later
//! line containing `statesync:error-codes-end`. The rule is deliberately simple: the codes of a
//! list are the quoted strings (single or double quotes) between the two marker lines that are
//! UPPER_SNAKE words of three or more characters, in order of appearance. They must be exactly
//! the codes of `ErrorCode::ALL` (`cargo run -p statesync --example error_codes` prints them).

use statesync::ErrorCode;
use std::fs;
use std::path::{Path, PathBuf};

/// Whether a relative path is one a required list may be in.
type PathRule = fn(&str) -> bool;

const START: &str = "statesync:error-codes";
const END: &str = "statesync:error-codes-end";

/// Folders never searched: build output, dependencies, version control.
const SKIPPED: [&str; 4] = ["target", "node_modules", ".git", "dist"];

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("core/ is inside the repository").to_path_buf()
}

/// Every file under `dir` (skipping [`SKIPPED`] folders and symbolic links).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_dir() {
            if !SKIPPED.iter().any(|s| entry.file_name() == *s) {
                files(&path, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// The quoted UPPER_SNAKE words of `text`, in order.
fn quoted_codes(text: &str) -> Vec<String> {
    let mut codes = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['"', '\'']) {
        let quote = rest[open..].chars().next().expect("found above");
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            // An unmatched quote (an apostrophe in a comment) opens nothing.
            rest = after;
            continue;
        };
        let word = &after[..close];
        if word.len() >= 3 && word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            codes.push(word.to_owned());
            rest = &after[close + 1..];
        } else {
            // Not a code: the closing quote may open the next string.
            rest = after;
        }
    }
    codes
}

/// The lists of codes marked in `text`, each with the line its marker is on; an error for a
/// list whose end marker is missing.
fn marked_lists(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut lists = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if !line.contains(START) || line.contains(END) {
            continue;
        }
        let mut body = String::new();
        let mut ended = false;
        for (_, line) in lines.by_ref() {
            if line.contains(END) {
                ended = true;
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        if !ended {
            return Err(format!("line {}: no `{END}` line after the marker", n + 1));
        }
        lists.push((n + 1, quoted_codes(&body)));
    }
    Ok(lists)
}

#[test]
fn the_extraction_rule_takes_quoted_upper_snake_words_only() {
    assert_eq!(quoted_codes(r#"| 'NOT_FOUND' | "CLOSED", 'x', "Ok" 'AB' "A_B""#), ["NOT_FOUND", "CLOSED", "A_B"]);
    assert_eq!(quoted_codes(r#"is X -> "NOT_FOUND" // it's "CORRUPT""#), ["NOT_FOUND", "CORRUPT"]);
    let text = "a\n// statesync:error-codes\n'NOT_FOUND'\n// statesync:error-codes-end\n'CLOSED'\n";
    assert_eq!(marked_lists(text).unwrap(), [(2, vec!["NOT_FOUND".to_owned()])]);
    assert!(marked_lists("// statesync:error-codes\n'NOT_FOUND'\n").is_err());
}

#[test]
fn every_marked_list_of_error_codes_is_error_code_all() {
    let root = repository_root();
    let want: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    let mut marked = Vec::new();
    let mut problems = Vec::new();
    for path in &all {
        // Binary and non-UTF-8 files hold no list.
        let Ok(text) = fs::read_to_string(path) else { continue };
        if !text.contains(START) {
            continue;
        }
        let relative = path.strip_prefix(&root).expect("under the root").to_string_lossy().replace('\\', "/");
        if relative == "core/tests/error_codes.rs" {
            continue; // this test names the markers
        }
        match marked_lists(&text) {
            Err(e) => problems.push(format!("{relative}: {e}")),
            Ok(lists) if lists.is_empty() => problems.push(format!("{relative}: a `{END}` line without a list")),
            Ok(lists) => {
                for (line, codes) in lists {
                    if codes != want {
                        problems.push(format!("{relative}:{line}: the codes are {codes:?}, expected {want:?}"));
                    }
                }
            }
        }
        marked.push(relative);
    }
    // The hosts that must carry a list. The JS declarations may move: any `.ts` file under
    // node/ or wasm/ counts for them.
    let required: [(&str, PathRule); 4] = [
        ("python/statesync/__init__.pyi", |p| p == "python/statesync/__init__.pyi"),
        ("a .d.ts/.ts file under node/ or wasm/", |p| {
            (p.starts_with("node/") || p.starts_with("wasm/")) && p.ends_with(".ts")
        }),
        ("kotlin/src/main/kotlin/io/statesync/Errors.kt", |p| p == "kotlin/src/main/kotlin/io/statesync/Errors.kt"),
        ("swift/Sources/Statesync/Statesync.swift", |p| p == "swift/Sources/Statesync/Statesync.swift"),
    ];
    for (name, matches) in required {
        if !marked.iter().any(|p| matches(p)) {
            problems.push(format!("{name} carries no `{START}` list"));
        }
    }
    assert!(problems.is_empty(), "error code lists out of step with ErrorCode::ALL:\n{}", problems.join("\n"));
}
