#!/usr/bin/env python3
"""Checks deploy/ with each ecosystem's own tools, plus the few things no tool knows.

    make check-deploy    # = bash scripts/venv-deploy.sh && .venv-deploy/bin/python scripts/check-deploy.py

Airflow (the pinned Airflow 3 and cncf.kubernetes provider of .venv-deploy; no database):
* DagBag imports deploy/airflow/ with no import error and no warning; the DAG processor's
  checks pass: no value that changes at every parse, and the DAG serializes.
* The task graph: validate -> export (mapped, one per shard) -> finalize -> prune, and
  check_summaries after export.
* The run the timetable schedules on RENDER_DATE, rendered the way a worker renders it:
  `--snapshot-date RENDER_DATE`, every shard I/N exactly once, `--skip-published` and
  `--summary-json /airflow/xcom/return.json` with do_xcom_push on export, finalize and prune of
  that date.
* The erase DAG (SPEC section 12): no schedule (manual trigger only), one task, `erase` with
  `--keys-file` under a mounted Secret volume, no `--key`, nothing templated in its arguments
  (keys must not come from conf or params) and no XCom push.
* check_summaries' verdict on sample run summaries (SPEC section 11).
Kubernetes: kubernetes-validate --strict (unknown fields fail) for every minor in K8S_VERSIONS,
on every document of deploy/k8s/*.yaml, on the CronJob with its optional Pushgateway blocks
uncommented, and on the pods the DAG's tasks would create.
Docker: hadolint deploy/Dockerfile. No Docker engine here: the image is not built.
What no schema knows, for the pods of the manifests and of the DAG:
* the job file a container names comes from a mounted ConfigMap and `postpress-etl validate`
  accepts it (the binary of target/debug; without it, its keys are compared with jobs/*.toml);
* the Secret is mounted where api.api_key_file points (run and validate);
* an Indexed Job's completions is the N of --shard auto/N; the CronJob passes no
  --snapshot-date; finalize-job.yaml finalizes the Indexed Job's date and then prunes it (an
  init container finalizes, the container prunes the same date);
* an erase Job exists, reads its keys with --keys-file from a mounted Secret, never --key;
* the ConfigMaps hold jobs/example-k8s.toml and jobs/accounts.csv.
Each tool rejects its broken fixture in deploy/tests/broken/ with its own message.

Prints each failure naming the file and the problem, then "N passed, M failed" alone on the
last line; exits 1 if anything failed.
"""

from __future__ import annotations

import atexit
import datetime
import glob
import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BROKEN = os.path.join(ROOT, "deploy", "tests", "broken")
TOOLS = os.path.dirname(sys.executable)
# The documented minimum (docs/operating.md) (backoffLimitPerIndex, podReplacementPolicy) up to the newest minor
# kubernetes-validate ships.
K8S_VERSIONS = ["1.33", "1.34", "1.35", "1.36", "1.37"]
RENDER_DATE = datetime.date(2026, 11, 26)
SUMMARY_JSON = "/airflow/xcom/return.json"
BINARY = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "postpress-etl")

# Airflow reads its configuration at import: a throwaway home, and a database URL that nothing
# may open (checked at the end). DagBag logs import errors with tracebacks; they are printed
# once, below, instead.
TMP = tempfile.mkdtemp(prefix="check-deploy-")
atexit.register(shutil.rmtree, TMP, True)
AIRFLOW_DB = os.path.join(TMP, "airflow", "airflow.db")
os.environ.update(
    AIRFLOW_HOME=os.path.join(TMP, "airflow"),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{AIRFLOW_DB}",
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__LOGGING__LOGGING_LEVEL="CRITICAL",
)
sys.dont_write_bytecode = True  # no __pycache__ in deploy/

try:
    import yaml
    from airflow.dag_processing.dagbag import DagBag
except ImportError as e:
    sys.exit(f"check-deploy.py: {e}; run it with .venv-deploy/bin/python (bash scripts/venv-deploy.sh)")


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


def ok_since(failures_before: int, message: str) -> None:
    """Prints what was checked, if nothing failed since `failures_before`."""
    if len(check.failed) == failures_before:
        print(f"ok   {message}")


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


def dig(obj, *keys):
    """obj[k1][k2]..., or None where a level is missing."""
    for k in keys:
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


def value_of(args: list, flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def tool(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(TOOLS, argv[0]), *argv[1:]], capture_output=True, text=True, cwd=ROOT)


# --- Airflow ----------------------------------------------------------------------------------


