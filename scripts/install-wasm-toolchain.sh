#!/usr/bin/env bash
# Installs the wasm32 toolchain that works on these machines without `rustup target add`:
# Debian's rustc-web builds std for wasm32 from its own source package (cargo -Zbuild-std).
# Also Chromium and its WebDriver (wasm-bindgen tests and the browser end-to-end tests) and
# binaryen (wasm-opt, for the size-optimised .wasm).
# Idempotent: does nothing when everything is present.
set -euo pipefail
pkgs=(rustc-web cargo-web libstd-rust-web-dev rust-web-src lld-16 rust-web-clippy chromium chromium-driver binaryen)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || { echo "ERROR: apt-get is needed to install ${missing[*]}" >&2; exit 1; }
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
/usr/bin/rustc --version
