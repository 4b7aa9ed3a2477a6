//! One customer's life, simulated, and the columnar buffers it is written into.
//!
//! The story is the BG/NBD one (Fader, Hardie and Lee 2005), extended with the
//! signals a retailer actually sees:
//! 1. A customer signs up (acquired through a channel, at a cost) and, unless a
//!    prospect, makes a first purchase a few days later.
//! 2. While alive, purchases follow a Poisson process with a customer-specific
//!    rate lambda ~ Gamma(r, alpha). After each *repeat* purchase the customer
//!    drops out with a customer-specific probability p. So the dropout time
//!    after the first purchase is exponential with rate lambda * p, and
//!    P(alive at time T after the first purchase) = exp(-lambda p T) exactly:
//!    the truth test relies on it.
//! 3. p depends on two latent traits, satisfaction s and engagement e: unhappy
//!    and disengaged customers leave more. s drives support tickets,
//!    complaints, NPS and CSAT answers, reviews and returns; e drives opens,
//!    clicks, visits and social activity. After dropout a customer mostly stops
//!    opening, clicking and visiting. That is the signal engagement features
//!    can use and plain RFM cannot.
//! 4. Order values follow Gamma-Gamma: each order ~ Gamma(p, nu), nu ~
//!    Gamma(q, gamma), split into 1-3 lines across the customer's favourite
//!    categories and channels; some lines are returned later.
//! 5. The simulation runs past the end date to fill the truth (orders and
//!    revenue in the 90 and 365 days after it); those events never reach the
//!    data files.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rand::{Rng, RngCore};
use rand_distr::{Beta, Distribution, Exp, Gamma, StandardNormal};

use crate::params::SimParams;

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

pub const ORDER_CHANNELS: [&str; 5] = ["store", "web", "app", "marketplace", "phone"];
pub const CATEGORIES: [&str; 8] = [
    "apparel",
    "shoes",
    "beauty",
    "home",
    "electronics",
    "sports",
    "kids",
    "grocery",
];
pub const COUNTRIES: [(&str, f64); 6] = [
    ("US", 0.45),
    ("GB", 0.15),
    ("DE", 0.15),
    ("FR", 0.1),
    ("NL", 0.08),
    ("ES", 0.07),
];

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn purchases_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, true),
        Field::new("line_id", DataType::Int64, true),
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("order_ts", ts_type(), true),
        Field::new("amount", DataType::Float64, true),
        Field::new("quantity", DataType::Int64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
    ]))
}

pub fn interactions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("event_ts", ts_type(), true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

pub fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("signup_ts", ts_type(), true),
        Field::new("email", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("consent_email", DataType::Boolean, true),
        Field::new("consent_sms", DataType::Boolean, true),
        Field::new("consent_push", DataType::Boolean, true),
        Field::new("consent_ads", DataType::Boolean, true),
        Field::new("acquisition_channel", DataType::Utf8, true),
        Field::new("acquisition_cost", DataType::Float64, true),
    ]))
}

pub fn truth_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("is_prospect", DataType::Boolean, false),
        Field::new("first_purchase_ts", ts_type(), true),
        Field::new("exposure_days", DataType::Float64, true),
        Field::new("alive_at_end", DataType::Boolean, false),
        Field::new("dropout_ts", ts_type(), true),
        Field::new("lambda_per_day", DataType::Float64, false),
        Field::new("p0", DataType::Float64, false),
        Field::new("dropout_p", DataType::Float64, false),
        Field::new("engagement", DataType::Float64, false),
        Field::new("satisfaction", DataType::Float64, false),
        Field::new("nu", DataType::Float64, false),
        Field::new("order_days_90d", DataType::Int64, false),
        Field::new("orders_90d", DataType::Int64, false),
        Field::new("revenue_90d", DataType::Float64, false),
        Field::new("order_days_365d", DataType::Int64, false),
        Field::new("orders_365d", DataType::Int64, false),
        Field::new("revenue_365d", DataType::Float64, false),
    ]))
}

/// Where the simulated span sits on the calendar.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Microseconds of the start day's midnight (UTC).
    pub start_micros: i64,
    /// Days from the start to the end of the data (the end date is inclusive,
    /// so this is `end - start + 1`).
    pub data_days: f64,
}

