#!/usr/bin/env bash
# `make bench`: end-to-end benchmarks of postpress-etl against postpress-sim on loopback, plus
# the criterion micro benchmarks, summed up as Markdown tables on stdout and in
# bench/results.md.
#
#   1. CPU-bound throughput     20 accounts x 10,000 LinkedIn followers + 10,000 following, no latency
#   2. memory                   peak RSS: 1 account of 100k followers, of 1M, and 200 accounts at concurrency 32
#   3. latency-bound scaling    200 accounts x 10 pages, 50 ms per response, concurrency 1/8/32/64
#   4. rate-limit fidelity      requests_per_second 20 and account_requests_per_minute 120, enforced by the simulator
#   5. micro                    criterion: page decode and Parquet encode
#   6. reader tables            2,000 accounts x 30 days with churn: finalize time and peak RSS per
#                               date, DuckDB's three analyst queries over tables/ vs the unit
#                               layout (bench/tables.py), and finalize of 1 account of 1,000,000
#                               followers with 1% churn
#   7. checkpoint overhead      case 1's workload with checkpoint_rows = 2,000 (4 checkpoints per
#                               unit) against the default 100,000 (none), runs alternated
#   8. many small accounts      2,000 accounts x (50 followers + 20 following): 4,000 one-page
#                               units, output on this machine's disk and on a tmpfs
#   9. data lifecycle           400 accounts x 12 days with every table and units_days = 7:
#                               prune (objects/s), erase of 10 keys in ~1% of the accounts (wall
#                               time, bytes read against the output's total), erase again
#
# Peak RSS and CPU time come from GNU time (`/usr/bin/time -v`); the simulator's CPU time from
# /proc/PID/stat. The Parquet output goes to a tmpfs (/dev/shm) when there is one, so the
# machine's disk is not part of the figures; case 3 also runs once with the output on disk.
# Environment knobs: BENCH_CASES="1 2 3 4 5 6 7 8 9" (a subset), BENCH_RUNS=3 (measured runs of cases 1, 7, 8 and 3 at 32 and 64,
# the median is reported), BENCH_OUT=bench/results.md, BENCH_TMP (scratch dir), BENCH_OUTPUT
# (where the job writes its Parquet), BENCH_PROFILE=release (debug: the debug binaries, to try the
# script quickly). Case 6's sizes: BENCH_TABLES_ACCOUNTS=2000, BENCH_TABLES_DAYS=30,
# BENCH_TABLES_FOLLOWERS=50, BENCH_TABLES_FOLLOWING=20, BENCH_TABLES_CHURN=0.02,
# BENCH_BIG_FOLLOWERS=1000000 (0 skips it). Case 9's: BENCH_LC_ACCOUNTS=2000, BENCH_LC_DAYS=30,
# BENCH_LC_UNITS_DAYS=7, BENCH_LC_S3_DATES=20, BENCH_LC_RETENTION_ACCOUNTS=100,
# BENCH_LC_RETENTION_DAYS=90 (0 skips it), BENCH_LC_KEEP=DIR (keeps its output). Cases 1-4 export with output.tables = false: they
# measure the export; case 6 measures finalize on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CASES=${BENCH_CASES:-1 2 3 4 5 6 7 8 9}
PROFILE=${BENCH_PROFILE:-release}
RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-bench/results.md}
SCRATCH=${BENCH_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/postpress-bench.XXXXXX")}
RESULTS=$SCRATCH/results.jsonl
: >"$RESULTS"
if [ -z "${BENCH_OUTPUT:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    BENCH_OUTPUT=$(mktemp -d /dev/shm/postpress-bench.XXXXXX)
fi
OUTPUT=${BENCH_OUTPUT:-$SCRATCH/out}
mkdir -p "$OUTPUT"
DISK_OUTPUT=$SCRATCH/disk-out
mkdir -p "$DISK_OUTPUT"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export SIM_BIN=$TARGET_DIR/$PROFILE/postpress-sim
ETL=$TARGET_DIR/$PROFILE/postpress-etl
export POSTPRESS_API_KEY=pp_bench_key
export RUST_LOG=warn
export CRITERION_HOME=$TARGET_DIR/criterion
# shellcheck source=../scripts/lib.sh
source scripts/lib.sh

cleanup() {
    stop_sim
    rm -rf "$OUTPUT/out"
    if [[ "$OUTPUT" == /dev/shm/postpress-bench.* ]]; then rmdir "$OUTPUT" 2>/dev/null || true; fi
    if [ -z "${BENCH_TMP:-}" ]; then rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*" >&2; }

# GNU time for peak RSS; installed from Debian when missing (idempotent), else a Python stand-in
# that reads the same figures from wait4(2).
TIME=(/usr/bin/time -v)
if [ ! -x /usr/bin/time ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; } >/dev/null 2>&1 || true
    fi
    if [ ! -x /usr/bin/time ]; then
        echo "bench: /usr/bin/time not available; measuring with wait4(2) instead" >&2
        TIME=(python3 "$ROOT/bench/timev.py")
    fi
fi

# The commit measured, as it is when the binaries are built (commits may land during the run).
BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no -- . ':!bench/results.md' 2>/dev/null)" ]; then
    BENCH_COMMIT="$BENCH_COMMIT (with local changes)"
fi
export BENCH_COMMIT

say "building ($PROFILE): both binaries and the micro benchmarks"
if [ "$PROFILE" = release ]; then
    cargo build --release -p postpress-etl -p postpress-sim --bins
else
    cargo build -p postpress-etl -p postpress-sim --bins
fi
if [[ " $CASES " == *" 5 "* ]]; then cargo bench --bench micro --no-run; fi

# sim_cpu PID: user+system CPU seconds of a process so far.
sim_cpu() {
    python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$1"
}

sim_day() { python3 -c 'import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1]+"/_sim/day/"+sys.argv[2], method="POST")).read()' "$SIM_URL" "$1"; }

sim_reset() { python3 -c 'import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1]+"/_sim/reset", method="POST")).read()' "$SIM_URL"; }

# write_job FILE NAME CONCURRENCY RPS RPM ACCOUNTS_CSV: a job over the accounts in the CSV,
# writing to $OUT_ROOT/out (default $OUTPUT/out).
write_job() {
    cat >"$1" <<EOF
name = "$2"
accounts_file = "$6"

[api]
base_url = "http://127.0.0.1:9/api/v1"   # POSTPRESS_BASE_URL points at the simulator
timeout = "30s"

[fetch]
concurrency = $3
requests_per_second = $4
account_requests_per_minute = $5
max_attempts = 3
backoff_initial = "100ms"
backoff_max = "2s"

[output]
url = "${OUT_ROOT:-$OUTPUT}/out"
compression = "zstd"
tables = false
EOF
}

# accounts_csv FILE PROVIDER N DATASETS [PAGE_SIZE]: acc_{provider}_0000 .. N-1, as the
# simulator names them.
accounts_csv() {
    local file=$1 provider=$2 n=$3 datasets=$4 page_size=${5:-} i
    echo "account_id,provider,datasets${page_size:+,page_size}" >"$file"
    for ((i = 0; i < n; i++)); do
        if [ "$provider" = mixed ]; then
            if ((i % 2 == 0)); then p=linkedin; else p=instagram; fi
        else
            p=$provider
        fi
        printf 'acc_%s_%04d,%s,%s%s\n' "$p" "$i" "$p" "$datasets" "${page_size:+,$page_size}" >>"$file"
    done
}

# measure CASE LABEL JOB [ARGS...]: one run of the ETL under GNU time against the running
# simulator; appends one JSON line (time, manifest totals, simulator stats and CPU, $META) to
# RESULTS.
measure() {
    local case=$1 label=$2 job=$3 out=${OUT_ROOT:-$OUTPUT}/out
    shift 3
    rm -rf "$out"
    sim_reset
    local cpu0 cpu1 rc=0
    cpu0=$(sim_cpu "$SIM_PID")
    POSTPRESS_BASE_URL=$SIM_URL/api/v1 "${TIME[@]}" -o "$SCRATCH/time.txt" \
        "$ETL" run "$job" --progress off --snapshot-date 2026-11-26 "$@" \
        >"$SCRATCH/stdout.txt" 2>"$SCRATCH/stderr.txt" || rc=$?
    cpu1=$(sim_cpu "$SIM_PID")
    if [ "$rc" != 0 ]; then
        echo "bench: $label: postpress-etl exited $rc" >&2
        tail -20 "$SCRATCH/stderr.txt" >&2
        return 1
    fi
    python3 bench/report.py record --case "$case" --label "$label" \
        --time "$SCRATCH/time.txt" --out "$out" --sim "$SIM_URL" \
        --sim-cpu "$cpu0" "$cpu1" ${META:+--meta "$META"} >>"$RESULTS"
    python3 bench/report.py brief <(tail -1 "$RESULTS") >&2
}

NOLIMIT=(100000.0 6000000.0) # requests_per_second, account_requests_per_minute: far above need

if [[ " $CASES " == *" 1 "* ]]; then
    say "1. CPU-bound throughput: 20 accounts x 10,000 LinkedIn followers + 10,000 following"
    start_sim --accounts 20 --followers 10000 --following 10000 --provider linkedin --cache-mib 1024
    accounts_csv "$SCRATCH/c1.csv" linkedin 20 "followers;following"
    write_job "$SCRATCH/c1.toml" bench-throughput 8 "${NOLIMIT[@]}" "$SCRATCH/c1.csv"
    # The first run renders and caches every page in the simulator; the measured runs then see
    # the simulator at its cheapest, as a remote API would cost this machine nothing.
    measure 1 warmup "$SCRATCH/c1.toml"
    for ((r = 1; r <= RUNS; r++)); do measure 1 "run $r" "$SCRATCH/c1.toml"; done
    stop_sim
fi

if [[ " $CASES " == *" 2 "* ]]; then
    say "2. memory: peak RSS"
    accounts_csv "$SCRATCH/c2a.csv" linkedin 1 "followers"
    write_job "$SCRATCH/c2a.toml" bench-memory 8 "${NOLIMIT[@]}" "$SCRATCH/c2a.csv"
    for n in 100,000 1,000,000; do
        start_sim --accounts 1 --followers "${n//,/}" --following 0 --provider linkedin
        measure 2 "1 LinkedIn account, $n followers" "$SCRATCH/c2a.toml"
        stop_sim
    done
    start_sim --accounts 200 --followers 5000 --following 1000 --provider mixed
    accounts_csv "$SCRATCH/c2b.csv" mixed 200 "followers;following"
    write_job "$SCRATCH/c2b.toml" bench-memory 32 "${NOLIMIT[@]}" "$SCRATCH/c2b.csv"
    measure 2 "200 accounts, LinkedIn and Instagram (5,000 followers + 1,000 following each), concurrency 32" "$SCRATCH/c2b.toml"
    stop_sim
fi

if [[ " $CASES " == *" 3 "* ]]; then
    say "3. latency-bound scaling: 200 accounts x 10 pages, 50 ms latency"
    # Each account: 5 pages of followers and 5 of following, 100 per page: 400 units of 5 pages.
    start_sim --accounts 200 --followers 500 --following 500 --provider linkedin --latency 50ms
    accounts_csv "$SCRATCH/c3.csv" linkedin 200 "followers;following" 100
    write_job "$SCRATCH/c3.toml" bench-latency 1 "${NOLIMIT[@]}" "$SCRATCH/c3.csv"
    # Concurrency 32 and 64 carry the targets: BENCH_RUNS runs each, the median reported.
    for c in 1 8 32 64; do
        n=1
        if [ "$c" -ge 32 ]; then n=$RUNS; fi
        for ((r = 1; r <= n; r++)); do
            META="{\"units\": 400, \"pages_per_unit\": 5, \"latency_s\": 0.05, \"concurrency\": $c}" \
                measure 3 "$c" "$SCRATCH/c3.toml" --concurrency "$c"
        done
    done
    # The same at concurrency 32 with the output on this machine's disk: every unit then spends
    # a few milliseconds more in file system calls (create, rename, link, list, unlink).
    OUT_ROOT=$DISK_OUTPUT write_job "$SCRATCH/c3-disk.toml" bench-latency 1 "${NOLIMIT[@]}" "$SCRATCH/c3.csv"
    META='{"units": 400, "pages_per_unit": 5, "latency_s": 0.05, "concurrency": 32}' \
        OUT_ROOT=$DISK_OUTPUT measure 3 "32, output on disk" "$SCRATCH/c3-disk.toml" --concurrency 32
    stop_sim
fi

if [[ " $CASES " == *" 4 "* ]]; then
    say "4. rate-limit fidelity: 20 requests/s for the key, 120 requests/min per account"
    start_sim --accounts 20 --followers 1000 --following 10000 --provider linkedin \
        --key-rps 20 --account-rpm 120
    # Key-bound: 20 accounts x 10 pages, all in flight; 20 x 2/s per account would allow 40/s.
    accounts_csv "$SCRATCH/c4a.csv" linkedin 20 "followers"
    write_job "$SCRATCH/c4a.toml" bench-ratelimit 20 20.0 120.0 "$SCRATCH/c4a.csv"
    META='{"rps": 20, "rpm": 120, "accounts": 20}' measure 4 "key-bound: 20 accounts x 10 pages, 20 units in flight" "$SCRATCH/c4a.toml"
    # Account-bound: 4 accounts x (10 follower + 10 following pages) share 2/s each: 8/s in all.
    accounts_csv "$SCRATCH/c4b.csv" linkedin 4 "followers;following"
    write_job "$SCRATCH/c4b.toml" bench-ratelimit 8 20.0 120.0 "$SCRATCH/c4b.csv"
    META='{"rps": 20, "rpm": 120, "accounts": 4}' measure 4 "account-bound: 4 accounts x 20 pages (both lists), 8 units in flight" "$SCRATCH/c4b.toml"
    stop_sim
fi

if [[ " $CASES " == *" 8 "* ]]; then
    say "8. many small accounts: 2,000 accounts x (50 followers + 20 following), disk and tmpfs"
    # The long tail of a real job: one page per unit, so what a unit costs beyond its page
    # (its writer, encoding, putting and publishing its file) is most of the run.
    start_sim --accounts 2000 --followers 50 --following 20 --provider mixed
    accounts_csv "$SCRATCH/c8.csv" mixed 2000 "followers;following"
    write_job "$SCRATCH/c8.toml" bench-small 32 "${NOLIMIT[@]}" "$SCRATCH/c8.csv"
    disk_fs=$(stat -f -c %T "$DISK_OUTPUT" 2>/dev/null || echo "?")
    out_fs=$(stat -f -c %T "$OUTPUT" 2>/dev/null || echo "?")
    META="{\"units\": 4000, \"output\": \"tmpfs\", \"fs\": \"$out_fs\"}" measure 8 warmup "$SCRATCH/c8.toml"
    # Disk and tmpfs runs alternate, so a change in the machine's load touches both alike. Each
    # disk run writes into a directory of its own, as a daily run writes new partitions: deleting
    # the previous run's 12,000 files and directories just before would be measured too (ext4
    # then skips the recently freed inodes one by one at every file it creates). `sync` first, so
    # no run pays for the writeback of the one before.
    for ((r = 1; r <= RUNS; r++)); do
        OUT_ROOT=$DISK_OUTPUT/run-$r write_job "$SCRATCH/c8-disk.toml" bench-small 32 "${NOLIMIT[@]}" "$SCRATCH/c8.csv"
        sync
        META="{\"units\": 4000, \"output\": \"disk\", \"fs\": \"$disk_fs\"}" OUT_ROOT=$DISK_OUTPUT/run-$r \
            measure 8 "disk, run $r" "$SCRATCH/c8-disk.toml"
        sync
        META="{\"units\": 4000, \"output\": \"tmpfs\", \"fs\": \"$out_fs\"}" \
            measure 8 "tmpfs, run $r" "$SCRATCH/c8.toml"
    done
    rm -rf "$DISK_OUTPUT"/run-*
    stop_sim
fi

if [[ " $CASES " == *" 5 "* ]]; then
    say "5. micro benchmarks (criterion)"
    rm -f "$CRITERION_HOME/micro-sizes.json"
    cargo bench --bench micro >&2
    python3 bench/report.py micro --criterion "$CRITERION_HOME" >>"$RESULTS"
fi

if [[ " $CASES " == *" 6 "* ]]; then
    # shellcheck source=tables.sh
    source bench/tables.sh
fi

if [[ " $CASES " == *" 9 "* ]]; then
    # Uses case 6's helpers (export_day, day_of).
    if [[ " $CASES " != *" 6 "* ]]; then
        export_day() {
            local rc=0
            POSTPRESS_BASE_URL=$SIM_URL/api/v1 "$ETL" run "$1" --progress off --snapshot-date "$2" \
                >"$SCRATCH/stdout.txt" 2>"$SCRATCH/stderr.txt" || rc=$?
            if [ "$rc" != 0 ]; then
                echo "bench: export $2 exited $rc" >&2
                tail -20 "$SCRATCH/stderr.txt" >&2
                return 1
            fi
        }
        day_of() { date -u -d "2026-01-01 + $1 days" +%F; }
    fi
    # shellcheck source=lifecycle.sh
    source bench/lifecycle.sh
fi

if [[ " $CASES " == *" 7 "* ]]; then
    say "7. checkpoint overhead: case 1 with a checkpoint every 2,000 rows against none"
    start_sim --accounts 20 --followers 10000 --following 10000 --provider linkedin --cache-mib 1024
    accounts_csv "$SCRATCH/c7.csv" linkedin 20 "followers;following"
    # Units of 10,000 rows: the default checkpoint_rows (100,000) never checkpoints them; 2,000
    # closes a part, syncs it and writes a checkpoint four times per unit.
    write_job "$SCRATCH/c7-off.toml" bench-checkpoints 8 "${NOLIMIT[@]}" "$SCRATCH/c7.csv"
    echo "checkpoint_rows = 100000" >>"$SCRATCH/c7-off.toml"
    write_job "$SCRATCH/c7-on.toml" bench-checkpoints 8 "${NOLIMIT[@]}" "$SCRATCH/c7.csv"
    echo "checkpoint_rows = 2000" >>"$SCRATCH/c7-on.toml"
    META='{"checkpoint_rows": 100000}' measure 7 warmup "$SCRATCH/c7-off.toml"
    # Alternated, so a drift of the machine during the case touches both alike.
    for ((r = 1; r <= RUNS; r++)); do
        META='{"checkpoint_rows": 100000}' measure 7 "off, run $r" "$SCRATCH/c7-off.toml"
        META='{"checkpoint_rows": 2000}' measure 7 "on, run $r" "$SCRATCH/c7-on.toml"
    done
    stop_sim
fi

python3 bench/report.py table "$RESULTS" --out "$OUT"
echo "bench: written $OUT" >&2
