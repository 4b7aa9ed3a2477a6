"""The Python peer of the end-to-end benchmark (bench/e2e.sh): the nightly
job the way a good data team would write it without fidelis.

- validate: DuckDB SQL with the same row rules and duplicate checks as
  fidelis (docs/contract.md), validated rows and rejects written as Parquet;
- features and labels: the fidelis SQL files run by DuckDB
  (bench/duckdb_features.py's translation), at the same cutoffs fidelis
  uses for its backtests, on the same customer sample above 250k customers
  (md5 rule of docs/models.md);
- models: lifetimes BG/NBD + Gamma-Gamma fitted on the grouped (x, t_x, T)
  summary with weights; scikit-learn logistic regression for churn and a
  Poisson (Tweedie power 1) regressor per revenue horizon, trained on the
  pooled earlier windows (at most 500k rows), validated out of time, refitted
  on the latest windows;
- scores: the run date's features go from DuckDB to Parquet, are read back
  in chunks of 524,288 rows and scored with pandas; pyarrow writes the
  scores Parquet chunk by chunk (at 10M customers the features do not fit
  in pandas).

Prints one JSON object: seconds per stage, validation metrics, rows.

  python bench/peer_pipeline.py --data DIR --out DIR --run-date 2026-11-22 [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import resource
import shutil
import sys
import time

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from duckdb_features import GROUPS, INTERMEDIATE, STAGING, is_numeric, model_sql, translate  # noqa: E402

CHURN_H = 90
REVENUE_H = [90, 365]
WINDOWS = 4
MIN_HISTORY = 90
MAX_TRAIN_ROWS = 500_000
SEED = 42
SCORE_VECTORS = 256  # DuckDB vectors of 2,048 rows: the run date is scored 524,288 rows at a time


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- validate ----------------------------------------------------------------------
RULES = {
    "purchases": (
        "order_ts",
        [
            ("customer_id IS NULL OR trim(customer_id) = ''", "null_customer_id"),
            ("order_id IS NULL OR trim(order_id) = ''", "null_order_id"),
            ("order_ts IS NULL", "null_timestamp"),
            ("amount IS NULL OR isnan(amount) OR isinf(amount)", "non_finite_amount"),
        ],
        ["order_id", "line_id"],
        "duplicate_order_line",
    ),
    "interactions": (
        "event_ts",
        [
            ("customer_id IS NULL OR trim(customer_id) = ''", "null_customer_id"),
            ("event_ts IS NULL", "null_timestamp"),
            ("channel IS NULL OR trim(channel) = ''", "null_channel"),
            ("event_type IS NULL OR trim(event_type) = ''", "null_event_type"),
            ("value IS NOT NULL AND (isnan(value) OR isinf(value))", "non_finite_value"),
        ],
        None,
        "duplicate_event",
    ),
    "customers": (
        "signup_ts",
        [
            ("customer_id IS NULL OR trim(customer_id) = ''", "null_customer_id"),
            ("acquisition_cost IS NOT NULL AND (isnan(acquisition_cost) OR acquisition_cost < 0 OR isinf(acquisition_cost))", "negative_acquisition_cost"),
        ],
        ["customer_id"],
        "duplicate_customer",
    ),
}


def rows(con, folder: pathlib.Path) -> int:
    if not any(folder.glob("*.parquet")):
        return 0
    return con.execute(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')").fetchone()[0]


def validate(con, data: pathlib.Path, out: pathlib.Path, run_date: dt.date) -> dict:
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    end_sql = f"TIMESTAMPTZ '{end.isoformat()}'"
    counts = {}
    for table, (ts, rules, key, dup_reason) in RULES.items():
        # The lake cut at D, as fidelis reads it (docs/contract.md): rows at
        # or after D+1 00:00 UTC are out of scope, not rejects.
        src = (f"(SELECT * FROM read_parquet('{data / table}/*.parquet') "
               f"WHERE NOT coalesce({ts} >= {end_sql}, false))")
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        key = key if key and all(k in cols for k in key) else cols
        cases = "\n".join(f"WHEN {c.format(end=end_sql)} THEN '{r}'" for c, r in rules)
        order = ", ".join(["(base_reason IS NOT NULL)"] + [f'"{c}" NULLS FIRST' for c in cols])
        keys = ", ".join(f'"{k}"' for k in key)
        # Duplicates the way fidelis finds them (docs/decisions.md): the keys
        # whose hash repeats, then the exact row_number() window on those
        # rows only. A window over every row sorts all of them by every
        # column: at 10M customers that is 1B interactions, more than the
        # machine's memory and disk together.
        con.execute(f"CREATE OR REPLACE TEMP TABLE dup_{table} AS "
                    f"SELECT hash({keys}) AS h FROM {src} GROUP BY 1 HAVING count(*) > 1")
        checked = f"""
            WITH candidates AS (
                SELECT *, CASE {cases} END AS base_reason FROM {src}
                WHERE hash({keys}) IN (SELECT h FROM dup_{table})),
            ranked AS (
                SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS dup_rank FROM candidates),
            rest AS (
                SELECT *, CASE {cases} END AS base_reason, 1 AS dup_rank FROM {src}
                WHERE hash({keys}) NOT IN (SELECT h FROM dup_{table}))
            SELECT * EXCLUDE (base_reason, dup_rank),
                   coalesce(base_reason, CASE WHEN dup_rank > 1 THEN '{dup_reason}' END) AS reject_reason
            FROM (SELECT * FROM ranked UNION ALL SELECT * FROM rest)"""
        # One pass writes both sides: validated rows and rejects.
        part = out / "checked" / table
        shutil.rmtree(part, ignore_errors=True)
        part.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT *, reject_reason IS NOT NULL AS rejected FROM ({checked})) "
                    f"TO '{part}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (rejected), OVERWRITE_OR_IGNORE)")
        for side, dest in (("false", out / "validated" / table), ("true", out / "rejects" / table)):
            shutil.rmtree(dest, ignore_errors=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if (part / f"rejected={side}").exists():
                (part / f"rejected={side}").rename(dest)
            else:
                # No row on this side: an empty file keeps the schema readable.
                dest.mkdir()
                con.execute(f"COPY (SELECT * FROM ({checked}) WHERE false) TO '{dest}/part-0.parquet' (FORMAT parquet)")
        con.execute(f"DROP TABLE dup_{table}")
        accepted, rejected = (rows(con, out / side / table) for side in ("validated", "rejects"))
        counts[table] = (accepted + rejected, rejected)
    return counts


# --- features and labels --------------------------------------------------------------
def translate_labels(sql: str, as_of: dt.date, h: int) -> str:
    sql = sql.replace("{{ horizon_days }}", str(h))
    return translate(sql, as_of, True)


def features_sql(con, as_of: dt.date) -> str:
    """Stages the feature groups as of a cutoff; returns the final query."""
    for name in STAGING + INTERMEDIATE + GROUPS:
        sql = translate(model_sql(name), as_of, True)
        kind = "TABLE" if name in INTERMEDIATE else "VIEW"
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")
    return translate(model_sql("features"), as_of, True)


def features(con, as_of: dt.date) -> pd.DataFrame:
    return con.execute(features_sql(con, as_of)).df()


def labels(con, as_of: dt.date, h: int) -> pd.DataFrame:
    # As fidelis does: stg_order_lines cut at the end of the horizon (the
    # staging model rendered as of C + h), then labels.sql over it.
    stg = translate(model_sql("stg_order_lines"), as_of + dt.timedelta(days=h), True)
    con.execute(f"CREATE OR REPLACE VIEW stg_order_lines AS {stg}")
    return con.execute(translate_labels(model_sql("labels"), as_of, h)).df()


def cutoffs(run_date: dt.date, h: int, history: float) -> tuple[list[dt.date], dt.date | None]:
    valid = run_date - dt.timedelta(days=h) if history >= h + MIN_HISTORY else None
    train = [run_date - dt.timedelta(days=k * h) for k in range(2, 2 + WINDOWS) if history >= k * h + MIN_HISTORY]
    return train, valid


# --- models ---------------------------------------------------------------------------
def numeric_columns(con, table: str) -> list[str]:
    """The model inputs: every numeric or boolean feature."""
    return [name for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
            if is_numeric(kind) and name not in ("customer_id", "as_of")]


def numeric(f: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return f[cols].astype("float64")


def btyd(con, table: str):
    """BG/NBD + Gamma-Gamma on the grouped summary (weights = customers),
    grouped by DuckDB so the run date's features never sit in pandas."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    where = "btyd_x IS NOT NULL AND btyd_t_x IS NOT NULL AND btyd_t IS NOT NULL AND btyd_t > 0"
    g = con.execute(
        f"SELECT btyd_x::DOUBLE AS btyd_x, btyd_t_x::DOUBLE AS btyd_t_x, btyd_t::DOUBLE AS btyd_t, count(*) AS w "
        f"FROM {table} WHERE {where} GROUP BY ALL ORDER BY ALL").df()
    bg = BetaGeoFitter(penalizer_coef=0.0)
    bg.fit(g.btyd_x, g.btyd_t_x, g.btyd_t, weights=g.w)
    gg_g = con.execute(
        f"SELECT btyd_x::DOUBLE AS btyd_x, btyd_m::DOUBLE AS btyd_m, count(*) AS w FROM {table} "
        f"WHERE {where} AND btyd_x > 0 AND btyd_m > 0 GROUP BY ALL ORDER BY ALL").df()
    gg = GammaGammaFitter(penalizer_coef=0.0)
    gg.fit(gg_g.btyd_x, gg_g.btyd_m, weights=gg_g.w)
    return bg, gg


