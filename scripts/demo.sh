#!/usr/bin/env bash
# The demo: start postpress-sim with scenarios/demo.toml, run jobs/demo.toml against it, stop the
# simulator, then show the output tree and a few rows (with DuckDB when the venv can be had).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

export POSTPRESS_API_KEY="pp_demo_key"
out="${DEMO_OUT:-./out}"
SIM_LOG=target/demo-sim.log start_sim --scenario scenarios/demo.toml --api-key "$POSTPRESS_API_KEY"
trap stop_sim EXIT
export POSTPRESS_BASE_URL="$SIM_URL/api/v1"
echo "postpress-sim is serving at $SIM_URL"
echo
set +e
target/debug/postpress-etl run jobs/demo.toml --output "$out" --progress off
code=$?
set -e
stop_sim
echo
echo "exit code $code; output tree:"
find "$out" -type f -not -path '*/_staging/*' | sort | sed 's/^/  /'
echo
if scripts/venv.sh >/dev/null 2>&1; then
    .venv/bin/python - "$out" <<'PY'
import sys, duckdb
out = sys.argv[1]
con = duckdb.connect()
print("DuckDB: followers per account (read_parquet with hive_partitioning)")
print(con.sql(f"""
    SELECT provider, account_id, count(*) AS followers
    FROM read_parquet('{out}/followers/**/*.parquet', hive_partitioning=true, union_by_name=true)
    GROUP BY ALL ORDER BY ALL"""))
print("A few LinkedIn followers:")
print(con.sql(f"""
    SELECT position, name, headline, profile_url
    FROM read_parquet('{out}/followers/provider=linkedin/**/*.parquet', hive_partitioning=true)
    ORDER BY account_id, position LIMIT 5"""))
print("A few followed accounts:")
print(con.sql(f"""
    SELECT account_id, first_name, last_name, created_at
    FROM read_parquet('{out}/following/**/*.parquet', hive_partitioning=true)
    ORDER BY created_at DESC LIMIT 5"""))
PY
else
    echo "(DuckDB unavailable: the summary table above is the tool's own account of the rows)"
fi
exit "$code"
