"""Read fidelis's published outputs from a notebook.

The outputs are Delta Lake tables, read here with the `deltalake` package
and DuckDB over its Arrow datasets, by the reader rule of
docs/publishing.md: each run date's current row of the `runs` table names
the Delta version of every table that holds that date, and each table is
read at that version, filtered to that date. A publish that died half way
committed versions no runs row names; they are never read. Everything here
is reading: the numbers are computed by the pipeline.

    from fidelis_outputs import connect
    con, latest = connect()          # FIDELIS_OUTPUT or ../out/local
    con.sql("select rfm_segment, count(*) from scores group by 1").df()

Views: scores, segments, exports, features (the latest run; features as of
its run date), all_scores and all_exports (every published run date), and
runs (one row per run date: its current run).
"""

from __future__ import annotations

import json
import os

import duckdb
from deltalake import DeltaTable

HERE = os.path.dirname(os.path.abspath(__file__))


def output_root() -> str:
    """The job's output root: $FIDELIS_OUTPUT, else the sample job's."""
    return os.environ.get("FIDELIS_OUTPUT", os.path.join(HERE, "..", "out", "local"))


def current_runs(root: str | None = None) -> list[dict]:
    """The current run of every run date (its runs record), oldest first.

    The current row of a date is its highest `publish_seq`.
    """
    root = root or output_root()
    path = os.path.join(root, "runs")
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        raise FileNotFoundError(
            f"no published run under {root}: run `fidelis run` first (see the README)"
        )
    rows = DeltaTable(path).to_pyarrow_table(columns=["run_date", "publish_seq", "record"]).to_pylist()
    current: dict[str, dict] = {}
    for r in rows:
        if r["run_date"] not in current or r["publish_seq"] > current[r["run_date"]]["publish_seq"]:
            current[r["run_date"]] = r
    records = [json.loads(current[d]["record"]) for d in sorted(current)]
    for r in records:
        r["run_id"] = r["staged"]["run_id"]
    return records


def register_table(con, name: str, table: str, records: list[dict], root: str | None = None) -> bool:
    """View `name` over Delta table `table` as the runs `records` see it:
    each date at the version its record names. False if none names it."""
    root = root or output_root()
    dates_at: dict[int, list[str]] = {}
    for r in records:
        t = r["tables"].get(table)
        if t is not None:
            dates_at.setdefault(t["version"], []).append(r["run_date"])
    if not dates_at:
        return False
    parts = []
    for version, dates in sorted(dates_at.items()):
        source = f"{name}__v{version}"
        dataset = DeltaTable(os.path.join(root, table), version=version).to_pyarrow_dataset()
        con.register(source, dataset)
        listed = ", ".join("'" + d + "'" for d in dates)
        parts.append(f"select * from {source} where run_date in ({listed})")
    con.sql(f"create or replace view {name} as " + " union all by name ".join(parts))
    return True


def connect(root: str | None = None):
    """A DuckDB connection with the views above, and the latest run's record."""
    root = root or output_root()
    records = current_runs(root)
    latest = records[-1]
    con = duckdb.connect()
    for table in ("scores", "segments", "exports"):
        register_table(con, table, table, [latest], root)
    register_table(con, "features_all_cutoffs", "features", [latest], root)
    con.sql(
        "create or replace view features as select * from features_all_cutoffs "
        f"where cast(as_of as varchar) = '{latest['run_date']}'"
    )
    register_table(con, "all_scores", "scores", records, root)
    register_table(con, "all_exports", "exports", records, root)
    runs = [
        {k: r[k] for k in ("run_date", "run_id", "publish_id", "code_version", "published_at")}
        for r in records
    ]
    con.register("runs_df", __import__("pandas").DataFrame(runs))
    con.sql("create or replace view runs as select * from runs_df")
    return con, latest
