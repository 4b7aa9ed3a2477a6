//! `fidelis export`: the campaign audiences of the job's `[exports]`
//! config, from the staged scores of a run.
//!
//! Rules that hold for every audience (docs/segments.md):
//! - only customers whose consent for the audience's channel is true in the
//!   customers snapshot, and who have not unsubscribed from that channel as
//!   of the run date (no customers row or a null consent: not exported);
//! - a deterministic control group: the first 8 bytes of
//!   SHA-256(customer_id, 0x1F, audience name) read as a big-endian u64,
//!   divided by 2^64, below `control_share`; control customers are written
//!   to `control.*`, not to `send.*`;
//! - a customer is in at most one audience per run: audiences take their
//!   customers in priority order;
//! - the size cap counts the send file; the audience is taken in its
//!   `order_by` order (ties by customer_id) until the cap, control members
//!   included up to that point, so the control group stays a fair sample;
//! - emails leave only as SHA-256 of the trimmed, lower-cased address, in
//!   clear only for an email audience with `include_email = true`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use fidelis_core::config::Audience;
use fidelis_core::{Error, Result, RunDate, Settings};
use fidelis_storage::lake::TableSink;
use fidelis_storage::layout::RunLayout;

/// The control-group rule of the contract: `true` when the customer is in
/// the audience's control group.
pub fn in_control(customer_id: &str, audience: &str, share: f64) -> bool {
    let mut h = Sha256::new();
    h.update(customer_id.as_bytes());
    h.update([0x1F]);
    h.update(audience.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(first) as f64 / 2f64.powi(64)) < share
}

/// SHA-256 (hex) of the trimmed, lower-cased email, as ad platforms match.
pub fn email_sha256(email: &str) -> String {
    hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()))
}

/// One audience's counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AudienceSummary {
    pub audience: String,
    pub slug: String,
    pub channel: String,
    /// Customers the filter selected.
    pub matched: u64,
    /// Left out: already in a higher-priority audience.
    pub in_earlier_audience: u64,
    /// Left out: no consent for the channel (false, null, or no customers row).
    pub excluded_no_consent: u64,
    /// Left out: unsubscribed from the channel.
    pub excluded_unsubscribed: u64,
    /// Left out by the size cap.
    pub capped: u64,
    /// In the send file.
    pub send: u64,
    /// In the control file.
    pub control: u64,
}

/// What `fidelis export` wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExportReport {
    pub run_date: String,
    pub control_share: f64,
    pub audiences: Vec<AudienceSummary>,
    pub seconds: f64,
}

/// The fixed leading columns of every export file.
const FIXED: [&str; 7] = [
    "customer_id",
    "audience_name",
    "channel",
    "as_of",
    "group",
    "email_sha256",
    "email",
];

/// Stage every audience of the config and `exports/_summary.json`.
pub async fn export(settings: &Settings, run: &RunLayout) -> Result<ExportReport> {
    let started = Instant::now();
    let run_date = run.run_date();
    let ctx = crate::features::validated_session(settings, run).await?;
    let scores = run.scores();
    if scores.list_parquet().await?.is_empty() {
        return Err(Error::config(format!(
            "no scores for run date {run_date} at {}: run `fidelis score` for that date first",
            scores.url()
        )));
    }
    ctx.register_parquet("scores", scores.url() + "/", Default::default())
        .await
        .map_err(|e| Error::internal_with("registering the scores", e))?;
    let features = run.features(run_date);
    ctx.register_parquet("features", features.url() + "/", Default::default())
        .await
        .map_err(|e| Error::internal_with("registering the features", e))?;
    run.exports().delete_all().await?;
    let share = settings.exports.control_share;
    let mut taken: HashSet<String> = HashSet::new();
    let mut summaries = Vec::new();
    for audience in settings.exports.in_priority_order() {
        let s = export_one(&ctx, settings, run, audience, share, &mut taken).await?;
        tracing::info!(stage = "export", audience = %s.slug, channel = %s.channel, matched = s.matched, send = s.send, control = s.control, excluded_no_consent = s.excluded_no_consent, excluded_unsubscribed = s.excluded_unsubscribed, in_earlier_audience = s.in_earlier_audience, capped = s.capped, "audience exported");
        summaries.push(s);
    }
    let report = ExportReport {
        run_date: run_date.to_string(),
        control_share: share,
        audiences: summaries,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::internal_with("serialising the export summary", e))?;
    run.export_summary().put(json).await?;
    Ok(report)
}

