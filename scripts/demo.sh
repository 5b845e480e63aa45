#!/usr/bin/env bash
# The demo: start postpress-sim with scenarios/demo.toml and 3% daily churn, export two days
# (2024-05-01, then the simulator moves a day and 2024-05-02) with jobs/demo.toml, each run
# building its reader tables, stop the simulator, then show the output tree and, with DuckDB,
# the follower counts, the day's changes and who left; it ends with the `views` command that
# makes each table a DuckDB view.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

export POSTPRESS_API_KEY="pp_demo_key"
out="${DEMO_OUT:-./out}"
day0=2024-05-01
day1=2024-05-02
SIM_LOG=target/demo-sim.log start_sim --scenario scenarios/demo.toml --churn 0.03 \
    --api-key "$POSTPRESS_API_KEY"
trap stop_sim EXIT
export POSTPRESS_BASE_URL="$SIM_URL/api/v1"
echo "postpress-sim is serving at $SIM_URL"
echo
code=0
for d in "$day0" "$day1"; do
    if [ "$d" = "$day1" ]; then
        # The lists change overnight: the simulator's next day.
        python3 -c 'import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1] + "/_sim/day/1", method="POST")).read()' "$SIM_URL"
    fi
    echo "== export of $d"
    set +e
    target/debug/postpress-etl run jobs/demo.toml --output "$out" --snapshot-date "$d" --progress off
    c=$?
    set -e
    if [ "$c" != 0 ]; then code=$c; fi
    echo
done
stop_sim
echo "exit code $code; output tree (unit partitions of $day1 and the reader tables):"
find "$out" -type f -not -path '*/_staging/*' \( -path "*snapshot_date=$day1*" -o -path '*/tables/*' \) \
    | sort | sed 's/^/  /'
echo
# stderr stays visible: venv.sh says so when it installs (about a minute the first time).
if scripts/venv.sh >/dev/null; then
    .venv/bin/python - "$out" "$day1" <<'PY'
import sys, duckdb
out, day = sys.argv[1], sys.argv[2]
con = duckdb.connect()
daily = f"read_parquet('{out}/tables/account_daily/*/*.parquet', hive_partitioning = true)"
print("Followers per account and day (tables/account_daily):")
print(con.sql(f"""
    SELECT account_id, provider, snapshot_date, records AS followers, gained, lost
    FROM {daily}
    WHERE dataset = 'followers' AND status = 'ok'
    ORDER BY account_id, snapshot_date"""))
print("Gained and lost per day, both lists (tables/account_daily):")
print(con.sql(f"""
    SELECT snapshot_date, dataset, sum(gained) AS gained, sum(lost) AS lost
    FROM {daily}
    WHERE gained IS NOT NULL
    GROUP BY ALL ORDER BY ALL"""))
print(f"Who unfollowed a LinkedIn account this week, up to {day} (tables/follower_changes):")
print(con.sql(f"""
    SELECT snapshot_date, account_id, id, name, headline
    FROM read_parquet('{out}/tables/follower_changes/provider=linkedin/*/*.parquet',
                      hive_partitioning = true)
    WHERE change = 'lost' AND snapshot_date > DATE '{day}' - INTERVAL 7 DAY
    ORDER BY ALL LIMIT 10"""))
PY
else
    echo "(DuckDB unavailable: the summary tables above are the tool's own account of the rows)"
fi
# The one step to query it yourself: a DuckDB view per table (docs/cookbook.md has questions).
views_out=""
if [ "$out" != "./out" ]; then views_out=" --output $out"; fi
echo
echo "Query it yourself (the DuckDB CLI, or .venv/bin/python with duckdb), then e.g. SELECT * FROM follower_changes:"
echo "  target/debug/postpress-etl views jobs/demo.toml$views_out > views.sql && duckdb -init views.sql"
exit "$code"
