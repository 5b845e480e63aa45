"""Reads an output as analysts do, with each library's default call, and checks they agree.

    readers_check.py OUT_DIR

For every unit dataset and reader table, one provider and all providers, it reads the directory
with pandas (`pd.read_parquet(dir)`), pyarrow (`ds.dataset(dir, partitioning="hive")`), polars
(`pl.scan_parquet(glob, hive_partitioning=True)`, with `extra_columns="ignore"` across providers
whose schemas differ, as its docs say) and DuckDB (`read_parquet(glob)` with and without
`hive_partitioning = true`, `union_by_name = true` across providers), and checks that all of them
read, return the same number of rows and the same rows (compared on the columns every reader
has: the item key or the account and dataset, plus the partition columns from the path), and that
`snapshot_date` is a date in DuckDB and polars. SPEC §4 and §9: partition columns are in the
path only, so no reader meets a column twice with two types.

Prints one `ok`/`FAIL` line per check and a closing `N passed, N failed`; exits 1 on a failure.
"""

import glob
import os
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


def key_columns(rel):
    """The columns that identify a row of `rel`, present in every reader's result."""
    top = rel.split("/")[0]
    if top == "tables":
        table = rel.split("/")[1]
        if table == "account_daily":
            return ["account_id", "dataset", "snapshot_date"]
        key = "member_id" if table.startswith("following") else "id"
        cols = ["account_id", key, "snapshot_date"]
        if table.endswith("_changes"):
            cols.append("change")
        return cols
    key = "member_id" if top == "following" else "id"
    return ["account_id", key, "snapshot_date"]


def normal(rows):
    """Rows as sorted tuples of strings: a date from the path and a date column compare equal."""
    return sorted(tuple(str(v)[:10] if i == 2 else str(v) for i, v in enumerate(r)) for r in rows)


def read_all(out, rel, multi_schema):
    """rel's rows per reader, as (name, rows or exception, snapshot_date type name)."""
    path = os.path.join(out, rel)
    files = sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
    depth = files[0][len(path) + 1 :].count("/")
    pattern = os.path.join(path, *(["*"] * depth), "*.parquet")
    cols = key_columns(rel)
    results = []

    def attempt(name, fn):
        try:
            rows, date_type = fn()
            results.append((name, normal(rows), date_type))
        except Exception as e:  # noqa: BLE001 - every reader's failure is a finding
            results.append((name, e, None))

    def pandas_read():
        df = pd.read_parquet(path)
        return df[cols].itertuples(index=False, name=None), str(df["snapshot_date"].dtype)

    def pyarrow_read():
        t = ds.dataset(path, partitioning="hive").to_table()
        return zip(*(t.column(c).to_pylist() for c in cols)), str(t.schema.field("snapshot_date").type)

    def polars_read():
        opts = {"hive_partitioning": True}
        if multi_schema:
            opts["extra_columns"] = "ignore"
            opts["missing_columns"] = "insert"
        df = pl.scan_parquet(pattern, **opts).select(cols).collect()
        return df.rows(), str(df.schema["snapshot_date"])

    def duckdb_read(hive):
        opts = ", hive_partitioning = true" if hive else ""
        if multi_schema:
            opts += ", union_by_name = true"
        sel = ", ".join(cols)
        rel_ = duckdb.sql(f"SELECT {sel} FROM read_parquet('{pattern}'{opts})")
        types = dict(zip(rel_.columns, (str(t) for t in rel_.types)))
        return rel_.fetchall(), types["snapshot_date"]

    attempt("pandas", pandas_read)
    attempt("pyarrow", pyarrow_read)
    attempt("polars", polars_read)
    attempt("duckdb", lambda: duckdb_read(False))
    attempt("duckdb hive", lambda: duckdb_read(True))
    return results


def main():
    out = sys.argv[1]
    cases = []
    for top in ["followers", "following"]:
        cases.append((f"{top}/provider=linkedin", False))
        cases.append((f"{top}/provider=instagram", False))
        cases.append((top, top == "followers"))
    for table in ["followers", "following", "follower_changes", "following_changes"]:
        cases.append((f"tables/{table}/provider=linkedin", False))
        cases.append((f"tables/{table}", table in ("followers", "follower_changes")))
    cases.append(("tables/account_daily", False))
    for rel, multi in cases:
        if not glob.glob(os.path.join(out, rel, "**", "*.parquet"), recursive=True):
            check(False, f"{rel}: no files to read")
            continue
        results = read_all(out, rel, multi)
        base = None
        for name, rows, date_type in results:
            if isinstance(rows, Exception):
                first = str(rows).splitlines()[0][:200]
                check(False, f"{rel}: {name} reads it ({type(rows).__name__}: {first})")
                continue
            check(True, f"{rel}: {name} reads it ({len(rows)} rows)")
            if base is None:
                base = (name, rows)
            else:
                check(rows == base[1], f"{rel}: {name} gives the same {len(rows)} rows as {base[0]}")
            if name.startswith("duckdb"):
                check(date_type == "DATE", f"{rel}: {name} types snapshot_date as DATE ({date_type})")
            if name == "polars":
                check(date_type == "Date", f"{rel}: polars types snapshot_date as Date ({date_type})")
        if base is not None:
            check(len(base[1]) > 0, f"{rel}: rows to compare ({len(base[1])})")
    print(f"readers: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
