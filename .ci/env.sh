# Sourced by the .ci scripts: one place for the paths and versions they share.
# shellcheck shell=bash

OKRFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OKRFLOW_ROOT

# One target directory outside the clone, so a fresh clone (as CI makes) builds warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/okrflow/target}"

# wasm-opt comes from the npm package binaryen, installed in end2end/node_modules.
export PATH="$OKRFLOW_ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

CARGO_LEPTOS_VERSION="0.3.10"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CHROMIUM_PATH

# The Postgres server the tests create their scratch databases on (the machine's own by default).
export OKRFLOW_TEST_POSTGRES="${OKRFLOW_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"

# The S3-compatible server and bucket the object-store tests use (.ci/s3-server starts moto there).
export OKRFLOW_TEST_S3="${OKRFLOW_TEST_S3:-http://127.0.0.1:3393/okrflow-test}"

# cargo-leptos tells leptos its output name at compile time; `cargo test` must see the same, or it
# rebuilds the app. The erase_components cfg comes from .cargo/config.toml for every build, so
# RUSTFLAGS must stay unset: set, it would replace those flags and rebuild everything.
export_leptos_build_env() {
  unset RUSTFLAGS
  export LEPTOS_OUTPUT_NAME="okrflow"
}

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nerror: %s\n' "$*" >&2; exit 1; }
