//! The marketing half of the config: how scores become segments, tiers and
//! next actions (`[segments]`), and which audiences are exported
//! (`[exports]`). Defaults are the usual RFM segment map and a value x risk
//! action matrix, so a job needs neither section; a marketer changes them
//! in the TOML file without touching code (docs/segments.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[segments]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentsConfig {
    /// Value tier `top` = CLV deciles 1..=this (decile 1 = highest CLV). Default 2.
    pub value_top_deciles: u32,
    /// Value tier `mid` = the deciles after the top ones, up to this one; the
    /// rest is `low`. Default 5.
    pub value_mid_deciles: u32,
    /// Risk tier `high` = churn probability at or above this. Default 0.7.
    pub risk_high: f64,
    /// Risk tier `medium` = churn probability at or above this (below
    /// `risk_high`); the rest is `low`. Default 0.4.
    pub risk_medium: f64,
    /// Named RFM segments, first match wins; together they must cover every
    /// combination of the three quintile scores.
    pub rfm: Vec<RfmRule>,
    /// Next actions, first match wins; a customer no rule matches gets `none`.
    pub actions: Vec<ActionRule>,
}

/// A named RFM segment: inclusive score ranges (1..=5) of recency (5 = most
/// recent), frequency and monetary value. A missing range means any score.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RfmRule {
    pub name: String,
    #[serde(default = "any_score")]
    pub r: [u8; 2],
    #[serde(default = "any_score")]
    pub f: [u8; 2],
    #[serde(default = "any_score")]
    pub m: [u8; 2],
}

fn any_score() -> [u8; 2] {
    [1, 5]
}

/// A next action and the SQL condition over the scores that selects it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    /// One of [`ACTIONS`] (but `none`, which is what no match gives).
    pub action: String,
    /// A SQL boolean expression over the score columns, e.g.
    /// `value_tier = 'top' AND risk_tier = 'high'`.
    pub when: String,
}

impl ActionRule {
    /// The condition as parsed and printed back ([`crate::rules`]): over
    /// the score columns `columns` but `next_action`, which it decides.
    pub fn when_sql(&self, columns: &[String]) -> std::result::Result<String, String> {
        let known: Vec<String> = columns
            .iter()
            .filter(|c| *c != "next_action")
            .cloned()
            .collect();
        crate::rules::condition(&self.when, &known)
    }
}

/// The default order in which an audience's size cap keeps customers.
pub const DEFAULT_ORDER_BY: &str = "clv_12m DESC NULLS LAST";

/// The next actions of the scores contract.
pub const ACTIONS: &[&str] = &["retain", "win_back", "upsell", "nurture", "none"];

fn rfm(name: &str, r: [u8; 2], f: [u8; 2]) -> RfmRule {
    RfmRule {
        name: name.to_string(),
        r,
        f,
        m: any_score(),
    }
}

fn action(action: &str, when: &str) -> ActionRule {
    ActionRule {
        action: action.to_string(),
        when: when.to_string(),
    }
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        // The widely used R x F segment map (recency and frequency
        // quintiles), with "Lost" split from "Hibernating" at R = 1: eleven
        // segments that partition the 5 x 5 grid.
        let rfm = vec![
            rfm("Champions", [5, 5], [4, 5]),
            rfm("Loyal", [3, 4], [4, 5]),
            rfm("Potential Loyalist", [4, 5], [2, 3]),
            rfm("New", [5, 5], [1, 1]),
            rfm("Promising", [4, 4], [1, 1]),
            rfm("Need Attention", [3, 3], [3, 3]),
            rfm("About to Sleep", [3, 3], [1, 2]),
            rfm("Can't Lose Them", [1, 2], [5, 5]),
            rfm("At Risk", [1, 2], [3, 4]),
            rfm("Hibernating", [2, 2], [1, 2]),
            rfm("Lost", [1, 1], [1, 2]),
        ];
        let actions = vec![
            action(
                "retain",
                "(value_tier = 'top' AND risk_tier IN ('high', 'medium')) OR (value_tier = 'mid' AND risk_tier = 'high')",
            ),
            action("win_back", "r_score <= 2"),
            action(
                "upsell",
                "rfm_segment IN ('Champions', 'Loyal', 'Potential Loyalist')",
            ),
            action(
                "nurture",
                "rfm_segment IN ('New', 'Promising') OR r_score IS NULL",
            ),
        ];
        SegmentsConfig {
            value_top_deciles: 2,
            value_mid_deciles: 5,
            risk_high: 0.7,
            risk_medium: 0.4,
            rfm,
            actions,
        }
    }
}

