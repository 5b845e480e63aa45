"""Daily postpress followers/following export, sharded over Kubernetes pods.

One DAG run per day:

    validate ─► export (SHARDS mapped pods) ─┬─► finalize ─► prune
                                             └─► check_summaries

* `validate` checks the job file once: `postpress-etl validate /etc/postpress/job.toml`.
* `export` fans out with dynamic task mapping into SHARDS pods, shard I running

      postpress-etl run /etc/postpress/job.toml --snapshot-date {{ ds }} --shard I/N \\
          --skip-published --summary-json /airflow/xcom/return.json --log-format json --progress off

  Each shard writes its own accounts' partitions of `snapshot_date={{ ds }}`. With
  `--skip-published` a retried shard only fetches the units that are not yet published for the
  date (SPEC section 10), so a retry after exit 3 costs the failed accounts, not the whole shard.
  The run's summary (SPEC section 11) goes to /airflow/xcom/return.json, which the operator's
  XCom sidecar pushes as the task's XCom: on success and, since cncf.kubernetes 10.6, on failure.
* `finalize` builds the date's reader tables (SPEC section 9) once every shard has finished:
  `postpress-etl finalize /etc/postpress/job.toml --snapshot-date {{ ds }}`. It runs after failed
  shards too: the tables hold what was published, and `account_daily` marks the rest failed or
  missing. Clearing a failed shard later with its downstream tasks rebuilds them.
* `prune` deletes what the job's `[retention]` says is too old (SPEC section 12), relative to
  the run's date: `postpress-etl prune /etc/postpress/job.toml --snapshot-date {{ ds }}`. It runs
  once finalize succeeded: a date's units go only once its reader tables were built after its
  last run, so a failed finalize would only make prune keep (and warn about) that date. It takes
  the output's lifecycle lease and waits (up to `--wait`, 1h) for any run or finalize still
  holding theirs. Without a `[retention]` table it deletes nothing. Exit 1 is worth a retry.
* `check_summaries` reads every shard's summary from XCom, logs the accounts that failed and
  fails (no retries) if a shard failed, pushed no summary, or reported failed units. The DAG run
  then ends failed: hook alerting to it (`on_failure_callback` on this task or the DAG).

Needs Airflow 3.0+ (`airflow.sdk`; `make check-deploy` runs 3.3; Airflow 2 has no `airflow.sdk`
and is past its end of life) and apache-airflow-providers-cncf-kubernetes 10.6+ (XCom pushed from
failed pods too; checked with 10.25), and the Kubernetes objects of deploy/k8s/: the
ServiceAccount `postpress-etl` (IRSA for S3), the ConfigMaps `postpress-etl-job-sharded` and
`postpress-etl-accounts`, and the Secret `postpress-api-key`. finalize's and prune's pods do
without the Secret: they send no API request.

A second DAG, `postpress_etl_erase`, has no schedule: trigger it by hand to remove people from
the whole output (SPEC section 12). The keys never pass through Airflow (no `conf`, no params,
no XCom: those land in its database and logs). Put them in the Secret `postpress-erase-keys`
first, one key per line, then trigger the DAG; its pod mounts the Secret and runs
`postpress-etl erase /etc/postpress/job.toml --keys-file /var/run/secrets/postpress-erase/keys.txt`:

    kubectl -n data-jobs create secret generic postpress-erase-keys --from-file=keys.txt=./keys.txt
    airflow dags trigger postpress_etl_erase
    kubectl -n data-jobs delete secret postpress-erase-keys   # once it succeeded

erase logs and records only the keys' SHA-256. It waits (up to 1h) for a run or finalize of
the output in flight; rerunning it after a failure finishes the job.
The XCom sidecar runs the image of `[kubernetes] xcom_sidecar_container_image` (alpine by
default) as the pod's user 65532.

Exit codes (SPEC section 5) and what a retry does with them:
  0        every unit published.
  3        some units failed (API errors that outlived max_attempts), the rest are published.
           A retry fetches only the unpublished units (--skip-published) and usually gets them
           through. Worth retrying.
  1        run-fatal: S3 unusable, API key rejected, internal error. Transient S3 or API trouble
           clears with a retry; a rejected key does not (the log says which).
  2        job file or usage error, nothing was done. Fix the job file, the CSV or the Secret:
           retrying cannot help. That is why `validate` runs first with retries=0: a bad job
           file fails once, in one task, and the shards never start.
  130/143  interrupted (SIGINT/SIGTERM: pod evicted, execution_timeout hit). Units in flight
           were abandoned unpublished, their checkpoints kept. A retry resumes them.
KubernetesPodOperator fails the task on any non-zero exit without telling the codes apart, so
the retry policy below applies to all of them; it is bounded and exponential, so a shard that
keeps exiting 2 costs a few pod starts, not a day. The summary's `exit_code` tells them apart.

The snapshot date is `{{ ds }}`, the run's logical date. The schedule is an explicit
CronTriggerTimetable (02:30 UTC, the CronJob's time), so the logical date is the moment the run
is due and the run of 2024-05-01 fetches on 2024-05-01 and labels its data 2024-05-01, as the
CronJob does, whatever `[scheduler] create_cron_data_intervals` says (with the data-interval
timetables of Airflow 2, `@daily` meant the run of 2024-05-01 started on 2024-05-02). Every
row's fetched_at records when it was actually fetched. The API only serves the lists as they
are now, so a catch-up or backfill run for an old date stores today's lists under that date:
good for filling a missed day, not for recovering history. A run triggered without a logical
date (possible in Airflow 3) has no `ds`: its tasks fail at rendering, before any pod starts.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG, task

# airflow.sdk has it from Airflow 3.2 on; this module, from 3.0 on (and still in 3.3, without a
# deprecation warning: `make check-deploy` fails on one).
from airflow.timetables.trigger import CronTriggerTimetable
from kubernetes.client import models as k8s

# Each shard uses 1/SHARDS of the job file's requests_per_second (the key's whole budget), so
# together they never exceed it (4 x 2.5 = 10/s with jobs/example-k8s.toml).
SHARDS = 4
IMAGE = "registry.example.com/postpress-etl:0.1.0"
# Where deploy/k8s/ was applied (the ServiceAccount, ConfigMaps and Secret live there).
NAMESPACE = "data-jobs"
JOB_FILE = "/etc/postpress/job.toml"
# Where KubernetesPodOperator's XCom sidecar reads the task's return value.
SUMMARY_JSON = "/airflow/xcom/return.json"

log = logging.getLogger(__name__)


class ExportFailed(Exception):
    """Raised by check_summaries: some accounts were not exported (the task has no retries)."""


VOLUMES = [
    # job.toml and the accounts.csv it names, side by side in /etc/postpress.
    k8s.V1Volume(
        name="job",
        projected=k8s.V1ProjectedVolumeSource(
            sources=[
                k8s.V1VolumeProjection(
                    config_map=k8s.V1ConfigMapProjection(name="postpress-etl-job-sharded")
                ),
                k8s.V1VolumeProjection(
                    config_map=k8s.V1ConfigMapProjection(name="postpress-etl-accounts")
                ),
            ]
        ),
    ),
    # The API key as a file: /var/run/secrets/postpress/api-key, the job file's api_key_file.
    k8s.V1Volume(
        name="api-key",
        secret=k8s.V1SecretVolumeSource(
            secret_name="postpress-api-key",
            default_mode=0o440,
            items=[k8s.V1KeyToPath(key="api-key", path="api-key")],
        ),
    ),
    k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="64Mi")),
]
VOLUME_MOUNTS = [
    k8s.V1VolumeMount(name="job", mount_path="/etc/postpress", read_only=True),
    k8s.V1VolumeMount(name="api-key", mount_path="/var/run/secrets/postpress", read_only=True),
    k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),
]

# Everything the pod tasks share: the pod spec of deploy/k8s/cronjob.yaml.
POD = dict(
    namespace=NAMESPACE,
    image=IMAGE,
    service_account_name="postpress-etl",
    env_vars=[k8s.V1EnvVar(name="AWS_REGION", value="eu-west-1")],
    volumes=VOLUMES,
    volume_mounts=VOLUME_MOUNTS,
    container_resources=k8s.V1ResourceRequirements(
        requests={"cpu": "500m", "memory": "256Mi"},
        limits={"cpu": "1", "memory": "512Mi"},
    ),
    security_context=k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=65532,
        run_as_group=65532,
        fs_group=65532,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    ),
    container_security_context=k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
    ),
    labels={"app.kubernetes.io/name": "postpress-etl"},
    get_logs=True,
    # Failed pods stay for `kubectl describe` and their logs; succeeded ones go.
    on_finish_action="delete_succeeded_pod",
    startup_timeout_seconds=600,
)


def export_arguments(shard: int) -> list[str]:
    """The `run` command line of one shard."""
    return [
        "run",
        JOB_FILE,
        "--snapshot-date",
        "{{ ds }}",
        "--shard",
        f"{shard}/{SHARDS}",
        "--skip-published",
        "--summary-json",
        SUMMARY_JSON,
        "--log-format",
        "json",
        "--progress",
        "off",
    ]


def summary_problems(summaries: list[dict | None], shards: int) -> list[str]:
    """What went wrong, one line each, from the shards' run summaries (SPEC section 11)."""
    problems = []
    got = [s for s in summaries if isinstance(s, dict)]
    if len(got) < shards:
        problems.append(
            f"{shards - len(got)} of {shards} shards pushed no summary: their pods failed before "
            "the binary wrote one (image pull, scheduling, OOM kill); see those tasks' logs"
        )
    for s in got:
        counts = s.get("counts") or {}
        where = f"shard {s.get('shard')} (run {s.get('run_id')}, exit {s.get('exit_code')})"
        if s.get("exit_code") != 0:
            problems.append(
                f"{where}: status {s.get('status')}, {counts.get('failed', '?')} of "
                f"{counts.get('units', '?')} units failed; manifest {s.get('manifest')}"
            )
        for u in s.get("failed_units") or []:
            problems.append(
                f"{where}: account {u.get('account_id')} ({u.get('provider')}) "
                f"{u.get('dataset')} {u.get('status')}: {u.get('error_type')}"
            )
    return problems


