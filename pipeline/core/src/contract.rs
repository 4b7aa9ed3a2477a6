//! The input data contract: which tables fidelis reads, their columns, and the
//! type each column must have. `docs/contract.md` is the prose version of this
//! module; a test keeps the two in step.

/// The three input tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    Purchases,
    Interactions,
    Customers,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Purchases, Table::Interactions, Table::Customers];

    pub fn name(self) -> &'static str {
        match self {
            Table::Purchases => "purchases",
            Table::Interactions => "interactions",
            Table::Customers => "customers",
        }
    }

    /// Purchases are required; the other tables feed optional feature groups.
    pub fn required(self) -> bool {
        matches!(self, Table::Purchases)
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Purchases => PURCHASES,
            Table::Interactions => INTERACTIONS,
            Table::Customers => CUSTOMERS,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The timestamp that decides whether a row is "after the run date".
    pub fn event_time_column(self) -> &'static str {
        match self {
            Table::Purchases => "order_ts",
            Table::Interactions => "event_ts",
            Table::Customers => "signup_ts",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The families of physical types a contract column accepts. Validation casts
/// every accepted physical type to the canonical one named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// An identifier: string (utf8, large utf8, utf8 view) or integer; integers
    /// are cast to their decimal string. Canonical: utf8.
    Id,
    /// Free text. Canonical: utf8.
    Text,
    /// A point in time: timestamp of any unit, with or without a time zone
    /// (naive timestamps are taken as UTC), or a date (midnight UTC).
    /// Canonical: timestamp(microsecond, "UTC").
    Timestamp,
    /// A real number: float or integer or decimal. Canonical: float64.
    Float,
    /// A whole number: any integer. Canonical: int64.
    Int,
    /// A boolean. Canonical: boolean.
    Bool,
}

impl ColumnType {
    pub fn describe(self) -> &'static str {
        match self {
            ColumnType::Id => "an id (string or integer)",
            ColumnType::Text => "a string",
            ColumnType::Timestamp => "a timestamp (any unit; naive means UTC) or a date",
            ColumnType::Float => "a number (float, integer or decimal)",
            ColumnType::Int => "an integer",
            ColumnType::Bool => "a boolean",
        }
    }
}

/// One column of a contract table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
    pub doc: &'static str,
}

const fn col(name: &'static str, ty: ColumnType, required: bool, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        required,
        doc,
    }
}

use ColumnType as T;

pub const PURCHASES: &[Column] = &[
    col(
        "order_id",
        T::Id,
        true,
        "an order may span several rows (lines)",
    ),
    col(
        "line_id",
        T::Id,
        false,
        "order line; without it fully identical rows count as duplicates",
    ),
    col("customer_id", T::Id, true, "who bought"),
    col("order_ts", T::Timestamp, true, "when (UTC)"),
    col(
        "amount",
        T::Float,
        true,
        "net revenue in reporting currency; negative = return or refund",
    ),
    col("quantity", T::Int, false, "units"),
    col(
        "channel",
        T::Text,
        false,
        "store, web, app, phone, marketplace, ...",
    ),
    col("category", T::Text, false, "product category"),
];

pub const INTERACTIONS: &[Column] = &[
    col("customer_id", T::Id, true, "who"),
    col("event_ts", T::Timestamp, true, "when (UTC)"),
    col(
        "channel",
        T::Text,
        true,
        "email, sms, push, web, app, store, social, support, survey",
    ),
    col(
        "event_type",
        T::Text,
        true,
        "send, open, click, visit, cart_add, cart_abandon, ticket, complaint, nps, csat, review, unsubscribe, ...",
    ),
    col(
        "value",
        T::Float,
        false,
        "an NPS 0-10, a CSAT 1-5, a session length; null when not applicable",
    ),
];

pub const CUSTOMERS: &[Column] = &[
    col("customer_id", T::Id, true, "one row per customer"),
    col(
        "signup_ts",
        T::Timestamp,
        false,
        "when the customer signed up",
    ),
    col(
        "email",
        T::Text,
        false,
        "personal data: exported only hashed unless a config asks",
    ),
    col("country", T::Text, false, "ISO 3166-1 alpha-2"),
    col("consent_email", T::Bool, false, "null = no consent"),
    col("consent_sms", T::Bool, false, "null = no consent"),
    col("consent_push", T::Bool, false, "null = no consent"),
    col("consent_ads", T::Bool, false, "null = no consent"),
    col(
        "acquisition_channel",
        T::Text,
        false,
        "how the customer came",
    ),
    col(
        "acquisition_cost",
        T::Float,
        false,
        "cost of acquiring the customer (for net CLV)",
    ),
];

/// The columns of the scores table a run stages, in order, for revenue
/// horizons `horizons` (days): the model outputs of fidelis-train, then
/// what `final/scores.sql` adds. The rules a config writes
/// ([`crate::rules`]) may read these and nothing else; the end-to-end
/// exports test holds this list and the published table in step.
pub fn score_columns(horizons: &[u32]) -> Vec<String> {
    let mut v: Vec<String> = [
        "customer_id",
        "as_of",
        "churn_probability",
        "churn_horizon_days",
        "p_alive",
        "p_order_30d",
        "expected_next_order_date",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(horizons.iter().map(|h| format!("expected_orders_{h}d")));
    v.extend(horizons.iter().map(|h| format!("expected_revenue_{h}d")));
    v.extend(
        ["clv_12m", "net_clv_12m"]
            .into_iter()
            .chain(ADDED_SCORE_COLUMNS)
            .chain(["top_reasons", "model_version"])
            .map(str::to_string),
    );
    v
}

/// The columns `final/scores.sql` adds to the model outputs, in order
/// (`next_action` last: it is decided from the others).
pub const ADDED_SCORE_COLUMNS: [&str; 8] = [
    "clv_decile",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "value_tier",
    "risk_tier",
    "next_action",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_event_time_and_customer_id() {
        for t in Table::ALL {
            assert!(t.column(t.event_time_column()).is_some(), "{t}");
            assert!(t.column("customer_id").is_some_and(|c| c.required), "{t}");
        }
    }

    #[test]
    fn contract_doc_lists_every_column() {
        let doc = include_str!("../../../docs/contract.md");
        for t in Table::ALL {
            for c in t.columns() {
                let needle = format!("| `{}` |", c.name);
                assert!(
                    doc.contains(&needle),
                    "docs/contract.md does not document {}.{}",
                    t,
                    c.name
                );
            }
        }
    }
}
