#!/usr/bin/env python3
"""Case 6 of `make bench`: the analyst's three DuckDB queries over the reader tables (tables/)
and the same questions over the unit layout, timed, with their answers compared.

  follower count per day   count(*) per account and date
  gained / lost per day    the tables' change rows vs EXCEPT-like anti joins of consecutive
                           snapshots of each account in the unit layout
  who left this week       the lost followers of the last 7 dates

Prints one JSON line per query (case 6, kind "query"). Needs duckdb (the project's .venv).
"""

import argparse
import json
import statistics
import sys
import time

import duckdb


def queries(out, last):
    units = f"read_parquet('{out}/followers/*/*/*/*.parquet', hive_partitioning = true, union_by_name = true)"
    tables = f"read_parquet('{out}/tables/followers/*/*/*.parquet', hive_partitioning = true, union_by_name = true)"
    changes = f"read_parquet('{out}/tables/follower_changes/*/*/*.parquet', hive_partitioning = true, union_by_name = true)"
    # Each account's previous snapshot in the unit layout: the date before, among its dates.
    pairs = f"""
        f AS (SELECT snapshot_date AS d, account_id, id FROM {units}),
        days AS (SELECT DISTINCT account_id, d FROM f),
        pairs AS (SELECT account_id, d, lag(d) OVER (PARTITION BY account_id ORDER BY d) AS p FROM days),
        gained AS (
            SELECT t.d, t.account_id, t.id FROM f t JOIN pairs USING (account_id, d)
            WHERE pairs.p IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM f o WHERE o.account_id = t.account_id AND o.d = pairs.p AND o.id = t.id)),
        lost AS (
            SELECT pairs.d, o.account_id, o.id FROM f o
            JOIN pairs ON o.account_id = pairs.account_id AND o.d = pairs.p
            WHERE NOT EXISTS (
                SELECT 1 FROM f t WHERE t.account_id = o.account_id AND t.d = pairs.d AND t.id = o.id))"""
    week = f"DATE '{last}' - INTERVAL 7 DAY"
    return [
        (
            "follower count per day",
            f"SELECT snapshot_date, account_id, count(*) FROM {tables} GROUP BY ALL",
            f"SELECT snapshot_date, account_id, count(*) FROM {units} GROUP BY ALL",
        ),
        (
            "gained / lost per day",
            f"SELECT snapshot_date, change, count(*) FROM {changes} GROUP BY ALL",
            f"""WITH {pairs}
                SELECT d, 'gained', count(*) FROM gained GROUP BY ALL
                UNION ALL SELECT d, 'lost', count(*) FROM lost GROUP BY ALL""",
        ),
        (
            "who left this week",
            f"SELECT snapshot_date, account_id, id FROM {changes} WHERE change = 'lost' AND snapshot_date > {week}",
            f"WITH {pairs} SELECT d, account_id, id FROM lost WHERE d > {week}",
        ),
    ]


def timed(sql, runs):
    times, rows = [], None
    for _ in range(runs):
        con = duckdb.connect()  # a fresh connection: no cached metadata
        t0 = time.perf_counter()
        rows = con.sql(sql).fetchall()
        times.append(time.perf_counter() - t0)
        con.close()
    return statistics.median(times), sorted(rows, key=repr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the job's output directory")
    p.add_argument("--last", required=True, help="the last snapshot date, YYYY-MM-DD")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--meta", default="{}")
    a = p.parse_args()
    meta = json.loads(a.meta)
    failed = False
    for label, on_tables, on_units in queries(a.out, a.last):
        t_tables, r_tables = timed(on_tables, a.runs)
        t_units, r_units = timed(on_units, a.runs)
        same = r_tables == r_units
        failed |= not same
        print(
            json.dumps(
                {
                    "case": 6,
                    "kind": "query",
                    "label": label,
                    "tables_s": t_tables,
                    "units_s": t_units,
                    "rows": len(r_tables),
                    "same_answer": same,
                    "meta": meta,
                }
            )
        )
        print(
            f"  {label}: tables {t_tables:.3f} s, units {t_units:.3f} s "
            f"({t_units / max(t_tables, 1e-9):.0f}x), {len(r_tables)} rows, same answer: {same}",
            file=sys.stderr,
        )
    if failed:
        raise SystemExit("bench: the tables and the unit layout answered differently")


if __name__ == "__main__":
    main()
