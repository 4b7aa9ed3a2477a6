//! Validation: the first stage of every run.
//!
//! For each input table:
//! 1. list its Parquet files and read every footer: a corrupt or truncated
//!    file is a data error naming the file;
//! 2. check the schema of every file against the contract (after the config's
//!    column renames): a missing required column or a column of the wrong type
//!    is a data error naming the file and the column;
//! 3. cast the contract columns to their canonical types and apply the row
//!    rules (`docs/contract.md`) in one streaming pass, writing accepted rows
//!    to `validated/<table>/` and rejected rows, with their reason, to the
//!    Delta table `rejects_<table>` (its attempt's folder);
//! 4. reconcile: rows read (from the footers) = accepted + rejected, and stop
//!    the run when the rejected share passes `max_reject_share`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch, is_not_null, is_null};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::execution::options::ParquetReadOptions;
use datafusion::logical_expr::{Expr, cast as cast_expr, col, lit};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use fidelis_core::config::TableInput;
use fidelis_core::{ColumnType, Error, Result, RunDate, Settings, Table};
use fidelis_storage::lake::TableSink;
use fidelis_storage::layout::{RunLayout, part_file};
use fidelis_storage::{Location, ParquetSink, read_parquet_info};

mod dedup;

/// Code columns, stored in lower case in the validated tables: `Email` and
/// `email` are one channel, and the feature SQL compares them once, here,
/// instead of lower-casing 100M interactions in every model.
pub const LOWER_CASE_CODES: &[&str] = &["channel", "category", "event_type"];

/// The canonical Arrow type of a contract column type.
pub fn canonical_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Id | ColumnType::Text => DataType::Utf8,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnType::Float => DataType::Float64,
        ColumnType::Int => DataType::Int64,
        ColumnType::Bool => DataType::Boolean,
    }
}

/// The canonical schema of a validated table: every contract column.
pub fn canonical_schema(table: Table) -> SchemaRef {
    Arc::new(Schema::new(
        table
            .columns()
            .iter()
            .map(|c| Field::new(c.name, canonical_type(c.ty), true))
            .collect::<Vec<_>>(),
    ))
}

/// The column that stands for the email in everything validation writes:
/// SHA-256 (hex) of the trimmed, lower-cased address
/// ([`crate::exports::email_sha256`]).
pub const EMAIL_HASH: &str = "email_sha256";

/// The schema of a validated table as staged: the canonical columns, except
/// that customers keep the email only as its hash ([`EMAIL_HASH`], in the
/// place of `email`), and in clear right after it only when `keep_email`
/// (an audience of the config has `include_email = true`).
pub fn validated_schema(table: Table, keep_email: bool) -> SchemaRef {
    let mut fields = Vec::new();
    for f in canonical_schema(table).fields() {
        if f.name() == "email" {
            fields.push(Field::new(EMAIL_HASH, DataType::Utf8, true));
            if !keep_email {
                continue;
            }
        }
        fields.push(f.as_ref().clone());
    }
    Arc::new(Schema::new(fields))
}