with DAG(
    dag_id="postpress_etl",
    description="postpress followers/following lists to hive-partitioned Parquet on S3",
    # 02:30 UTC daily; the logical date ({{ ds }}) is the day the run is due.
    schedule=CronTriggerTimetable("30 2 * * *", timezone="UTC"),
    # Set this to the day the DAG goes live: with catchup, every day since start_date that has
    # no run yet gets one, and the API can only give today's lists for each of them.
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    # Missed days (scheduler down, DAG paused) are run when it comes back, oldest first, one at
    # a time (see the note on backfills above). Airflow 3's default is False: say it.
    catchup=True,
    # One date at a time: the shards of one run already use the API key's whole budget, and
    # two runs at once would also double every account's request rate.
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(hours=1),
        # The binary stops within 10 s of SIGTERM and writes its run manifest.
        "execution_timeout": timedelta(hours=6),
    },
    tags=["postpress", "export"],
) as dag:
    validate = KubernetesPodOperator(
        task_id="validate",
        name="postpress-etl-validate",
        arguments=["validate", JOB_FILE],
        # Exit 2 means the job file is wrong: a retry would fail the same way.
        retries=0,
        **POD,
    )

    export = KubernetesPodOperator.partial(
        task_id="export",
        name="postpress-etl",
        # At most one run's shards at a time, even when a backfill queues many dates.
        max_active_tis_per_dag=SHARDS,
        # The summary written to SUMMARY_JSON becomes this task's XCom.
        do_xcom_push=True,
        **POD,
    ).expand(arguments=[export_arguments(i) for i in range(SHARDS)])

    finalize = KubernetesPodOperator(
        task_id="finalize",
        name="postpress-etl-finalize",
        arguments=["finalize", JOB_FILE, "--snapshot-date", "{{ ds }}"],
        # Once every shard has finished, whatever its outcome (see the module docstring).
        trigger_rule="all_done",
        # finalize reads and writes S3 only, it sends no API request: no API key in its pod.
        **{
            **POD,
            "volumes": [v for v in VOLUMES if v.name != "api-key"],
            "volume_mounts": [m for m in VOLUME_MOUNTS if m.name != "api-key"],
        },
    )

    @task(trigger_rule="all_done", retries=0)
    def check_summaries(summaries) -> dict:
        """Logs the failed accounts of every shard and fails the DAG run if there are any."""
        summaries = list(summaries)
        problems = summary_problems(summaries, SHARDS)
        for line in problems:
            log.error("%s", line)
        if problems:
            shown = "\n".join(problems[:20])
            if len(problems) > 20:
                shown += f"\n... and {len(problems) - 20} more (in this task's log)"
            raise ExportFailed(f"{len(problems)} problems in the export:\n{shown}")
        totals: dict[str, int] = {}
        for s in summaries:
            for key, value in (s.get("counts") or {}).items():
                totals[key] = totals.get(key, 0) + value
        log.info("All %d shards exported: %s", len(summaries), totals)
        return totals

    prune = KubernetesPodOperator(
        task_id="prune",
        name="postpress-etl-prune",
        arguments=["prune", JOB_FILE, "--snapshot-date", "{{ ds }}"],
        # Reads and deletes in S3 only: no API key in its pod either.
        **{
            **POD,
            "volumes": [v for v in VOLUMES if v.name != "api-key"],
            "volume_mounts": [m for m in VOLUME_MOUNTS if m.name != "api-key"],
        },
    )

    validate >> export >> finalize >> prune
    check_summaries(export.output)


