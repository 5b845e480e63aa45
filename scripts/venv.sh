#!/usr/bin/env bash
# Creates the project-local Python venv .venv/ with the pins in scripts/requirements.txt.
#
# Idempotent and fast when nothing changed: a stamp file inside the venv holds the hash of the
# requirements and the Python version; a match means there is nothing to do. Any mismatch
# rebuilds the venv from scratch, so a removed or bumped pin never leaves a stale package behind.
# Prints one line on success; before an install, one line on stderr saying what it is doing (it
# takes about a minute, and callers often discard stdout); on failure, pip's log goes to stderr
# and the exit code is non-zero.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

if ! command -v "$python" >/dev/null 2>&1; then
    echo "venv.sh: $python not found on PATH" >&2
    exit 1
fi

want="$("$python" - "$req" <<'PY'
import hashlib, sys
h = hashlib.sha256()
h.update(sys.version.encode())
with open(sys.argv[1], "rb") as f:
    h.update(f.read())
print(h.hexdigest())
PY
)"

up_to_date() {
    [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]
}

if up_to_date; then
    echo "venv: .venv up to date"
    exit 0
fi

# Two callers at once (parallel make targets) must not build the same venv twice.
mkdir -p "$root/target"
exec 9>"$root/target/.venv.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if up_to_date; then
    echo "venv: .venv up to date"
    exit 0
fi

log="$root/target/venv-install.log"
echo "venv: installing $(grep -cE '^[A-Za-z]' "$req") pinned Python packages (DuckDB, moto, ...) into .venv from the package index; about a minute the first time, log in target/venv-install.log" >&2
rm -rf "$venv"
if ! {
    "$python" -m venv "$venv" &&
        "$venv/bin/python" -m pip install --quiet -r "$req"
} >"$log" 2>&1; then
    cat "$log" >&2
    echo "venv.sh: installing $req into $venv failed (log above, also in $log)" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "venv: installed $(grep -cE '^[A-Za-z]' "$req") pinned packages into .venv ($("$venv/bin/python" --version))"