def render(dag, task, map_index: int, dag_run):
    """Renders a task's templates as a worker does; returns the rendered task and the context."""
    from airflow.sdk.api.datamodels._generated import TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task.task_id,
        dag_id=dag.dag_id,
        run_id=dag_run.run_id,
        try_number=1,
        dag_version_id=uuid.uuid4(),
        map_index=map_index,
        task=task,
        max_tries=task.retries,
        start_date=dag_run.run_after,
        _ti_context_from_server=TIRunContext(dag_run=dag_run, max_tries=task.retries),
    )
    ti.render_templates()
    return ti.task, ti.get_template_context()


def scheduled_run(dag, serialized):
    """The DagRun the DAG's timetable schedules first on RENDER_DATE (UTC)."""
    import pendulum
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, DagRunType
    from airflow.timetables.base import TimeRestriction

    earliest = pendulum.datetime(RENDER_DATE.year, RENDER_DATE.month, RENDER_DATE.day, tz="UTC")
    info = serialized.timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
    )
    return DagRun(
        dag_id=dag.dag_id,
        run_id=f"scheduled__{info.logical_date.isoformat()}",
        logical_date=info.logical_date,
        data_interval_start=info.data_interval.start,
        data_interval_end=info.data_interval.end,
        run_after=info.run_after,
        start_date=info.run_after,
        end_date=None,
        run_type=DagRunType.SCHEDULED,
        state=DagRunState.RUNNING,
        consumed_asset_events=[],
        partition_key=None,
    )


def sample_summary(shard: int, shards: int, failed: list[dict] | None = None) -> dict:
    """A run summary as SPEC section 11 describes it."""
    failed = failed or []
    return {
        "status": "partial" if failed else "ok",
        "exit_code": 3 if failed else 0,
        "run_id": f"20261126T023000Z-{shard}",
        "snapshot_date": RENDER_DATE.isoformat(),
        "shard": f"{shard}/{shards}",
        "counts": {"units": 10, "ok": 10 - len(failed), "failed": len(failed), "skipped": 0,
                   "records": 1000, "requests": 20, "retries": 1, "throttled": 0},
        "failed_units": failed,
        "manifest": f"s3://my-bucket/postpress/_runs/snapshot_date=2026-11-26/{shard}.json",
    }


def check_summaries_verdict(where: str, fn, shards: int) -> None:
    ok = [sample_summary(i, shards) for i in range(shards)]
    try:
        totals = fn(ok)
        check(totals.get("units") == 10 * shards, where, f"totals of {shards} clean summaries: {totals}")
    except Exception as e:
        check(False, where, f"failed on {shards} clean summaries: {e!r}")
    failed_unit = {"account_id": "acc_linkedin_0042", "dataset": "followers", "provider": "linkedin",
                   "status": "failed", "error_type": "provider_error"}
    cases = {
        "a failed unit": (ok[:1] + [sample_summary(1, shards, [failed_unit])] + ok[2:], "acc_linkedin_0042"),
        "a shard without a summary": (ok[1:], "pushed no summary"),
    }
    for case, (summaries, expect) in cases.items():
        try:
            fn(summaries)
            check(False, where, f"passed {case}")
        except Exception as e:  # noqa: BLE001 - the DAG's ExportFailed
            check(type(e).__name__ == "ExportFailed" and expect in str(e), where, f"{case}: {e!r}")


