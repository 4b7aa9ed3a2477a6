"""Check that two feature files hold the same customers and values.

Usage: python compare_features.py A.parquet B.parquet [--rtol 1e-9]
Exits 1 and names the first differing columns when they differ.
"""

import argparse
import sys

import duckdb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-9)
    x = ap.parse_args()
    con = duckdb.connect()
    a = con.execute(f"SELECT * FROM read_parquet('{x.a}', hive_partitioning = false) ORDER BY customer_id").df()
    b = con.execute(f"SELECT * FROM read_parquet('{x.b}', hive_partitioning = false) ORDER BY customer_id").df()
    problems = []
    if len(a) != len(b):
        problems.append(f"rows: {len(a)} vs {len(b)}")
    if list(a.columns) != list(b.columns):
        problems.append(f"columns differ: {set(a.columns) ^ set(b.columns)}")
    if not problems:
        if not (a["customer_id"].values == b["customer_id"].values).all():
            problems.append("customer ids differ")
    if not problems:
        for col in a.columns:
            ca, cb = a[col], b[col]
            if ca.dtype.kind in "fiub" and cb.dtype.kind in "fiub":
                fa, fb = ca.astype(float), cb.astype(float)
                both_null = fa.isna() & fb.isna()
                close = (fa - fb).abs() <= x.rtol * fa.abs().clip(lower=1.0)
                bad = ~(both_null | close.fillna(False))
            else:
                bad = ~((ca.astype(str) == cb.astype(str)) | (ca.isna() & cb.isna()))
            if bad.any():
                i = bad.idxmax()
                problems.append(f"{col}: {int(bad.sum())} rows differ, e.g. {a['customer_id'][i]}: {ca[i]!r} vs {cb[i]!r}")
    if problems:
        print("features differ:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print(f"same features: {len(a)} customers, {len(a.columns)} columns")


if __name__ == "__main__":
    main()