async fn export_one(
    ctx: &datafusion::prelude::SessionContext,
    settings: &Settings,
    run: &RunLayout,
    audience: &Audience,
    share: f64,
    taken: &mut HashSet<String>,
) -> Result<AudienceSummary> {
    let bad = |what: String| {
        Error::config(format!(
            "{}: exports audience `{}`: {what}",
            settings.config_path, audience.name
        ))
    };
    let extra: Vec<String> = audience
        .columns
        .iter()
        .map(|c| {
            if c == "top_reasons" {
                "array_to_string(s.top_reasons, '|') as top_reasons".to_string()
            } else {
                format!("s.\"{c}\"")
            }
        })
        .collect();
    let unsub = audience
        .unsubscribed_column()
        .map_or("false".to_string(), |c| format!("coalesce(f.{c}, false)"));
    // The config's filter and order, as parsed at config load (one
    // expression each, fidelis_core::rules), see the scores and nothing
    // else: consent, unsubscribes and emails are joined outside them.
    let columns = settings.score_columns();
    let filter = audience.filter_sql(&columns).map_err(&bad)?;
    let order = audience.order_by_sql(&columns).map_err(&bad)?;
    let sql = format!(
        "select s.customer_id, c.{consent} as consent, {unsub} as unsubscribed, \
         c.email_sha256, {email} as email{extra} \
         from (select *, row_number() over (order by {order}, customer_id) as fidelis_pick \
               from scores where ({filter})) s \
         left join customers c on c.customer_id = s.customer_id \
         left join features f on f.customer_id = s.customer_id \
         order by s.fidelis_pick",
        consent = audience.consent_column(),
        // Validation stages the clear email only when an audience exports
        // it (crate::validate::validated_schema).
        email = if settings.keeps_clear_email() {
            "c.email"
        } else {
            "cast(null as varchar)"
        },
        extra = extra.iter().map(|e| format!(", {e}")).collect::<String>(),
    );
    let df = ctx.sql(&sql).await.map_err(|e| {
        bad(format!(
            "the filter, order_by or columns are not valid SQL over the scores: {e}"
        ))
    })?;
    // A storage failure while evaluating is not the config's fault: kept as
    // the source, it is exit 4 (fidelis_storage::storage_root).
    let batches = df.collect().await.map_err(|e| {
        if fidelis_storage::storage_root(&e).is_some() {
            Error::internal_with(format!("exports audience `{}`", audience.name), e)
        } else {
            bad(format!("evaluating the filter: {e}"))
        }
    })?;
    let mut s = AudienceSummary {
        audience: audience.name.clone(),
        slug: audience.slug(),
        channel: audience.channel.clone(),
        ..Default::default()
    };
    // Row picks per batch: (batch, row, is_control).
    let mut picks: Vec<(usize, u32, bool)> = Vec::new();
    for (bi, b) in batches.iter().enumerate() {
        let ids = arrow::compute::cast(b.column(0), &DataType::Utf8)
            .map_err(|e| Error::internal_with("reading customer ids", e))?;
        let ids = ids.as_string::<i32>();
        let consent = b.column(1).as_boolean();
        let unsubscribed = b.column(2).as_boolean();
        for (i, id) in ids.iter().enumerate() {
            let id = id.unwrap_or_default().to_string();
            s.matched += 1;
            if taken.contains(&id) {
                s.in_earlier_audience += 1;
                continue;
            }
            if !(consent.is_valid(i) && consent.value(i)) {
                s.excluded_no_consent += 1;
                continue;
            }
            if unsubscribed.is_valid(i) && unsubscribed.value(i) {
                s.excluded_unsubscribed += 1;
                continue;
            }
            if audience.max_size.is_some_and(|cap| s.send >= cap) {
                s.capped += 1;
                continue;
            }
            let control = in_control(&id, &audience.name, share);
            if control {
                s.control += 1;
            } else {
                s.send += 1;
            }
            picks.push((bi, i as u32, control));
            taken.insert(id);
        }
    }
    let run_date = run.run_date();
    for (group, want_control) in [("send", false), ("control", true)] {
        let batch = group_batch(audience, run_date, &batches, &picks, want_control, group)?;
        write_files(run, &s.slug, group, &batch).await?;
    }
    Ok(s)
}