def check_airflow(pods: list) -> None:
    """DagBag, graph, rendering; collects the pods the tasks would create into `pods`."""
    failures = len(check.failed)
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.dag_version_inflation_checker import check_dag_file_stability
    from kubernetes.client import ApiClient

    folder = os.path.join(ROOT, "deploy", "airflow")
    bag = DagBag(dag_folder=folder)
    for path, error in bag.import_errors.items():
        check(False, rel(os.path.join(folder, path)), f"DagBag import error:\n{error}")
    for path, warnings in bag.captured_warnings.items():
        check(False, rel(os.path.join(folder, path)), f"warnings on import: {warnings}")
    dag = bag.dags.get("postpress_etl")
    if not check(dag is not None, rel(folder), f"no DAG postpress_etl; DAGs: {bag.dag_ids}"):
        return
    where = rel(dag.fileloc)
    # What the DAG processor does after DagBag: its check for values that change at every parse
    # (each parse would be a new DAG version), then serialization.
    stability = check_dag_file_stability(dag.fileloc)
    check(not stability.warnings, where, stability.format_warnings() if stability.warnings else "")
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))

    graph = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    expected = {"validate": ["export"], "export": ["check_summaries", "finalize"], "finalize": ["prune"],
                "prune": [], "check_summaries": []}
    check(graph == expected, where, f"task graph {graph}, expected {expected}")
    if graph != expected:
        return
    export = dag.get_task("export")
    shards = len(export.expand_input.value["arguments"])
    check(dag.get_task("finalize").trigger_rule == "all_done", where,
          "finalize must run once every shard is done, failed ones too")

    run = scheduled_run(dag, serialized)
    check(run.logical_date.date() == RENDER_DATE, where,
          f"the run due on {RENDER_DATE} has logical date {run.logical_date}")
    date = RENDER_DATE.isoformat()
    api = ApiClient()
    seen_shards = []
    for task_id, indexes in (("validate", [-1]), ("export", range(shards)), ("finalize", [-1]), ("prune", [-1])):
        for i in indexes:
            task, context = render(dag, dag.get_task(task_id), i, run)
            tw = f"{where} {task_id}" + (f"[{i}]" if i >= 0 else "")
            args = task.arguments
            if task_id == "export":
                check(args[:2] == ["run", "/etc/postpress/job.toml"], tw, f"arguments {args}")
                check(value_of(args, "--snapshot-date") == date, tw,
                      f"--snapshot-date {value_of(args, '--snapshot-date')!r}, expected {date}")
                check("--skip-published" in args, tw,
                      "no --skip-published: a retry would fetch the published units again")
                check(value_of(args, "--summary-json") == SUMMARY_JSON and task.do_xcom_push, tw,
                      f"needs --summary-json {SUMMARY_JSON} and do_xcom_push=True for the summary to reach XCom")
                seen_shards.append(value_of(args, "--shard"))
            elif task_id in ("finalize", "prune"):
                check(args == [task_id, "/etc/postpress/job.toml", "--snapshot-date", date], tw, f"arguments {args}")
            pod = api.sanitize_for_serialization(task.build_pod_request_obj(context, dry_run=True))
            pods.append((tw, "Pod", {}, pod["spec"]))
    want = [f"{i}/{shards}" for i in range(shards)]
    check(sorted(seen_shards) == want, where, f"export shards {seen_shards}, expected each of {want} once")
    check_summaries_verdict(f"{where} check_summaries", dag.get_task("check_summaries").python_callable, shards)
    ok_since(failures, f"DagBag: {where}: validate -> export x{shards} -> finalize -> prune, check_summaries; the run "
             f"due {run.logical_date.isoformat()} renders --snapshot-date {date} --shard {', '.join(seen_shards)}")
    check_erase_dag(bag, run, pods)


def check_erase_dag(bag, run, pods: list) -> None:
    """The manual erase DAG: no schedule; keys from a file of a mounted Secret, never argv or XCom."""
    failures = len(check.failed)
    from airflow.serialization.serialized_objects import DagSerialization
    from kubernetes.client import ApiClient

    dag = bag.dags.get("postpress_etl_erase")
    if not check(dag is not None, "deploy/airflow", f"no DAG postpress_etl_erase; DAGs: {bag.dag_ids}"):
        return
    where = rel(dag.fileloc) + " postpress_etl_erase"
    DagSerialization.from_dict(DagSerialization.to_dict(dag))
    timetable = type(dag.timetable).__name__
    check(dag.schedule is None and timetable == "NullTimetable", where,
          f"must have no schedule (manual trigger only), has {dag.schedule!r} ({timetable})")
    check([t.task_id for t in dag.tasks] == ["erase"], where, f"tasks {[t.task_id for t in dag.tasks]}, expected erase")
    task = dag.get_task("erase") if dag.has_task("erase") else None
    if task is None:
        return
    raw = list(task.arguments)
    check(not any("{{" in str(a) or "{%" in str(a) for a in raw), where,
          f"templated arguments {raw}: keys must not come from conf, params or XCom")
    check("--key" not in raw, where, "--key on the command line: keys belong in a mounted Secret file")
    check(not task.do_xcom_push, where, "do_xcom_push must be False")
    rendered, context = render(dag, task, -1, run)
    args = rendered.arguments
    check(args[:2] == ["erase", "/etc/postpress/job.toml"] and value_of(args, "--keys-file") is not None, where,
          f"arguments {args}: expected erase JOB --keys-file FILE")
    pod = ApiClient().sanitize_for_serialization(rendered.build_pod_request_obj(context, dry_run=True))
    pods.append((f"{where} erase", "Pod", {}, pod["spec"]))
    ok_since(failures, f"DagBag: {where}: no schedule; erase --keys-file {value_of(args, '--keys-file')}, no XCom")