impl Span {
    fn micros(&self, t_days: f64) -> i64 {
        self.start_micros + (t_days * MICROS_PER_DAY) as i64
    }
}

/// Columnar buffers for a chunk of customers.
#[derive(Debug)]
pub struct Buffers {
    p_order_id: StringBuilder,
    p_line_id: Int64Builder,
    p_customer_id: StringBuilder,
    p_ts: TimestampMicrosecondBuilder,
    p_amount: Float64Builder,
    p_quantity: Int64Builder,
    p_channel: StringBuilder,
    p_category: StringBuilder,

    i_customer_id: StringBuilder,
    i_ts: TimestampMicrosecondBuilder,
    i_channel: StringBuilder,
    i_event_type: StringBuilder,
    i_value: Float64Builder,

    c_customer_id: StringBuilder,
    c_signup: TimestampMicrosecondBuilder,
    c_email: StringBuilder,
    c_country: StringBuilder,
    c_consent: [BooleanBuilder; 4],
    c_acq_channel: StringBuilder,
    c_acq_cost: Float64Builder,

    t_customer_id: StringBuilder,
    t_is_prospect: BooleanBuilder,
    t_first: TimestampMicrosecondBuilder,
    t_exposure: Float64Builder,
    t_alive: BooleanBuilder,
    t_dropout: TimestampMicrosecondBuilder,
    t_lambda: Float64Builder,
    t_p0: Float64Builder,
    t_p: Float64Builder,
    t_e: Float64Builder,
    t_s: Float64Builder,
    t_nu: Float64Builder,
    t_counts: [Int64Builder; 4],
    t_revenue: [Float64Builder; 2],
}

impl Default for Buffers {
    fn default() -> Self {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        Buffers {
            p_order_id: StringBuilder::new(),
            p_line_id: Int64Builder::new(),
            p_customer_id: StringBuilder::new(),
            p_ts: ts(),
            p_amount: Float64Builder::new(),
            p_quantity: Int64Builder::new(),
            p_channel: StringBuilder::new(),
            p_category: StringBuilder::new(),
            i_customer_id: StringBuilder::new(),
            i_ts: ts(),
            i_channel: StringBuilder::new(),
            i_event_type: StringBuilder::new(),
            i_value: Float64Builder::new(),
            c_customer_id: StringBuilder::new(),
            c_signup: ts(),
            c_email: StringBuilder::new(),
            c_country: StringBuilder::new(),
            c_consent: std::array::from_fn(|_| BooleanBuilder::new()),
            c_acq_channel: StringBuilder::new(),
            c_acq_cost: Float64Builder::new(),
            t_customer_id: StringBuilder::new(),
            t_is_prospect: BooleanBuilder::new(),
            t_first: ts(),
            t_exposure: Float64Builder::new(),
            t_alive: BooleanBuilder::new(),
            t_dropout: ts(),
            t_lambda: Float64Builder::new(),
            t_p0: Float64Builder::new(),
            t_p: Float64Builder::new(),
            t_e: Float64Builder::new(),
            t_s: Float64Builder::new(),
            t_nu: Float64Builder::new(),
            t_counts: std::array::from_fn(|_| Int64Builder::new()),
            t_revenue: std::array::from_fn(|_| Float64Builder::new()),
        }
    }
}

/// The record batches of one chunk, one per table.
#[derive(Debug)]
pub struct ChunkBatches {
    pub purchases: RecordBatch,
    pub interactions: RecordBatch,
    pub customers: RecordBatch,
    pub truth: RecordBatch,
}

fn batch(schema: SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    // The builders are filled in lockstep by this module, so a length or type
    // mismatch is a bug in this file, caught by every test that generates data.
    #[expect(clippy::expect_used, reason = "columns are built in lockstep above")]
    RecordBatch::try_new(schema, cols).expect("generator builds consistent columns")
}

