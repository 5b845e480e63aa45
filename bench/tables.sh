# Case 6 of bench/run.sh (sourced by it, with its helpers and variables): the reader tables.
#
# A: BENCH_TABLES_ACCOUNTS accounts (both providers, BENCH_TABLES_FOLLOWERS followers and
#    BENCH_TABLES_FOLLOWING followed accounts each, BENCH_TABLES_CHURN daily churn) exported for
#    BENCH_TABLES_DAYS days without tables, then `finalize` of each date under GNU time (the time
#    and peak RSS of one date's tables); then DuckDB's three analyst queries over tables/ and over
#    the unit layout (bench/tables.py), their answers compared.
# B: one LinkedIn account of BENCH_BIG_FOLLOWERS followers whose list changes by 1% overnight:
#    two days exported, then `finalize` of the second (sorted copy and diff of a million rows).

# finalize_timed CASE LABEL JOB DATE OUT [META]: one finalize under GNU time, recorded.
finalize_timed() {
    local case=$1 label=$2 job=$3 date=$4 out=$5 meta=${6:-}
    local rc=0
    "${TIME[@]}" -o "$SCRATCH/time.txt" "$ETL" finalize "$job" --snapshot-date "$date" \
        >"$SCRATCH/stdout.txt" 2>"$SCRATCH/stderr.txt" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "bench: finalize $date exited $rc" >&2
        tail -20 "$SCRATCH/stderr.txt" >&2
        return 1
    fi
    python3 bench/report.py finalize --case "$case" --label "$label" --time "$SCRATCH/time.txt" \
        --out "$out" --date "$date" ${meta:+--meta "$meta"} >>"$RESULTS"
}

# export_day JOB DATE: one export (tables off) against the running simulator.
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

T_ACCOUNTS=${BENCH_TABLES_ACCOUNTS:-2000}
T_DAYS=${BENCH_TABLES_DAYS:-30}
T_FOLLOWERS=${BENCH_TABLES_FOLLOWERS:-50}
T_FOLLOWING=${BENCH_TABLES_FOLLOWING:-20}
T_CHURN=${BENCH_TABLES_CHURN:-0.02}
BIG=${BENCH_BIG_FOLLOWERS:-1000000}

say "6. reader tables: $T_ACCOUNTS accounts x $T_DAYS days ($T_FOLLOWERS followers + $T_FOLLOWING following, churn $T_CHURN)"
T_META="{\"accounts\": $T_ACCOUNTS, \"days\": $T_DAYS, \"followers\": $T_FOLLOWERS, \"following\": $T_FOLLOWING, \"churn\": $T_CHURN}"
start_sim --accounts "$T_ACCOUNTS" --followers "$T_FOLLOWERS" --following "$T_FOLLOWING" \
    --provider mixed --churn "$T_CHURN"
accounts_csv "$SCRATCH/c6.csv" mixed "$T_ACCOUNTS" "followers;following"
OUT_ROOT=$OUTPUT/c6 write_job "$SCRATCH/c6.toml" bench-tables 32 "${NOLIMIT[@]}" "$SCRATCH/c6.csv"
rm -rf "$OUTPUT/c6"
started=$(date +%s)
for ((d = 0; d < T_DAYS; d++)); do
    sim_day "$d"
    export_day "$SCRATCH/c6.toml" "$(day_of "$d")"
done
echo "  exported $T_DAYS days in $(($(date +%s) - started)) s" >&2
for ((d = 0; d < T_DAYS; d++)); do
    finalize_timed 6 "$(day_of "$d")" "$SCRATCH/c6.toml" "$(day_of "$d")" "$OUTPUT/c6/out" "$T_META"
done
python3 bench/report.py brief-finalize <(grep '"kind": "finalize"' "$RESULTS" | tail -"$T_DAYS") >&2
stop_sim
if ! scripts/venv.sh >/dev/null 2>&1; then
    echo "bench: the project venv (DuckDB) is not available: no query times" >&2
else
    .venv/bin/python bench/tables.py --out "$OUTPUT/c6/out" --last "$(day_of $((T_DAYS - 1)))" \
        --meta "$T_META" >>"$RESULTS"
fi
files() { find "$@" -name '*.parquet' | wc -l; }
size() { du -sch "$@" | tail -1 | cut -f1; }
units=("$OUTPUT/c6/out/followers" "$OUTPUT/c6/out/following")
lists=("$OUTPUT/c6/out/tables/followers" "$OUTPUT/c6/out/tables/following")
echo "  lists as units: $(files "${units[@]}") files, $(size "${units[@]}"); as tables: $(files "${lists[@]}") files, $(size "${lists[@]}")" >&2
rm -rf "$OUTPUT/c6"

if [ "$BIG" != 0 ]; then
    say "6. finalize of 1 LinkedIn account of $BIG followers, 1% churn"
    start_sim --accounts 1 --followers "$BIG" --following 0 --provider linkedin --churn 0.01
    accounts_csv "$SCRATCH/c6b.csv" linkedin 1 "followers"
    OUT_ROOT=$OUTPUT/c6b write_job "$SCRATCH/c6b.toml" bench-tables-big 8 "${NOLIMIT[@]}" "$SCRATCH/c6b.csv"
    rm -rf "$OUTPUT/c6b"
    export_day "$SCRATCH/c6b.toml" "$(day_of 0)"
    sim_day 1
    export_day "$SCRATCH/c6b.toml" "$(day_of 1)"
    stop_sim
    finalize_timed 6 "1 LinkedIn account, $BIG followers, 1% churn" "$SCRATCH/c6b.toml" \
        "$(day_of 1)" "$OUTPUT/c6b/out" "{\"big\": $BIG}"
    python3 bench/report.py brief-finalize <(tail -1 "$RESULTS") >&2
    rm -rf "$OUTPUT/c6b"
fi