/// The schema of a rejects file: the validated columns, never a clear
/// email, plus the reason.
pub fn rejects_schema(table: Table) -> SchemaRef {
    let mut fields: Vec<Field> = validated_schema(table, false)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("reject_reason", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Whether a physical type is accepted for a contract type.
fn accepts(ty: ColumnType, dt: &DataType) -> bool {
    use DataType as D;
    let is_string = matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let is_int = dt.is_integer();
    match ty {
        ColumnType::Id => is_string || is_int,
        ColumnType::Text => is_string,
        ColumnType::Timestamp => matches!(dt, D::Timestamp(_, _) | D::Date32 | D::Date64),
        ColumnType::Float => {
            dt.is_floating() || is_int || matches!(dt, D::Decimal128(_, _) | D::Decimal256(_, _))
        }
        ColumnType::Int => is_int,
        ColumnType::Bool => matches!(dt, D::Boolean),
    }
}

/// What validation found for one table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableReport {
    pub table: String,
    pub url: String,
    pub files: Vec<String>,
    /// The sum of the row counts in the files' footers.
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Rows stamped at or after D+1 00:00 UTC (for customers: signed up
    /// then): outside the lake cut at D, neither accepted nor rejected.
    /// `rows_read = rows_accepted + rows_rejected + rows_after_run_date`.
    #[serde(default)]
    pub rows_after_run_date: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rejected rows over the rows in scope (read, less those after the run date).
    pub reject_share: f64,
    /// Optional contract columns the files do not have (filled with nulls).
    pub missing_optional_columns: Vec<String>,
    /// Customers with several rows that disagree on a channel's consent
    /// (the kept row grants it only if all do: docs/contract.md).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consent_conflicts: u64,
    pub seconds: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What validation found for the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValidationReport {
    pub run_date: String,
    pub max_reject_share: f64,
    pub tables: Vec<TableReport>,
    /// Optional tables not configured: their feature groups are left out.
    pub absent_tables: Vec<String>,
}

impl ValidationReport {
    pub fn table(&self, table: Table) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == table.name())
    }
}

/// Validate every configured input table for `run_date`; writes the staged
/// validated tables, rejects and `validate.json`. Returns the report, or a data
/// error (exit 3) when a table breaks the contract or has too many rejects.
pub async fn validate(
    settings: &Settings,
    run: &RunLayout,
    on_table: &(dyn Fn(&TableReport) + Sync),
) -> Result<ValidationReport> {
    let run_date = run.run_date();
    let mut tables = Vec::new();
    let mut absent = Vec::new();
    for table in Table::ALL {
        let Some(input) = settings.input(table) else {
            absent.push(table.name().to_string());
            continue;
        };
        let report = validate_table(settings, input, run).await?;
        on_table(&report);
        tables.push(report);
    }
    let report = ValidationReport {
        run_date: run_date.to_string(),
        max_reject_share: settings.validation.max_reject_share,
        tables,
        absent_tables: absent,
    };
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::internal_with("cannot serialise validate.json", e))?;
    run.validation_report().put(json).await?;
    for t in &report.tables {
        if t.reject_share > settings.validation.max_reject_share {
            let reasons: Vec<String> = t
                .rejected_by_reason
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            return Err(Error::data(
                format!("table {} ({})", t.table, t.url),
                format!(
                    "{} of {} rows rejected ({:.2}%), above validation.max_reject_share = {:.2}% ({}); the rejected rows are in {}",
                    t.rows_rejected,
                    t.rows_read,
                    100.0 * t.reject_share,
                    100.0 * settings.validation.max_reject_share,
                    reasons.join(", "),
                    Table::ALL
                        .into_iter()
                        .find(|x| x.name() == t.table)
                        .map_or_else(|| t.table.clone(), |x| run.rejects(x).dir().url())
                ),
            ));
        }
    }
    Ok(report)
}

