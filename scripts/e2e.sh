#!/usr/bin/env bash
# End-to-end check as an analyst would see it: export a scenario against postpress-sim, then
# query the output with DuckDB (read_parquet with hive_partitioning) and compare counts per
# account and the column types with what was served. Run by `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
scripts/venv.sh >/dev/null

work="$(mktemp -d)"
trap 'stop_sim; rm -rf "$work"' EXIT
export POSTPRESS_API_KEY="pp_e2e_key"
start_sim --scenario scenarios/demo.toml --api-key "$POSTPRESS_API_KEY" --fault-rate 0.1 --retry-after 0s
export POSTPRESS_BASE_URL="$SIM_URL/api/v1"
sed -e 's/^backoff_initial = .*/backoff_initial = "1ms"/' -e 's/^backoff_max = .*/backoff_max = "20ms"/' \
    jobs/demo.toml >"$work/job.toml"
target/debug/postpress-etl run "$work/job.toml" --output "$work/out" --snapshot-date 2026-11-26 \
    --progress off >"$work/summary.txt" 2>"$work/log.txt" || { cat "$work/summary.txt" "$work/log.txt"; exit 1; }
# The same data twice: a rerun must replace, not duplicate.
target/debug/postpress-etl run "$work/job.toml" --output "$work/out" --snapshot-date 2026-11-26 \
    --progress off >/dev/null 2>>"$work/log.txt" || { cat "$work/log.txt"; exit 1; }
stop_sim
.venv/bin/python scripts/e2e_check.py "$work/out" scenarios/demo.toml jobs/demo.toml

# Every common reader, with its default call, on two dates (so the change tables have rows):
# pandas, pyarrow, polars and DuckDB must read each dataset and table as it is and agree.
start_sim --scenario scenarios/demo.toml --api-key "$POSTPRESS_API_KEY" --churn 0.05 --day 1
export POSTPRESS_BASE_URL="$SIM_URL/api/v1"
target/debug/postpress-etl run "$work/job.toml" --output "$work/out" --snapshot-date 2026-11-27 \
    --progress off >/dev/null 2>>"$work/log.txt" || { cat "$work/log.txt"; exit 1; }
stop_sim
.venv/bin/python scripts/readers_check.py "$work/out"
