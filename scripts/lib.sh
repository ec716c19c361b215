# Shared by the test scripts (sourced, not run): the step banner and the toolchain checks, so
# every script fails the same loud way when something is missing.

# Prints a step banner.
step() { printf '\n==> %s\n' "$*"; }

# Stops with an error message.
fail() {
    echo "ERROR: $*" >&2
    exit 1
}

# need TOOL HINT: stops unless TOOL is on PATH; HINT says how to get it.
need() {
    command -v "$1" >/dev/null 2>&1 || fail "'$1' is required but not on PATH ($2)"
}