impl SegmentsConfig {
    pub(crate) fn check(&self, origin: &str) -> Result<()> {
        let bad = |what: String| Err(Error::config(format!("{origin}: segments.{what}")));
        if !(1..=10).contains(&self.value_top_deciles)
            || !(self.value_top_deciles..=10).contains(&self.value_mid_deciles)
        {
            return bad(format!(
                "value tiers need 1 <= value_top_deciles ({}) <= value_mid_deciles ({}) <= 10",
                self.value_top_deciles, self.value_mid_deciles
            ));
        }
        if !(0.0 <= self.risk_medium && self.risk_medium <= self.risk_high && self.risk_high <= 1.0)
        {
            return bad(format!(
                "risk tiers need 0 <= risk_medium ({}) <= risk_high ({}) <= 1",
                self.risk_medium, self.risk_high
            ));
        }
        // Each segment is written to `segment=<slug>/`: two names may not
        // share a folder, and a name must give one.
        let mut folders: BTreeMap<String, &str> = BTreeMap::new();
        for rule in &self.rfm {
            if rule.name.trim().is_empty() {
                return bad("rfm: a segment has an empty name".into());
            }
            let folder = slug(&rule.name);
            if folder.is_empty() {
                return bad(format!(
                    "rfm `{}`: a segment name needs a letter or a digit (it names the segment's folder)",
                    rule.name
                ));
            }
            match folders.insert(folder.clone(), &rule.name) {
                Some(other) if other != rule.name => {
                    return bad(format!(
                        "rfm `{other}` and `{}` would share the folder segment={folder}: rename one",
                        rule.name
                    ));
                }
                _ => {}
            }
            for (what, [lo, hi]) in [("r", rule.r), ("f", rule.f), ("m", rule.m)] {
                if !(1 <= lo && lo <= hi && hi <= 5) {
                    return bad(format!(
                        "rfm `{}`: {what} = [{lo}, {hi}] must be a range within 1..=5",
                        rule.name
                    ));
                }
            }
        }
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    if self.rfm_segment(r, f, m).is_none() {
                        return bad(format!(
                            "rfm: no segment covers r = {r}, f = {f}, m = {m} (the rules must cover every score combination)"
                        ));
                    }
                }
            }
        }
        for a in &self.actions {
            if !ACTIONS.contains(&a.action.as_str()) || a.action == "none" {
                return bad(format!(
                    "actions: `{}` is not a next action (one of retain, win_back, upsell, nurture)",
                    a.action
                ));
            }
            if a.when.trim().is_empty() {
                return bad(format!("actions: `{}` has an empty condition", a.action));
            }
        }
        Ok(())
    }

    /// Every next action's condition against the score columns.
    pub(crate) fn check_rules(&self, origin: &str, columns: &[String]) -> Result<()> {
        for a in &self.actions {
            if let Err(e) = a.when_sql(columns) {
                return Err(Error::config(format!(
                    "{origin}: segments.actions `{}`: when: {e}",
                    a.action
                )));
            }
        }
        Ok(())
    }

    /// The segment of a score combination: the first rule that covers it.
    pub fn rfm_segment(&self, r: u8, f: u8, m: u8) -> Option<&str> {
        let inside = |v: u8, [lo, hi]: [u8; 2]| lo <= v && v <= hi;
        self.rfm
            .iter()
            .find(|x| inside(r, x.r) && inside(f, x.f) && inside(m, x.m))
            .map(|x| x.name.as_str())
    }
}

/// The slug of a name: lower case, `_` for runs of anything not a letter or
/// digit, no apostrophes (`Can't Lose Them` -> `cant_lose_them`).
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            continue;
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// `[exports]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportsConfig {
    /// Share of each audience held out as a control group (deterministic:
    /// SHA-256 of customer id, 0x1F, audience name). Default 0.10.
    pub control_share: f64,
    /// The audiences, exported in priority order (lower `priority` first,
    /// then the order in the file); a customer lands in at most one.
    pub audiences: Vec<Audience>,
}

