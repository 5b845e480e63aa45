# Case 9 of bench/run.sh (sourced by it, with its helpers and variables): the data lifecycle
# (SPEC §12, docs/lifecycle.md).
#
# BENCH_LC_ACCOUNTS accounts (both providers, 50 followers + 20 followed accounts each, 2% daily
# churn, 5% of every list drawn from one population shared by all accounts) exported for
# BENCH_LC_DAYS days, each date finalized (every reader table), with `[retention] units_days =
# BENCH_LC_UNITS_DAYS`. Then, each under GNU time:
# * `prune --snapshot-date` of the last date: the units of every date past the limit go (what a
#   deployment with retention holds from then on); objects deleted per second;
# * `erase` of 10 keys each found in about 1% of the accounts' latest follower lists: wall time,
#   bytes read to decide against the output's total, files rewritten;
# * `erase` of the same keys again (nothing to rewrite, and every file read: the keys are
#   suppressed already, so the reader tables are no index for them);
# * the prune on the S3 test server, and 90 days of retention (below).
# The output is on this machine's disk (not the tmpfs of the other cases): prune's and erase's
# targets are for a local disk. At the defaults (2,000 accounts x 30 days, the issue's size) the
# case takes about ten minutes on 2 cores.

L_ACCOUNTS=${BENCH_LC_ACCOUNTS:-2000}
L_DAYS=${BENCH_LC_DAYS:-30}
L_KEEP=${BENCH_LC_UNITS_DAYS:-7}
L_META="{\"accounts\": $L_ACCOUNTS, \"days\": $L_DAYS, \"units_days\": $L_KEEP}"

say "9. data lifecycle: $L_ACCOUNTS accounts x $L_DAYS days, units_days = $L_KEEP; prune, then erase 10 keys"
start_sim --accounts "$L_ACCOUNTS" --followers 50 --following 20 --provider mixed --churn 0.02 \
    --shared-followers 0.05
accounts_csv "$SCRATCH/c9.csv" mixed "$L_ACCOUNTS" "followers;following"
OUT_ROOT=$DISK_OUTPUT/c9 write_job "$SCRATCH/c9.toml" bench-lifecycle 32 "${NOLIMIT[@]}" "$SCRATCH/c9.csv"
printf '\n[retention]\nunits_days = %s\n' "$L_KEEP" >>"$SCRATCH/c9.toml"
rm -rf "$DISK_OUTPUT/c9"
started=$(date +%s)
for ((d = 0; d < L_DAYS; d++)); do
    sim_day "$d"
    export_day "$SCRATCH/c9.toml" "$(day_of "$d")"
    "$ETL" finalize "$SCRATCH/c9.toml" --snapshot-date "$(day_of "$d")" >/dev/null 2>"$SCRATCH/stderr.txt" || {
        tail -20 "$SCRATCH/stderr.txt" >&2
        exit 1
    }
done
stop_sim
echo "  exported and finalized $L_DAYS days in $(($(date +%s) - started)) s" >&2

# lifecycle_timed LABEL COMMAND ARGS...: one prune or erase under GNU time, recorded.
lifecycle_timed() {
    local label=$1 command=$2 rc=0
    shift 2
    sync
    "${TIME[@]}" -o "$SCRATCH/time.txt" "$ETL" "$command" "$SCRATCH/c9.toml" "$@" \
        >"$SCRATCH/stdout.txt" 2>"$SCRATCH/stderr.txt" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "bench: $command exited $rc" >&2
        tail -20 "$SCRATCH/stderr.txt" >&2
        return 1
    fi
    python3 bench/report.py lifecycle --case 9 --label "$label" --command "$command" \
        --time "$SCRATCH/time.txt" --out "$DISK_OUTPUT/c9/out" --meta "$L_META" >>"$RESULTS"
    python3 bench/report.py brief-lifecycle <(tail -1 "$RESULTS") >&2
}

# The same prune on the S3 test server (moto), for its requests per object deleted: the units,
# tables and manifests of the first BENCH_LC_S3_DATES dates (default 20, at most those the prune
# deletes) go to a bucket (unit and table files as one byte each: prune never reads them),
# then the prune runs through scripts/s3-fault-proxy.py, which logs every request.
L_S3_DATES=${BENCH_LC_S3_DATES:-20}
if ((L_S3_DATES > L_DAYS - L_KEEP - 1)); then L_S3_DATES=$((L_DAYS - L_KEEP - 1)); fi
prune_on_s3() {
    scripts/venv.sh >/dev/null 2>&1 && bash scripts/s3-server.sh start >/dev/null 2>&1 || {
        echo "  (no S3 test server: the S3 prune is not measured)" >&2
        return 0
    }
    (
        eval "$(bash scripts/s3-server.sh env)"
        bucket=bench-prune-$$
        loaded=$(.venv/bin/python bench/prune_s3.py load "$DISK_OUTPUT/c9/out" "$bucket" \
            "$(day_of 0)" "$(day_of $((L_S3_DATES - 1)))")
        echo "  loaded $loaded objects of $L_S3_DATES dates into the S3 test server" >&2
        : >"$SCRATCH/s3.log"
        .venv/bin/python scripts/s3-fault-proxy.py --upstream "$AWS_ENDPOINT_URL" --rate 0 \
            --log "$SCRATCH/s3.log" >"$SCRATCH/proxy.out" 2>/dev/null &
        proxy=$!
        for _ in $(seq 50); do [ -s "$SCRATCH/proxy.out" ] && break; sleep 0.1; done
        moto=$AWS_ENDPOINT_URL
        export AWS_ENDPOINT_URL
        AWS_ENDPOINT_URL=$(head -1 "$SCRATCH/proxy.out")
        sed "s|^url = .*|url = \"s3://$bucket\"|" "$SCRATCH/c9.toml" >"$SCRATCH/c9-s3.toml"
        rc=0
        "${TIME[@]}" -o "$SCRATCH/time.txt" "$ETL" prune "$SCRATCH/c9-s3.toml" \
            --snapshot-date "$(day_of $((L_DAYS - 1)))" >"$SCRATCH/stdout.txt" 2>"$SCRATCH/stderr.txt" || rc=$?
        kill "$proxy" 2>/dev/null || true
        if [ "$rc" != 0 ]; then
            echo "bench: prune on S3 exited $rc" >&2
            tail -20 "$SCRATCH/stderr.txt" >&2
            exit 1
        fi
        AWS_ENDPOINT_URL=$moto .venv/bin/python bench/prune_s3.py count "$SCRATCH/s3.log" "$bucket" "$SCRATCH/time.txt" \
            "prune of $L_S3_DATES dates of units on S3" >>"$RESULTS"
        python3 bench/report.py brief-lifecycle <(tail -1 "$RESULTS") >&2
    )
    bash scripts/s3-server.sh stop >/dev/null 2>&1 || true
}
prune_on_s3

