"""Predictive quality of fidelis' published scores against Python peers,
on one purchases input and one run date (bench/real-data.sh runs it for
every row of the table in docs/benchmarks.md, "Predictions on real data").

Population: every customer with an order day on or before the run date D.
Outcome: from the same purchases file, after D (the input holds orders
after D; fidelis' lake cut at D never sees them): churned = no order day in
(D, D + h]; revenue = the net amount in (D, D + h].

The peers see only the purchases (RFM), on the same windows as fidelis'
latest training window: features at c = D - h, labels in (c, D], scored
with the features at D:
- BG/NBD (lifetimes), fitted on the history to D: P(no order day in the
  next h days) for churn; expected order days x Gamma-Gamma expected spend
  for revenue;
- scikit-learn LogisticRegression on log1p of 14 RFM features (signed for
  the money ones), standardised;
- scikit-learn HistGradientBoostingClassifier, and HistGradientBoostingRegressor
  with the Poisson loss for revenue (its prediction of a negative total
  clipped at 0 before fitting: Poisson needs y >= 0).

Metrics (docs/metrics.md): churn ROC AUC and Brier score; revenue
normalized Gini (ties averaged), Spearman correlation and predicted over
actual total; standard errors from 200 bootstrap resamples of the customers
(seeded), and for each metric the paired bootstrap standard error of
fidelis minus the best peer.

  python bench/real_data.py --purchases DIR --scores CSV --run-date D \
      --horizon 92 --label NAME   -> one JSON object on stdout
"""

import argparse
import datetime as dt
import json
import warnings

import duckdb
import numpy as np
import pandas as pd

from e2e_metrics import gini_raw  # the normalized Gini of METRICS.md (ties averaged)

BOOTSTRAP = 200


def order_days(purchases: str) -> pd.DataFrame:
    """Net amount per customer and UTC day, from every Parquet file."""
    return duckdb.sql(f"""
        select cast(customer_id as varchar) as customer_id,
               cast(date_trunc('day', order_ts at time zone 'UTC') as date) as day,
               sum(amount) as amount
        from read_parquet('{purchases}/**/*.parquet')
        where customer_id is not null and order_ts is not null and isfinite(amount)
        group by all
    """).df()


def rfm(days: pd.DataFrame, cutoff: dt.date) -> pd.DataFrame:
    """14 RFM features per customer with an order day on or before cutoff."""
    d = days[days.day <= pd.Timestamp(cutoff)].copy()
    age = (pd.Timestamp(cutoff) - d.day).dt.days
    d["age"] = age
    g = d.groupby("customer_id")
    f = pd.DataFrame({
        "recency": g.age.min(),
        "tenure": g.age.max(),
        "order_days": g.size(),
        "monetary": g.amount.sum(),
        "max_day_value": g.amount.max(),
    })
    f["active_span"] = f.tenure - f.recency
    f["mean_day_value"] = f.monetary / f.order_days
    for w in (30, 90, 180, 365):
        f[f"order_days_{w}"] = d[d.age < w].groupby("customer_id").size().reindex(f.index, fill_value=0)
    for w in (90, 180, 365):
        f[f"revenue_{w}"] = d[d.age < w].groupby("customer_id").amount.sum().reindex(f.index, fill_value=0.0)
    return f


def log_features(f: pd.DataFrame) -> np.ndarray:
    x = f.to_numpy(float)
    return np.sign(x) * np.log1p(np.abs(x))


def outcome(days: pd.DataFrame, start: dt.date, h: int, ids) -> tuple[np.ndarray, np.ndarray]:
    """(churned, revenue) in (start, start + h] for the customers ids."""
    lo, hi = pd.Timestamp(start), pd.Timestamp(start + dt.timedelta(days=h))
    later = days[(days.day > lo) & (days.day <= hi)].groupby("customer_id").amount
    n = later.size().reindex(ids, fill_value=0).to_numpy()
    revenue = later.sum().reindex(ids, fill_value=0.0).to_numpy(float)
    return (n == 0).astype(float), revenue


def btyd(days: pd.DataFrame, run_date: dt.date, h: int, ids) -> tuple[np.ndarray, np.ndarray]:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    f = rfm(days, run_date).reindex(ids)
    x = (f.order_days - 1).to_numpy(float)
    t_x = f.active_span.to_numpy(float)
    T = f.tenure.to_numpy(float)
    bg = BetaGeoFitter(penalizer_coef=0.0).fit(x, t_x, T)
    # P(no order day in (D, D + h]): dead, or alive with no purchase (under
    # BG/NBD a customer drops out only after a purchase), the rate's
    # posterior given alive being Gamma(r + x, alpha + T).
    alive = bg.conditional_probability_alive(x, t_x, T)
    r, alpha = bg.params_["r"], bg.params_["alpha"]
    p_none = 1.0 - alive + alive * ((alpha + T) / (alpha + T + h)) ** (r + x)
    orders = bg.conditional_expected_number_of_purchases_up_to_time(h, x, t_x, T)
    # Gamma-Gamma on the repeat customers' mean order-day value (> 0).
    rep = days[days.day <= pd.Timestamp(run_date)].sort_values("day")
    rep = rep[rep.groupby("customer_id").cumcount() > 0]
    m = rep.groupby("customer_id").amount.mean().reindex(ids)
    k = rep.groupby("customer_id").size().reindex(ids, fill_value=0)
    ok = (k > 0) & (m > 0)
    gg = GammaGammaFitter(penalizer_coef=0.0).fit(k[ok], m[ok])
    spend = np.full(len(ids), float(gg.conditional_expected_average_profit(k[ok], m[ok]).mean()))
    spend[ok.to_numpy()] = gg.conditional_expected_average_profit(k[ok], m[ok]).to_numpy()
    return np.asarray(p_none, float), np.asarray(orders, float) * spend