impl Buffers {
    pub fn finish(mut self) -> ChunkBatches {
        let purchases = batch(
            purchases_schema(),
            vec![
                Arc::new(self.p_order_id.finish()),
                Arc::new(self.p_line_id.finish()),
                Arc::new(self.p_customer_id.finish()),
                Arc::new(self.p_ts.finish()),
                Arc::new(self.p_amount.finish()),
                Arc::new(self.p_quantity.finish()),
                Arc::new(self.p_channel.finish()),
                Arc::new(self.p_category.finish()),
            ],
        );
        let interactions = batch(
            interactions_schema(),
            vec![
                Arc::new(self.i_customer_id.finish()),
                Arc::new(self.i_ts.finish()),
                Arc::new(self.i_channel.finish()),
                Arc::new(self.i_event_type.finish()),
                Arc::new(self.i_value.finish()),
            ],
        );
        let [c0, c1, c2, c3] = &mut self.c_consent;
        let customers = batch(
            customers_schema(),
            vec![
                Arc::new(self.c_customer_id.finish()),
                Arc::new(self.c_signup.finish()),
                Arc::new(self.c_email.finish()),
                Arc::new(self.c_country.finish()),
                Arc::new(c0.finish()),
                Arc::new(c1.finish()),
                Arc::new(c2.finish()),
                Arc::new(c3.finish()),
                Arc::new(self.c_acq_channel.finish()),
                Arc::new(self.c_acq_cost.finish()),
            ],
        );
        let [n0, n1, n2, n3] = &mut self.t_counts;
        let [r0, r1] = &mut self.t_revenue;
        let truth = batch(
            truth_schema(),
            vec![
                Arc::new(self.t_customer_id.finish()),
                Arc::new(self.t_is_prospect.finish()),
                Arc::new(self.t_first.finish()),
                Arc::new(self.t_exposure.finish()),
                Arc::new(self.t_alive.finish()),
                Arc::new(self.t_dropout.finish()),
                Arc::new(self.t_lambda.finish()),
                Arc::new(self.t_p0.finish()),
                Arc::new(self.t_p.finish()),
                Arc::new(self.t_e.finish()),
                Arc::new(self.t_s.finish()),
                Arc::new(self.t_nu.finish()),
                Arc::new(n0.finish()),
                Arc::new(n1.finish()),
                Arc::new(r0.finish()),
                Arc::new(n2.finish()),
                Arc::new(n3.finish()),
                Arc::new(r1.finish()),
            ],
        );
        ChunkBatches {
            purchases,
            interactions,
            customers,
            truth,
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

fn pick_weighted<R: Rng + ?Sized>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

fn exp_sample<R: Rng + ?Sized>(rng: &mut R, rate: f64) -> f64 {
    match Exp::new(rate) {
        Ok(d) => d.sample(rng),
        Err(_) => f64::INFINITY,
    }
}

fn gamma_sample<R: Rng + ?Sized>(rng: &mut R, shape: f64, rate: f64) -> f64 {
    match Gamma::new(shape, 1.0 / rate) {
        Ok(d) => d.sample(rng),
        Err(_) => shape / rate,
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One interaction event before it is sorted and written.
#[derive(Debug, Clone, Copy)]
struct Event {
    t: f64,
    channel: &'static str,
    event_type: &'static str,
    value: Option<f64>,
}

/// What one customer did in the future window, for the truth table.
#[derive(Debug, Default, Clone, Copy)]
struct Future {
    order_days: [i64; 2],
    orders: [i64; 2],
    revenue: [f64; 2],
}

const HORIZONS: [f64; 2] = [90.0, 365.0];

impl Future {
    /// Add `amount` at time `t` (days since start) when it falls in a window.
    fn add(&mut self, span: &Span, t: f64, amount: f64, new_order: bool, new_day: bool) {
        for (k, h) in HORIZONS.iter().enumerate() {
            if t >= span.data_days && t < span.data_days + h {
                self.revenue[k] += amount;
                if new_order {
                    self.orders[k] += 1;
                }
                if new_day {
                    self.order_days[k] += 1;
                }
            }
        }
    }
}

/// Simulate customer `index` with its own random stream and append its rows.
pub fn simulate_customer<R: Rng + RngCore>(
    index: u64,
    rng: &mut R,
    params: &SimParams,
    span: &Span,
    buf: &mut Buffers,
) {
    let p = params;
    let cid = format!("c{index:08}");
    let end = span.data_days;

    // --- acquisition ------------------------------------------------------
    // Linear growth density f(u) ∝ 1 + g u on [0, 1]: invert its CDF.
    let g = p.signup_growth;
    let u: f64 = rng.random();
    let frac = if g.abs() < 1e-9 {
        u
    } else {
        ((1.0 + g * (2.0 + g) * u).sqrt() - 1.0) / g
    };
    let signup = frac * end;
    let acq_weights: Vec<f64> = p.acquisition_channels.iter().map(|c| c.1).collect();
    let acq = pick_weighted(rng, &acq_weights);
    let (acq_name, _, acq_cost_mean) = &p.acquisition_channels[acq];
    let z: f64 = rng.sample(StandardNormal);
    let acq_cost = cents(acq_cost_mean * (0.3 * z - 0.045).exp());

    // --- latent traits ----------------------------------------------------
    let z1: f64 = rng.sample(StandardNormal);
    let z2: f64 = rng.sample(StandardNormal);
    let rho = p.trait_correlation;
    let mut engagement = z1;
    let mut satisfaction = rho * z1 + (1.0 - rho * rho).sqrt() * z2;
    match acq_name.as_str() {
        "referral" => satisfaction += 0.3,
        "paid_social" => engagement += 0.2,
        "paid_search" => satisfaction -= 0.1,
        _ => {}
    }
    let lambda = gamma_sample(rng, p.r, p.alpha);
    let p0 = Beta::new(p.a, p.b).map(|d| d.sample(rng)).unwrap_or(0.5);
    let dropout_p = sigmoid(
        logit(p0) - p.satisfaction_effect * satisfaction - p.engagement_effect * engagement,
    );
    let nu = gamma_sample(rng, p.spend_q, p.spend_gamma);
    let is_prospect = rng.random_bool(p.prospect_share);
    let uses_app = rng.random_bool((p.app_share * (0.3 * engagement).exp()).min(0.95));

    // Channel and category preferences.
    let mut chan_w = [0.0f64; 5];
    for w in chan_w.iter_mut() {
        *w = gamma_sample(rng, 0.5, 1.0);
    }
    if !uses_app {
        chan_w[2] = 0.0;
    }
    if acq_name == "marketplace" {
        chan_w[3] += 1.0;
    }
    let mut cat_w = [0.0f64; 8];
    for w in cat_w.iter_mut() {
        *w = gamma_sample(rng, 0.4, 1.0);
    }

    // --- purchases ----------------------------------------------------------
    let horizon_end = end + HORIZONS[1];
    let mut first_purchase = None;
    let mut dropout_at = f64::INFINITY;
    let mut future = Future::default();
    let mut purchase_times: Vec<f64> = Vec::new();
    if !is_prospect {
        let t0 = signup + exp_sample(rng, 1.0 / p.first_purchase_delay_days);
        if t0 < horizon_end {
            first_purchase = Some(t0);
            purchase_times.push(t0);
            let mut t = t0;
            loop {
                t += exp_sample(rng, lambda);
                if t >= horizon_end {
                    break;
                }
                purchase_times.push(t);
                if rng.random_bool(dropout_p) {
                    dropout_at = t;
                    break;
                }
            }
        }
    }
    let active_until = match first_purchase {
        Some(_) => dropout_at,
        None => signup + exp_sample(rng, 1.0 / p.prospect_engaged_days),
    };

    let mut events: Vec<Event> = Vec::new();
    let mut last_day = i64::MIN;
    let ticket_p = (p.ticket_base * (-p.ticket_satisfaction * satisfaction).exp()).min(0.6);
    let return_p = (p.return_share * (-0.4 * satisfaction).exp()).min(0.5);
    for (n, &t) in purchase_times.iter().enumerate() {
        let order_id = format!("{cid}-{n:04}");
        let value = gamma_sample(rng, p.spend_p, nu);
        let n_lines = 1 + usize::from(rng.random_bool(0.35)) + usize::from(rng.random_bool(0.15));
        let chan = ORDER_CHANNELS[pick_weighted(rng, &chan_w)];
        let mut split = [0.0f64; 3];
        for s in split.iter_mut().take(n_lines) {
            *s = 0.5 + rng.random::<f64>();
        }
        let split_total: f64 = split.iter().sum();
        let day = t.floor() as i64;
        let new_day = day != last_day;
        last_day = day;
        let in_data = t < end;
        if !in_data {
            future.add(span, t, 0.0, true, new_day);
        }
        for (line, share) in split.iter().take(n_lines).enumerate() {
            let amount = cents(value * share / split_total);
            let category = CATEGORIES[pick_weighted(rng, &cat_w)];
            let quantity = 1 + i64::from(rng.random_bool(0.25)) + i64::from(rng.random_bool(0.08));
            let line_id = line as i64 + 1;
            if in_data {
                push_purchase(
                    buf,
                    &order_id,
                    line_id,
                    &cid,
                    span.micros(t),
                    amount,
                    quantity,
                    chan,
                    category,
                );
                if p.dirty_share > 0.0 && rng.random_bool(p.dirty_share) {
                    push_dirty_purchase(
                        rng, buf, &order_id, line_id, &cid, span, t, amount, quantity, chan,
                        category,
                    );
                }
            } else {
                future.add(span, t, amount, false, false);
            }
            if rng.random_bool(return_p) {
                let tr = t + 3.0 + 27.0 * rng.random::<f64>();
                if tr < end {
                    push_purchase(
                        buf,
                        &order_id,
                        100 + line_id,
                        &cid,
                        span.micros(tr),
                        -amount,
                        -quantity,
                        chan,
                        category,
                    );
                } else {
                    future.add(span, tr, -amount, false, false);
                }
            }
        }
        if !in_data {
            continue;
        }
        // Service, satisfaction and reviews after an order.
        if rng.random_bool(ticket_p) {
            let tt = t + 0.5 + 9.5 * rng.random::<f64>();
            events.push(Event {
                t: tt,
                channel: "support",
                event_type: "ticket",
                value: None,
            });
            if rng.random_bool((0.3 * (-0.5 * satisfaction).exp()).min(0.9)) {
                events.push(Event {
                    t: tt + 0.01,
                    channel: "support",
                    event_type: "complaint",
                    value: None,
                });
            }
            if rng.random_bool(0.5) {
                let csat = (3.6 + 0.9 * satisfaction + 0.6 * rng.sample::<f64, _>(StandardNormal))
                    .round()
                    .clamp(1.0, 5.0);
                events.push(Event {
                    t: tt + 1.0,
                    channel: "survey",
                    event_type: "csat",
                    value: Some(csat),
                });
            }
        }
        if rng.random_bool(p.nps_survey_share)
            && rng.random_bool((p.nps_answer_share * (0.4 * engagement).exp()).min(0.95))
        {
            let nps = (7.2 + 2.0 * satisfaction + 1.2 * rng.sample::<f64, _>(StandardNormal))
                .round()
                .clamp(0.0, 10.0);
            events.push(Event {
                t: t + 1.0 + 6.0 * rng.random::<f64>(),
                channel: "survey",
                event_type: "nps",
                value: Some(nps),
            });
        }
        if rng.random_bool(0.04 * (0.5 * engagement).exp().min(5.0)) {
            let stars = (4.0 + 0.8 * satisfaction + 0.7 * rng.sample::<f64, _>(StandardNormal))
                .round()
                .clamp(1.0, 5.0);
            events.push(Event {
                t: t + 5.0 + 10.0 * rng.random::<f64>(),
                channel: "social",
                event_type: "review",
                value: Some(stars),
            });
        }
    }

    // --- consents and messaging ------------------------------------------------
    let consent = |rng: &mut R, share: f64| -> Option<bool> {
        if rng.random_bool(p.consent_null_share) {
            None
        } else {
            Some(rng.random_bool(share))
        }
    };
    let mut consent_email = consent(rng, p.consent_email);
    let mut consent_sms = consent(rng, p.consent_sms);
    let mut consent_push = if uses_app {
        consent(rng, p.consent_push)
    } else {
        Some(false)
    };
    let consent_ads = consent(rng, p.consent_ads);
    let open_p = sigmoid(logit(p.open_base) + p.open_engagement * engagement);
    let phase = rng.random_range(0..p.sms_every_days.max(p.push_every_days)) as f64;
    for (channel, every, consent_flag, opens) in [
        ("email", p.email_every_days, &mut consent_email, true),
        ("sms", p.sms_every_days, &mut consent_sms, false),
        ("push", p.push_every_days, &mut consent_push, true),
    ] {
        if *consent_flag != Some(true) {
            continue;
        }
        let every = f64::from(every);
        // Campaigns go out on a fixed calendar (email: the same weekday).
        let offset = if channel == "email" {
            1.0
        } else {
            phase % every
        };
        let mut day = ((signup - offset) / every).ceil() * every + offset;
        while day < end {
            let t = day + 0.4 + 0.2 * rng.random::<f64>();
            day += every;
            if t < signup || (channel == "email" && !rng.random_bool(p.email_send_share)) {
                continue;
            }
            let active = t < active_until;
            let factor = if active { 1.0 } else { p.inactive_factor };
            events.push(Event {
                t,
                channel,
                event_type: "send",
                value: None,
            });
            let opened = rng.random_bool((open_p * factor).min(1.0));
            if opens && opened {
                events.push(Event {
                    t: t + 0.05,
                    channel,
                    event_type: "open",
                    value: None,
                });
            }
            if opened && rng.random_bool(p.click_given_open * if active { 1.0 } else { 0.5 }) {
                events.push(Event {
                    t: t + 0.06,
                    channel,
                    event_type: "click",
                    value: None,
                });
            }
            let unsub = if active {
                p.unsubscribe_active
            } else {
                p.unsubscribe_inactive
            };
            if rng.random_bool(unsub * (-0.3 * engagement).exp().min(3.0)) {
                events.push(Event {
                    t: t + 0.1,
                    channel,
                    event_type: "unsubscribe",
                    value: None,
                });
                *consent_flag = Some(false);
                break;
            }
        }
    }

    // --- visits and social activity -----------------------------------------------
    let visit_rate = (p.visit_per_purchase * lambda + p.visit_base) * (0.3 * engagement).exp();
    let mut t = signup;
    loop {
        let active = t < active_until;
        let rate = if active {
            visit_rate
        } else {
            visit_rate * p.inactive_factor
        };
        t += exp_sample(rng, rate);
        if t >= end {
            break;
        }
        let channel = if uses_app && rng.random_bool(0.5) {
            "app"
        } else {
            "web"
        };
        events.push(Event {
            t,
            channel,
            event_type: "visit",
            value: Some((2.0 + 6.0 * rng.random::<f64>()).round()),
        });
        if rng.random_bool(0.25) {
            events.push(Event {
                t: t + 0.001,
                channel,
                event_type: "cart_add",
                value: None,
            });
            if rng.random_bool(0.5) {
                events.push(Event {
                    t: t + 0.02,
                    channel,
                    event_type: "cart_abandon",
                    value: None,
                });
            }
        }
    }
    let social_rate = p.social_rate * engagement.exp();
    let mut t = signup;
    loop {
        t += exp_sample(rng, social_rate);
        if t >= end.min(active_until) {
            break;
        }
        let kind = if rng.random_bool(0.7) {
            "like"
        } else {
            "share"
        };
        events.push(Event {
            t,
            channel: "social",
            event_type: kind,
            value: None,
        });
    }

    events.retain(|e| e.t < end);
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    for e in &events {
        buf.i_customer_id.append_value(&cid);
        buf.i_ts.append_value(span.micros(e.t));
        buf.i_channel.append_value(e.channel);
        buf.i_event_type.append_value(e.event_type);
        buf.i_value.append_option(e.value);
        if p.dirty_share > 0.0 && rng.random_bool(p.dirty_share) {
            // An exact duplicate, as an event pipeline that retried would send.
            buf.i_customer_id.append_value(&cid);
            buf.i_ts.append_value(span.micros(e.t));
            buf.i_channel.append_value(e.channel);
            buf.i_event_type.append_value(e.event_type);
            buf.i_value.append_option(e.value);
        }
    }

    // --- customers snapshot (guests are missing from it) ----------------------------
    let is_guest = first_purchase.is_some() && rng.random_bool(p.guest_share);
    if !is_guest && signup < end {
        buf.c_customer_id.append_value(&cid);
        buf.c_signup.append_value(span.micros(signup));
        buf.c_email
            .append_value(format!("Customer.{index}@Example.com "));
        let cw: Vec<f64> = COUNTRIES.iter().map(|c| c.1).collect();
        buf.c_country
            .append_value(COUNTRIES[pick_weighted(rng, &cw)].0);
        for (b, v) in
            buf.c_consent
                .iter_mut()
                .zip([consent_email, consent_sms, consent_push, consent_ads])
        {
            b.append_option(v);
        }
        buf.c_acq_channel.append_value(acq_name);
        buf.c_acq_cost.append_value(acq_cost);
    }

    // --- truth ---------------------------------------------------------------------
    buf.t_customer_id.append_value(&cid);
    buf.t_is_prospect
        .append_value(first_purchase.is_none() || first_purchase.is_some_and(|t0| t0 >= end));
    let first_in_data = first_purchase.filter(|t0| *t0 < end);
    buf.t_first
        .append_option(first_in_data.map(|t0| span.micros(t0)));
    buf.t_exposure
        .append_option(first_in_data.map(|t0| end - t0));
    buf.t_alive
        .append_value(first_in_data.is_some() && dropout_at >= end);
    buf.t_dropout
        .append_option(dropout_at.is_finite().then(|| span.micros(dropout_at)));
    buf.t_lambda.append_value(lambda);
    buf.t_p0.append_value(p0);
    buf.t_p.append_value(dropout_p);
    buf.t_e.append_value(engagement);
    buf.t_s.append_value(satisfaction);
    buf.t_nu.append_value(nu);
    buf.t_counts[0].append_value(future.order_days[0]);
    buf.t_counts[1].append_value(future.orders[0]);
    buf.t_revenue[0].append_value(cents(future.revenue[0].max(0.0)));
    buf.t_counts[2].append_value(future.order_days[1]);
    buf.t_counts[3].append_value(future.orders[1]);
    buf.t_revenue[1].append_value(cents(future.revenue[1].max(0.0)));
}

#[expect(clippy::too_many_arguments, reason = "one row of the purchases table")]
fn push_purchase(
    buf: &mut Buffers,
    order_id: &str,
    line_id: i64,
    cid: &str,
    ts: i64,
    amount: f64,
    quantity: i64,
    channel: &str,
    category: &str,
) {
    buf.p_order_id.append_value(order_id);
    buf.p_line_id.append_value(line_id);
    buf.p_customer_id.append_value(cid);
    buf.p_ts.append_value(ts);
    buf.p_amount.append_value(amount);
    buf.p_quantity.append_value(quantity);
    buf.p_channel.append_value(channel);
    buf.p_category.append_value(category);
}

/// A bad row, of the kinds upstream systems produce: an exact duplicate line
/// (most of them), a line with a NaN amount, or one with an empty customer id.
#[expect(clippy::too_many_arguments, reason = "one row of the purchases table")]
fn push_dirty_purchase<R: Rng>(
    rng: &mut R,
    buf: &mut Buffers,
    order_id: &str,
    line_id: i64,
    cid: &str,
    span: &Span,
    t: f64,
    amount: f64,
    quantity: i64,
    channel: &str,
    category: &str,
) {
    let ts = span.micros(t);
    match rng.random_range(0..4u8) {
        0 => push_purchase(
            buf,
            order_id,
            900 + line_id,
            cid,
            ts,
            f64::NAN,
            quantity,
            channel,
            category,
        ),
        1 => push_purchase(
            buf,
            order_id,
            950 + line_id,
            " ",
            ts,
            amount,
            quantity,
            channel,
            category,
        ),
        _ => push_purchase(
            buf, order_id, line_id, cid, ts, amount, quantity, channel, category,
        ),
    }
}