impl Default for ExportsConfig {
    fn default() -> Self {
        ExportsConfig {
            control_share: 0.10,
            audiences: Vec::new(),
        }
    }
}

/// Channels an audience can be sent on, with the consent column that allows it.
pub const EXPORT_CHANNELS: &[(&str, &str)] = &[
    ("email", "consent_email"),
    ("sms", "consent_sms"),
    ("push", "consent_push"),
    ("ads", "consent_ads"),
];

/// One campaign audience.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    pub name: String,
    /// email, sms, push or ads.
    pub channel: String,
    /// A SQL boolean expression over the score columns.
    pub filter: String,
    /// Lower first. Default: the position in the file.
    pub priority: Option<i64>,
    /// At most this many customers in the send file.
    pub max_size: Option<u64>,
    /// Score columns added after the fixed export columns.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Order in which the size cap keeps customers (SQL, ties broken by
    /// customer_id). Default `clv_12m DESC NULLS LAST`.
    pub order_by: Option<String>,
    /// Put the email in clear in the files (email channel only). Default
    /// false: files carry SHA-256 of the trimmed, lower-cased email.
    #[serde(default)]
    pub include_email: bool,
}

impl Audience {
    pub fn slug(&self) -> String {
        slug(&self.name)
    }

    /// The filter as parsed and printed back ([`crate::rules`]), over the
    /// score columns `columns`.
    pub fn filter_sql(&self, columns: &[String]) -> std::result::Result<String, String> {
        crate::rules::condition(&self.filter, columns)
    }

    /// The `order_by` list as parsed and printed back, or the default.
    pub fn order_by_sql(&self, columns: &[String]) -> std::result::Result<String, String> {
        crate::rules::order_by(
            self.order_by.as_deref().unwrap_or(DEFAULT_ORDER_BY),
            columns,
        )
    }

    /// The consent column of the audience's channel.
    pub fn consent_column(&self) -> &'static str {
        EXPORT_CHANNELS
            .iter()
            .find(|(c, _)| *c == self.channel)
            .map_or("consent_ads", |(_, col)| col)
    }

    /// The features column that says the customer unsubscribed from the
    /// channel (ads have none: consent_ads alone decides).
    pub fn unsubscribed_column(&self) -> Option<String> {
        (self.channel != "ads").then(|| format!("unsubscribed_{}", self.channel))
    }
}

