"""The fidelis nightly job as Airflow DAGs: one task per stage.

Two DAGs with the same shape:

* ``fidelis_nightly`` runs each stage in the fidelis container image with
  the KubernetesPodOperator (the production example: the image built from
  the repo's Dockerfile, the job config mounted from a ConfigMap, object
  store credentials from a Secret).
* ``fidelis_nightly_bash`` runs the installed ``fidelis`` binary with the
  BashOperator (a single machine, and what CI runs with ``airflow dags test``).

Run date. The DAGs are scheduled at 02:00 UTC with a cron trigger, so a
run's logical date is the day it fires and its data is complete up to the
end of the day before: every task passes ``--run-date {{ macros.ds_add(ds,
-1) }}`` (docs/contract.md, "Time"). Re-running a DAG run re-runs the same
date and replaces that date's published outputs atomically.

Run id. Every task passes ``--run-id`` = the DAG id and Airflow's
``run_id`` mapped onto ``[A-Za-z0-9_.-]`` (Airflow's ids hold ``:`` and
``+``): the stages of one DAG run share their staging and the date's lease;
a zombie task and its retry, or a cleared DAG run, are the same run again;
the two DAGs are different runs. Each stage attempt writes its own folder,
and publish draws a fresh publish id, so a clear of a finished DAG run
republishes the date under a new id (docs/publishing.md, "Overlapping
runs").

Exit codes (``fidelis --help``): 0 ok; 2 usage/config, 3 bad input data and
5 model below its quality floor fail the task at once, since a retry would
fail the same way; 4 (storage), 75 (another run holds the run date, or this
run lost its lease) and 70 (internal) are retried with exponential backoff.
Nothing is published before the last task, so a failed run leaves the
previous publication untouched.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param
from kubernetes.client import models as k8s

# The stages, in order; each is a `fidelis` subcommand taking --config and
# --run-date, and reads only what earlier stages of the same run date staged.
STAGES = ["validate", "features", "train", "score", "export", "report", "publish"]

# Exit codes that mean "do not retry" (see the module docstring).
NO_RETRY = {2: "usage or config error", 3: "bad input data", 5: "model below its quality floor"}

RUN_DATE = "{{ macros.ds_add(ds, -1) }}"
RUN_ID = "{{ (dag.dag_id ~ '.' ~ run_id) | fidelis_run_id }}"


def fidelis_run_id(airflow_run_id: str) -> str:
    """Airflow's run id as a fidelis run id: [A-Za-z0-9_.-] only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", airflow_run_id)[:200]

# Five retries at 5, 10, 20, 40 and 60 minutes at least (Airflow's backoff
# doubles with jitter, capped at an hour): 135 minutes in all, so a run
# refused with 75 by a crashed holder outlasts its 120-minute lease, and no
# single delay reaches three quarters of a lease (a failed stage's last
# heartbeat is at most a quarter old), so a run's own retry finds its lease.
DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 5,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(hours=1),
    "execution_timeout": timedelta(hours=3),
}


class FailFast:
    """Turns the no-retry exit codes into AirflowFailException.

    The operators below report those codes through their
    ``skip_on_exit_code`` hook (as AirflowSkipException with the code in the
    message); this mixin catches that and fails the task without retries,
    so no exit code ever skips a task.
    """

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSkipException as e:
            m = re.search(r"exit code (\d+)", str(e))
            code = int(m.group(1)) if m else -1
            raise AirflowFailException(
                f"fidelis {self.task_id} exited with code {code} "
                f"({NO_RETRY.get(code, 'no-retry code')}): not retried; see the log above"
            ) from e


class FidelisBashOperator(FailFast, BashOperator):
    def __init__(self, **kwargs):
        super().__init__(skip_on_exit_code=sorted(NO_RETRY), **kwargs)


class FidelisPodOperator(FailFast, KubernetesPodOperator):
    def __init__(self, **kwargs):
        super().__init__(skip_on_exit_code=sorted(NO_RETRY), **kwargs)


