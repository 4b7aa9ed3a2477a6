"""Checks on what Airflow itself recorded (run with the Airflow venv's
python, AIRFLOW_HOME and the DAGs folder set as in tests/integration.sh).

  check_runs.py imports                      the DAG folder loads, no import error
  check_runs.py success LOGICAL_DATE         every task of that run succeeded, first try
  check_runs.py failed-at-validate LOGICAL   validate failed once (no retry), nothing after it ran
"""

import os
import sys

from airflow.dag_processing.dagbag import DagBag
from airflow.models import DagRun, TaskInstance
from airflow.utils.session import create_session

DAG_ID = "fidelis_nightly_bash"
STAGES = ["validate", "features", "train", "score", "export", "report", "publish"]


def fail(msg):
    print(f"check_runs: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def imports():
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        fail(f"DAG import errors: {bag.import_errors}")
    for dag_id in ("fidelis_nightly", DAG_ID):
        dag = bag.dags.get(dag_id)
        if dag is None:
            fail(f"{dag_id} not loaded; loaded: {sorted(bag.dag_ids)}")
        tasks = [t.task_id for t in dag.topological_sort()]
        if tasks != STAGES:
            fail(f"{dag_id} tasks {tasks}, expected {STAGES}")
        for t in dag.tasks:
            if t.retries < 1 or not t.retry_exponential_backoff:
                fail(f"{dag_id}.{t.task_id}: retries with backoff expected")
    print(f"DAG folder: {sorted(bag.dag_ids)}, no import errors")


def task_states(logical_date):
    with create_session() as s:
        runs = [
            r
            for r in s.query(DagRun).filter(DagRun.dag_id == DAG_ID).all()
            if r.logical_date and r.logical_date.date().isoformat() == logical_date
        ]
        if len(runs) != 1:
            fail(f"expected one run with logical date {logical_date}, found {len(runs)}")
        run = runs[0]
        tis = s.query(TaskInstance).filter(
            TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run.run_id
        )
        return str(run.state), {ti.task_id: (str(ti.state), ti.try_number) for ti in tis}


def success(logical_date):
    state, tis = task_states(logical_date)
    if state != "success":
        fail(f"run {logical_date}: {state} {tis}")
    for stage in STAGES:
        if tis.get(stage) != ("success", 1):
            fail(f"run {logical_date}: {stage} {tis.get(stage)}")
    print(f"run {logical_date}: all {len(STAGES)} tasks succeeded on the first try")


def failed_at_validate(logical_date):
    state, tis = task_states(logical_date)
    if state != "failed":
        fail(f"run {logical_date}: state {state}, expected failed")
    if tis.get("validate") != ("failed", 1):
        fail(f"validate: {tis.get('validate')}, expected failed on its only try (exit 3 is not retried)")
    for stage in STAGES[1:]:
        if tis.get(stage, ("none", 0))[0] not in ("upstream_failed", "none", "None"):
            fail(f"{stage} ran after a failed validate: {tis.get(stage)}")
    print(f"run {logical_date}: validate failed once, no retry, nothing downstream ran")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"imports": imports, "success": success, "failed-at-validate": failed_at_validate}[cmd](*args)
