"""Checks on what Airflow itself recorded (run with the Airflow venv's
python, AIRFLOW_HOME and the DAGs folder set as in tests/integration.sh).

  check_runs.py imports                      the DAG folder loads, no import error
  check_runs.py success LOGICAL_DATE         every task of that run succeeded, first try
  check_runs.py failed-at-validate LOGICAL   validate failed once (no retry), nothing after it ran
  check_runs.py run-id LOGICAL_DATE          print Airflow's run_id of that run
  check_runs.py resources CONFIG             the pod DAG agrees with the production config: memory,
                                             the spill volume, the lease against the retry delays
"""

import importlib.util
import os
import re
import sys
import tomllib

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


def the_run(s, logical_date):
    """The one DAG run of a logical date."""
    runs = [
        r
        for r in s.query(DagRun).filter(DagRun.dag_id == DAG_ID).all()
        if r.logical_date and r.logical_date.date().isoformat() == logical_date
    ]
    if len(runs) != 1:
        fail(f"expected one run with logical date {logical_date}, found {len(runs)}")
    return runs[0]


def task_states(logical_date):
    with create_session() as s:
        run = the_run(s, logical_date)
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


def run_id(logical_date):
    with create_session() as s:
        print(the_run(s, logical_date).run_id)


def mebibytes(quantity):
    """A Kubernetes memory quantity (16Gi, 512Mi, 8G) in MiB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?", quantity)
    if not m:
        fail(f"cannot read the memory quantity {quantity!r}")
    scale = {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 2**20,
             "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}
    return float(m.group(1)) * scale[m.group(2)]


def resources(config_path):
    """The production config (jobs/s3-production.toml) and the pod DAG
    agree: the DataFusion pool plus what lives outside it under 80% of the
    pod's memory limit, a volume mounted where spill_dir points, and a lease
    that outlasts the longest retry delay after a stage's last heartbeat."""
    with open(config_path, "rb") as f:
        cfg = tomllib.load(f)
    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    spec = importlib.util.spec_from_file_location("fidelis_nightly_dag", os.path.join(folder, "fidelis_nightly.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bag = DagBag(dag_folder=folder)
    dag = bag.dags["fidelis_nightly"]
    engine = cfg.get("engine", {})
    pool = engine.get("memory_limit_mb")
    spill = engine.get("spill_dir")
    if pool is None or spill is None:
        fail(f"{config_path}: [engine] memory_limit_mb and spill_dir must be set for the pod")
    lease = cfg.get("output", {}).get("lease_minutes", 120)
    for t in dag.tasks:
        limit = mebibytes(t.container_resources.limits["memory"])
        need = pool + module.OUTSIDE_POOL_MIB
        if need > 0.8 * limit:
            fail(f"{t.task_id}: memory_limit_mb {pool} + {module.OUTSIDE_POOL_MIB} MiB outside the pool = "
                 f"{need} MiB, over 80% of the pod's {limit:.0f} MiB limit")
        mounts = {m.mount_path: m.name for m in t.volume_mounts}
        if spill not in mounts:
            fail(f"{t.task_id}: nothing is mounted at spill_dir {spill} (mounts: {sorted(mounts)})")
        volume = next((v for v in t.volumes if v.name == mounts[spill]), None)
        if volume is None or volume.empty_dir is None and volume.persistent_volume_claim is None \
                and volume.ephemeral is None:
            fail(f"{t.task_id}: the spill mount {spill} is not backed by a disk volume")
        if volume.empty_dir is not None and volume.empty_dir.medium == "Memory":
            fail(f"{t.task_id}: the spill volume is in memory: it would count against the limit")
        # A failed stage's last heartbeat was up to a quarter of the lease
        # before it ended; its retry must come before the lease expires.
        if 0.75 * lease * 60 <= t.max_retry_delay.total_seconds():
            fail(f"{t.task_id}: lease_minutes {lease} does not outlast max_retry_delay {t.max_retry_delay}")
        # A run refused with 75 by a crashed holder must outlast its lease:
        # Airflow's delays are at least retry_delay * 2^(n-1), capped.
        cap = t.max_retry_delay.total_seconds()
        waits = sum(min(t.retry_delay.total_seconds() * t.retry_exponential_backoff ** n, cap)
                    for n in range(t.retries))
        if waits < lease * 60:
            fail(f"{t.task_id}: {t.retries} retries wait {waits / 60:.0f} min at least, "
                 f"less than a crashed holder's {lease}-minute lease")
    print(f"pods: limit {limit:.0f} MiB >= (pool {pool} + {module.OUTSIDE_POOL_MIB} outside) / 0.8; "
          f"spill volume at {spill}; lease {lease} min outlasts the {t.max_retry_delay} retry delay "
          f"and {t.retries} retries wait {waits / 60:.0f} min, more than the lease")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {
        "imports": imports,
        "success": success,
        "failed-at-validate": failed_at_validate,
        "run-id": run_id,
        "resources": resources,
    }[cmd](*args)
