//! The parameters of the behavioural simulation. Every number is documented
//! with what it means; `generator.json` beside the generated data records the
//! values used.

use serde::{Deserialize, Serialize};

/// Parameters of the simulation. Time is in days.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimParams {
    // --- acquisition -------------------------------------------------------
    /// Signups grow linearly over the simulated span: the signup density at the
    /// end is `1 + signup_growth` times the density at the start.
    pub signup_growth: f64,
    /// Share of signups that never buy (prospects).
    pub prospect_share: f64,
    /// Mean days from signup to the first purchase (exponential).
    pub first_purchase_delay_days: f64,
    /// Acquisition channels, their shares and mean acquisition cost.
    pub acquisition_channels: Vec<(String, f64, f64)>,
    /// Share of buyers missing from the customers snapshot (guest checkouts).
    pub guest_share: f64,

    // --- BG/NBD purchase process ------------------------------------------
    /// Purchase rate per day while alive: lambda ~ Gamma(shape r, rate alpha).
    pub r: f64,
    pub alpha: f64,
    /// Base dropout probability after each repeat purchase: p0 ~ Beta(a, b).
    pub a: f64,
    pub b: f64,
    /// Unhappy and disengaged customers leave more: the dropout probability is
    /// `sigmoid(logit(p0) - satisfaction_effect * s - engagement_effect * e)`,
    /// with s and e standard normal latent traits (correlation
    /// `trait_correlation`). Both effects 0 gives the plain BG/NBD story.
    pub satisfaction_effect: f64,
    pub engagement_effect: f64,
    pub trait_correlation: f64,

    // --- Gamma-Gamma spend ------------------------------------------------
    /// Order value ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma):
    /// the population mean order value is p * gamma / (q - 1).
    pub spend_p: f64,
    pub spend_q: f64,
    pub spend_gamma: f64,
    /// Share of order lines returned (before the satisfaction adjustment).
    pub return_share: f64,

    // --- messaging and engagement -----------------------------------------
    /// Consent shares at signup (email, sms, push among app users, ads).
    pub consent_email: f64,
    pub consent_sms: f64,
    pub consent_push: f64,
    pub consent_ads: f64,
    /// Share of consent flags that are unknown (null).
    pub consent_null_share: f64,
    /// Share of customers using the app.
    pub app_share: f64,
    /// Days between email campaigns, and the share of campaigns a customer gets.
    pub email_every_days: u32,
    pub email_send_share: f64,
    pub sms_every_days: u32,
    pub push_every_days: u32,
    /// Open probability of an active customer with engagement 0; it follows
    /// `sigmoid(logit(open_base) + open_engagement * e)` and falls by
    /// `inactive_factor` once the customer has dropped out.
    pub open_base: f64,
    pub open_engagement: f64,
    pub click_given_open: f64,
    pub inactive_factor: f64,
    /// Unsubscribe probability per message, for active and lapsed customers.
    pub unsubscribe_active: f64,
    pub unsubscribe_inactive: f64,
    /// Web/app visits per day = visit_per_purchase * lambda + visit_base while
    /// active, times `inactive_factor` after.
    pub visit_per_purchase: f64,
    pub visit_base: f64,
    /// Social interactions per day of an active customer with engagement 0.
    pub social_rate: f64,
    /// Support tickets per order: `ticket_base * exp(-ticket_satisfaction * s)`.
    pub ticket_base: f64,
    pub ticket_satisfaction: f64,
    /// Share of orders followed by an NPS survey, and the answer rate.
    pub nps_survey_share: f64,
    pub nps_answer_share: f64,
    /// Mean days a prospect stays engaged after signing up.
    pub prospect_engaged_days: f64,

    // --- data quality -------------------------------------------------------
    /// Share of rows followed by a bad row (a duplicate, a NaN amount, an empty
    /// id), so that validation has something to quarantine. 0 = clean data.
    pub dirty_share: f64,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            signup_growth: 1.0,
            prospect_share: 0.12,
            first_purchase_delay_days: 7.0,
            acquisition_channels: vec![
                ("organic".into(), 0.35, 4.0),
                ("paid_search".into(), 0.25, 38.0),
                ("paid_social".into(), 0.15, 27.0),
                ("referral".into(), 0.10, 15.0),
                ("affiliate".into(), 0.10, 21.0),
                ("marketplace".into(), 0.05, 9.0),
            ],
            guest_share: 0.02,
            // Mean 0.9/30 = 0.03 purchases a day (about 11 a year) while alive.
            r: 0.9,
            alpha: 30.0,
            // Mean dropout 0.8/(0.8+5) = 0.14 per repeat purchase.
            a: 0.8,
            b: 5.0,
            satisfaction_effect: 0.7,
            engagement_effect: 0.5,
            trait_correlation: 0.3,
            // Mean order value 6 * 40 / 3 = 80.
            spend_p: 6.0,
            spend_q: 4.0,
            spend_gamma: 40.0,
            return_share: 0.05,
            consent_email: 0.75,
            consent_sms: 0.35,
            consent_push: 0.6,
            consent_ads: 0.5,
            consent_null_share: 0.02,
            app_share: 0.4,
            email_every_days: 7,
            email_send_share: 0.7,
            sms_every_days: 30,
            push_every_days: 10,
            open_base: 0.25,
            open_engagement: 1.0,
            click_given_open: 0.2,
            inactive_factor: 0.2,
            unsubscribe_active: 0.002,
            unsubscribe_inactive: 0.01,
            visit_per_purchase: 3.0,
            visit_base: 0.01,
            social_rate: 0.004,
            ticket_base: 0.05,
            ticket_satisfaction: 0.8,
            nps_survey_share: 0.15,
            nps_answer_share: 0.4,
            prospect_engaged_days: 90.0,
            dirty_share: 0.0,
        }
    }
}

