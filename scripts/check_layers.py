#!/usr/bin/env python3
"""Fails on any import cycle between the modules of the workspace, and on any import against
the declared layer order of the core (docs/architecture.md).

What is a module, and what is an import:

- Rust crates (core/src, hub/src, bindings/src, python/src, node/src, wasm/src): a module is
  a file's module path (`replica::txn`, `model::state`). Imports are `crate::a::b` paths
  (in `use` lines, grouped `use crate::{a, b::c}` included, and anywhere in code), `super::`
  paths, and `crate::Name` of an item the crate root re-exports (resolved to the module that
  defines it). Comments are ignored. An edge between a module and its own ancestor or
  descendant (a folder's `mod.rs` and its files) is no dependency between modules and is
  skipped. Cycles are reported twice over: between top-level modules (a file or a folder
  under src/), and between sibling files inside a folder.
- TypeScript / JavaScript (wasm/ts, node/lib, and any folder named js/ or ts/): a module is a
  file; imports are relative `import ... from './x'`, `export ... from './x'`, `import('./x')`,
  `import './x'` and `require('./x')`, type-only imports included (a cycle of types is still a
  cycle of design).
- Python (python/statesync): a module is a file of the package; imports are `from . import x`,
  `from .x import y`, `import statesync.x` and `from statesync.x import y`.

The core's layers, lowest first, are `LAYERS` below: a module of a lower layer never imports
one of a higher layer.

Usage: scripts/check_layers.py [--root DIR] [--quiet]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# The core's layers, lowest first (docs/architecture.md). `bench` is public API on top.
LAYERS = ["model", "wire", "replica", "manager", "sync", "cloud", "bench"]

RUST_CRATES = ["core/src", "hub/src", "bindings/src", "python/src", "node/src", "wasm/src"]
JS_DIRS = ["wasm/ts", "node/lib"]
PYTHON_PACKAGES = ["python/statesync"]
SKIPPED_DIRS = {"target", "node_modules", ".git", "dist", "pkg", "__pycache__"}


# ---- graphs ------------------------------------------------------------------------------


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each as one concrete
    cycle through all of its members where possible, sorted for stable output."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        # Iterative, so that deep graphs cannot hit Python's recursion limit.
        work = [(node, iter(sorted(graph.get(node, ()))))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[current] = min(low[current], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def cycle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the first member of `component`, for the message: a -> b -> a."""
    members = set(component)
    start = component[0]
    # Breadth-first from start's successors back to start, inside the component.
    previous: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path)) + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    previous[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return component + [start]


# ---- Rust --------------------------------------------------------------------------------

LINE_COMMENT = re.compile(r"//[^\n]*")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
CRATE_PATH = re.compile(r"\bcrate::((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)")
CRATE_GROUP = re.compile(r"\bcrate::\{")
SUPER_PATH = re.compile(r"\b((?:super::)+)((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_*][A-Za-z0-9_]*)?")


def strip_rust_comments(text: str) -> str:
    return LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", text))


def rust_modules(src: Path) -> dict[tuple[str, ...], Path]:
    """Every module file of a crate by its module path; the crate roots are ()."""
    modules: dict[tuple[str, ...], Path] = {}
    for path in sorted(src.rglob("*.rs")):
        if SKIPPED_DIRS & set(path.relative_to(src).parts):
            continue
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts in (["lib"], ["main"]):
            modules.setdefault((), path)
            continue
        if parts and parts[0] == "bin":
            continue  # separate binaries: roots of their own
        if parts[-1] == "mod":
            parts = parts[:-1]
        modules[tuple(parts)] = path
    return modules


def group_items(text: str, start: int) -> list[str]:
    """The top-level items of a `{...}` group opening at text[start] == '{'."""
    depth = 0
    items, current = [], []
    for ch in text[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                items.append("".join(current))
                break
        if depth == 1 and ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    return [re.sub(r"\s+", "", i) for i in items if i.strip()]


def root_exports(root_text: str, modules: dict[tuple[str, ...], Path]) -> dict[str, tuple[str, ...]]:
    """Names the crate root re-exports (`pub use a::b::{X, Y}`, `pub use a::*`) and the module
    that defines each."""
    exports: dict[str, tuple[str, ...]] = {}
    globs: list[tuple[str, ...]] = []
    for match in re.finditer(r"\bpub\s+use\s+([^;]+);", root_text):
        body = re.sub(r"\s+", "", match.group(1))
        if "{" in body:
            prefix, rest = body.split("{", 1)
            items = group_items("{" + rest, 0)
        else:
            prefix, items = "", [body]
        for item in items:
            full = (prefix + item).removeprefix("crate::").removeprefix("self::")
            segments = full.split("::")
            name = segments[-1].split(" as ")[-1]
            module = tuple(segments[:-1])
            if name == "*":
                globs.append(module)
            else:
                exports[name] = module
    for module in globs:
        for path_key, path in modules.items():
            if path_key[: len(module)] != module:
                continue
            text = strip_rust_comments(path.read_text(encoding="utf-8"))
            for name in set(
                re.findall(
                    r"\bpub\s+(?:const\s+fn|fn|struct|enum|const|static|trait|type)\s+([A-Za-z_][A-Za-z0-9_]*)", text
                )
            ):
                exports.setdefault(name, path_key)
    return exports


def resolve(
    segments: list[str], modules: dict[tuple[str, ...], Path], exports: dict[str, tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The module a `crate::` path names: its longest prefix that is a module, or the module
    that defines a root re-export."""
    for n in range(len(segments), 0, -1):
        if tuple(segments[:n]) in modules:
            return tuple(segments[:n])
    if segments and segments[0] in exports:
        target = exports[segments[0]]
        # A re-export of a re-export: the defining module is the longest known prefix.
        for n in range(len(target), 0, -1):
            if target[:n] in modules:
                return target[:n]
    return None


def rust_graph(src: Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    modules = rust_modules(src)
    exports = (
        root_exports(strip_rust_comments(modules[()].read_text(encoding="utf-8")), modules) if () in modules else {}
    )
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in modules if m}
    for module, path in modules.items():
        if not module:
            continue
        text = strip_rust_comments(path.read_text(encoding="utf-8"))
        targets: list[tuple[str, ...] | None] = []
        for match in CRATE_PATH.finditer(text):
            targets.append(resolve(match.group(1).split("::"), modules, exports))
        for match in CRATE_GROUP.finditer(text):
            for item in group_items(text, match.end() - 1):
                segments = [seg for seg in re.split(r"::|\{", item) if seg.isidentifier()]
                targets.append(resolve(segments, modules, exports))
        # `super::` is relative to the module a file is (a `mod.rs` is its folder's module).
        for match in SUPER_PATH.finditer(text):
            ups = match.group(1).count("super::")
            base = list(module[: len(module) - ups]) if ups <= len(module) else None
            if base is None:
                continue
            rest = [s for s in (match.group(2) or "").split("::") if s and s != "*"]
            targets.append(resolve(base + rest, modules, exports) if base + rest else ())
        for target in targets:
            if target is None or target == ():
                continue
            related = target[: len(module)] == module or module[: len(target)] == target
            if not related:
                graph[module].add(target)
    return graph


def collapse(graph: dict[tuple[str, ...], set[tuple[str, ...]]], level: int) -> dict[str, set[str]]:
    """The graph between modules at `level`: 1 for top-level modules, 2 for sibling files
    inside each folder (edges leaving the folder are dropped there)."""
    out: dict[str, set[str]] = {}
    for source, targets in graph.items():
        if len(source) < level:
            continue
        a = "::".join(source[:level])
        out.setdefault(a, set())
        for target in targets:
            if len(target) < level or (level > 1 and target[: level - 1] != source[: level - 1]):
                continue
            b = "::".join(target[:level])
            if a != b:
                out[a].add(b)
    return out


# ---- TypeScript / JavaScript -------------------------------------------------------------

JS_IMPORT = re.compile(
    r"""(?:\bimport\s+(?:type\s+)?(?:[^'"]*?\bfrom\s+)?|\bexport\s+(?:type\s+)?[^'";]*?\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)['"](\.{1,2}/[^'"]+)['"]""",
)
JS_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".cjs", ".d.ts"]


def js_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not (SKIPPED_DIRS & set(p.parts)) and any(p.name.endswith(e) for e in JS_EXTENSIONS)
    )


def js_resolve(source: Path, spec: str) -> Path | None:
    base = (source.parent / spec).resolve()
    candidates = [base]
    # `./x.js` in TypeScript names `./x.ts`.
    stem = base.with_suffix("") if base.suffix in (".js", ".mjs", ".cjs") else base
    candidates += [Path(str(stem) + e) for e in JS_EXTENSIONS] + [Path(str(base) + e) for e in JS_EXTENSIONS]
    candidates += [base / ("index" + e) for e in JS_EXTENSIONS]
    for c in candidates:
        if c.is_file():
            return c
    return None


def js_graph(root: Path, folders: list[Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for folder in folders:
        for path in js_files(folder):
            text = BLOCK_COMMENT.sub("", path.read_text(encoding="utf-8"))
            text = re.sub(r"(?m)^\s*//[^\n]*", "", text)
            name = str(path.relative_to(root))
            graph.setdefault(name, set())
            for match in JS_IMPORT.finditer(text):
                target = js_resolve(path, match.group(1))
                if target is not None and target != path.resolve():
                    try:
                        graph[name].add(str(target.relative_to(root.resolve())))
                    except ValueError:
                        pass
    return graph


# ---- Python ------------------------------------------------------------------------------


def python_graph(package: Path) -> dict[str, set[str]]:
    name = package.name
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[tuple(parts)] = path
    graph: dict[str, set[str]] = {}

    def label(parts: tuple[str, ...]) -> str:
        return ".".join((name,) + parts)

    for parts, path in modules.items():
        graph.setdefault(label(parts), set())
        is_package = path.name == "__init__.py"
        text = path.read_text(encoding="utf-8")
        targets = []
        for match in re.finditer(r"(?m)^\s*from\s+(\.+)([\w.]*)\s+import\s+([^\n#]+)", text):
            dots, rest, names = match.groups()
            base = list(parts if is_package else parts[:-1])
            base = base[: len(base) - (len(dots) - 1)] if len(dots) > 1 else base
            mod = base + [p for p in rest.split(".") if p]
            targets.append(tuple(mod))
            for n in re.findall(r"\w+", names):
                targets.append(tuple(mod + [n]))
        for match in re.finditer(rf"(?m)^\s*(?:from|import)\s+{name}((?:\.\w+)*)", text):
            targets.append(tuple(p for p in match.group(1).split(".") if p))
        for target in targets:
            while target and target not in modules:
                target = target[:-1]
            if target in modules and target != parts:
                graph[label(parts)].add(label(target))
    return graph


# ---- main --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, type=Path)
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    args = parser.parse_args()
    root: Path = args.root
    problems: list[str] = []

    def report(where: str, graph: dict[str, set[str]]) -> None:
        for component in cycles(graph):
            path = cycle_path(graph, component)
            line = f"{where}: import cycle {' -> '.join(path)}"
            if len(component) > len(path) - 1:
                line += f" (the cycle runs through all of: {', '.join(component)})"
            problems.append(line)
        if not args.quiet and graph:
            print(f"checked {where}: {len(graph)} modules")

    for crate in RUST_CRATES:
        src = root / crate
        if not src.is_dir():
            continue
        graph = rust_graph(src)
        report(crate, collapse(graph, 1))
        report(crate + " (files inside a folder)", collapse(graph, 2))
        if crate == "core/src":
            for source, targets in sorted(graph.items()):
                for target in sorted(targets):
                    s, t = source[0], target[0]
                    if s in LAYERS and t in LAYERS and LAYERS.index(t) > LAYERS.index(s):
                        what = f"{'::'.join(source)} ({s}) imports {'::'.join(target)} ({t})"
                        problems.append(f"{crate}: layer order: {what}, a higher layer")
                    for m in (s, t):
                        if m not in LAYERS:
                            problems.append(f"{crate}: module {m} is in no layer of LAYERS (scripts/check_layers.py)")
    js_folders = [root / d for d in JS_DIRS if (root / d).is_dir()]
    for folder in sorted(root.rglob("*")):
        if folder.is_dir() and folder.name in ("js", "ts") and not (SKIPPED_DIRS & set(folder.relative_to(root).parts)):
            if folder not in js_folders:
                js_folders.append(folder)
    for folder in js_folders:
        report(str(folder.relative_to(root)), js_graph(root, [folder]))
    for package in PYTHON_PACKAGES:
        if (root / package).is_dir():
            report(package, python_graph(root / package))

    for line in sorted(set(problems)):
        print(line, file=sys.stderr)
    if problems:
        print(f"{len(set(problems))} problem(s): see docs/architecture.md", file=sys.stderr)
        return 1
    if not args.quiet:
        print("no import cycle; the core's layers import only downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
