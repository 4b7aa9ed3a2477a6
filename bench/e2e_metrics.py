"""Predictive quality of a scores file against the generator's truth.

Population: customers with an order on or before the run date (non-null
P(alive)), as in docs/contract.md. Churn: ROC AUC of churn_probability
against "no order day in the 90 days after the run date" (truth
order_days_90d = 0). Revenue: normalized Gini (METRICS.md: ties averaged)
of expected_revenue_365d against the actual revenue_365d.

  python bench/e2e_metrics.py SCORES_GLOB TRUTH_DIR   -> one JSON line
"""

import json
import sys

import duckdb
import numpy as np


def gini_raw(y, p):
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # average the actual values within tied predictions
    ybar = y_sorted.astype(float).copy()
    i = 0
    while i < len(p_sorted):
        j = i
        while j + 1 < len(p_sorted) and p_sorted[j + 1] == p_sorted[i]:
            j += 1
        ybar[i : j + 1] = y_sorted[i : j + 1].mean()
        i = j + 1
    c = np.cumsum(ybar) / y.sum()
    return 2.0 / len(y) * c.sum() - 1.0


def main():
    scores, truth = sys.argv[1:3]
    df = duckdb.sql(f"""
        select s.churn_probability, s.expected_revenue_365d, t.order_days_90d = 0 as churned, t.revenue_365d
        from read_parquet('{scores}', hive_partitioning = false) s
        join read_parquet('{truth}/*.parquet') t using (customer_id)
        where s.p_alive is not null and s.churn_probability is not null and s.expected_revenue_365d is not null
    """).df()
    from sklearn.metrics import roc_auc_score

    y, p = df.revenue_365d.to_numpy(float), df.expected_revenue_365d.to_numpy(float)
    print(json.dumps({
        "customers": len(df),
        "churn_roc_auc": float(roc_auc_score(df.churned, df.churn_probability)),
        "revenue_normalized_gini": float(gini_raw(y, p) / gini_raw(y, y)),
    }))


if __name__ == "__main__":
    main()