impl ExportsConfig {
    /// Every audience's filter, order and columns against the score
    /// columns of the run (`columns`, [`crate::contract::score_columns`]).
    pub(crate) fn check_rules(&self, origin: &str, columns: &[String]) -> Result<()> {
        for a in &self.audiences {
            let bad = |what: &str, e: String| {
                Err(Error::config(format!(
                    "{origin}: exports.audiences `{}`: {what}: {e}",
                    a.name
                )))
            };
            if let Err(e) = a.filter_sql(columns) {
                return bad("filter", e);
            }
            if let Err(e) = a.order_by_sql(columns) {
                return bad("order_by", e);
            }
            for c in &a.columns {
                if !columns.contains(c) {
                    return bad(
                        "columns",
                        format!(
                            "`{c}` is not a score column (the columns are: {})",
                            columns.join(", ")
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check(&self, origin: &str) -> Result<()> {
        let bad = |what: String| Err(Error::config(format!("{origin}: exports.{what}")));
        if !(0.0..1.0).contains(&self.control_share) {
            return bad(format!(
                "control_share must be in [0, 1), got {}",
                self.control_share
            ));
        }
        let mut slugs = std::collections::BTreeSet::new();
        for a in &self.audiences {
            let s = a.slug();
            if s.is_empty() {
                return bad(format!("audiences: `{}` has no usable name", a.name));
            }
            if !slugs.insert(s.clone()) {
                return bad(format!(
                    "audiences: two audiences share the folder name `{s}`"
                ));
            }
            if !EXPORT_CHANNELS.iter().any(|(c, _)| *c == a.channel) {
                return bad(format!(
                    "audiences `{}`: channel `{}` is not one of email, sms, push, ads",
                    a.name, a.channel
                ));
            }
            if a.include_email && a.channel != "email" {
                return bad(format!(
                    "audiences `{}`: include_email is only for the email channel (ads audiences carry the SHA-256 only)",
                    a.name
                ));
            }
            if a.filter.trim().is_empty() {
                return bad(format!("audiences `{}`: the filter is empty", a.name));
            }
            if a.max_size == Some(0) {
                return bad(format!("audiences `{}`: max_size must be positive", a.name));
            }
        }
        Ok(())
    }

    /// The audiences in priority order.
    pub fn in_priority_order(&self) -> Vec<&Audience> {
        let mut v: Vec<(i64, usize, &Audience)> = self
            .audiences
            .iter()
            .enumerate()
            .map(|(i, a)| (a.priority.unwrap_or(i as i64), i, a))
            .collect();
        v.sort_by_key(|(p, i, _)| (*p, *i));
        v.into_iter().map(|(_, _, a)| a).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_segments_partition_the_grid_into_eleven() {
        let s = SegmentsConfig::default();
        s.check("test").expect("valid");
        let mut seen = std::collections::BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                seen.insert(s.rfm_segment(r, f, 3).expect("covered").to_string());
            }
        }
        assert_eq!(seen.len(), 11, "{seen:?}");
        assert_eq!(s.rfm_segment(5, 5, 1), Some("Champions"));
        assert_eq!(s.rfm_segment(1, 5, 5), Some("Can't Lose Them"));
        assert_eq!(s.rfm_segment(1, 1, 1), Some("Lost"));
        assert_eq!(s.rfm_segment(3, 3, 3), Some("Need Attention"));
    }

    #[test]
    fn a_gap_in_the_rules_is_a_config_error() {
        let mut s = SegmentsConfig::default();
        s.rfm.retain(|r| r.name != "Lost");
        let e = s.check("jobs/x.toml").expect_err("gap");
        assert!(e.to_string().contains("r = 1, f = 1"), "{e}");
        let mut s = SegmentsConfig::default();
        s.actions[0].action = "spam".into();
        assert!(s.check("x").is_err());
    }

    #[test]
    fn segment_names_must_give_distinct_folders() {
        let mut s = SegmentsConfig::default();
        let mut twin = s.rfm[0].clone();
        twin.name = s.rfm[0].name.to_uppercase();
        s.rfm.push(twin);
        let e = s.check("x").expect_err("same folder");
        assert!(
            e.to_string()
                .contains("would share the folder segment=champions"),
            "{e}"
        );
        // The same name twice is one segment over two ranges: fine.
        let mut s = SegmentsConfig::default();
        let again = s.rfm[0].clone();
        s.rfm.push(again);
        s.check("x").expect("one segment, two rules");
        let mut s = SegmentsConfig::default();
        s.rfm[0].name = "!!!".into();
        assert!(
            s.check("x")
                .expect_err("no folder")
                .to_string()
                .contains("needs a letter")
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Can't Lose Them"), "cant_lose_them");
        assert_eq!(slug("Potential Loyalist"), "potential_loyalist");
        assert_eq!(slug("  VIP: win-back (Q4) "), "vip_win_back_q4");
    }

    #[test]
    fn audiences_are_checked_and_ordered() {
        let a = |name: &str, channel: &str, priority| Audience {
            name: name.into(),
            channel: channel.into(),
            filter: "true".into(),
            priority,
            max_size: None,
            columns: vec![],
            order_by: None,
            include_email: false,
        };
        let e = ExportsConfig {
            control_share: 0.1,
            audiences: vec![a("B", "email", None), a("A", "ads", Some(-1))],
        };
        e.check("x").expect("valid");
        let names: Vec<_> = e
            .in_priority_order()
            .iter()
            .map(|a| a.name.clone())
            .collect();
        assert_eq!(names, ["A", "B"]);
        let mut bad = e.clone();
        bad.audiences[0].channel = "fax".into();
        assert!(bad.check("x").is_err());
        let mut bad = e.clone();
        bad.audiences[1].include_email = true;
        assert!(bad.check("x").is_err());
        let mut bad = e;
        bad.audiences.push(a("b", "sms", None));
        assert!(bad.check("x").is_err());
    }
}
