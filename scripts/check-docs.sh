#!/usr/bin/env bash
# The docs check of `make test`: builds the demo's output into a temporary directory exactly as
# `make demo` does (scripts/demo.sh, the simulator, two days), then runs scripts/check_docs.py:
# every SQL block of README.md and docs/ against it (through `postpress-etl views`), every
# relative link and #anchor, docs/cli.md against --help, docs/job-file.md against the job
# file's keys. Uses the binaries `cargo test` or `make build` left in target/debug.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/venv.sh >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! DEMO_OUT="$work/out" bash scripts/demo.sh >"$work/demo.log" 2>&1; then
    cat "$work/demo.log"
    echo "check-docs: the demo failed (its log above)" >&2
    exit 1
fi
.venv/bin/python scripts/check_docs.py --bin target/debug/postpress-etl --out "$work/out"
