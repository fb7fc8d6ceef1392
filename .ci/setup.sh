#!/usr/bin/env bash
# Makes this machine ready to build and test okrflow, installing only what is missing:
# the wasm32 target, cargo-leptos (no_downloads), wasm-bindgen-cli at the Cargo.lock version,
# the end2end npm packages (Playwright, binaryen's wasm-opt) from the lock file, and Debian's
# Chromium when `test` is asked for. Safe to run again: each step says whether it skipped.
#
# Usage: .ci/setup.sh [run|test]   (default: test)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$OKRFLOW_ROOT"
purpose="${1:-test}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else fail "need root to run: $* (install it by hand, then run this again)"
  fi
}

apt_install() {
  step "installing Debian packages: $*"
  as_root apt-get update -qq || fail "apt-get update failed; is the Debian mirror reachable?"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" || fail "apt-get install $* failed"
}

command -v cargo >/dev/null || fail "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again"
command -v rustup >/dev/null || fail "rustup is missing: the wasm32 target is added with rustup"

step "Rust target wasm32-unknown-unknown"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "present"
else
  rustup target add wasm32-unknown-unknown || fail "rustup could not add wasm32-unknown-unknown"
fi

# Tools are built in cargo's own temporary directory (env -u): in the project's target directory
# they would wait for its lock while a project build runs, and leave their artifacts there.
step "cargo-leptos $CARGO_LEPTOS_VERSION (built with no_downloads: every tool must be on PATH)"
if cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION"; then
  echo "present"
else
  echo "building it (about 20 minutes on 2 cores)"
  env -u CARGO_TARGET_DIR cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" --features no_downloads \
    || fail "could not build cargo-leptos $CARGO_LEPTOS_VERSION"
fi

wasm_bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$wasm_bindgen_version" ] || fail "Cargo.lock names no wasm-bindgen version"
step "wasm-bindgen-cli $wasm_bindgen_version (must equal the wasm-bindgen crate in Cargo.lock)"
if wasm-bindgen --version 2>/dev/null | grep -q " $wasm_bindgen_version\$"; then
  echo "present"
else
  # Without --locked on purpose: one locked dependency is missing from the registry mirror.
  env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --force \
    || fail "could not build wasm-bindgen-cli $wasm_bindgen_version"
fi

step "Node.js and npm"
if ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
node --version

step "end2end npm packages (Playwright, binaryen) from package-lock.json"
if [ -x end2end/node_modules/.bin/wasm-opt ] && [ -x end2end/node_modules/.bin/playwright ] \
  && cmp -s end2end/package-lock.json end2end/node_modules/.package-lock.okrflow 2>/dev/null; then
  echo "present"
else
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) || fail "npm ci in end2end failed"
  cp end2end/package-lock.json end2end/node_modules/.package-lock.okrflow
fi
wasm-opt --version

if [ "$purpose" = "test" ]; then
  step "Chromium for Playwright ($CHROMIUM_PATH)"
  if [ -x "$CHROMIUM_PATH" ]; then
    echo "present"
  else
    apt_install chromium
    [ -x "$CHROMIUM_PATH" ] || fail "chromium installed but $CHROMIUM_PATH is missing; set CHROMIUM_PATH"
  fi
  "$CHROMIUM_PATH" --version 2>/dev/null || true

  # .ci/api-fuzz installs schemathesis from PyPI into a venv of its own.
  step "Python 3 with venv (for the API fuzzer)"
  if python3 -m venv --help >/dev/null 2>&1; then
    python3 --version
  else
    apt_install python3 python3-venv
  fi

  # The engine and server suites run on SQLite and on Postgres: each test creates and drops a
  # database of its own on this server (OKRFLOW_TEST_POSTGRES names another).
  step "PostgreSQL for the tests ($OKRFLOW_TEST_POSTGRES)"
  if psql "$OKRFLOW_TEST_POSTGRES" -Atqc 'SELECT 1' >/dev/null 2>&1; then
    echo "answering"
  else
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
    [ -n "$version" ] || fail "no PostgreSQL cluster in /etc/postgresql; set OKRFLOW_TEST_POSTGRES to a server the tests may create databases on"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
      psql "$OKRFLOW_TEST_POSTGRES" -Atqc 'SELECT 1' >/dev/null 2>&1 && break
      sleep 1
    done
    psql "$OKRFLOW_TEST_POSTGRES" -Atqc 'SELECT 1' >/dev/null 2>&1 \
      || fail "PostgreSQL at $OKRFLOW_TEST_POSTGRES does not answer; the tests need to create databases there (trust or password in the URL)"
    echo "started PostgreSQL $version"
  fi
fi

step "ready"