# --- Kubernetes --------------------------------------------------------------------------------


def uncomment(text: str, tag: str) -> tuple[str, int]:
    """`text` with the lines between "# >>> tag" and "# <<< tag" uncommented; and the block count."""
    out, inside, blocks = [], False, 0
    for line in text.splitlines(keepends=True):
        body = line.lstrip()
        if body.rstrip() in (f"# >>> {tag}", f"# <<< {tag}"):
            inside = body.startswith("# >>>")
            blocks += inside
            continue
        if inside and body.startswith("#"):
            line = line[: len(line) - len(body)] + body[2:] if body.startswith("# ") else "\n"
        out.append(line)
    return "".join(out), blocks


def kubernetes_validate(paths: list[str]) -> None:
    for version in K8S_VERSIONS:
        p = tool("kubernetes-validate", "--strict", "--quiet", "-k", f"{version}.0", *paths)
        # The generated files under TMP: "+pushgateway" is the manifest with those blocks uncommented.
        out = (p.stdout + p.stderr).strip().replace(TMP + os.sep, "(generated) ")
        check(p.returncode == 0, f"kubernetes-validate --strict -k {version}", out)


def files_at(directory: str, mounts: dict, volumes: dict, configmaps: dict, where: str) -> dict:
    """The files ConfigMap-backed volumes put in `directory`: name -> text."""
    volume = volumes.get(dig(mounts, directory, "name")) or {}
    sources = [volume["configMap"]] if "configMap" in volume else []
    sources += [s["configMap"] for s in dig(volume, "projected", "sources") or [] if "configMap" in s]
    out = {}
    for src in sources:
        data = configmaps.get(src.get("name"))
        if check(data is not None, where, f"ConfigMap {src.get('name')!r} is mounted but in no deploy/k8s file"):
            items = src.get("items")
            out.update({it["path"]: data[it["key"]] for it in items if it["key"] in data} if items else data)
    return out


validated_jobs: set[str] = set()


