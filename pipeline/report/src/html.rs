//! The report as one self-contained HTML page: inline CSS and SVG, no
//! script, no external request. Figures carry `data-chart="<id>"`; the ids
//! are listed in [`CHARTS`] and in docs/report.md.

use std::fmt::Write;

use fidelis_models::metrics::{Psi, psi};
use fidelis_train::backtest::{Candidate, TargetReport, ValidationScheme};

use crate::data::ReportData;
use crate::svg::{Series, esc, grouped_bars, hbars, heatmap, line_chart, pct, short};

/// Every chart the report draws when its data exists (the browser check in
/// CI fails when one of them is missing or has no marks).
pub const CHARTS: [&str; 11] = [
    "data-quality",
    "roc",
    "calibration",
    "lift",
    "gains",
    "revenue-deciles",
    "segments",
    "value-risk",
    "churn-drift",
    "clv-drift",
    "audiences",
];

/// Bins of the drift figures.
pub const DRIFT_BINS: usize = 10;

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{background:#1e293b;color:#f8fafc;padding:18px 32px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#cbd5e1;font-size:13px}
main{padding:8px 32px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px 20px 16px;margin:16px 0}
h2{font-size:18px;margin:12px 0}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f1f5f9}
tr.champion td{font-weight:600;background:#ecfdf5}
.badge{display:inline-block;background:#059669;color:#fff;border-radius:4px;padding:0 5px;font-size:11px;margin-left:4px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:160px}
.card b{display:block;font-size:20px}
.card span{font-size:12px;color:#64748b}
.figs{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;padding:6px;border:1px solid #f1f5f9;border-radius:6px}
figcaption{font-size:12px;color:#475569;max-width:460px;margin-top:4px}
.note{font-size:12px;color:#92400e;background:#fffbeb;border:1px solid #fde68a;border-radius:6px;padding:6px 10px}
.scroll{max-height:360px;overflow:auto}
";

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn figure(id: &str, svg: &str, caption: &str) -> String {
    format!(
        r#"<figure data-chart="{id}">{svg}<figcaption>{}</figcaption></figure>"#,
        esc(caption)
    )
}

fn note(s: &mut String, text: &str) {
    let _ = write!(s, r#"<p class="note">{}</p>"#, esc(text));
}

fn candidate_label<M>(t: &TargetReport<M>, c: &Candidate<M>) -> String {
    if c.name == t.champion {
        format!("{} (champion)", c.name)
    } else {
        c.name.clone()
    }
}

fn header(d: &ReportData) -> String {
    format!(
        "<header><h1>fidelis run report: {}</h1><p>generated {} by {} · config {} (sha256 {}) · models {}</p></header>",
        esc(&d.run_date),
        esc(&d.generated_at),
        esc(&d.code_version),
        esc(&d.config_path),
        esc(d.config_hash.get(..12).unwrap_or(&d.config_hash)),
        esc(&d.train.model_version)
    )
}

fn cards(d: &ReportData) -> String {
    let churn = d.train.churn.champion_metrics();
    let clv: f64 = d.scores.clv.iter().sum();
    let sent: u64 = d
        .exports
        .as_ref()
        .map_or(0, |e| e.audiences.iter().map(|a| a.send).sum());
    let rejected: u64 = d.validation.tables.iter().map(|t| t.rows_rejected).sum();
    let mut s = String::from(r#"<div class="cards">"#);
    for (value, label) in [
        (thousands(d.scores.rows), "customers scored".to_string()),
        (
            churn.map_or("–".into(), |m| format!("{:.3}", m.roc_auc)),
            format!("churn ROC AUC ({})", d.train.churn.champion),
        ),
        (short(clv), "expected 12-month CLV, total".to_string()),
        (thousands(sent), "customers exported to send".to_string()),
        (thousands(rejected), "input rows quarantined".to_string()),
    ] {
        let _ = write!(
            s,
            r#"<div class="card"><b>{}</b><span>{}</span></div>"#,
            esc(&value),
            esc(&label)
        );
    }
    s.push_str("</div>");
    s
}

fn data_quality(d: &ReportData) -> String {
    let v = &d.validation;
    let mut s = String::from(
        "<section id=\"data-quality\"><h2>Data quality</h2><table><tr><th>table</th><th>files</th><th>rows read</th><th>accepted</th><th>rejected</th><th>after the run date</th><th>share</th><th>rejected by reason</th></tr>",
    );
    for t in &v.tables {
        let reasons: Vec<String> = t
            .rejected_by_reason
            .iter()
            .map(|(r, n)| format!("{r}: {}", thousands(*n)))
            .collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}%</td><td>{}</td></tr>",
            esc(&t.table),
            t.files.len(),
            thousands(t.rows_read),
            thousands(t.rows_accepted),
            thousands(t.rows_rejected),
            thousands(t.rows_after_run_date),
            100.0 * t.reject_share,
            esc(&reasons.join(", "))
        );
    }
    s.push_str("</table>");
    for t in &v.absent_tables {
        note(
            &mut s,
            &format!("{t} is not configured: its feature groups are left out."),
        );
    }
    let cats: Vec<String> = v.tables.iter().map(|t| t.table.clone()).collect();
    let groups = vec![
        (
            "accepted".to_string(),
            v.tables.iter().map(|t| t.rows_accepted as f64).collect(),
        ),
        (
            "rejected".to_string(),
            v.tables.iter().map(|t| t.rows_rejected as f64).collect(),
        ),
    ];
    let svg = grouped_bars("rows per table", &cats, &groups, ("table", "rows"), &short);
    s.push_str(&figure(
        "data-quality",
        &svg,
        &format!(
            "Rows read per input table, accepted and quarantined (rejects are published with their reason; the run fails above {:.1}% per table).",
            100.0 * v.max_reject_share
        ),
    ));
    s.push_str("</section>");
    s
}

fn features(d: &ReportData) -> String {
    let mut s = format!(
        "<section id=\"features\"><h2>Features as of {}</h2><p>{} customers, {} feature columns.</p>",
        esc(&d.run_date),
        thousands(d.feature_rows),
        d.features.len()
    );
    for g in &d.groups_left_out {
        note(
            &mut s,
            &format!("feature group left out (its table is not configured): {g}"),
        );
    }
    s.push_str("<div class=\"scroll\"><table><tr><th>feature</th><th>non-null</th><th>mean</th><th>min</th><th>median</th><th>max</th><th>distinct</th></tr>");
    for f in &d.features {
        let share = if d.feature_rows > 0 {
            f.non_null as f64 / d.feature_rows as f64
        } else {
            0.0
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.name),
            100.0 * share,
            opt(f.mean, 3),
            opt(f.min, 3),
            opt(f.median, 3),
            opt(f.max, 3),
            f.distinct.map_or_else(|| "–".into(), thousands)
        );
    }
    s.push_str("</table></div></section>");
    s
}

fn target_notes<M>(s: &mut String, t: &TargetReport<M>) {
    let refit = if t.refit_as_of.is_empty() {
        "the run date (probabilistic model)".to_string()
    } else {
        t.refit_as_of.join(", ")
    };
    let valid = t.validation_as_of.as_deref().unwrap_or("–");
    if t.validation_scheme == ValidationScheme::BtydOnly {
        let _ = write!(
            s,
            "<p>Not validated: the probabilistic models, fitted at the run date (the reason below).</p>"
        );
    } else if t.validation_scheme == ValidationScheme::CustomerSplit {
        let _ = write!(
            s,
            "<p>Too short a history for a training window before the validation window: the customers of the window at {} were split by a fixed hash of their id, trained on one half and validated on the other; champion {}.</p>",
            esc(valid),
            esc(&if t.refit_as_of.is_empty() {
                "fitted at the run date (probabilistic model)".to_string()
            } else {
                format!("refitted on the whole window ({refit})")
            })
        );
    } else {
        let _ = write!(
            s,
            "<p>Trained on cutoffs {}; validated out of time at {}; champion refitted on {}.</p>",
            esc(&t.train_as_of.join(", ")),
            esc(valid),
            esc(&refit)
        );
    }
    if let Some(f) = &t.fallback {
        note(s, &format!("fallback: {f}"));
    }
    if let Some(c) = &t.calibration {
        note(
            s,
            &format!(
                "{} calibrated by Platt scaling on {} predictions of the window at {}: on validation Brier {:.4} -> {:.4}, ECE {:.4} -> {:.4}; {}",
                c.champion,
                c.predictions.replace('_', " "),
                c.fitted_on,
                c.validation_brier_before,
                c.validation_brier_after,
                c.validation_ece_before,
                c.validation_ece_after,
                if c.applied {
                    "churn_probability is the calibrated probability"
                } else {
                    "not applied (it raised the validation Brier score)"
                }
            ),
        );
    }
    for w in &t.skipped_windows {
        note(s, &format!("window left out: {w}"));
    }
}

fn candidate_row<M>(
    s: &mut String,
    t: &TargetReport<M>,
    c: &Candidate<M>,
    cells: impl Fn(&M) -> Vec<String>,
    width: usize,
) {
    let champion = c.name == t.champion;
    let _ = write!(
        s,
        "<tr{}><td>{}{}</td><td>{}</td>",
        if champion { " class=\"champion\"" } else { "" },
        esc(&c.name),
        if champion {
            "<span class=\"badge\">champion</span>"
        } else {
            ""
        },
        esc(&c.role)
    );
    match &c.metrics {
        Some(m) => {
            for v in cells(m) {
                let _ = write!(s, "<td>{}</td>", esc(&v));
            }
        }
        None => {
            let _ = write!(
                s,
                "<td colspan=\"{width}\">not fitted: {}</td>",
                esc(c.error.as_deref().unwrap_or(""))
            );
        }
    }
    s.push_str("</tr>");
}

fn churn_section(d: &ReportData) -> String {
    let t = &d.train.churn;
    let mut s = format!(
        "<section id=\"churn\"><h2>Churn model: {} days</h2>",
        t.horizon_days
    );
    target_notes(&mut s, t);
    s.push_str("<table><tr><th>candidate</th><th>role</th><th>customers</th><th>churn rate</th><th>ROC AUC</th><th>PR AUC</th><th>Brier</th><th>calibration error (ECE)</th></tr>");
    for c in &t.candidates {
        candidate_row(
            &mut s,
            t,
            c,
            |m| {
                vec![
                    thousands(m.customers as u64),
                    pct(m.churn_rate),
                    format!("{:.4}", m.roc_auc),
                    format!("{:.4}", m.pr_auc),
                    opt(m.brier, 4),
                    opt(m.ece, 4),
                ]
            },
            6,
        );
    }
    s.push_str("</table><div class=\"figs\">");
    let mut roc: Vec<Series> = t
        .candidates
        .iter()
        .filter_map(|c| {
            let m = c.metrics.as_ref()?;
            (!m.roc_curve.is_empty()).then(|| Series {
                name: candidate_label(t, c),
                points: m.roc_curve.iter().map(|p| (p.fpr, p.tpr)).collect(),
                reference: false,
            })
        })
        .collect();
    if !roc.is_empty() {
        roc.push(Series {
            name: "random".into(),
            points: vec![(0.0, 0.0), (1.0, 1.0)],
            reference: true,
        });
        let svg = line_chart(
            "ROC curves",
            &roc,
            (0.0, 1.0),
            (0.0, 1.0),
            ("false positive rate", "true positive rate"),
            (&pct, &pct),
        );
        s.push_str(&figure(
            "roc",
            &svg,
            &format!(
                "ROC curves of every candidate on the validation window ({}).",
                t.validation_as_of.as_deref().unwrap_or("–")
            ),
        ));
    }
    let champion = t.candidates.iter().find(|c| c.name == t.champion);
    if let Some(m) = champion.and_then(|c| c.metrics.as_ref()) {
        if let Some(cal) = &m.calibration {
            let svg = line_chart(
                "calibration",
                &[
                    Series {
                        name: t.champion.clone(),
                        points: cal
                            .iter()
                            .map(|b| (b.mean_predicted, b.observed_rate))
                            .collect(),
                        reference: false,
                    },
                    Series {
                        name: "perfect".into(),
                        points: vec![(0.0, 0.0), (1.0, 1.0)],
                        reference: true,
                    },
                ],
                (0.0, 1.0),
                (0.0, 1.0),
                ("mean predicted churn probability", "observed churn rate"),
                (&pct, &pct),
            );
            s.push_str(&figure(
                "calibration",
                &svg,
                if t.calibration.as_ref().is_some_and(|c| c.applied) {
                    "Calibration of the champion's raw probability by decile of its prediction (churn_probability is it after the Platt map noted above): points on the diagonal are well calibrated."
                } else {
                    "Calibration of the champion by decile of its prediction: points on the diagonal are well calibrated."
                },
            ));
        }
        if !m.gains.is_empty() {
            let cats: Vec<String> = (1..=10).map(|k| k.to_string()).collect();
            let svg = grouped_bars(
                "lift by decile",
                &cats,
                &[(t.champion.clone(), m.gains.iter().map(|g| g.lift).collect())],
                ("decile of predicted risk (1 = highest)", "lift"),
                &|v| format!("{v:.1}"),
            );
            s.push_str(&figure(
                "lift",
                &svg,
                "Lift: churn rate of each decile of the champion's score over the overall churn rate.",
            ));
            let mut pts = vec![(0.0, 0.0)];
            pts.extend(
                m.gains
                    .iter()
                    .map(|g| (g.cumulative_customers, g.cumulative_gain)),
            );
            let svg = line_chart(
                "cumulative gains",
                &[
                    Series {
                        name: t.champion.clone(),
                        points: pts,
                        reference: false,
                    },
                    Series {
                        name: "random".into(),
                        points: vec![(0.0, 0.0), (1.0, 1.0)],
                        reference: true,
                    },
                ],
                (0.0, 1.0),
                (0.0, 1.0),
                ("share of customers contacted", "share of churners reached"),
                (&pct, &pct),
            );
            s.push_str(&figure(
                "gains",
                &svg,
                "Cumulative gains: contacting the riskiest customers first, the share of all churners reached.",
            ));
        }
    }
    s.push_str("</div></section>");
    s
}

fn revenue_section(d: &ReportData) -> String {
    let mut s = String::from("<section id=\"revenue\"><h2>Revenue and CLV models</h2>");
    for t in &d.train.revenue {
        let _ = write!(s, "<h3>{} days</h3>", t.horizon_days);
        target_notes(&mut s, t);
        s.push_str("<table><tr><th>candidate</th><th>role</th><th>customers</th><th>normalized Gini</th><th>Spearman</th><th>top-decile capture</th><th>decile WAPE</th><th>decile MAPE</th><th>predicted / actual</th></tr>");
        for c in &t.candidates {
            candidate_row(
                &mut s,
                t,
                c,
                |m| {
                    vec![
                        thousands(m.customers as u64),
                        format!("{:.4}", m.normalized_gini),
                        format!("{:.4}", m.spearman),
                        pct(m.top_decile_capture),
                        format!("{:.3}", m.decile_wape),
                        format!("{:.3}", m.decile_mape),
                        format!("{:.3}", m.total_ratio),
                    ]
                },
                7,
            );
        }
        s.push_str("</table>");
        if let Some(m) = t.champion_metrics().filter(|m| !m.deciles.is_empty()) {
            let cats: Vec<String> = (1..=10).map(|k| k.to_string()).collect();
            let svg = grouped_bars(
                &format!("predicted and actual revenue, {} days", t.horizon_days),
                &cats,
                &[
                    (
                        "predicted".into(),
                        m.deciles.iter().map(|x| x.mean_predicted).collect(),
                    ),
                    (
                        "actual".into(),
                        m.deciles.iter().map(|x| x.mean_actual).collect(),
                    ),
                ],
                (
                    "decile of predicted revenue (1 = highest)",
                    "mean revenue per customer",
                ),
                &short,
            );
            s.push_str(&figure(
                "revenue-deciles",
                &svg,
                &format!(
                    "Champion ({}) on the validation window: mean predicted and actual revenue over {} days per decile of the prediction.",
                    t.champion, t.horizon_days
                ),
            ));
        }
    }
    s.push_str("</section>");
    s
}

fn drift_figure(
    id: &str,
    what: &str,
    previous: &[f64],
    current: &[f64],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let Ok(Psi {
        edges,
        expected,
        actual,
        psi,
    }) = psi(previous, current, DRIFT_BINS)
    else {
        return String::new();
    };
    let mut cats = Vec::new();
    for k in 0..expected.len() {
        cats.push(match k {
            0 => format!("<{}", fmt(edges[0])),
            k => format!("≥{}", fmt(edges[k - 1])),
        });
    }
    let svg = grouped_bars(
        &format!("{what} distribution against the previous run"),
        &cats,
        &[
            ("previous run".into(), expected),
            ("this run".into(), actual),
        ],
        (
            &format!("{what}, bins of the previous run's deciles"),
            "share of customers",
        ),
        &pct,
    );
    let reading = if psi < 0.1 {
        "stable"
    } else if psi < 0.25 {
        "a moderate shift"
    } else {
        "a major shift: check the inputs and the models before using the scores"
    };
    figure(
        id,
        &svg,
        &format!("{what}: population stability index (PSI) {psi:.4}, {reading}."),
    )
}

fn scores_section(d: &ReportData) -> String {
    let sc = &d.scores;
    let mut s = format!(
        "<section id=\"segments\"><h2>Scores and segments</h2><p>{} customers scored.</p><div class=\"figs\">",
        thousands(sc.rows)
    );
    let items: Vec<(String, f64)> = sc
        .segments
        .iter()
        .map(|(n, c)| (n.clone(), *c as f64))
        .collect();
    s.push_str(&figure(
        "segments",
        &hbars("segment sizes", &items, &short),
        "Customers per RFM segment (rules in the job's [segments] config).",
    ));
    let values = ["top", "mid", "low"];
    let risks = ["low", "medium", "high"];
    let cells: Vec<Vec<f64>> = values
        .iter()
        .map(|v| {
            risks
                .iter()
                .map(|r| {
                    sc.value_risk
                        .get(&(v.to_string(), r.to_string()))
                        .map_or(0.0, |c| c.customers as f64)
                })
                .collect()
        })
        .collect();
    let text = |i: usize, j: usize| {
        let c = sc
            .value_risk
            .get(&(values[i].to_string(), risks[j].to_string()))
            .copied()
            .unwrap_or_default();
        format!("{} · CLV {}", thousands(c.customers), short(c.clv_12m))
    };
    let svg = heatmap(
        "value x risk",
        &values
            .iter()
            .map(|v| format!("value {v}"))
            .collect::<Vec<_>>(),
        &risks
            .iter()
            .map(|r| format!("risk {r}"))
            .collect::<Vec<_>>(),
        &cells,
        ("value tier", "churn risk tier"),
        &text,
    );
    s.push_str(&figure(
        "value-risk",
        &svg,
        "Customers (and their expected 12-month CLV) by value tier (CLV deciles) and churn risk tier.",
    ));
    match &d.previous {
        Some(p) => {
            s.push_str(&drift_figure(
                "churn-drift",
                "churn probability",
                &p.churn,
                &sc.churn,
                &|v| format!("{v:.2}"),
            ));
            s.push_str(&drift_figure(
                "clv-drift",
                "12-month CLV",
                &p.clv,
                &sc.clv,
                &short,
            ));
            s.push_str("</div>");
            let _ = write!(
                s,
                "<p>Compared with the run of {} (run id {}).</p>",
                esc(&p.run_date),
                esc(&p.run_id)
            );
        }
        None => {
            s.push_str("</div>");
            note(
                &mut s,
                "No earlier published run: the score drift figures start with the next run.",
            );
        }
    }
    s.push_str("<h3>Next actions</h3><table><tr><th>next action</th><th>customers</th></tr>");
    for (a, n) in &sc.next_actions {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", esc(a), thousands(*n));
    }
    s.push_str("</table></section>");
    s
}

fn audiences_section(d: &ReportData) -> String {
    let mut s = String::from("<section id=\"audiences\"><h2>Audiences exported</h2>");
    let Some(e) = &d.exports else {
        note(
            &mut s,
            "No audiences are configured ([exports] in the job config).",
        );
        s.push_str("</section>");
        return s;
    };
    let _ = write!(
        s,
        "<p>Control share {}: control customers are held out of the send file and kept for measuring the campaign.</p>",
        pct(e.control_share)
    );
    s.push_str("<table><tr><th>audience</th><th>channel</th><th>matched</th><th>in an earlier audience</th><th>no consent</th><th>unsubscribed</th><th>over the cap</th><th>send</th><th>control</th></tr>");
    for a in &e.audiences {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.audience),
            esc(&a.channel),
            thousands(a.matched),
            thousands(a.in_earlier_audience),
            thousands(a.excluded_no_consent),
            thousands(a.excluded_unsubscribed),
            thousands(a.capped),
            thousands(a.send),
            thousands(a.control)
        );
    }
    s.push_str("</table>");
    if !e.audiences.is_empty() {
        let cats: Vec<String> = e.audiences.iter().map(|a| a.slug.clone()).collect();
        let col = |f: &dyn Fn(&fidelis_engine::exports::AudienceSummary) -> u64| -> Vec<f64> {
            e.audiences.iter().map(|a| f(a) as f64).collect()
        };
        let svg = grouped_bars(
            "audiences",
            &cats,
            &[
                ("send".into(), col(&|a| a.send)),
                ("control".into(), col(&|a| a.control)),
                (
                    "excluded (consent, unsubscribed)".into(),
                    col(&|a| a.excluded_no_consent + a.excluded_unsubscribed),
                ),
            ],
            ("audience", "customers"),
            &short,
        );
        s.push_str(&figure(
            "audiences",
            &svg,
            "Per audience: customers in the send file, in the control group, and left out for lack of consent or an unsubscribe.",
        ));
    }
    s.push_str("</section>");
    s
}

/// The whole page.
pub fn render(d: &ReportData) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>fidelis run report {}</title><style>{CSS}</style></head><body>",
        esc(&d.run_date)
    );
    s.push_str(&header(d));
    s.push_str("<main>");
    s.push_str(&cards(d));
    s.push_str(&data_quality(d));
    s.push_str(&features(d));
    s.push_str(&churn_section(d));
    s.push_str(&revenue_section(d));
    s.push_str(&scores_section(d));
    s.push_str(&audiences_section(d));
    s.push_str("</main></body></html>\n");
    s
}
