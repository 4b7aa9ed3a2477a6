"""Check that two feature files hold the same customers and values.

Usage: python compare_features.py A.parquet B.parquet [--rtol 1e-9]
Exits 1 and names the differing columns (with an example customer) when
they differ. The comparison is one DuckDB join, so it runs at 10M customers
without holding either file in memory.
"""

import argparse
import sys

import duckdb

from duckdb_features import is_numeric


def columns(con, path: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning = false)").fetchall()
    return {name: kind for name, kind, *_ in rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-9)
    x = ap.parse_args()
    con = duckdb.connect()
    ca, cb = columns(con, x.a), columns(con, x.b)
    problems = []
    if list(ca) != list(cb):
        problems.append(f"columns differ: {set(ca) ^ set(cb)}")
    else:
        differs = {}
        for col in ca:
            if col == "customer_id":
                continue
            qa, qb = f'a."{col}"', f'b."{col}"'
            if is_numeric(ca[col]) and is_numeric(cb[col]):
                fa, fb = f"{qa}::INTEGER::DOUBLE" if ca[col] == "BOOLEAN" else f"{qa}::DOUBLE", \
                    f"{qb}::INTEGER::DOUBLE" if cb[col] == "BOOLEAN" else f"{qb}::DOUBLE"
                differs[col] = (f"NOT (({fa} IS NULL AND {fb} IS NULL) OR "
                                f"coalesce(abs({fa} - {fb}) <= {x.rtol} * greatest(abs({fa}), 1.0), false))")
            elif {ca[col], cb[col]} <= {"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}:
                # a date written by one engine may come back as a midnight timestamp from the other
                differs[col] = f"{qa}::TIMESTAMP IS DISTINCT FROM {qb}::TIMESTAMP"
            else:
                differs[col] = f"{qa}::VARCHAR IS DISTINCT FROM {qb}::VARCHAR"
        sums = ",\n".join(f'count(*) FILTER (WHERE {cond}) AS "{col}"' for col, cond in differs.items())
        join = (f"read_parquet('{x.a}', hive_partitioning = false) a FULL OUTER JOIN "
                f"read_parquet('{x.b}', hive_partitioning = false) b ON a.customer_id = b.customer_id")
        row = con.execute(f"""
            SELECT count(*) FILTER (WHERE a.customer_id IS NULL OR b.customer_id IS NULL) AS unmatched,
                   count(*) AS customers,
                   {sums}
            FROM {join}""").fetchone()
        unmatched, customers, counts = row[0], row[1], dict(zip(differs, row[2:]))
        if unmatched:
            problems.append(f"{unmatched} customers are in one file only")
        for col, n in counts.items():
            if n and not unmatched:
                example = con.execute(
                    f'SELECT a.customer_id, a."{col}"::VARCHAR, b."{col}"::VARCHAR FROM {join} '
                    f"WHERE {differs[col]} ORDER BY a.customer_id LIMIT 1").fetchone()
                problems.append(f"{col}: {n} rows differ, e.g. {example[0]}: {example[1]!r} vs {example[2]!r}")
    if problems:
        print("features differ:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print(f"same features: {customers} customers, {len(ca)} columns")


if __name__ == "__main__":
    main()