def validate_job_file(where: str, name: str, files: dict) -> None:
    """`postpress-etl validate` on a job file and the files beside it, once per distinct content."""
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:12]
    if not os.path.exists(BINARY) or digest in validated_jobs:
        return
    validated_jobs.add(digest)
    directory = os.path.join(TMP, "jobs", digest)
    os.makedirs(directory)
    for fname, text in files.items():
        with open(os.path.join(directory, fname), "w", encoding="utf-8") as f:
            f.write(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTPRESS_")}
    # validate checks the key's presence as run does; the mounted Secret is not here, and the
    # environment's key wins over api.api_key_file.
    env["POSTPRESS_API_KEY"] = "validate-only"
    p = subprocess.run([BINARY, "validate", os.path.join(directory, name)], capture_output=True, text=True, env=env)
    check(p.returncode == 0, where,
          f"postpress-etl validate rejects its {name} (exit {p.returncode}): {p.stderr.strip()}")


cli_help: dict[str, set[str] | None] = {}


def check_cli(where: str, args: list) -> None:
    """Every flag the pod passes is one `postpress-etl <command> --help` lists."""
    if not os.path.exists(BINARY):
        return
    if not cli_help:
        commands = subprocess.run([BINARY, "--help"], capture_output=True, text=True).stdout
        for command in ("run", "validate", "finalize", "prune", "erase"):
            known = re.search(rf"^\s+{command}\s", commands, re.M)
            text = subprocess.run([BINARY, command, "--help"], capture_output=True, text=True).stdout if known else ""
            cli_help[command] = set(re.findall(r"--[a-z][a-z0-9-]*", text)) if known else None
        if cli_help["finalize"] is None:
            print(f"SKIP the pods' flags against `postpress-etl --help`: {rel(BINARY)} has no finalize "
                  "command, it predates these deploy files (rebuild it)")
    if cli_help["finalize"] is None:
        return
    unknown = [a for a in args if a.startswith("--") and a not in (cli_help.get(args[0]) or set())]
    check(not unknown, where, f"postpress-etl {args[0]} does not know {unknown} (see postpress-etl {args[0]} --help)")


COMMANDS = {"run", "validate", "finalize", "prune", "erase"}


def check_pod(where: str, kind: str, spec: dict, pod: dict, configmaps: dict) -> list[list]:
    """The checks no schema knows for each container; returns the args of the postpress-etl
    containers, init containers first (they run in that order)."""
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    commands = []
    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        args = c.get("args") or []
        if len(args) < 2 or args[0] not in COMMANDS:
            continue  # a sidecar
        commands.append(args)
        check_cli(where, args)
        mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
        job_path = args[1]
        files = files_at(posixpath.dirname(job_path), mounts, volumes, configmaps, where)
        name = posixpath.basename(job_path)
        if not check(name in files, where, f"no mounted ConfigMap provides {job_path}"):
            continue
        validate_job_file(where, name, files)
        key_file = dig(tomllib.loads(files[name]), "api", "api_key_file")
        if args[0] == "erase":
            keys = value_of(args, "--keys-file")
            check("--key" not in args and keys is not None, where,
                  f"erase must read its keys with --keys-file from a mounted Secret, never --key: {args}")
            if keys:
                directory, filename = posixpath.split(keys)
                secret = dig(volumes, dig(mounts, directory, "name"), "secret") or {}
                items = secret.get("items")
                check(bool(secret) and (not items or filename in {i.get("path") for i in items}), where,
                      f"--keys-file {keys!r}, but no Secret volume puts {filename!r} at {directory}")
        needs_key = args[0] in {"run", "validate"}
        if needs_key and check(key_file is not None, where, f"{job_path} names no api.api_key_file"):
            directory, filename = posixpath.split(key_file)
            secret = dig(volumes, dig(mounts, directory, "name"), "secret") or {}
            items = secret.get("items")
            check(bool(secret) and (not items or filename in {i.get("path") for i in items}), where,
                  f"api.api_key_file = {key_file!r}, but no Secret volume puts {filename!r} at {directory}")
        if kind == "CronJob":
            check("--snapshot-date" not in args, where,
                  "a CronJob must not pass --snapshot-date: every run would write that one date")
        if spec.get("completionMode") == "Indexed":
            shard = value_of(args, "--shard") or ""
            check(shard == f"auto/{spec.get('completions')}", where,
                  f"--shard {shard!r} but completions is {spec.get('completions')}: pass auto/N, N = completions")
    return commands


def check_k8s(dag_pods: list) -> None:
    manifests = sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "*.yaml")))
    generated = []  # validated by the schema too: the optional blocks, the DAG's pods
    docs = []
    for path in manifests:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        docs += [(rel(path), d) for d in yaml.safe_load_all(text) if d]
        with_blocks, blocks = uncomment(text, "pushgateway")
        if blocks:
            variant = os.path.join(TMP, f"{os.path.basename(path)[:-5]}+pushgateway.yaml")
            with open(variant, "w", encoding="utf-8") as f:
                f.write(with_blocks)
            generated.append(variant)
            cron = next(d for d in yaml.safe_load_all(with_blocks) if d and d.get("kind") == "CronJob")
            pod = dig(cron, "spec", "jobTemplate", "spec", "template", "spec")
            check_cli(f"{rel(path)} with the pushgateway blocks", pod["containers"][0]["args"])
            metrics = value_of(pod["containers"][0]["args"], "--metrics-file")
            script = " ".join(" ".join(c.get("args", [])) for c in pod.get("initContainers", []))
            check(metrics is not None and metrics in script, rel(path),
                  f"the Pushgateway sidecar does not push --metrics-file {metrics}")
    pods_file = os.path.join(TMP, "airflow-dag-pods.yaml")
    generated.append(pods_file)
    with open(pods_file, "w", encoding="utf-8") as f:
        yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Pod", "spec": spec,
                             "metadata": {"name": re.sub(r"[^a-z0-9]+", "-", where.split()[-1]).strip("-")}}
                            for where, _, _, spec in dag_pods], f)
    failures = len(check.failed)
    kubernetes_validate(manifests + generated)
    ok_since(failures, f"kubernetes-validate --strict {K8S_VERSIONS[0]}..{K8S_VERSIONS[-1]}: {len(docs)} documents of "
             f"deploy/k8s, {len(generated) - 1} with optional blocks uncommented, {len(dag_pods)} pods of the DAG")
    failures = len(check.failed)

    configmaps = {dig(d, "metadata", "name"): d.get("data") or {} for _, d in docs if d.get("kind") == "ConfigMap"}
    dates = {}
    for where, doc in docs:
        kind = doc.get("kind")
        spec = dig(doc, "spec", "jobTemplate", "spec") if kind == "CronJob" else doc.get("spec")
        if kind in {"CronJob", "Job"}:
            where = f"{where} {kind.lower()}/{dig(doc, 'metadata', 'name')}"
            commands = check_pod(where, kind, spec, dig(spec, "template", "spec") or {}, configmaps)
            for args in commands:
                dates[(args[0], spec.get("completionMode"))] = (where, value_of(args, "--snapshot-date"))
            names = [a[0] for a in commands]
            if "finalize" in names:
                check(names == ["finalize", "prune"], where,
                      f"runs {names}: expected finalize (init container), then prune")
                check(len({value_of(a, "--snapshot-date") for a in commands}) == 1, where,
                      f"finalize and prune of different dates: {commands}")
    for where, kind, spec, pod in dag_pods:
        check_pod(where, kind, spec, pod, configmaps)
    if os.path.exists(BINARY):
        ok_since(failures, f"postpress-etl validate ({rel(BINARY)}): the {len(validated_jobs)} job files pods mount")
    else:
        print(f"SKIP postpress-etl validate on the job files the pods mount, and their flags: {rel(BINARY)} is not "
              "built (make build)")

    backfill, final = dates.get(("run", "Indexed")), dates.get(("finalize", None))
    if check(backfill and final, "deploy/k8s", "expected an Indexed Job that runs and a Job that finalizes"):
        check(backfill[1] == final[1], final[0], f"finalizes {final[1]}, but the Indexed Job exports {backfill[1]}")
    check(("erase", None) in dates, "deploy/k8s", "expected a Job that erases (keys from a mounted Secret)")

    toml = tomllib.loads
    for cm, key, path, same in (
        ("postpress-etl-job-sharded", "job.toml", "jobs/example-k8s.toml", lambda a, b: toml(a) == toml(b)),
        ("postpress-etl-accounts", "accounts.csv", "jobs/accounts.csv", lambda a, b: a.strip() == b.strip()),
    ):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            check(same(dig(configmaps, cm, key) or "", f.read()), f"ConfigMap {cm}", f"{key} differs from {path}")


