"""Queries an export with DuckDB exactly as an analyst would and checks it against the scenario.

Usage: e2e_check.py OUT_DIR SCENARIO.toml JOB.toml
Prints one line per check and a closing 'N passed, M failed'; exits non-zero on any failure.
"""
import sys
import tomllib

import duckdb

out, scenario_path, job_path = sys.argv[1:4]
scenario = tomllib.load(open(scenario_path, "rb"))
job = tomllib.load(open(job_path, "rb"))
served = {a["id"]: a for a in scenario["accounts"]}
con = duckdb.connect()
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}: {detail}")


def q(sql):
    return con.sql(sql).fetchall()


for dataset in ("followers", "following"):
    rows = dict(
        ((p, a), n)
        for p, a, n in q(
            f"""SELECT provider, account_id, count(*) FROM read_parquet(
                '{out}/{dataset}/**/*.parquet', hive_partitioning=true, union_by_name=true)
                GROUP BY ALL"""
        )
    )
    for acc in job["accounts"]:
        if dataset not in acc.get("datasets", ["followers", "following"]):
            continue
        want = served[acc["account_id"]][dataset]
        got = rows.get((acc["provider"], acc["account_id"]), 0)
        check(f"{dataset} {acc['account_id']} has {want} rows", got == want, f"got {got}")
        # Zero-row units still publish a file with the schema: the partition exists.
        files = q(f"SELECT count(*) FROM glob('{out}/{dataset}/provider={acc['provider']}/*/account_id={acc['account_id']}/*.parquet')")[0][0]
        check(f"{dataset} {acc['account_id']} has a published file", files >= 1, f"{files} files")

types = {
    "linkedin": {"id": "VARCHAR", "profile_picture_url_large": "VARCHAR"},
    "instagram": {"is_private": "BOOLEAN", "is_verified": "BOOLEAN", "profile_picture_url": "VARCHAR"},
}
common = {"position": "BIGINT", "fetched_at": "TIMESTAMP WITH TIME ZONE", "run_id": "VARCHAR",
          "snapshot_date": "DATE", "account_id": "VARCHAR", "provider": "VARCHAR"}
for provider, cols in types.items():
    desc = dict((r[0], r[1]) for r in q(
        f"DESCRIBE SELECT * FROM read_parquet('{out}/followers/provider={provider}/**/*.parquet', hive_partitioning=true)"))
    for c, t in {**cols, **common}.items():
        check(f"followers/{provider} column {c} is {t}", desc.get(c) == t, f"got {desc.get(c)}")
    other = "urn" if provider == "instagram" else "username"
    check(f"followers/{provider} is a clean table without {other}", other not in desc, str(sorted(desc)))

desc = dict((r[0], r[1]) for r in q(
    f"DESCRIBE SELECT * FROM read_parquet('{out}/following/**/*.parquet', hive_partitioning=true)"))
check("following created_at is a timestamp", desc.get("created_at") == "TIMESTAMP WITH TIME ZONE", str(desc.get("created_at")))

dups = q(f"""SELECT count(*) FROM (SELECT account_id, position, count(*) c FROM read_parquet(
    '{out}/followers/**/*.parquet', hive_partitioning=true, union_by_name=true) GROUP BY ALL HAVING c > 1)""")[0][0]
check("no duplicate rows after a rerun of the same date", dups == 0, f"{dups} duplicated positions")
ids = q(f"""SELECT count(*), count(DISTINCT id) FROM read_parquet(
    '{out}/followers/provider=linkedin/**/*.parquet', hive_partitioning=true)""")[0]
check("linkedin follower ids are distinct within the export", ids[0] == ids[1], str(ids))
runs = q(f"SELECT count(DISTINCT run_id) FROM read_parquet('{out}/followers/**/*.parquet', union_by_name=true)")[0][0]
check("every published row comes from the latest run", runs == 1, f"{runs} run ids")
# Run ids begin with a digit; finalize's manifests (finalize-*.json) are checked apart.
manifests = q(f"SELECT status FROM read_json_auto('{out}/_runs/*/[0-9]*.json')")
check("two manifests, both ok", sorted(manifests) == [("ok",), ("ok",)], str(manifests))
per_unit = q(f"""SELECT account_id, count(*) FROM read_parquet('{out}/followers/**/*.parquet',
    hive_partitioning=true, union_by_name=true) GROUP BY ALL ORDER BY ALL""")
per_table = q(f"""SELECT account_id, count(*) FROM read_parquet('{out}/tables/followers/*/*/*.parquet',
    hive_partitioning=true, union_by_name=true) GROUP BY ALL ORDER BY ALL""")
check("the reader tables hold the units' rows", per_unit == per_table, f"{per_unit} vs {per_table}")
daily = q(f"""SELECT status, count(*) FROM read_parquet('{out}/tables/account_daily/*/*.parquet')
    GROUP BY ALL""")
check("account_daily: every unit of the job ok", daily == [("ok", 11)], str(daily))
check("no staging leftovers", q(f"SELECT count(*) FROM glob('{out}/_staging/**')")[0][0] == 0)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
