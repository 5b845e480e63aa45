"""Broken on purpose (scripts/check-deploy.py): DagBag must report an import error.

The operator's module as it was named before apache-airflow-providers-cncf-kubernetes 10.0,
the commonest error in a DAG carried over from Airflow 2.
"""

import pendulum
from airflow.providers.cncf.kubernetes.operators.kubernetes_pod import KubernetesPodOperator
from airflow.sdk import DAG

with DAG(
    dag_id="postpress_etl",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 5, 1, tz="UTC"),
):
    KubernetesPodOperator(
        task_id="validate",
        image="registry.example.com/postpress-etl:0.1.0",
        arguments=["validate", "/etc/postpress/job.toml"],
    )
