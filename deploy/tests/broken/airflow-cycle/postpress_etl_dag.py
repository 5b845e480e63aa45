"""Broken on purpose (scripts/check-deploy.py): DagBag must reject the cycle.

finalize is wired back to validate, so no task could ever start.
"""

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG

IMAGE = "registry.example.com/postpress-etl:0.1.0"
JOB_FILE = "/etc/postpress/job.toml"

with DAG(
    dag_id="postpress_etl",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
):
    validate = KubernetesPodOperator(
        task_id="validate", image=IMAGE, arguments=["validate", JOB_FILE]
    )
    export = KubernetesPodOperator.partial(task_id="export", image=IMAGE).expand(
        arguments=[["run", JOB_FILE, "--shard", f"{i}/2"] for i in range(2)]
    )
    finalize = KubernetesPodOperator(
        task_id="finalize",
        image=IMAGE,
        arguments=["finalize", JOB_FILE, "--snapshot-date", "{{ ds }}"],
    )
    validate >> export >> finalize >> validate