async fn validate_table(
    settings: &Settings,
    input: &TableInput,
    run: &RunLayout,
) -> Result<TableReport> {
    let started = Instant::now();
    let run_date = run.run_date();
    let table = input.table;
    let src = Location::parse(&input.url, &settings.storage)?;
    let files = src.list_parquet().await?;
    if files.is_empty() {
        return Err(Error::data(
            format!("table {table}"),
            format!("no Parquet files found at {}", src.url()),
        ));
    }

    // Footers and schemas, file by file, so errors name the file.
    let mut rows_read = 0u64;
    let mut present: BTreeMap<&'static str, bool> = BTreeMap::new();
    let mut file_urls = Vec::new();
    for meta in &files {
        let url = src.url_of(&meta.location);
        let info = read_parquet_info(&src, meta).await?;
        rows_read += info.num_rows;
        for c in table.columns() {
            let source = input.source_name(c.name);
            let renamed = if source == c.name {
                String::new()
            } else {
                format!(" (mapped from `{source}`)")
            };
            match info.schema.field_with_name(source) {
                Ok(field) => {
                    if !accepts(c.ty, field.data_type()) {
                        return Err(Error::data(
                            format!("{table} file {url} column `{}`{renamed}", c.name),
                            format!(
                                "has type {}, expected {}",
                                field.data_type(),
                                c.ty.describe()
                            ),
                        ));
                    }
                    present.insert(c.name, true);
                }
                Err(_) if c.required => {
                    let found: Vec<&str> = info
                        .schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect();
                    return Err(Error::data(
                        format!("{table} file {url} column `{}`{renamed}", c.name),
                        format!(
                            "required column is missing (the file has: {}); map your name for it in [columns.{table}] of the config",
                            found.join(", ")
                        ),
                    ));
                }
                Err(_) => {
                    present.entry(c.name).or_insert(false);
                }
            }
        }
        file_urls.push(url);
    }
    let missing_optional: Vec<String> = present
        .iter()
        .filter(|(_, p)| !**p)
        .map(|(n, _)| n.to_string())
        .collect();

    let ctx = crate::session::new_session(&settings.engine, &[&src, run.layout().root()])?;
    let raw = ctx
        .read_parquet(file_urls.clone(), ParquetReadOptions::default())
        .await
        .map_err(|e| data_err(table, &src, e))?;
    // Canonical projection: contract names and types, nulls for absent columns.
    let projection: Vec<Expr> = table
        .columns()
        .iter()
        .map(|c| {
            let ty = canonical_type(c.ty);
            let e = if present.get(c.name).copied().unwrap_or(false) {
                let e = cast_expr(col(quoted(input.source_name(c.name))), ty);
                if LOWER_CASE_CODES.contains(&c.name) {
                    datafusion::functions::string::expr_fn::lower(e)
                } else {
                    e
                }
            } else {
                cast_expr(lit(datafusion::scalar::ScalarValue::Null), ty)
            };
            e.alias(c.name)
        })
        .collect();
    let typed = raw
        .select(projection)
        .map_err(|e| Error::internal_with("building the validation projection", e))?;
    ctx.register_table("src", typed.into_view())
        .map_err(|e| Error::internal_with("registering the validation view", e))?;
    let has_line_id = present.get("line_id").copied().unwrap_or(false);
    // Pass 1 (crate::dedup): the key hashes that repeat.
    let key = dup_key(table, has_line_id);
    ctx.register_udf(dedup::RowHash::udf());
    let pass1 = Instant::now();
    let hashes = ctx
        .sql(&format!(
            "SELECT fidelis_row_hash({}) FROM src",
            key.join(", ")
        ))
        .await
        .map_err(|e| Error::internal_with(format!("key hashes of {table}"), e))?;
    let repeated = dedup::duplicate_hashes(hashes, rows_read)
        .await
        .map_err(|e| data_err(table, &src, e))?;
    tracing::debug!(table = %table, repeated_keys = repeated.len(), seconds = pass1.elapsed().as_secs_f64(), "duplicate candidates");
    ctx.register_udf(dedup::DupCandidate::udf(repeated));
    let sql = rules_sql(table, run_date, has_line_id);
    let tagged = ctx
        .sql(&sql)
        .await
        .map_err(|e| Error::internal_with(format!("validation SQL for {table}:\n{sql}"), e))?;

    let valid_loc = run.validated(table);
    let rejects_target = run.rejects(table);
    valid_loc.delete_all().await?;
    rejects_target.dir().delete_all().await?;
    rejects_target.adds.delete_all().await?;
    let canonical = validated_schema(table, settings.keeps_clear_email());
    let rejects_schema = rejects_schema(table);
    let mut reject_sink = TableSink::create(&rejects_target, Arc::clone(&rejects_schema))?;
    // Each of the plan's output partitions writes its own validated part
    // file on its own task, so encoding and compression use every core
    // (one writer was the bottleneck at 100M+ rows). Rejected rows, few by
    // design, go through a channel to the one rejects file.
    let streams = tagged
        .execute_stream_partitioned()
        .await
        .map_err(|e| data_err(table, &src, e))?;
    let n_cols = table.columns().len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(4);
    let mut writers = tokio::task::JoinSet::new();
    for (i, mut stream) in streams.into_iter().enumerate() {
        let (tx, src, canonical) = (tx.clone(), src.clone(), Arc::clone(&canonical));
        let part = valid_loc.child(&part_file(i));
        writers.spawn(async move {
            let mut sink = ParquetSink::create(&part, Arc::clone(&canonical))?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| data_err(table, &src, e))?;
                let reason = batch.column(n_cols);
                let ok_mask =
                    is_null(reason).map_err(|e| Error::internal_with("reason mask", e))?;
                let ok = filter_record_batch(&batch, &ok_mask)
                    .map_err(|e| Error::internal_with("filter", e))?;
                if ok.num_rows() > 0 {
                    sink.write(&conform(&ok, &canonical)?).await?;
                }
                if ok.num_rows() < batch.num_rows() {
                    let bad_mask =
                        is_not_null(reason).map_err(|e| Error::internal_with("reason mask", e))?;
                    let bad = filter_record_batch(&batch, &bad_mask)
                        .map_err(|e| Error::internal_with("filter", e))?;
                    if tx.send(bad).await.is_err() {
                        // The rejects writer stopped: its error is reported.
                        break;
                    }
                }
            }
            sink.finish().await
        });
    }
    drop(tx);
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut rejected = 0u64;
    let mut after_run_date = 0u64;
    let rejects = async {
        while let Some(bad) = rx.recv().await {
            let bad = conform(&bad, &rejects_schema)?;
            let reasons = cast(
                bad.column(rejects_schema.fields().len() - 1),
                &DataType::Utf8,
            )
            .map_err(|e| Error::internal_with("reason column", e))?;
            let in_scope = arrow::compute::kernels::cmp::neq(
                &reasons,
                &arrow::array::StringArray::new_scalar(OUT_OF_SCOPE),
            )
            .map_err(|e| Error::internal_with("reason mask", e))?;
            let bad = filter_record_batch(&bad, &in_scope)
                .map_err(|e| Error::internal_with("filter", e))?;
            after_run_date += (in_scope.len() - bad.num_rows()) as u64;
            let reasons = arrow::compute::filter(&reasons, &in_scope)
                .map_err(|e| Error::internal_with("filter", e))?;
            for r in reasons.as_string::<i32>().iter().flatten() {
                *by_reason.entry(r.to_string()).or_default() += 1;
            }
            rejected += bad.num_rows() as u64;
            if bad.num_rows() > 0 {
                reject_sink.write(&bad).await?;
            }
        }
        Ok::<_, Error>(())
    }
    .await;
    drop(rx);
    let mut accepted = 0u64;
    while let Some(done) = writers.join_next().await {
        accepted += done.map_err(|e| Error::internal_with("a validated-rows writer", e))??;
    }
    rejects?;
    reject_sink.finish().await?;
    if accepted + rejected + after_run_date != rows_read {
        return Err(Error::internal(format!(
            "{table}: rows read ({rows_read}, from the Parquet footers) != accepted ({accepted}) + rejected ({rejected}) + after the run date ({after_run_date})"
        )));
    }
    if table.required() && accepted == 0 {
        return Err(Error::data(
            format!("table {table} ({})", src.url()),
            format!(
                "no valid rows on or before {run_date} ({rows_read} read, {rejected} rejected, {after_run_date} after the run date)"
            ),
        ));
    }
    let consent_conflicts = if by_reason.contains_key("duplicate_customer") {
        count_consent_conflicts(&ctx, run_date).await?
    } else {
        0
    };
    let in_scope = rows_read - after_run_date;
    let reject_share = if in_scope == 0 {
        0.0
    } else {
        rejected as f64 / in_scope as f64
    };
    Ok(TableReport {
        table: table.name().to_string(),
        url: src.url(),
        files: file_urls,
        rows_read,
        rows_accepted: accepted,
        rows_rejected: rejected,
        rows_after_run_date: after_run_date,
        rejected_by_reason: by_reason,
        reject_share,
        missing_optional_columns: missing_optional,
        consent_conflicts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The customers in scope with several rows that disagree on a consent.
async fn count_consent_conflicts(ctx: &SessionContext, run_date: RunDate) -> Result<u64> {
    let end = run_date.end_exclusive_micros();
    let disagree = Table::Customers
        .columns()
        .iter()
        .filter(|c| c.name.starts_with("consent_"))
        .map(|c| {
            format!(
                "bool_or(coalesce({0}, false)) <> bool_and(coalesce({0}, false))",
                c.name
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        "SELECT count(*) AS n FROM (SELECT customer_id FROM src \
         WHERE NOT coalesce(signup_ts >= arrow_cast({end}, 'Timestamp(Microsecond, Some(\"UTC\"))'), false) \
         AND customer_id IS NOT NULL AND trim(customer_id) <> '' \
         GROUP BY customer_id HAVING count(*) > 1 AND ({disagree}))"
    );
    let err = |e| Error::internal_with("counting the customers whose consents disagree", e);
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(err)?
        .collect()
        .await
        .map_err(err)?;
    Ok(batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<arrow::datatypes::Int64Type>()
        })
        .map_or(0, |a| u64::try_from(a.value(0)).unwrap_or(0)))
}

/// Quote an identifier for DataFusion (column names are case sensitive).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of the target schema, by name, from a batch of the
/// validation SQL, cast to their types (DataFusion may hand back string
/// views or a different nullability); [`EMAIL_HASH`] is computed from the
/// batch's `email`.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let err = |e| Error::internal_with("casting to the validated schema", e);
    let column = |name: &str| {
        let i = batch
            .schema()
            .index_of(name)
            .map_err(|e| Error::internal_with("a column of the validation SQL", e))?;
        Ok::<_, Error>(Arc::clone(batch.column(i)))
    };
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let c = if f.name() == EMAIL_HASH {
            let email = cast(&column("email")?, &DataType::Utf8).map_err(err)?;
            let hashed: arrow::array::StringArray = email
                .as_string::<i32>()
                .iter()
                .map(|e| e.map(crate::exports::email_sha256))
                .collect();
            Arc::new(hashed) as arrow::array::ArrayRef
        } else {
            cast(&column(f.name())?, f.data_type()).map_err(err)?
        };
        cols.push(c);
    }
    RecordBatch::try_new(Arc::clone(schema), cols)
        .map_err(|e| Error::internal_with("building a validated batch", e))
}