# --- Docker, and the broken fixtures -----------------------------------------------------------


def check_docker() -> None:
    p = tool("hadolint", "--no-color", "deploy/Dockerfile")
    if check(p.returncode == 0, "deploy/Dockerfile", f"hadolint:\n{(p.stdout + p.stderr).strip()}"):
        version = tool("hadolint", "--version").stdout.split()[-1]
        print(f"ok   hadolint {version}: deploy/Dockerfile (linted only: no Docker engine builds it here)")


def rejected(where: str, ok: bool, message: str, expect: str) -> None:
    message = message.strip()
    if check(ok and expect in message, where, f"not rejected with {expect!r}; the tool said: {message or 'nothing'}"):
        print(f"ok   {where} rejected: {next(line for line in message.splitlines() if expect in line).strip()}")


def check_broken_fixtures() -> None:
    for name, expect in (
        ("airflow-import-error", "No module named 'airflow.providers.cncf.kubernetes.operators.kubernetes_pod'"),
        ("airflow-cycle", "Cycle detected in Dag: postpress_etl"),
    ):
        bag = DagBag(dag_folder=os.path.join(BROKEN, name))
        errors = "\n".join(bag.import_errors.values())
        rejected(f"deploy/tests/broken/{name} (DagBag)", not bag.dags, errors, expect)
    manifest = "deploy/tests/broken/k8s-unknown-field.yaml"
    strict = tool("kubernetes-validate", "--strict", "-k", f"{K8S_VERSIONS[0]}.0", manifest)
    rejected(f"{manifest} (kubernetes-validate --strict)", strict.returncode != 0, strict.stdout + strict.stderr,
             "Additional properties are not allowed ('volumeMount' was unexpected)")
    lax = tool("kubernetes-validate", "-k", f"{K8S_VERSIONS[0]}.0", manifest)
    check(lax.returncode == 0, manifest, "without --strict it should pass: the fixture is not testing strict mode")
    docker = tool("hadolint", "--no-color", "deploy/tests/broken/Dockerfile")
    for code in ("DL3003", "DL3008"):
        rejected(f"deploy/tests/broken/Dockerfile (hadolint {code})", docker.returncode != 0,
                 docker.stdout + docker.stderr, code)


def main() -> int:
    dag_pods: list = []
    check_airflow(dag_pods)
    check_k8s(dag_pods)
    check_docker()
    check_broken_fixtures()
    check(not os.path.exists(AIRFLOW_DB), "airflow", "a metadata database was created: something needed one")
    print(f"{check.passed} passed, {len(check.failed)} failed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
