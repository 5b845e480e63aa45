"""Daily postpress followers/following export, sharded over Kubernetes pods.

One DAG run per day. `validate` checks the job file once, then `export` fans out with dynamic
task mapping into SHARDS pods, each running

    postpress-etl run /etc/postpress/job.toml --snapshot-date {{ ds }} --shard I/N \
        --log-format json --progress off

Each shard writes its own accounts' partitions of `snapshot_date={{ ds }}`; a rerun of a task or
of the whole DAG run replaces those partitions, it never duplicates rows.

Needs Airflow 2.4+ with apache-airflow-providers-cncf-kubernetes 7.4+ (`on_finish_action`), and
the Kubernetes objects of deploy/k8s/: the ServiceAccount `postpress-etl` (IRSA for S3), the
ConfigMaps `postpress-etl-job-sharded` and `postpress-etl-accounts`, and the Secret
`postpress-api-key`.

Exit codes (SPEC section 5) and what a retry does with them:
  0        every unit published.
  3        some units failed (API errors that outlived max_attempts), the rest are published.
           A retry reruns the shard: it replaces the published partitions with fresh ones and
           usually gets the failed units through. Worth retrying.
  1        run-fatal: S3 unusable, API key rejected, internal error. Transient S3 or API trouble
           clears with a retry; a rejected key does not (the log says which).
  2        job file or usage error, nothing was done. Fix the job file, the CSV or the Secret:
           retrying cannot help. That is why `validate` runs first with retries=0: a bad job
           file fails once, in one task, and the shards never start.
  130/143  interrupted (SIGINT/SIGTERM: pod evicted, execution_timeout hit). Units in flight
           were abandoned unpublished. A retry redoes them.
KubernetesPodOperator fails the task on any non-zero exit without telling the codes apart, so
the retry policy below applies to all of them; it is bounded and exponential, so a shard that
keeps exiting 2 costs a few pod starts, not a day.

The snapshot date is `{{ ds }}`, the logical date: the start of the data interval. The run for
ds=2024-05-01 starts just after 2024-05-02 00:00 UTC and labels what it fetches 2024-05-01;
every row's fetched_at records when it was actually fetched. The API only serves the lists as
they are now, so a catch-up or backfill run for an old date stores today's lists under that
date: good for filling a missed day, not for recovering history.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

# Must match the job file's requests_per_second: every shard has its own rate limiter, so the
# API key sees SHARDS x requests_per_second (4 x 2.5 = 10/s with jobs/example-k8s.toml).
SHARDS = 4
IMAGE = "registry.example.com/postpress-etl:0.1.0"
# Where deploy/k8s/ was applied (the ServiceAccount, ConfigMaps and Secret live there).
NAMESPACE = "data-jobs"
JOB_FILE = "/etc/postpress/job.toml"

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

# Everything both tasks share: the pod spec of deploy/k8s/cronjob.yaml.
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

with DAG(
    dag_id="postpress_etl",
    description="postpress followers/following lists to hive-partitioned Parquet on S3",
    schedule="@daily",
    # Set this to the day the DAG goes live: with catchup, every day since start_date that has
    # no run yet gets one, and the API can only give today's lists for each of them.
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
    # Missed days (scheduler down, DAG paused) are run when it comes back, oldest first, one at
    # a time (see the note on backfills above).
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
        **POD,
    ).expand(
        arguments=[
            [
                "run",
                JOB_FILE,
                "--snapshot-date",
                "{{ ds }}",
                "--shard",
                f"{i}/{SHARDS}",
                "--log-format",
                "json",
                "--progress",
                "off",
            ]
            for i in range(SHARDS)
        ]
    )

    validate >> export