impl SimParams {
    /// The population mean order value, p * gamma / (q - 1).
    pub fn mean_order_value(&self) -> f64 {
        self.spend_p * self.spend_gamma / (self.spend_q - 1.0)
    }

    /// Check that every parameter is in its domain.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
            ("spend_p", self.spend_p),
            ("spend_gamma", self.spend_gamma),
            ("first_purchase_delay_days", self.first_purchase_delay_days),
            ("prospect_engaged_days", self.prospect_engaged_days),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        if self.spend_q.is_nan() || self.spend_q <= 1.0 {
            return Err(format!(
                "spend_q must be above 1 (the mean order value is infinite otherwise), got {}",
                self.spend_q
            ));
        }
        let shares = [
            ("prospect_share", self.prospect_share),
            ("guest_share", self.guest_share),
            ("return_share", self.return_share),
            ("consent_email", self.consent_email),
            ("consent_sms", self.consent_sms),
            ("consent_push", self.consent_push),
            ("consent_ads", self.consent_ads),
            ("consent_null_share", self.consent_null_share),
            ("app_share", self.app_share),
            ("email_send_share", self.email_send_share),
            ("open_base", self.open_base),
            ("click_given_open", self.click_given_open),
            ("inactive_factor", self.inactive_factor),
            ("unsubscribe_active", self.unsubscribe_active),
            ("unsubscribe_inactive", self.unsubscribe_inactive),
            ("nps_survey_share", self.nps_survey_share),
            ("nps_answer_share", self.nps_answer_share),
            ("dirty_share", self.dirty_share),
        ];
        for (name, v) in shares {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        if self.acquisition_channels.is_empty() {
            return Err("acquisition_channels is empty".into());
        }
        if self.email_every_days == 0 || self.sms_every_days == 0 || self.push_every_days == 0 {
            return Err("message intervals must be at least one day".into());
        }
        Ok(())
    }
}