def feature_peers(days: pd.DataFrame, run_date: dt.date, h: int, ids) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cutoff = run_date - dt.timedelta(days=h)
    train = rfm(days, cutoff)
    churned, revenue = outcome(days, cutoff, h, train.index)
    x_train = log_features(train)
    x_now = log_features(rfm(days, run_date).reindex(ids))
    logit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, churned)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(x_train, churned)
    poisson = HistGradientBoostingRegressor(loss="poisson", random_state=0).fit(
        x_train, np.clip(revenue, 0.0, None)
    )
    return {
        "logistic (log1p RFM)": (logit.predict_proba(x_now)[:, 1], None),
        "HistGradientBoosting": (hgb.predict_proba(x_now)[:, 1], poisson.predict(x_now)),
    }


def churn_metrics(y, p) -> dict:
    from sklearn.metrics import roc_auc_score

    return {"churn_roc_auc": float(roc_auc_score(y, p)), "churn_brier": float(np.mean((p - y) ** 2))}


def revenue_metrics(y, p) -> dict:
    from scipy.stats import spearmanr

    return {
        "revenue_gini": float(gini_raw(y, p) / gini_raw(y, y)),
        "revenue_spearman": float(spearmanr(y, p).statistic),
        "revenue_total_ratio": float(p.sum() / y.sum()),
    }


def metrics(churned, revenue, churn_p, revenue_p) -> dict:
    out = {}
    if churn_p is not None:
        out.update(churn_metrics(churned, churn_p))
    if revenue_p is not None:
        out.update(revenue_metrics(revenue, revenue_p))
    return out


# Higher is better, but for these (lower is better; the total ratio is best at 1).
LOWER = {"churn_brier"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--purchases", required=True)
    ap.add_argument("--scores", required=True, help="CSV: customer_id, churn_probability, expected_revenue_<h>d")
    ap.add_argument("--run-date", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--horizon", type=int, default=92)
    ap.add_argument("--label", required=True)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    h, run_date = a.horizon, a.run_date

    days = order_days(a.purchases)
    ids = rfm(days, run_date).index
    churned, revenue = outcome(days, run_date, h, ids)
    scores = pd.read_csv(a.scores, dtype={"customer_id": str}).set_index("customer_id").reindex(ids)
    missing = int(scores.churn_probability.isna().sum())
    models = {
        "fidelis": (
            scores.churn_probability.to_numpy(float),
            scores[f"expected_revenue_{h}d"].to_numpy(float),
        ),
        "BG/NBD + Gamma-Gamma (lifetimes)": btyd(days, run_date, h, ids),
    }
    models.update(feature_peers(days, run_date, h, ids))

    rng = np.random.default_rng(0)
    n = len(ids)
    samples = [rng.integers(0, n, n) for _ in range(BOOTSTRAP)]
    point, boot = {}, {}
    for name, (cp, rp) in models.items():
        point[name] = metrics(churned, revenue, cp, rp)
        boot[name] = [
            metrics(churned[s], revenue[s], None if cp is None else cp[s], None if rp is None else rp[s])
            for s in samples
        ]
    rows = []
    for name in models:
        row = {"model": name}
        for k, v in point[name].items():
            row[k] = v
            row[f"{k}_se"] = float(np.std([b[k] for b in boot[name]], ddof=1))
        rows.append(row)
    # fidelis against the best peer on each metric (paired bootstrap).
    against = {}
    for k in point["fidelis"]:
        peers = [m for m in models if m != "fidelis" and k in point[m]]
        if not peers:
            continue
        if k == "revenue_total_ratio":
            best = min(peers, key=lambda m: abs(point[m][k] - 1.0))
            diff = [abs(b[k] - 1.0) for b in boot["fidelis"]]
            base = [abs(b[k] - 1.0) for b in boot[best]]
            d = [y - x for x, y in zip(diff, base)]  # > 0: fidelis closer to 1
            gap = abs(point[best][k] - 1.0) - abs(point["fidelis"][k] - 1.0)
        else:
            sign = -1.0 if k in LOWER else 1.0
            best = max(peers, key=lambda m: sign * point[m][k])
            d = [sign * (bf[k] - bb[k]) for bf, bb in zip(boot["fidelis"], boot[best])]
            gap = sign * (point["fidelis"][k] - point[best][k])
        se = float(np.std(d, ddof=1))
        against[k] = {"best_peer": best, "fidelis_minus_best": gap, "se": se, "at_or_above": gap >= -se}
    print(json.dumps({
        "label": a.label,
        "run_date": run_date.isoformat(),
        "horizon_days": h,
        "customers": n,
        "churned_share": float(churned.mean()),
        "not_scored_by_fidelis": missing,
        "rows": rows,
        "fidelis_vs_best_peer": against,
    }))


if __name__ == "__main__":
    main()