/// An error while reading an input table: a storage failure (the one
/// mapping, [`fidelis_storage::storage_root`]) names the table's URL and is
/// exit 4; anything else is the input's fault (exit 3), with the engine's
/// message, which names the file or the value.
fn data_err(table: Table, src: &Location, e: datafusion::error::DataFusionError) -> Error {
    if fidelis_storage::storage_root(&e).is_some() {
        Error::storage(src.url(), e)
    } else {
        Error::data(format!("table {table} ({})", src.url()), e)
    }
}

/// The tag of a row after the run date: out of the run's scope (the lake cut
/// at D), counted as `rows_after_run_date`, neither accepted nor rejected.
pub const OUT_OF_SCOPE: &str = "after_run_date";

/// The row rules of `docs/contract.md` as SQL over the canonical view `src`:
/// every row comes out with a `reject_reason` (null when accepted,
/// [`OUT_OF_SCOPE`] when after the run date).
fn rules_sql(table: Table, run_date: RunDate, has_line_id: bool) -> String {
    let end = run_date.end_exclusive_micros();
    let end_ts = format!("arrow_cast({end}, 'Timestamp(Microsecond, Some(\"UTC\"))')");
    let cols: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    let all = cols.join(", ");
    let empty = |c: &str| format!("{c} IS NULL OR trim({c}) = ''");
    let dup_key = dup_key(table, has_line_id);
    // The lake cut at D (docs/contract.md): rows stamped at or after D+1
    // 00:00 UTC are not part of this run at all. They come out tagged
    // OUT_OF_SCOPE, before any rule and outside the duplicate check, so a
    // run of a past date sees exactly what a run on the cut lake sees.
    let ts = match table {
        Table::Purchases => "order_ts",
        Table::Interactions => "event_ts",
        Table::Customers => "signup_ts",
    };
    let out_of_scope = format!("coalesce({ts} >= {end_ts}, false)");
    let (rules, dup_reason): (Vec<(String, &str)>, &str) = match table {
        Table::Purchases => (
            vec![
                (empty("customer_id"), "null_customer_id"),
                (empty("order_id"), "null_order_id"),
                ("order_ts IS NULL".into(), "null_timestamp"),
                (
                    "amount IS NULL OR isnan(amount) OR abs(amount) = 'Infinity'::double".into(),
                    "non_finite_amount",
                ),
            ],
            "duplicate_order_line",
        ),
        Table::Interactions => (
            vec![
                (empty("customer_id"), "null_customer_id"),
                ("event_ts IS NULL".into(), "null_timestamp"),
                (empty("channel"), "null_channel"),
                (empty("event_type"), "null_event_type"),
                (
                    "value IS NOT NULL AND (isnan(value) OR abs(value) = 'Infinity'::double)".into(),
                    "non_finite_value",
                ),
            ],
            "duplicate_event",
        ),
        Table::Customers => (
            vec![
                (empty("customer_id"), "null_customer_id"),
                (
                    "acquisition_cost IS NOT NULL AND (isnan(acquisition_cost) OR acquisition_cost < 0 OR acquisition_cost = 'Infinity'::double)".into(),
                    "negative_acquisition_cost",
                ),
            ],
            "duplicate_customer",
        ),
    };
    let cases: String = rules
        .iter()
        .map(|(cond, reason)| format!("      WHEN {cond} THEN '{reason}'\n"))
        .collect();
    // The row a duplicate group keeps: a valid one; of customers, one with
    // an email and the latest signup; then by every column, so the choice
    // is the same on every rerun.
    let mut order = vec!["(base_reason IS NOT NULL)".to_string()];
    if table == Table::Customers {
        order.push("(email IS NULL)".into());
        order.push("signup_ts DESC NULLS LAST".into());
    }
    order.extend(cols.iter().map(|c| format!("{c} NULLS FIRST")));
    // Consent is conservative: the kept customers row grants a channel
    // only when every row of the customer does (null = no).
    let consents: Vec<&str> = cols
        .iter()
        .copied()
        .filter(|c| table == Table::Customers && c.starts_with("consent_"))
        .collect();
    let all_consent: String = consents
        .iter()
        .map(|c| {
            format!(
                ", bool_and(coalesce({c}, false)) OVER (PARTITION BY {k}) AS all_{c}",
                k = dup_key.join(", ")
            )
        })
        .collect();
    let kept_cols = cols
        .iter()
        .map(|c| {
            if consents.contains(c) {
                format!("CASE WHEN dup_rank = 1 THEN all_{c} ELSE {c} END AS {c}")
            } else {
                (*c).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Only the rows whose key hash repeats (crate::dedup) go through the
    // window; the others cannot be duplicates.
    format!(
        "-- one row per input row, with the first rule it breaks\n\
         WITH checked AS (\n  SELECT {all},\n    CASE\n{cases}    END AS base_reason,\n    \
         {out_of_scope} AS out_of_scope,\n    \
         fidelis_dup_candidate({key}) AS dup_candidate\n  FROM src\n),\n\
         ranked AS (\n  SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS dup_rank{all_consent}\n  \
         FROM checked WHERE dup_candidate AND NOT out_of_scope\n)\n\
         SELECT {kept_cols},\n  coalesce(base_reason, CASE WHEN dup_rank > 1 THEN '{dup_reason}' END) AS reject_reason\nFROM ranked\n\
         UNION ALL\n\
         SELECT {all}, base_reason AS reject_reason\nFROM checked WHERE NOT dup_candidate AND NOT out_of_scope\n\
         UNION ALL\n\
         SELECT {all}, '{OUT_OF_SCOPE}' AS reject_reason\nFROM checked WHERE out_of_scope",
        key = dup_key.join(", "),
        order = order.join(", "),
    )
}

/// The columns whose equal values make rows duplicates (docs/contract.md):
/// `(order_id, line_id)` for order lines (every column without a line id),
/// every column for interactions, `customer_id` for customers.
fn dup_key(table: Table, has_line_id: bool) -> Vec<&'static str> {
    match table {
        Table::Purchases if has_line_id => vec!["order_id", "line_id"],
        Table::Customers => vec!["customer_id"],
        _ => table.columns().iter().map(|c| c.name).collect(),
    }
}

/// Register the staged validated tables of a run as `purchases`,
/// `interactions` and `customers` in a session.
pub async fn register_validated(
    ctx: &SessionContext,
    run: &RunLayout,
    report: &ValidationReport,
) -> Result<()> {
    register_tables(ctx, report, |table| run.validated(table)).await
}

/// Register each table of the report as read from `location(table)`.
pub(crate) async fn register_tables(
    ctx: &SessionContext,
    report: &ValidationReport,
    location: impl Fn(Table) -> Location,
) -> Result<()> {
    for t in &report.tables {
        let Some(table) = Table::ALL.into_iter().find(|x| x.name() == t.table) else {
            continue;
        };
        let loc = location(table);
        ctx.register_parquet(table.name(), loc.url() + "/", ParquetReadOptions::default())
            .await
            .map_err(|e| Error::internal_with(format!("registering validated {table}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_types_follow_the_contract() {
        assert!(accepts(ColumnType::Id, &DataType::Int64));
        assert!(accepts(ColumnType::Id, &DataType::Utf8View));
        assert!(!accepts(ColumnType::Id, &DataType::Float64));
        assert!(accepts(ColumnType::Float, &DataType::Decimal128(10, 2)));
        assert!(!accepts(ColumnType::Float, &DataType::Utf8));
        assert!(accepts(ColumnType::Timestamp, &DataType::Date32));
        assert!(accepts(
            ColumnType::Timestamp,
            &DataType::Timestamp(TimeUnit::Nanosecond, None)
        ));
        assert!(!accepts(ColumnType::Timestamp, &DataType::Utf8));
        assert!(!accepts(ColumnType::Bool, &DataType::Int8));
    }

    #[test]
    fn rules_sql_mentions_every_reason_of_the_contract_doc() {
        let d = RunDate::parse("2026-11-22").expect("date");
        let doc = include_str!("../../../../docs/contract.md");
        for t in Table::ALL {
            let sql = rules_sql(t, d, true);
            for line in sql.lines().filter(|l| l.contains("THEN '")) {
                let reason = line
                    .split("THEN '")
                    .nth(1)
                    .and_then(|r| r.split('\'').next())
                    .expect("reason");
                assert!(
                    doc.contains(&format!("`{reason}`")),
                    "{reason} not documented"
                );
            }
        }
    }
}
