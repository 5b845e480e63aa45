#!/usr/bin/env python3
"""Checks the deployment files without a cluster, an Airflow or a Docker engine.

    .venv/bin/python scripts/check-deploy.py

* deploy/k8s/*.yaml: every document has what the Kubernetes API server requires (apiVersion,
  kind, metadata.name); CronJobs and Jobs have a schedule or an Indexed completion mode, pods a
  valid restartPolicy, containers a name, an image and resources; every mount names a volume;
  the API key Secret is mounted where the job file's api.api_key_file points; the embedded job
  TOML parses and uses only the keys of SPEC section 2; --shard auto/N matches completions.
* The copies stay in step: the sharded ConfigMap is jobs/example-k8s.toml, the accounts
  ConfigMap is jobs/accounts.csv.
* deploy/airflow/*.py compiles.
* deploy/Dockerfile's final stage runs as a non-root USER.

Prints each failure naming the file and the problem, then "N passed, M failed" alone on the
last line; exits 1 if anything failed.
"""

from __future__ import annotations

import datetime
import glob
import os
import posixpath
import py_compile
import re
import sys
import tempfile
import tomllib

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# SPEC section 2: every table rejects unknown keys.
JOB_KEYS = {
    "": {"name", "accounts_file", "api", "fetch", "output", "accounts"},
    "api": {"base_url", "api_key_file", "timeout", "allow_insecure_http"},
    "fetch": {
        "concurrency",
        "requests_per_second",
        "account_requests_per_minute",
        "max_attempts",
        "backoff_initial",
        "backoff_max",
        "max_pages",
    },
    "output": {"url", "compression", "max_rows_per_file", "row_group_rows"},
    "accounts": {"account_id", "provider", "datasets", "user_id", "page_size"},
}
DURATION_KEYS = {("api", "timeout"), ("fetch", "backoff_initial"), ("fetch", "backoff_max")}
HUMANTIME = re.compile(r"^\s*(\d+\s*(ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|days?)\s*)+$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
API_VERSIONS = {
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "CronJob": "batch/v1",
    "Job": "batch/v1",
}


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def __call__(self, ok: bool, where: str, problem: str) -> bool:
        """Records one check; `problem` says what is wrong when it is not ok."""
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{where}: {problem}")
            print(f"FAIL {where}: {problem}")
        return ok


check = Checks()


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


def dig(obj, *keys):
    """obj[k1][k2]..., or None where a level is missing or not a mapping/list."""
    for k in keys:
        if isinstance(obj, dict):
            obj = obj.get(k)
        elif isinstance(obj, list) and isinstance(k, int) and k < len(obj):
            obj = obj[k]
        else:
            return None
    return obj


def quantity(q) -> float | None:
    """A Kubernetes CPU or memory quantity as a number (cores or bytes)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        return None
    scale = {
        None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    }[m.group(2)]
    return float(m.group(1)) * scale


def check_job_toml(where: str, text: str) -> dict | None:
    """Parses a job file and checks its keys against SPEC section 2."""
    try:
        job = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        check(False, where, f"job TOML does not parse: {e}")
        return None
    check(True, where, "")
    for key in job:
        check(key in JOB_KEYS[""], where, f"unknown top-level key {key!r} (SPEC section 2)")
    for table in ("api", "fetch", "output"):
        value = job.get(table, {})
        if not check(isinstance(value, dict), where, f"[{table}] must be a table"):
            continue
        for key in value:
            check(key in JOB_KEYS[table], where, f"unknown key {table}.{key} (SPEC section 2)")
    accounts = job.get("accounts", [])
    if check(isinstance(accounts, list), where, "accounts must be an array of tables"):
        for i, account in enumerate(accounts):
            for key in account:
                check(key in JOB_KEYS["accounts"], where, f"unknown key accounts[{i}].{key}")
    name = job.get("name")
    check(
        isinstance(name, str) and re.fullmatch(r"[a-z0-9_-]+", name) is not None,
        where,
        f"name = {name!r} must match [a-z0-9_-]+",
    )
    check(
        bool(job.get("accounts")) or "accounts_file" in job,
        where,
        "no accounts: add [[accounts]] or accounts_file",
    )
    for table, key in DURATION_KEYS:
        value = job.get(table, {}).get(key)
        if value is not None:
            check(
                isinstance(value, str) and HUMANTIME.match(value) is not None,
                where,
                f"{table}.{key} = {value!r} is not a humantime duration such as \"30s\"",
            )
    compression = job.get("output", {}).get("compression")
    if compression is not None:
        check(
            compression in {"zstd", "snappy", "gzip", "none"},
            where,
            f"output.compression = {compression!r}; allowed: zstd, snappy, gzip, none",
        )
    return job


def pod_spec_of(doc: dict) -> dict | None:
    if doc.get("kind") == "CronJob":
        return dig(doc, "spec", "jobTemplate", "spec", "template", "spec")
    if doc.get("kind") == "Job":
        return dig(doc, "spec", "template", "spec")
    return None


def job_spec_of(doc: dict) -> dict | None:
    if doc.get("kind") == "CronJob":
        return dig(doc, "spec", "jobTemplate", "spec")
    if doc.get("kind") == "Job":
        return doc.get("spec")
    return None


def check_job_spec(where: str, doc: dict, spec: dict, pod: dict) -> None:
    containers = {c.get("name") for c in pod.get("containers") or [] if isinstance(c, dict)}
    restart = pod.get("restartPolicy")
    check(
        restart in {"Never", "OnFailure"},
        where,
        f"restartPolicy must be Never or OnFailure for a Job's pods, not {restart!r}",
    )
    for key in ("backoffLimit", "activeDeadlineSeconds", "backoffLimitPerIndex"):
        if key in spec:
            check(
                isinstance(spec[key], int) and spec[key] >= 0,
                where,
                f"{key} must be a non-negative integer",
            )
    check("activeDeadlineSeconds" in spec, where, "no activeDeadlineSeconds: a hung run would never end")
    policy = spec.get("podFailurePolicy")
    if policy is not None:
        check(restart == "Never", where, "podFailurePolicy requires restartPolicy: Never")
        fail_on_2 = False
        for i, rule in enumerate(policy.get("rules") or []):
            action = rule.get("action")
            check(
                action in {"FailJob", "FailIndex", "Ignore", "Count"},
                where,
                f"podFailurePolicy.rules[{i}].action {action!r} is not one of FailJob, FailIndex, Ignore, Count",
            )
            codes = rule.get("onExitCodes")
            conds = rule.get("onPodConditions")
            check(
                (codes is None) != (conds is None),
                where,
                f"podFailurePolicy.rules[{i}] needs exactly one of onExitCodes, onPodConditions",
            )
            if codes is not None:
                values = codes.get("values") or []
                name = codes.get("containerName")
                check(
                    name is None or name in containers,
                    where,
                    f"podFailurePolicy.rules[{i}].onExitCodes.containerName {name!r} names no container",
                )
                check(
                    codes.get("operator") in {"In", "NotIn"},
                    where,
                    f"podFailurePolicy.rules[{i}].onExitCodes.operator must be In or NotIn",
                )
                check(
                    bool(values) and all(isinstance(v, int) for v in values)
                    and (codes.get("operator") != "In" or 0 not in values),
                    where,
                    f"podFailurePolicy.rules[{i}].onExitCodes.values must be integers, without 0 for In",
                )
                if action == "FailJob" and codes.get("operator") == "In" and 2 in values:
                    fail_on_2 = True
            if action == "FailIndex":
                check("backoffLimitPerIndex" in spec, where, "FailIndex requires backoffLimitPerIndex")
        check(fail_on_2, where, "podFailurePolicy should FailJob on exit code 2 (job file error, SPEC section 5)")
    if "backoffLimitPerIndex" in spec:
        check(spec.get("completionMode") == "Indexed", where, "backoffLimitPerIndex requires completionMode: Indexed")


def check_pod(where: str, pod: dict, configmaps: dict, job_kind: str, spec: dict) -> None:
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    pod_sc = pod.get("securityContext") or {}
    containers = pod.get("containers")
    if not check(
        isinstance(containers, list) and len(containers) > 0, where, "pod has no containers"
    ):
        return
    for c in containers:
        cname = c.get("name")
        cw = f"{where} container {cname!r}"
        check(isinstance(cname, str) and DNS1123.match(cname or "") is not None, cw, "container needs a DNS-1123 name")
        check(isinstance(c.get("image"), str) and bool(c.get("image")), cw, "container needs an image")
        args = c.get("args") or []
        check(
            all(isinstance(a, str) for a in args),
            cw,
            f"every arg must be a string; YAML turned some into {[a for a in args if not isinstance(a, str)]!r} (quote on/off/yes/no and numbers)",
        )
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory"):
                value = dig(res, kind, what)
                check(
                    value is not None and quantity(value) is not None,
                    cw,
                    f"resources.{kind}.{what} missing or not a quantity",
                )
        for what in ("cpu", "memory"):
            req, lim = quantity(dig(res, "requests", what)), quantity(dig(res, "limits", what))
            if req is not None and lim is not None:
                check(req <= lim, cw, f"resources.requests.{what} exceeds resources.limits.{what}")
        sc = c.get("securityContext") or {}
        check(
            sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True,
            cw,
            "runAsNonRoot: true is not set on the pod or the container",
        )
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        check(uid is None or (isinstance(uid, int) and uid != 0), cw, "runAsUser must not be 0")
        check(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem: true is not set")
        check(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation: false is not set")
        mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
        for m in mounts.values():
            check(m.get("name") in volumes, cw, f"volumeMount {m.get('name')!r} names no volume")

        # The job file: `run PATH ...` (or `validate PATH`).
        if len(args) < 2 or args[0] not in {"run", "validate"}:
            check(False, cw, "args must start with run|validate JOB.toml")
            continue
        job_path = args[1]
        files = files_at(posixpath.dirname(job_path), mounts, volumes, configmaps, cw)
        text = files.get(posixpath.basename(job_path))
        if not check(text is not None, cw, f"no ConfigMap provides {job_path} to this container"):
            continue
        job = check_job_toml(f"{cw} {job_path}", text)
        if job is None:
            continue
        url = dig(job, "output", "url") or "./out"
        check(
            url.startswith("s3://"),
            cw,
            f"output.url = {url!r}: on a read-only root filesystem the output must go to s3://",
        )
        key_file = dig(job, "api", "api_key_file")
        if check(key_file is not None, cw, f"{job_path} has no api.api_key_file for the mounted Secret"):
            check_secret_mount(cw, key_file, mounts, volumes)
        if "accounts_file" in job:
            csv_name = posixpath.normpath(posixpath.join(posixpath.dirname(job_path), job["accounts_file"]))
            csv_files = files_at(posixpath.dirname(csv_name), mounts, volumes, configmaps, cw)
            check(
                posixpath.basename(csv_name) in csv_files,
                cw,
                f"accounts_file resolves to {csv_name}, which no mounted ConfigMap provides",
            )
        check_flags(cw, args, job_kind, spec)


def files_at(directory: str, mounts: dict, volumes: dict, configmaps: dict, where: str) -> dict:
    """The files that ConfigMap-backed volumes put in `directory`: name -> text."""
    mount = mounts.get(directory)
    if mount is None:
        return {}
    volume = volumes.get(mount.get("name")) or {}
    sources = []
    if "configMap" in volume:
        sources.append(volume["configMap"])
    for s in dig(volume, "projected", "sources") or []:
        if "configMap" in s:
            sources.append(s["configMap"])
    out = {}
    for src in sources:
        name = src.get("name")
        data = configmaps.get(name)
        if not check(data is not None, where, f"ConfigMap {name!r} is mounted but defined in no deploy/k8s file"):
            continue
        items = src.get("items")
        if items:
            for it in items:
                if it.get("key") in data:
                    out[it.get("path")] = data[it["key"]]
        else:
            out.update(data)
    return out


def check_secret_mount(where: str, key_file: str, mounts: dict, volumes: dict) -> None:
    directory, filename = posixpath.split(key_file)
    mount = mounts.get(directory)
    if not check(
        mount is not None,
        where,
        f"api.api_key_file = {key_file!r} but nothing is mounted at {directory}",
    ):
        return
    secret = (volumes.get(mount.get("name")) or {}).get("secret")
    if not check(secret is not None, where, f"the volume mounted at {directory} is not a Secret"):
        return
    check(bool(secret.get("secretName")), where, "the Secret volume has no secretName")
    items = secret.get("items")
    paths = {it.get("path") for it in items} if items else None
    check(
        paths is None or filename in paths,
        where,
        f"the Secret volume's items put no file named {filename!r} in {directory}",
    )
    mode = secret.get("defaultMode")
    check(mode is None or (isinstance(mode, int) and mode & 0o007 == 0), where, "the API key file must not be world-readable (defaultMode)")


def check_flags(where: str, args: list, job_kind: str, spec: dict) -> None:
    def value_of(flag):
        return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None

    date = value_of("--snapshot-date")
    if job_kind == "CronJob":
        check(
            "--snapshot-date" not in args,
            where,
            "a CronJob must not pass --snapshot-date: every run would write that one date",
        )
    if date is not None:
        try:
            datetime.date.fromisoformat(date)
            ok = re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) is not None
        except ValueError:
            ok = False
        check(ok, where, f"--snapshot-date {date!r} is not YYYY-MM-DD")
    for flag, allowed in (("--log-format", {"text", "json"}), ("--progress", {"auto", "on", "off"})):
        v = value_of(flag)
        if flag in args:
            check(v in allowed, where, f"{flag} {v!r}; allowed: {', '.join(sorted(allowed))}")
    shard = value_of("--shard")
    if job_kind == "Job" and spec.get("completionMode") == "Indexed":
        m = re.fullmatch(r"auto/(\d+)", shard or "")
        if check(m is not None, where, "an Indexed Job should pass --shard auto/N"):
            check(
                int(m.group(1)) == spec.get("completions"),
                where,
                f"--shard {shard} but completions is {spec.get('completions')}: shards would be skipped or repeated",
            )
    elif shard is not None:
        m = re.fullmatch(r"(\d+|auto)/(\d+)", shard)
        check(
            m is not None and int(m.group(2)) >= 1 and (m.group(1) == "auto" or int(m.group(1)) < int(m.group(2))),
            where,
            f"--shard {shard!r} is not I/N with I < N, or auto/N",
        )


def check_k8s() -> None:
    files = sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "*.yaml")))
    check(bool(files), "deploy/k8s", "no *.yaml files")
    docs = []
    for path in files:
        try:
            loaded = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d is not None]
        except yaml.YAMLError as e:
            check(False, rel(path), f"YAML does not parse: {e}")
            continue
        for i, doc in enumerate(loaded):
            docs.append((f"{rel(path)} document {i + 1}", doc))

    configmaps = {}
    for where, doc in docs:
        if not check(isinstance(doc, dict), where, "is not a mapping"):
            continue
        kind, api, name = doc.get("kind"), doc.get("apiVersion"), dig(doc, "metadata", "name")
        check(isinstance(api, str) and bool(api), where, "apiVersion missing")
        check(isinstance(kind, str) and bool(kind), where, "kind missing")
        check(
            isinstance(name, str) and len(name) <= 253 and DNS1123.match(name) is not None,
            where,
            f"metadata.name {name!r} missing or not a DNS-1123 name",
        )
        if kind in API_VERSIONS:
            check(api == API_VERSIONS[kind], where, f"{kind} needs apiVersion {API_VERSIONS[kind]}, not {api!r}")
        if kind == "ConfigMap":
            data = doc.get("data") or {}
            check(all(isinstance(v, str) for v in data.values()), where, "ConfigMap data values must be strings")
            configmaps[name] = data
        if kind == "ServiceAccount":
            arn = dig(doc, "metadata", "annotations", "eks.amazonaws.com/role-arn")
            if arn is not None:
                check(
                    re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn) is not None,
                    where,
                    f"eks.amazonaws.com/role-arn {arn!r} is not an IAM role ARN",
                )

    for where, doc in docs:
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        name = dig(doc, "metadata", "name") or ""
        if kind == "CronJob":
            schedule = dig(doc, "spec", "schedule")
            check(
                isinstance(schedule, str) and (len(schedule.split()) == 5 or schedule.startswith("@")),
                where,
                f"spec.schedule {schedule!r} is not a 5-field cron expression",
            )
            # The controller appends "-" and an 8-digit minute stamp to a 63-character Job name.
            check(len(name) <= 52, where, "a CronJob name must be at most 52 characters")
            check(
                dig(doc, "spec", "concurrencyPolicy") in {None, "Allow", "Forbid", "Replace"},
                where,
                "spec.concurrencyPolicy must be Allow, Forbid or Replace",
            )
            check(
                dig(doc, "spec", "jobTemplate", "spec", "template") is not None,
                where,
                "spec.jobTemplate.spec.template missing",
            )
        if kind == "Job":
            spec = doc.get("spec") or {}
            check(spec.get("completionMode") == "Indexed", where, "spec.completionMode must be Indexed")
            completions = spec.get("completions")
            check(
                isinstance(completions, int) and completions >= 1,
                where,
                "an Indexed Job needs spec.completions >= 1",
            )
            check(
                isinstance(spec.get("parallelism", 1), int) and spec.get("parallelism", 1) >= 1,
                where,
                "spec.parallelism must be a positive integer",
            )
        pod = pod_spec_of(doc)
        if kind in {"CronJob", "Job"}:
            spec = job_spec_of(doc) or {}
            if check(isinstance(pod, dict), where, "pod template spec missing"):
                check_job_spec(where, doc, spec, pod)
                check_pod(where, pod, configmaps, kind, spec)

    # The copies in the manifests match the files they were taken from.
    sharded = dig(configmaps, "postpress-etl-job-sharded", "job.toml")
    example = os.path.join(ROOT, "jobs", "example-k8s.toml")
    if sharded is not None and os.path.exists(example):
        with open(example, "rb") as f:
            check(
                tomllib.loads(sharded) == tomllib.load(f),
                "deploy/k8s ConfigMap postpress-etl-job-sharded",
                "job.toml differs from jobs/example-k8s.toml (after parsing)",
            )
    accounts = dig(configmaps, "postpress-etl-accounts", "accounts.csv")
    csv_path = os.path.join(ROOT, "jobs", "accounts.csv")
    if accounts is not None and os.path.exists(csv_path):
        with open(csv_path, encoding="utf-8") as f:
            check(
                accounts.strip() == f.read().strip(),
                "deploy/k8s ConfigMap postpress-etl-accounts",
                "accounts.csv differs from jobs/accounts.csv",
            )


def check_airflow() -> None:
    files = sorted(glob.glob(os.path.join(ROOT, "deploy", "airflow", "*.py")))
    check(bool(files), "deploy/airflow", "no DAG files")
    for path in files:
        try:
            # Compile to a throwaway location: no __pycache__ left in deploy/.
            with tempfile.TemporaryDirectory() as tmp:
                py_compile.compile(path, cfile=os.path.join(tmp, "dag.pyc"), doraise=True)
            check(True, rel(path), "")
        except py_compile.PyCompileError as e:
            check(False, rel(path), f"does not compile: {e.msg}")


def check_dockerfile() -> None:
    path = os.path.join(ROOT, "deploy", "Dockerfile")
    if not check(os.path.exists(path), "deploy/Dockerfile", "missing"):
        return
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    if not check(bool(stages), "deploy/Dockerfile", "no FROM"):
        return
    final = lines[stages[-1]:]
    users = [line.split(None, 1)[1].strip() for line in final if line.upper().startswith("USER ")]
    user = users[-1].split(":")[0] if users else None
    check(
        user is not None and user not in {"root", "0"},
        "deploy/Dockerfile",
        "the final stage sets no non-root USER",
    )
    check(
        any(line.upper().startswith("ENTRYPOINT ") for line in final),
        "deploy/Dockerfile",
        "the final stage has no ENTRYPOINT",
    )


def main() -> int:
    check_k8s()
    check_airflow()
    check_dockerfile()
    print(f"{check.passed} passed, {len(check.failed)} failed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