def btyd_predict(bg, gg, f: pd.DataFrame, h: int) -> tuple[np.ndarray, np.ndarray]:
    f = f[["btyd_x", "btyd_t_x", "btyd_t", "btyd_m"]].astype("float64")
    x, tx, T = f.btyd_x.fillna(0), f.btyd_t_x.fillna(0), f.btyd_t.fillna(0).clip(lower=1e-9)
    p_alive = np.asarray(bg.conditional_probability_alive(x, tx, T), dtype=float)
    orders = np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(h, x, tx, T), dtype=float)
    spend = np.asarray(gg.conditional_expected_average_profit(x.clip(lower=0), f.btyd_m.fillna(0).clip(lower=0)), dtype=float)
    return p_alive, orders * spend


def fit_pipeline(model, X: pd.DataFrame, y: np.ndarray):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(X) > MAX_TRAIN_ROWS:
        idx = np.random.default_rng(SEED).choice(len(X), MAX_TRAIN_ROWS, replace=False)
        X, y = X.iloc[idx], y[idx]
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), model).fit(X, y)


def pooled(fe: dict, la: dict, dates: list[dt.date], h: int, cols: list[str]):
    xs, ys = [], []
    for c in dates:
        lab = la[(c, h)].rename(columns=lambda k: k if k == "customer_id" else f"label_{k}")
        m = lab.merge(fe[c], on="customer_id", how="inner")
        xs.append(numeric(m, cols))
        ys.append(m)
    return pd.concat(xs, ignore_index=True), pd.concat(ys, ignore_index=True)