/// The rows of one group in the export schema.
fn group_batch(
    audience: &Audience,
    run_date: RunDate,
    batches: &[RecordBatch],
    picks: &[(usize, u32, bool)],
    want_control: bool,
    group: &str,
) -> Result<RecordBatch> {
    let err = |e| Error::internal_with("building an export batch", e);
    let days = i32::try_from((run_date.0 - chrono::NaiveDate::default()).num_days())
        .map_err(|_| Error::internal("run date out of range"))?;
    let extra_fields: Vec<Field> = match batches.first() {
        Some(b) => crate::sql::plain_schema(&b.schema()).fields()[5..]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect(),
        None => audience
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect(),
    };
    // Gather the picked rows batch by batch, in pick order.
    let mut parts: Vec<RecordBatch> = Vec::new();
    let mut i = 0;
    while i < picks.len() {
        let bi = picks[i].0;
        let mut idx = Vec::new();
        while i < picks.len() && picks[i].0 == bi {
            if picks[i].2 == want_control {
                idx.push(picks[i].1);
            }
            i += 1;
        }
        if !idx.is_empty() {
            let take = UInt32Array::from(idx);
            let b = &batches[bi];
            let cols = b
                .columns()
                .iter()
                .map(|c| arrow::compute::take(c, &take, None))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(err)?;
            parts.push(RecordBatch::try_new(b.schema(), cols).map_err(err)?);
        }
    }
    let n: usize = parts.iter().map(RecordBatch::num_rows).sum();
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let mut hashes: Vec<Option<String>> = Vec::with_capacity(n);
    let mut emails: Vec<Option<String>> = Vec::with_capacity(n);
    let mut extra: Vec<Vec<ArrayRef>> = vec![Vec::new(); extra_fields.len()];
    for p in &parts {
        let id = arrow::compute::cast(p.column(0), &DataType::Utf8).map_err(err)?;
        let hash = arrow::compute::cast(p.column(3), &DataType::Utf8).map_err(err)?;
        let email = arrow::compute::cast(p.column(4), &DataType::Utf8).map_err(err)?;
        let id = id.as_string::<i32>();
        let (hash, email) = (hash.as_string::<i32>(), email.as_string::<i32>());
        for r in 0..p.num_rows() {
            ids.push(id.value(r).to_string());
            hashes.push(hash.is_valid(r).then(|| hash.value(r).to_string()));
            emails.push(
                (audience.include_email && email.is_valid(r)).then(|| email.value(r).to_string()),
            );
        }
        for (k, f) in extra_fields.iter().enumerate() {
            extra[k].push(arrow::compute::cast(p.column(5 + k), f.data_type()).map_err(err)?);
        }
    }
    let mut fields = vec![
        Field::new(FIXED[0], DataType::Utf8, false),
        Field::new(FIXED[1], DataType::Utf8, false),
        Field::new(FIXED[2], DataType::Utf8, false),
        Field::new(FIXED[3], DataType::Date32, false),
        Field::new(FIXED[4], DataType::Utf8, false),
        Field::new(FIXED[5], DataType::Utf8, true),
        Field::new(FIXED[6], DataType::Utf8, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(vec![audience.name.as_str(); n])),
        Arc::new(StringArray::from(vec![audience.channel.as_str(); n])),
        Arc::new(Date32Array::from(vec![days; n])),
        Arc::new(StringArray::from(vec![group; n])),
        Arc::new(StringArray::from(hashes)),
        Arc::new(StringArray::from(emails)),
    ];
    for (k, f) in extra_fields.into_iter().enumerate() {
        let col = if extra[k].is_empty() {
            arrow::array::new_empty_array(f.data_type())
        } else {
            let refs: Vec<&dyn Array> = extra[k].iter().map(|a| a.as_ref()).collect();
            arrow::compute::concat(&refs).map_err(err)?
        };
        fields.push(f);
        columns.push(col);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(err)
}

/// `<group>.csv` (UTF-8, header, RFC 4180 quoting) and `<group>.parquet`.
async fn write_files(run: &RunLayout, slug: &str, group: &str, batch: &RecordBatch) -> Result<()> {
    let mut csv = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut csv);
        w.write(batch)
            .map_err(|e| Error::internal_with("writing an export CSV", e))?;
    }
    run.audience_csv(slug, group).put(csv).await?;
    let mut sink = TableSink::create(&run.audience_target(slug), batch.schema())?;
    sink.write(batch).await?;
    sink.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_rule_follows_the_contract() {
        // Independent computation of the rule for one id.
        let d = Sha256::digest(b"c00000001\x1fWin back");
        let v = u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) as f64 / 2f64.powi(64);
        assert_eq!(in_control("c00000001", "Win back", 0.1), v < 0.1);
        assert!(!in_control("c1", "a", 0.0));
        // The share is honoured on many ids.
        let n = 20_000;
        let k = (0..n)
            .filter(|i| in_control(&format!("c{i}"), "aud", 0.1))
            .count();
        let p = k as f64 / f64::from(n);
        assert!(
            (p - 0.1).abs() < 4.0 * (0.1_f64 * 0.9 / f64::from(n)).sqrt(),
            "{p}"
        );
    }

    #[test]
    fn email_hash_is_trimmed_and_lower_cased() {
        // SHA-256("test@example.com")
        assert_eq!(
            email_sha256("  Test@Example.COM "),
            "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
        );
    }
}
