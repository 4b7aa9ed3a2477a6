"""Read fidelis's published outputs from a notebook.

Only the files a run's manifest names are read (a publish that died half way
leaves files no manifest names; they are not part of any run). Everything
here is reading: the numbers are computed by the pipeline.

    from fidelis_outputs import connect
    con, latest = connect()          # FIDELIS_OUTPUT or ../out/local
    con.sql("select rfm_segment, count(*) from scores group by 1").df()

Views: scores, segments, exports, features (the latest run; features as of
its run date), all_scores and all_exports (every published run, with
run_date), and runs (one row per manifest).
"""

from __future__ import annotations

import glob
import json
import os

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))


def output_root() -> str:
    """The job's output root: $FIDELIS_OUTPUT, else the sample job's."""
    return os.environ.get("FIDELIS_OUTPUT", os.path.join(HERE, "..", "out", "local"))


def manifests(root: str | None = None) -> list[dict]:
    """Every published run's manifest, oldest run date first."""
    root = root or output_root()
    paths = sorted(glob.glob(os.path.join(root, "runs", "run_date=*", "_manifest.json")))
    if not paths:
        raise FileNotFoundError(
            f"no published run under {root}: run `fidelis run` first (see the README)"
        )
    return [json.load(open(p)) for p in paths]


def files(manifest: dict, table: str, root: str | None = None, where: str = "") -> list[str]:
    """The Parquet files of one table of one run (path containing `where`)."""
    root = root or output_root()
    return [
        os.path.join(root, f["path"])
        for f in manifest["tables"].get(table, [])
        if f["path"].endswith(".parquet") and where in f["path"]
    ]


def _view(con, name: str, paths: list[str]) -> None:
    if paths:
        listing = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        con.sql(
            f"create or replace view {name} as "
            f"select * from read_parquet([{listing}], hive_partitioning = true, union_by_name = true)"
        )


def connect(root: str | None = None):
    """A DuckDB connection with the views above, and the latest manifest."""
    root = root or output_root()
    ms = manifests(root)
    latest = ms[-1]
    con = duckdb.connect()
    _view(con, "scores", files(latest, "scores", root))
    _view(con, "segments", files(latest, "segments", root))
    _view(con, "exports", files(latest, "exports", root))
    _view(con, "features", files(latest, "features", root, where=f"as_of={latest['run_date']}"))
    _view(con, "all_scores", [p for m in ms for p in files(m, "scores", root)])
    _view(con, "all_exports", [p for m in ms for p in files(m, "exports", root)])
    runs = [
        {k: m[k] for k in ("run_date", "run_id", "code_version", "published_at")} for m in ms
    ]
    con.register("runs_df", __import__("pandas").DataFrame(runs))
    con.sql("create or replace view runs as select * from runs_df")
    return con, latest
