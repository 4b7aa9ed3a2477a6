//! Numeric helpers the likelihoods share (BG/NBD, Pareto/NBD): log-sum-exp
//! and the logistic of a log-odds, both without overflow.

/// `ln(exp(u) + exp(v))` without overflow; returns the softmax weights too.
/// One `exp` and one `ln`: the larger term's exponential is 1. `ln(1 + e)`
/// rather than `ln_1p(e)`: the absolute error is the same (below 1e-16, and
/// the result is added to `hi`), and glibc's `log1p` costs several `ln`s.
pub(crate) fn log_add_exp(u: f64, v: f64) -> (f64, f64, f64) {
    let (hi, lo) = if u >= v { (u, v) } else { (v, u) };
    let e = (lo - hi).exp();
    let s = 1.0 + e;
    let inv = 1.0 / s;
    let lse = hi + s.ln();
    if u >= v {
        (lse, inv, e * inv)
    } else {
        (lse, e * inv, inv)
    }
}

/// `1 / (1 + exp(l))` without overflow.
pub(crate) fn logistic_neg(l: f64) -> f64 {
    if l > 0.0 {
        let e = (-l).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + l.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_add_exp_is_exact_where_exp_overflows() {
        let (lse, wu, wv) = log_add_exp(1000.0, 1000.0);
        assert!((lse - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!((wu - 0.5).abs() < 1e-15 && (wv - 0.5).abs() < 1e-15);
        let (lse, wu, wv) = log_add_exp(0.0, (3f64).ln());
        assert!((lse - 4f64.ln()).abs() < 1e-15);
        assert!((wu - 0.25).abs() < 1e-15 && (wv - 0.75).abs() < 1e-15);
    }

    #[test]
    fn logistic_neg_is_one_over_one_plus_exp() {
        for l in [-800.0, -5.0, 0.0, 2.5, 800.0] {
            let direct = 1.0 / (1.0 + f64::exp(l));
            assert!((logistic_neg(l) - direct).abs() < 1e-15, "{l}");
        }
        assert_eq!(logistic_neg(0.0), 0.5);
    }
}