lifecycle_timed "prune of $((L_DAYS - L_KEEP - 1)) dates of units" prune --snapshot-date "$(day_of $((L_DAYS - 1)))"

# 10 follower ids each in the latest follower lists of about 1% of the accounts.
if ! scripts/venv.sh >/dev/null 2>&1; then
    echo "bench: the project venv (DuckDB) is not available: no erase" >&2
else
    .venv/bin/python - "$DISK_OUTPUT/c9/out" "$(day_of $((L_DAYS - 1)))" "$L_ACCOUNTS" >"$SCRATCH/keys.txt" <<'PY'
import sys, duckdb
out, day, accounts = sys.argv[1], sys.argv[2], int(sys.argv[3])
target = max(2, round(accounts / 100))
rows = duckdb.sql(f"""
    SELECT id, count(DISTINCT account_id) AS n
    FROM read_parquet('{out}/tables/followers/**/*.parquet', hive_partitioning = true)
    WHERE snapshot_date = DATE '{day}'
    GROUP BY id ORDER BY abs(n - {target}), id LIMIT 10""").fetchall()
for key, _ in rows:
    print(key)
PY
    lifecycle_timed "erase of 10 keys" erase --keys-file "$SCRATCH/keys.txt"
    lifecycle_timed "erase of the same keys again" erase --keys-file "$SCRATCH/keys.txt"
fi
# What retention saves: BENCH_LC_RETENTION_ACCOUNTS accounts (default 100, the same lists) over
# BENCH_LC_RETENTION_DAYS days (default 90), each date exported, finalized and pruned with
# `units_days = 14`, as a deployment with retention runs; the output's bytes at the end against
# those bytes plus everything the prunes deleted (what it would hold without retention).
R_ACCOUNTS=${BENCH_LC_RETENTION_ACCOUNTS:-100}
R_DAYS=${BENCH_LC_RETENTION_DAYS:-90}
if ((R_DAYS > 0)); then
    start_sim --accounts "$R_ACCOUNTS" --followers 50 --following 20 --provider mixed --churn 0.02 \
        --shared-followers 0.05
    accounts_csv "$SCRATCH/c9r.csv" mixed "$R_ACCOUNTS" "followers;following"
    OUT_ROOT=$DISK_OUTPUT/c9r write_job "$SCRATCH/c9r.toml" bench-retention 32 "${NOLIMIT[@]}" "$SCRATCH/c9r.csv"
    printf '\n[retention]\nunits_days = 14\n' >>"$SCRATCH/c9r.toml"
    rm -rf "$DISK_OUTPUT/c9r"
    pruned=0
    for ((d = 0; d < R_DAYS; d++)); do
        sim_day "$d"
        export_day "$SCRATCH/c9r.toml" "$(day_of "$d")"
        for command in finalize prune; do
            "$ETL" "$command" "$SCRATCH/c9r.toml" --snapshot-date "$(day_of "$d")" >/dev/null 2>"$SCRATCH/stderr.txt" || {
                tail -20 "$SCRATCH/stderr.txt" >&2
                exit 1
            }
        done
    done
    stop_sim
    python3 - "$DISK_OUTPUT/c9r/out" "$R_ACCOUNTS" "$R_DAYS" >>"$RESULTS" <<'PY'
import glob, json, os, sys
out, accounts, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = lambda pattern: sum(os.path.getsize(p) for p in glob.glob(os.path.join(out, pattern), recursive=True) if os.path.isfile(p))
kept = size("**/*")
deleted = sum(json.load(open(p))["bytes"] for p in glob.glob(os.path.join(out, "_lifecycle", "prune-*.json")))
print(json.dumps({"case": 9, "kind": "lifecycle", "command": "retention", "label": f"{days} days, units_days = 14",
                  "accounts": accounts, "days": days, "kept_bytes": kept, "deleted_bytes": deleted,
                  "units_bytes": size("follow*/**/*.parquet"), "tables_bytes": size("tables/**/*.parquet")}))
PY
    python3 bench/report.py brief-lifecycle <(tail -1 "$RESULTS") >&2
    rm -rf "$DISK_OUTPUT/c9r"
fi

# BENCH_LC_KEEP=DIR keeps the output there (to look into it), else it goes.
if [ -n "${BENCH_LC_KEEP:-}" ]; then
    rm -rf "$BENCH_LC_KEEP" && mv "$DISK_OUTPUT/c9" "$BENCH_LC_KEEP"
else
    rm -rf "$DISK_OUTPUT/c9"
fi