# Where the erase pod finds the keys: the Secret ERASE_SECRET, key `keys.txt`, as a file.
ERASE_SECRET = "postpress-erase-keys"
ERASE_KEYS_DIR = "/var/run/secrets/postpress-erase"
ERASE_KEYS_FILE = f"{ERASE_KEYS_DIR}/keys.txt"

with DAG(
    dag_id="postpress_etl_erase",
    description="Remove people from the whole postpress output (keys from a mounted Secret)",
    # Manual trigger only.
    schedule=None,
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        # A rerun finishes what a failed one started; erasing twice rewrites nothing.
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        # Up to 1h waiting for a run or finalize in flight, then the rewrite.
        "execution_timeout": timedelta(hours=3),
    },
    tags=["postpress", "erase"],
) as erase_dag:
    KubernetesPodOperator(
        task_id="erase",
        name="postpress-etl-erase",
        arguments=["erase", JOB_FILE, "--keys-file", ERASE_KEYS_FILE],
        # Nothing of the run goes to XCom: its summary names files and counts, never keys, but
        # there is no reason to copy it into Airflow's database.
        do_xcom_push=False,
        **{
            **POD,
            # No API key (erase sends no request); the keys' Secret, read-only, owner-readable.
            "volumes": [v for v in VOLUMES if v.name != "api-key"]
            + [
                k8s.V1Volume(
                    name="erase-keys",
                    secret=k8s.V1SecretVolumeSource(
                        secret_name=ERASE_SECRET,
                        default_mode=0o440,
                        items=[k8s.V1KeyToPath(key="keys.txt", path="keys.txt")],
                    ),
                )
            ],
            "volume_mounts": [m for m in VOLUME_MOUNTS if m.name != "api-key"]
            + [k8s.V1VolumeMount(name="erase-keys", mount_path=ERASE_KEYS_DIR, read_only=True)],
        },
    )