def roc_auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--run-date", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backtest-customers", type=int, default=250_000,
                    help="sample the backtest cutoffs' customers above this many (0: never), as fidelis does")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    run_date = dt.date.fromisoformat(a.run_date)
    data, out = pathlib.Path(a.data), pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute("SET TimeZone = 'UTC'")
    # Spill next to the outputs (the working directory may be a checkout).
    con.execute(f"SET temp_directory = '{out / 'duckdb_tmp'}'")

    t = time.perf_counter()
    counts = validate(con, data, out, run_date)
    seconds["validate"] = time.perf_counter() - t
    print(f"peer: validate done in {seconds['validate']:.1f} s", file=sys.stderr, flush=True)

    t = time.perf_counter()
    for table in ["purchases", "interactions", "customers"]:
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{out}/validated/{table}/*.parquet')")
    # The run date's features go straight from DuckDB to Parquet and are
    # scored in chunks: at 10M customers they do not fit in pandas twice.
    run_features = out / "features.parquet"
    con.execute(f"COPY ({features_sql(con, run_date)}) TO '{run_features}' (FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"CREATE OR REPLACE VIEW run_features AS SELECT * FROM read_parquet('{run_features}')")
    history, n_customers = con.execute("SELECT max(tenure_days)::DOUBLE, count(*) FROM run_features").fetchone()
    history = float(history or 0)
    # The backtest cutoffs see the same customer sample as fidelis'
    # (models.backtest_customers, docs/models.md): same rule, same share.
    fe = {}
    sampled = None
    if a.backtest_customers and n_customers > a.backtest_customers:
        share = a.backtest_customers / n_customers
        below = f"{min(int(share * 2**32), 2**32 - 1):08x}"
        con.execute(
            "CREATE OR REPLACE TABLE backtest_ids AS SELECT customer_id FROM "
            "(SELECT customer_id FROM purchases UNION SELECT customer_id FROM customers) "
            f"WHERE md5('fidelis-backtest:' || customer_id) < '{below}'")
        sampled = {"share": share, "md5_below": below,
                   "customers": con.execute("SELECT count(*) FROM backtest_ids").fetchone()[0]}
        for table in ["purchases", "interactions", "customers"]:
            (out / "backtest_sample" / table).mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY (SELECT * FROM {table} WHERE customer_id IN (SELECT customer_id FROM backtest_ids)) "
                        f"TO '{out}/backtest_sample/{table}/part-0.parquet' (FORMAT parquet, COMPRESSION zstd)")
        for table in ["purchases", "interactions", "customers"]:
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{out}/backtest_sample/{table}/*.parquet')")
    plan = {h: cutoffs(run_date, h, history) for h in sorted({CHURN_H, *REVENUE_H})}
    dates = sorted({c for tr, v in plan.values() for c in tr + ([v] if v else [])})
    for c in dates:
        fe[c] = features(con, c)
    la = {}
    for h, (tr, v) in plan.items():
        for c in tr + ([v] if v else []):
            la[(c, h)] = labels(con, c, h)
    seconds["features"] = time.perf_counter() - t
    print(f"peer: features done in {seconds['features']:.1f} s", file=sys.stderr, flush=True)

    t = time.perf_counter()
    from sklearn.linear_model import LogisticRegression, PoissonRegressor

    cols = numeric_columns(con, "run_features")
    metrics = {}
    bg, gg = btyd(con, "run_features")
    # churn: logistic regression, validated out of time, refitted on the latest windows
    tr, v = plan[CHURN_H]
    X, L = pooled(fe, la, tr, CHURN_H, cols)
    churn = fit_pipeline(LogisticRegression(max_iter=1000), X, L.label_churned.to_numpy())
    if v:
        Xv, Lv = pooled(fe, la, [v], CHURN_H, cols)
        metrics["churn_roc_auc_validation"] = roc_auc(Lv.label_churned, churn.predict_proba(Xv)[:, 1])
        X, L = pooled(fe, la, [v] + tr[:-1], CHURN_H, cols)
        churn = fit_pipeline(LogisticRegression(max_iter=1000), X, L.label_churned.to_numpy())
    revenue = {}
    for h in REVENUE_H:
        tr, v = plan[h]
        if not tr:
            continue
        windows = ([v] + tr[:-1]) if v else tr
        X, L = pooled(fe, la, windows, h, cols)
        scale = max(float(L.label_revenue.mean()), 1e-9)
        m = fit_pipeline(PoissonRegressor(alpha=1e-4, max_iter=300), X, L.label_revenue.to_numpy() / scale)
        revenue[h] = (m, scale)
    seconds["train"] = time.perf_counter() - t
    print(f"peer: train done in {seconds['train']:.1f} s", file=sys.stderr, flush=True)

    t = time.perf_counter()
    import pyarrow as pa
    import pyarrow.parquet as pq

    result = con.execute("SELECT * FROM run_features")
    writer = None
    while True:
        f = result.fetch_df_chunk(SCORE_VECTORS)
        if len(f) == 0:
            break
        X = numeric(f, cols)
        p_alive, rev_btyd = btyd_predict(bg, gg, f, 365)
        has_orders = f.btyd_x.notna().to_numpy()
        scores = pd.DataFrame({
            "customer_id": f.customer_id,
            "as_of": run_date,
            "churn_probability": churn.predict_proba(X)[:, 1],
            "p_alive": np.where(has_orders, p_alive, np.nan),
        })
        for h in REVENUE_H:
            if h in revenue:
                m, scale = revenue[h]
                scores[f"expected_revenue_{h}d"] = m.predict(X) * scale
            else:
                _, r = btyd_predict(bg, gg, f, h)
                scores[f"expected_revenue_{h}d"] = np.where(has_orders, r, np.nan)
        scores["clv_12m"] = scores["expected_revenue_365d"] * 0.3
        table = pa.Table.from_pandas(scores, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(out / "scores.parquet", table.schema)
        writer.write_table(table.cast(writer.schema))
    if writer is not None:
        writer.close()
    seconds["score"] = time.perf_counter() - t
    print(f"peer: score done in {seconds['score']:.1f} s", file=sys.stderr, flush=True)
    seconds["total"] = sum(seconds.values())
    print(json.dumps({
        "seconds": seconds,
        "rows": {k: {"read": int(v[0]), "rejected": int(v[1])} for k, v in counts.items()},
        "feature_cutoffs": [str(c) for c in dates],
        "backtest_sample": sampled,
        "validation": metrics,
        "peak_rss_mib": peak_rss_mib(),
    }))


if __name__ == "__main__":
    main()
