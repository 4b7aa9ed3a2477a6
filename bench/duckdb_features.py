"""The fidelis feature SQL, run by DuckDB on the same validated files.

The peer of the feature benchmark (bench/features.sh): it takes the SQL
models from pipeline/engine/sql/ and makes only the substitutions the two
dialects need, so both engines compute the same definitions:

- day numbers: DataFusion's `arrow_cast(ts, 'Int64') / 86400000000` (integer
  division of microseconds) becomes DuckDB's `epoch_us(ts) // 86400000000`;
- the ordered aggregate `first_value(x order by ...)` becomes `first(x order by ...)`;
- the template variables are filled the way fidelis fills them.

The intermediate models are materialized (as in-memory tables), as fidelis
materializes them (as Parquet), so both engines compute each once.

Usage: python duckdb_features.py --validated DIR --as-of 2026-11-22 --out FILE [--threads 2]
prints one JSON line: {"seconds": ..., "rows": ...}
"""

import argparse
import datetime as dt
import json
import pathlib
import re
import time

import duckdb

SQL_DIR = pathlib.Path(__file__).resolve().parent.parent / "pipeline" / "engine" / "sql"


def model_name(path: pathlib.Path) -> str:
    """A model's name: its file name without `.sql` and the `NN_` order prefix
    (as fidelis' SQL-model runner, pipeline/engine/src/sql/mod.rs, reads it)."""
    return re.sub(r"^\d+_", "", path.stem)


def layer(folder: str) -> dict[str, pathlib.Path]:
    """The models of a layer folder, in file-name order: the folder is the
    declaration, read the same way as fidelis reads it."""
    return {model_name(p): p for p in sorted((SQL_DIR / folder).glob("*.sql"))}


# The layers, in the order they run.
STAGING_FILES, INTERMEDIATE_FILES, GROUP_FILES, FINAL_FILES = (
    layer("staging"), layer("intermediate"), layer("groups"), layer("final"))
STAGING, INTERMEDIATE, GROUPS = list(STAGING_FILES), list(INTERMEDIATE_FILES), list(GROUP_FILES)
MODEL_FILES = {**STAGING_FILES, **INTERMEDIATE_FILES, **GROUP_FILES, **FINAL_FILES}


def model_sql(name: str) -> str:
    return MODEL_FILES[name].read_text()


# DuckDB's numeric and boolean types: the columns compared as numbers and,
# in the peer, the model inputs.
NUMERIC_TYPES = {"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"}


def is_numeric(kind: str) -> bool:
    return kind in NUMERIC_TYPES or kind.startswith("DECIMAL")


def translate(sql: str, as_of: dt.date, has_interactions: bool) -> str:
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    day = (as_of - dt.date(1970, 1, 1)).days
    values = {
        "cutoff_end": f"TIMESTAMPTZ '{end.isoformat()}'",
        "cutoff_day": str(day),
        "cutoff_date": f"DATE '{as_of.isoformat()}'",
        "interactions_count_default": "0" if has_interactions else "null",
        "interactions_flag_default": "false" if has_interactions else "null",
    }
    for k, v in values.items():
        sql = sql.replace("{{ " + k + " }}", v)
    assert "{{" not in sql, sql[sql.index("{{"):][:60]
    sql = re.sub(r"arrow_cast\((\w+), 'Int64'\) / 86400000000", r"(epoch_us(\1) // 86400000000)", sql)
    sql = sql.replace("first_value(", "first(")
    return sql


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--validated", required=True, help="folder with purchases/, interactions/, customers/")
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    as_of = dt.date.fromisoformat(a.as_of)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute("SET TimeZone = 'UTC'")
    validated = pathlib.Path(a.validated)
    for table in ["purchases", "interactions", "customers"]:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{validated / table}/*.parquet', hive_partitioning = false)")
    loose = sorted(p.name for p in SQL_DIR.glob("*.sql"))
    assert not loose, f"SQL files outside a layer folder: {loose}"
    for name in STAGING + INTERMEDIATE + GROUPS:
        sql = translate(model_sql(name), as_of, True)
        # Intermediate models are materialized, as fidelis does (in memory here).
        kind = "TABLE" if name in INTERMEDIATE else "VIEW"
        con.execute(f"CREATE {kind} {name} AS {sql}")
    final = translate(model_sql("features"), as_of, True)
    con.execute(f"COPY ({final}) TO '{a.out}' (FORMAT parquet, COMPRESSION zstd)")
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{a.out}')").fetchone()[0]
    print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))


if __name__ == "__main__":
    main()
