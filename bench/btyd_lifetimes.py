"""The Python peer of the BTYD benchmark (bench/btyd.sh): lifetimes 0.11.3.

Fits BetaGeoFitter (weeks) and GammaGammaFitter on the summary CSV written by
`btyd_bench --csv` (x, t_x, T in days, m), the way lifetimes' docs call them,
and evaluates lifetimes' own BG/NBD log-likelihood at both its parameters and
the ones fidelis found (passed as JSON), so both fits are judged by the same
function.

Usage: python btyd_lifetimes.py SUMMARY.csv FIDELIS_JSON
prints one JSON line.
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter


def bgnbd_ll(params, freq, rec, T):
    """Total BG/NBD log-likelihood (lifetimes' function is the negative mean)."""
    log_params = np.log(np.asarray(params, dtype=float))
    weights = np.ones(len(freq))
    nll = BetaGeoFitter._negative_log_likelihood(log_params, freq, rec, T, weights, 0.0)
    return -nll * len(freq)


def main() -> None:
    csv, fidelis_json = sys.argv[1], sys.argv[2]
    ours = json.loads(open(fidelis_json).read())
    d = pd.read_csv(csv)
    freq = d["x"].to_numpy(dtype=float)
    rec = d["t_x"].to_numpy(dtype=float) / 7.0
    T = d["T"].to_numpy(dtype=float) / 7.0
    t0 = time.perf_counter()
    bg = BetaGeoFitter()
    bg.fit(freq, rec, T)
    bg_s = time.perf_counter() - t0
    rep = d[(d["x"] > 0) & (d["m"] > 0)]
    t1 = time.perf_counter()
    gg = GammaGammaFitter()
    gg.fit(rep["x"], rep["m"])
    gg_s = time.perf_counter() - t1
    lp = bg.params_
    theirs = [lp["r"], lp["alpha"], lp["a"], lp["b"]]
    b = ours["bgnbd"]
    mine = [b["r"], b["alpha"], b["a"], b["b"]]
    print(json.dumps({
        "customers": len(d),
        "seconds_bgnbd": bg_s,
        "seconds_gamma_gamma": gg_s,
        "seconds_total": bg_s + gg_s,
        "bgnbd": dict(zip(["r", "alpha", "a", "b"], map(float, theirs))),
        "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
        "ll_lifetimes_params": float(bgnbd_ll(theirs, freq, rec, T)),
        "ll_fidelis_params": float(bgnbd_ll(mine, freq, rec, T)),
    }))


if __name__ == "__main__":
    main()
