#!/usr/bin/env bash
# The demo: start postpress-sim with scenarios/demo.toml (lists changing by 2% a day), run
# jobs/demo.toml against it for two days, 2024-05-01 and 2024-05-02 (the dates the README's
# queries use), stop the simulator, then show the output tree and a few rows (with DuckDB when
# the venv can be had).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

export POSTPRESS_API_KEY="pp_demo_key"
out="${DEMO_OUT:-./out}"
SIM_LOG=target/demo-sim.log start_sim --scenario scenarios/demo.toml --api-key "$POSTPRESS_API_KEY" --churn 0.02
trap stop_sim EXIT
export POSTPRESS_BASE_URL="$SIM_URL/api/v1"
echo "postpress-sim is serving at $SIM_URL"
code=0
for day in 0 1; do
    date="2024-05-0$((day + 1))"
    # The simulator's lists of that day (control route, not counted as an API request).
    curl -fsS -X POST "$SIM_URL/_sim/day/$day" >/dev/null
    echo
    echo "== postpress-etl run jobs/demo.toml --snapshot-date $date"
    set +e
    target/debug/postpress-etl run jobs/demo.toml --output "$out" --snapshot-date "$date" --progress off
    run_code=$?
    set -e
    if [ "$run_code" -ne 0 ]; then code=$run_code; fi
done
stop_sim
echo
echo "exit code $code; output tree:"
find "$out" -type f -not -path '*/_staging/*' | sort | sed 's/^/  /'
echo
# stderr stays visible: venv.sh says so when it installs (about a minute the first time).
if scripts/venv.sh >/dev/null; then
    .venv/bin/python - "$out" <<'PY'
import sys, duckdb
out = sys.argv[1]
con = duckdb.connect()
print("DuckDB: followers per account and day (read_parquet with hive_partitioning)")
print(con.sql(f"""
    SELECT provider, account_id, snapshot_date, count(*) AS followers
    FROM read_parquet('{out}/followers/**/*.parquet', hive_partitioning=true, union_by_name=true)
    GROUP BY ALL ORDER BY ALL"""))
print("New LinkedIn followers of acc_linkedin_0000 on 2024-05-02:")
print(con.sql(f"""
    WITH f AS (
      SELECT * FROM read_parquet('{out}/followers/provider=linkedin/**/*.parquet', hive_partitioning=true)
      WHERE account_id = 'acc_linkedin_0000')
    SELECT id, name, headline FROM f WHERE snapshot_date = DATE '2024-05-02'
    EXCEPT
    SELECT id, name, headline FROM f WHERE snapshot_date = DATE '2024-05-01'
    ORDER BY id LIMIT 5"""))
print("A few LinkedIn followers:")
print(con.sql(f"""
    SELECT position, name, headline, profile_url
    FROM read_parquet('{out}/followers/provider=linkedin/**/*.parquet', hive_partitioning=true)
    WHERE snapshot_date = DATE '2024-05-02'
    ORDER BY account_id, position LIMIT 5"""))
print("A few followed accounts:")
print(con.sql(f"""
    SELECT account_id, first_name, last_name, created_at
    FROM read_parquet('{out}/following/**/*.parquet', hive_partitioning=true)
    WHERE snapshot_date = DATE '2024-05-02'
    ORDER BY created_at DESC LIMIT 5"""))
PY
else
    echo "(DuckDB unavailable: the summary table above is the tool's own account of the rows)"
fi
exit "$code"
