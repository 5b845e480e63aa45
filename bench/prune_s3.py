#!/usr/bin/env python3
"""Case 9's prune on S3 (the project's S3 test server, moto): loads the date partitions an
output's prune would delete into a bucket, with the reader tables and manifests of those dates,
and later counts the requests the prune sent through scripts/s3-fault-proxy.py (rate 0: a
pass-through that logs every request).

    prune_s3.py load OUT BUCKET FROM TO      put OUT's units, tables and manifests of dates
                                            FROM..TO (inclusive) into BUCKET, at its root as in
                                            OUT (the manifests name the files from there)
    prune_s3.py count LOG BUCKET TIME LABEL a result row (bench/report.py's): the requests in
                                            the proxy's LOG by kind, the objects the prune's
                                            record in BUCKET says it deleted, GNU time's TIME

Unit and table files are stored as one byte each: prune lists and deletes them, never reads
them; manifests are stored whole (prune reads their finish times and the files their finalize
read). Needs boto3 (in the project
venv, with moto) and the AWS_* variables of `scripts/s3-server.sh env`.
"""
import concurrent.futures
import json
import os
import re
import sys


def load(out, bucket, first, last):
    import boto3
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=bucket)
    date = re.compile(r"snapshot_date=(\d{4}-\d{2}-\d{2})")
    keys = []
    for d, _, files in os.walk(out):
        m = date.search(d)
        rel_dir = os.path.relpath(d, out)
        # Leases are not loaded: every later read of them would count here, while a deployment's
        # are old, and prune does not read those (see lifecycle/lease.rs).
        if not m or not (first <= m.group(1) <= last) or rel_dir.startswith("_leases"):
            continue
        for f in files:
            keys.append(os.path.join(d, f))

    def put(path):
        rel = os.path.relpath(path, out)
        body = open(path, "rb").read() if rel.startswith("_runs") else b"x"
        s3.put_object(Bucket=bucket, Key=rel, Body=body)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))
    print(len(keys))


def count(log, bucket, time_file, label):
    import boto3
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from report import parse_time
    kinds = {}
    for line in open(log, encoding="utf-8"):
        parts = line.split()
        if len(parts) < 3:
            continue
        method, path = parts[1], parts[2]
        if method == "POST" and "delete" in path:
            kind = "DeleteObjects"
        elif method == "GET" and ("list-type=2" in path or "prefix=" in path):
            kind = "list"
        else:
            kind = f"{method} object"
        kinds[kind] = kinds.get(kind, 0) + 1
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="_lifecycle/prune-")
    key = sorted(o["Key"] for o in listed.get("Contents", []))[-1]
    rec = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    row = {"case": 9, "kind": "lifecycle", "command": "prune-s3", "label": label,
           **parse_time(time_file), "objects": rec["objects"], "bytes": rec["bytes"],
           "dates": len({d["snapshot_date"] for d in rec["deleted"]}),
           "requests": sum(kinds.values()), "by_kind": kinds}
    print(json.dumps(row))


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(*sys.argv[2:6])
    elif sys.argv[1] == "count":
        count(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)
