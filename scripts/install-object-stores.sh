#!/usr/bin/env bash
# Installs the object-storage servers the core's cloud tests start on 127.0.0.1
# (core/tests/support/object_servers.rs): moto (S3), Azurite (Azure Blob) and fake-gcs-server
# (GCS). Everything goes under target/object-stores/, nothing global, so a clean clone installs
# them again and `cargo clean` removes them.
# Idempotent: a tool already installed is left as it is. Fails loudly when one cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

root="$PWD/target/object-stores"
mkdir -p "$root"

# Versions the tests were written against; moto's 5.2 series is the one known to serve
# object_store's S3 requests (conditional puts included).
moto_spec='moto[server]>=5.2,<5.3'
azurite_version=3.37.0
fake_gcs_version=v1.56.1

# moto: its own virtualenv, so the system's Python packages stay untouched.
moto="$root/moto-venv/bin/moto_server"
if [ -x "$moto" ]; then
    echo "moto_server: present ($moto)"
else
    need python3 "moto (the S3 test server) is a Python package: install python3 with its venv module"
    rm -rf "$root/moto-venv"
    python3 -m venv "$root/moto-venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$root/moto-venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "$moto_spec" ||
        fail "pip install \"$moto_spec\" failed"
    [ -x "$moto" ] || fail "installing moto gave no $moto"
    echo "moto_server: installed ($moto)"
fi

# Azurite: a local npm project of its own, pinned.
azurite="$root/azurite/node_modules/.bin/azurite-blob"
if [ -x "$azurite" ]; then
    echo "azurite-blob: present ($azurite)"
else
    need npm "Azurite (the Azure Blob test server) is an npm package: install Node.js 18 or newer with npm"
    mkdir -p "$root/azurite"
    [ -f "$root/azurite/package.json" ] || echo '{"name": "statesync-object-stores", "private": true}' >"$root/azurite/package.json"
    (cd "$root/azurite" && npm install --silent --no-audit --no-fund --cache "$root/npm-cache" "azurite@$azurite_version") ||
        fail "npm install azurite@$azurite_version failed"
    [ -x "$azurite" ] || fail "installing Azurite gave no $azurite"
    echo "azurite-blob: installed ($azurite)"
fi

# fake-gcs-server: built from its Go module into a GOPATH of its own.
fake_gcs="$root/go/bin/fake-gcs-server"
if [ -x "$fake_gcs" ]; then
    echo "fake-gcs-server: present ($fake_gcs)"
else
    need go "fake-gcs-server (the GCS test server) is built with Go: install Go 1.26 or newer (its go.mod asks for 1.26)"
    # -modcacherw: the module cache stays deletable (cargo clean, rm -rf target). The module
    # and build caches are only for this build: removed once the binary is there (~700 MB).
    GOPATH="$root/go" GOCACHE="$root/go/cache" GOFLAGS=-modcacherw GOBIN="$root/go/bin" \
        go install "github.com/fsouza/fake-gcs-server@$fake_gcs_version" ||
        fail "go install fake-gcs-server@$fake_gcs_version failed"
    [ -x "$fake_gcs" ] || fail "installing fake-gcs-server gave no $fake_gcs"
    rm -rf "$root/go/pkg" "$root/go/cache"
    echo "fake-gcs-server: installed ($fake_gcs)"
fi