def nightly_dag(dag_id: str, description: str, make_task, params: dict) -> DAG:
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule="0 2 * * *",
        start_date=datetime(2026, 11, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=params,
        tags=["fidelis", "churn", "clv"],
        doc_md=__doc__,
        user_defined_filters={"fidelis_run_id": fidelis_run_id},
    ) as dag:
        previous = None
        for stage in STAGES:
            task = make_task(stage)
            if previous is not None:
                previous >> task
            previous = task
    return dag


# --- the container example (production) ---------------------------------------
# The job config lives in a ConfigMap mounted at /jobs; credentials for the
# object store come from a Secret as the usual AWS_* variables.
CONFIG_VOLUME = k8s.V1Volume(
    name="fidelis-jobs",
    config_map=k8s.V1ConfigMapVolumeSource(name="fidelis-jobs"),
)
CONFIG_MOUNT = k8s.V1VolumeMount(name="fidelis-jobs", mount_path="/jobs", read_only=True)
# DataFusion spills sorts and joins past `[engine] memory_limit_mb` to
# `[engine] spill_dir` (/scratch in jobs/s3-production.toml): node disk, not
# memory (an emptyDir of medium "Memory" would count against the limit).
SPILL_VOLUME = k8s.V1Volume(
    name="fidelis-spill",
    empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="100Gi"),
)
SPILL_MOUNT = k8s.V1VolumeMount(name="fidelis-spill", mount_path="/scratch")
# The pod's memory: the DataFusion pool (`memory_limit_mb`) plus what lives
# outside it stays under 80% of the limit (tests/airflow/check_runs.py checks
# it against the production config). Outside the pool, measured
# (docs/decisions.md, "The pod's memory"): train holds the backtest features
# and model matrices, 257 MiB + 10.8 MiB per 1,000 backtest customers, so
# 5,670 MiB at the production backtest_customers = 500,000; validate's key
# hashes about 12 bytes per row of the largest table. 6,400 MiB is the
# larger, train, with 13% to spare.
POD_MEMORY_LIMIT = "16Gi"
POD_MEMORY_REQUEST = "14Gi"
OUTSIDE_POOL_MIB = 6400


def pod_task(stage: str) -> FidelisPodOperator:
    return FidelisPodOperator(
        task_id=stage,
        name=f"fidelis-{stage}",
        namespace="{{ params.namespace }}",
        image="{{ params.image }}",
        arguments=[stage, "--config", "{{ params.config }}", "--run-date", RUN_DATE, "--run-id", RUN_ID],
        env_vars={"FIDELIS_LOG_FORMAT": "json"},
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="fidelis-object-store"))],
        volumes=[CONFIG_VOLUME, SPILL_VOLUME],
        volume_mounts=[CONFIG_MOUNT, SPILL_MOUNT],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "2", "memory": POD_MEMORY_REQUEST},
            limits={"memory": POD_MEMORY_LIMIT},
        ),
        get_logs=True,
        on_finish_action="delete_pod",
    )


nightly_dag(
    "fidelis_nightly",
    "fidelis churn and CLV nightly job, one pod per stage",
    pod_task,
    {
        "image": Param("registry.example.com/fidelis:0.1.0", type="string"),
        "namespace": Param("data-jobs", type="string"),
        "config": Param("/jobs/s3-production.toml", type="string"),
    },
)


# --- the installed binary (single machine, CI) --------------------------------
def bash_task(stage: str) -> FidelisBashOperator:
    return FidelisBashOperator(
        task_id=stage,
        bash_command=(
            '"{{ params.fidelis_bin }}" ' + stage
            + ' --config "{{ params.config }}" --run-date ' + RUN_DATE
            + " --run-id " + RUN_ID
        ),
        env={"FIDELIS_LOG_FORMAT": "json"},
        append_env=True,
    )


nightly_dag(
    "fidelis_nightly_bash",
    "fidelis churn and CLV nightly job, the installed binary",
    bash_task,
    {
        "fidelis_bin": Param(os.environ.get("FIDELIS_BIN", "fidelis"), type="string"),
        "config": Param(os.environ.get("FIDELIS_CONFIG", "/opt/fidelis/jobs/nightly.toml"), type="string"),
    },
)
