//! fidelis-storage: object stores, streaming Parquet I/O, the layout of every
//! path of a run ([`layout`]), the Delta Lake writers ([`lake`]), the commits
//! and the runs table ([`publish`]).
//! Never depends on: DataFusion, the model crates (docs/architecture.md).
//!
//! Every input and output is a URL (`s3://`, `gs://`, `az://`, `file://` or
//! a plain path) resolved here into an `object_store` store.
//!
//! - Credentials come from the standard environment variables of each cloud
//!   (`AWS_*`, `GOOGLE_*`, `AZURE_*`), read by the builders' `from_env`; nothing
//!   secret is ever logged (only URLs are).
//! - Every remote store retries transient errors with exponential backoff
//!   (`[storage]` in the config).
//! - Parquet is read and written streaming, through `parquet`'s object-store
//!   reader and writer; a file is written with one multipart upload, so readers
//!   never see half a file.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::buffered::BufWriter;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectMeta, ObjectStore, ObjectStoreExt, ObjectStoreScheme,
    PutMode, PutOptions, PutPayload, RetryConfig,
};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use url::Url;

use fidelis_core::config::{StorageConfig, is_url};
use fidelis_core::{Error, Result};

pub mod attempt;
pub mod lake;
pub mod layout;
pub mod lease;
pub mod publish;
mod reader;
pub mod vacuum;
pub use reader::ObjectReader;

/// A place in object storage: a store plus a path prefix inside it.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    /// `scheme://authority/`, the key under which DataFusion finds the store.
    store_url: Url,
    path: ObjPath,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("url", &self.url())
            .finish()
    }
}

/// Request and connect timeouts of every remote store (`[storage]`), as
/// client config keys: set one by one, so that what the environment set
/// through the builders' `from_env` (`AWS_ALLOW_HTTP`, proxies, ...) stays.
fn client_timeouts(cfg: &StorageConfig) -> [(ClientConfigKey, String); 2] {
    [
        (
            ClientConfigKey::Timeout,
            format!("{}s", cfg.request_timeout_secs),
        ),
        (
            ClientConfigKey::ConnectTimeout,
            format!("{}s", cfg.connect_timeout_secs),
        ),
    ]
}

fn retry_config(cfg: &StorageConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: cfg.max_retries,
        retry_timeout: Duration::from_secs(cfg.retry_timeout_secs),
    }
}

impl Location {
    /// Parse a URL or a local path. Local paths are made absolute.
    pub fn parse(s: &str, cfg: &StorageConfig) -> Result<Self> {
        let url = if is_url(s) {
            Url::parse(s).map_err(|e| Error::config(format!("`{s}` is not a valid URL: {e}")))?
        } else {
            let abs = std::path::absolute(s)
                .map(|p| normalize(&p))
                .map_err(|e| Error::config(format!("cannot resolve path `{s}`: {e}")))?;
            Url::from_directory_path(&abs)
                .or_else(|_| Url::from_file_path(&abs))
                .map_err(|_| Error::config(format!("cannot turn `{s}` into a file URL")))?
        };
        let (scheme, path) = ObjectStoreScheme::parse(&url).map_err(|e| {
            Error::config(format!(
                "`{s}`: unsupported location ({e}); use s3://, gs://, az://, file:// or a path"
            ))
        })?;
        let retry = retry_config(cfg);
        let timeouts = client_timeouts(cfg);
        let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
            ObjectStoreScheme::Local => Ok(Arc::new(LocalFileSystem::new())),
            ObjectStoreScheme::AmazonS3 => timeouts
                .into_iter()
                .fold(AmazonS3Builder::from_env(), |b, (k, v)| {
                    b.with_config(AmazonS3ConfigKey::Client(k), v)
                })
                .with_url(url.as_str())
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::GoogleCloudStorage => timeouts
                .into_iter()
                .fold(GoogleCloudStorageBuilder::from_env(), |b, (k, v)| {
                    b.with_config(GoogleConfigKey::Client(k), v)
                })
                .with_url(url.as_str())
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::MicrosoftAzure => timeouts
                .into_iter()
                .fold(MicrosoftAzureBuilder::from_env(), |b, (k, v)| {
                    b.with_config(AzureConfigKey::Client(k), v)
                })
                .with_url(url.as_str())
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::Http => timeouts
                .into_iter()
                .fold(HttpBuilder::new(), |b, (k, v)| b.with_config(k, v))
                .with_url(url.origin().ascii_serialization())
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as _),
            other => {
                return Err(Error::config(format!(
                    "`{s}`: unsupported location scheme {other:?}"
                )));
            }
        };
        let store =
            built.map_err(|e| Error::config(format!("`{s}`: cannot open object store: {e}")))?;
        let mut store_url = url.clone();
        store_url.set_path("/");
        store_url.set_query(None);
        store_url.set_fragment(None);
        Ok(Location {
            store,
            store_url,
            path,
        })
    }

    /// Another object in the same store as `base`.
    pub fn at(base: &Location, path: ObjPath) -> Location {
        Location {
            store: Arc::clone(&base.store),
            store_url: base.store_url.clone(),
            path,
        }
    }

    /// A location below this one (`rel` uses `/` separators).
    pub fn child(&self, rel: &str) -> Location {
        let mut path = self.path.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        Location {
            store: Arc::clone(&self.store),
            store_url: self.store_url.clone(),
            path,
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    pub fn path(&self) -> &ObjPath {
        &self.path
    }

    /// The full URL of this location.
    pub fn url(&self) -> String {
        self.url_of(&self.path)
    }

    /// The full URL of an object in this location's store.
    pub fn url_of(&self, path: &ObjPath) -> String {
        format!("{}{}", self.store_url, path)
    }

    /// The Parquet objects at this location: the object itself when it is a
    /// file, or every `*.parquet` below it, sorted by path (a stable order makes
    /// runs reproducible). Hidden files and folders (`_` or `.`) are skipped,
    /// as Spark, Hive and DataFusion do.
    pub async fn list_parquet(&self) -> Result<Vec<ObjectMeta>> {
        if self.path.extension() == Some("parquet") {
            match self.store.head(&self.path).await {
                Ok(meta) => return Ok(vec![meta]),
                Err(object_store::Error::NotFound { .. }) => return Ok(vec![]),
                Err(e) => return Err(Error::storage(self.url(), e)),
            }
        }
        let listed: std::result::Result<Vec<ObjectMeta>, _> =
            self.store.list(Some(&self.path)).try_collect().await;
        let mut metas = match listed {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => vec![],
            Err(e) => return Err(Error::storage(self.url(), e)),
        };
        let prefix_len = self.path.parts().count();
        metas.retain(|m| {
            let hidden = m
                .location
                .parts()
                .skip(prefix_len)
                .any(|p| p.as_ref().starts_with('_') || p.as_ref().starts_with('.'));
            !hidden && m.location.extension() == Some("parquet")
        });
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(metas)
    }

    /// Every object below this location (for copies and clean-ups).
    pub async fn list_all(&self) -> Result<Vec<ObjectMeta>> {
        let listed: std::result::Result<Vec<ObjectMeta>, _> =
            self.store.list(Some(&self.path)).try_collect().await;
        match listed {
            Ok(mut m) => {
                m.sort_by(|a, b| a.location.cmp(&b.location));
                Ok(m)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(vec![]),
            Err(e) => Err(Error::storage(self.url(), e)),
        }
    }

    /// Write one object atomically.
    pub async fn put(&self, bytes: impl Into<Bytes>) -> Result<()> {
        self.store
            .put(&self.path, PutPayload::from_bytes(bytes.into()))
            .await
            .map(|_| ())
            .map_err(|e| Error::storage(self.url(), e))
    }

    /// Create one object only if none exists at this path (S3: a PUT with
    /// `If-None-Match: *`; a local disk: create-if-absent). `Ok(false)`
    /// when it already exists: the existing object is left as it was.
    pub async fn put_create(&self, bytes: impl Into<Bytes>) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path, PutPayload::from_bytes(bytes.into()), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(Error::storage(self.url(), e)),
        }
    }

    /// Read one object; `None` when it does not exist.
    pub async fn get_opt(&self) -> Result<Option<Bytes>> {
        match self.store.get(&self.path).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|e| Error::storage(self.url(), e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::storage(self.url(), e)),
        }
    }

    /// Delete the object at this location (one that does not exist is no
    /// error).
    pub async fn delete(&self) -> Result<()> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::storage(self.url(), e)),
        }
    }

    /// Delete every object below this location.
    pub async fn delete_all(&self) -> Result<usize> {
        let metas = self.list_all().await?;
        self.delete_objects(metas).await
    }

    /// Delete the listed objects of this location's store (one already
    /// gone is no error); returns how many were listed.
    pub async fn delete_objects(
        &self,
        metas: impl IntoIterator<Item = ObjectMeta>,
    ) -> Result<usize> {
        let mut n = 0;
        for m in metas {
            match self.store.delete(&m.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Error::storage(self.url_of(&m.location), e)),
            }
            n += 1;
        }
        Ok(n)
    }

    /// The parts of `path` below this location (`a/b/c.parquet` for
    /// `<this>/a/b/c.parquet`).
    pub fn relative_parts(&self, path: &object_store::path::Path) -> Vec<String> {
        path.parts()
            .skip(self.path.parts().count())
            .map(|p| p.as_ref().to_string())
            .collect()
    }
}

/// The one mapping from a root cause to an exit code: an object-store
/// failure anywhere in an error's chain (a timeout, a refused connection,
/// retries exhausted), whatever a stage wrapped it in (DataFusion, Parquet,
/// Arrow, an internal error), is a storage failure: exit 4, worth a retry.
/// Returns that object-store error, whose message names the operation and
/// the URL.
pub fn storage_root<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a object_store::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(os) = err.downcast_ref::<object_store::Error>() {
            return Some(os);
        }
        cur = err.source();
    }
    None
}

/// Resolve `.` and `..` lexically (the path may not exist yet).
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What a Parquet footer says about a file.
#[derive(Debug, Clone)]
pub struct ParquetInfo {
    pub schema: SchemaRef,
    pub num_rows: u64,
}

/// Read a Parquet file's footer. A truncated or corrupt file is a data error
/// naming the file.
pub async fn read_parquet_info(loc: &Location, meta: &ObjectMeta) -> Result<ParquetInfo> {
    let reader = ObjectReader::new(Arc::clone(loc.store()), meta.location.clone(), meta.size);
    match ParquetRecordBatchStreamBuilder::new(reader).await {
        Ok(builder) => {
            let rows = builder.metadata().file_metadata().num_rows();
            Ok(ParquetInfo {
                schema: Arc::clone(builder.schema()),
                num_rows: u64::try_from(rows).unwrap_or(0),
            })
        }
        Err(parquet::errors::ParquetError::External(e)) => {
            Err(Error::storage(loc.url_of(&meta.location), e))
        }
        Err(e) => Err(Error::data(
            format!("file {}", loc.url_of(&meta.location)),
            format!("not a readable Parquet file (corrupt or truncated?): {e}"),
        )),
    }
}

/// Read every record batch of a Parquet object (small files: fixtures, tests).
pub async fn read_parquet_all(loc: &Location, meta: &ObjectMeta) -> Result<Vec<RecordBatch>> {
    read_parquet_columns(loc, meta, None).await
}

/// A reader of one Parquet file: its URL (for messages) and the builder
/// of its record batch stream.
async fn open_parquet(
    loc: &Location,
    meta: &ObjectMeta,
) -> Result<(String, ParquetRecordBatchStreamBuilder<ObjectReader>)> {
    let url = loc.url_of(&meta.location);
    let reader = ObjectReader::new(Arc::clone(loc.store()), meta.location.clone(), meta.size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::data(format!("file {url}"), e))?;
    Ok((url, builder))
}

/// The named columns of one Parquet file (all of them when `columns` is
/// `None`), as record batches; a name the file does not have is ignored.
pub async fn read_parquet_columns(
    loc: &Location,
    meta: &ObjectMeta,
    columns: Option<&[&str]>,
) -> Result<Vec<RecordBatch>> {
    let (url, builder) = open_parquet(loc, meta).await?;
    let builder = match columns {
        Some(names) => {
            let mask = parquet::arrow::ProjectionMask::columns(
                builder.metadata().file_metadata().schema_descr(),
                names.iter().copied(),
            );
            builder.with_projection(mask)
        }
        None => builder,
    };
    let stream = builder
        .build()
        .map_err(|e| Error::data(format!("file {url}"), e))?;
    stream
        .try_collect()
        .await
        .map_err(|e| Error::data(format!("file {url}"), e))
}

/// One Parquet file as a stream of record batches of `batch_size` rows, so
/// that a large file is processed without holding it all in memory.
pub async fn parquet_batches(
    loc: &Location,
    meta: &ObjectMeta,
    batch_size: usize,
) -> Result<impl futures::Stream<Item = Result<RecordBatch>> + use<>> {
    let (url, builder) = open_parquet(loc, meta).await?;
    let stream = builder
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| Error::data(format!("file {url}"), e))?;
    Ok(stream.map_err(move |e| Error::data(format!("file {url}"), e)))
}

/// Writer properties for every Parquet file fidelis writes: zstd level 1 (a
/// good ratio at close to snappy's speed) and statistics for pruning.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

/// A streaming Parquet writer to one object.
pub struct ParquetSink {
    writer: AsyncArrowWriter<BufWriter>,
    url: String,
    rows: u64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("url", &self.url)
            .field("rows", &self.rows)
            .finish()
    }
}

impl ParquetSink {
    /// Start writing `loc` (the object path, ending in `.parquet`).
    pub fn create(loc: &Location, schema: SchemaRef) -> Result<Self> {
        let obj = BufWriter::new(Arc::clone(loc.store()), loc.path().clone());
        let writer = AsyncArrowWriter::try_new(obj, schema, Some(writer_properties()))
            .map_err(|e| Error::internal_with(format!("cannot start {}", loc.url()), e))?;
        Ok(ParquetSink {
            writer,
            url: loc.url(),
            rows: 0,
        })
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .await
            .map_err(|e| Error::storage(&self.url, e))
    }

    /// Finish the file; returns the rows written.
    pub async fn finish(self) -> Result<u64> {
        let url = self.url;
        self.writer
            .close()
            .await
            .map_err(|e| Error::storage(&url, e))?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn cfg() -> StorageConfig {
        StorageConfig::default()
    }

    #[test]
    fn parses_urls_and_paths() {
        let l = Location::parse("/tmp/fidelis-x/out", &cfg()).expect("path");
        assert_eq!(l.url(), "file:///tmp/fidelis-x/out");
        let n = Location::parse("/tmp/fidelis-x/jobs/../out/./a", &cfg()).expect("path");
        assert_eq!(n.url(), "file:///tmp/fidelis-x/out/a");
        assert_eq!(
            l.child("a/b.parquet").url(),
            "file:///tmp/fidelis-x/out/a/b.parquet"
        );
        let s = Location::parse("s3://bucket/some/prefix", &cfg()).expect("s3");
        assert_eq!(s.store_url().as_str(), "s3://bucket/");
        assert_eq!(s.url(), "s3://bucket/some/prefix");
        let e = Location::parse("ftp://host/x", &cfg()).expect_err("ftp");
        assert!(e.to_string().contains("ftp://host/x"), "{e}");
    }

    #[tokio::test]
    async fn parquet_round_trip_lists_and_skips_hidden_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = Location::parse(dir.path().to_str().expect("utf8"), &cfg()).expect("loc");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .expect("batch");
        for name in ["t/part-1.parquet", "t/part-0.parquet", "t/_tmp/x.parquet"] {
            let mut sink =
                ParquetSink::create(&root.child(name), Arc::clone(&schema)).expect("sink");
            sink.write(&batch).await.expect("write");
            assert_eq!(sink.finish().await.expect("finish"), 2);
        }
        root.child("t/notes.txt")
            .put(Bytes::from_static(b"x"))
            .await
            .expect("put");
        let t = root.child("t");
        let files = t.list_parquet().await.expect("list");
        let names: Vec<_> = files.iter().map(|m| m.location.to_string()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].ends_with("t/part-0.parquet"), "{names:?}");
        let info = read_parquet_info(&t, &files[0]).await.expect("info");
        assert_eq!(info.num_rows, 2);
        assert_eq!(info.schema.field(0).name(), "id");
        // A single file URL lists itself.
        let one = root.child("t/part-1.parquet");
        assert_eq!(one.list_parquet().await.expect("list").len(), 1);
        // A missing folder lists nothing.
        assert!(
            root.child("nope")
                .list_parquet()
                .await
                .expect("list")
                .is_empty()
        );
    }

    #[test]
    fn a_storage_failure_is_found_whatever_wraps_it() {
        let os = || object_store::Error::Generic {
            store: "S3",
            source: "error sending request: operation timed out".into(),
        };
        // Wrapped by a stage as an internal error, through Parquet.
        let e = Error::internal_with(
            "computing the scores",
            parquet::errors::ParquetError::External(Box::new(os())),
        );
        let root = storage_root(&e).expect("found");
        assert!(root.to_string().contains("timed out"), "{root}");
        // As fidelis' own storage error.
        assert!(storage_root(&Error::storage("s3://b/x", os())).is_some());
        // Anything else is not a storage failure.
        let other = Error::internal_with("x", std::io::Error::other("disk"));
        assert!(storage_root(&other).is_none());
        assert!(storage_root(&Error::data("t", "bad")).is_none());
    }

    #[tokio::test]
    async fn truncated_parquet_is_a_data_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = Location::parse(dir.path().to_str().expect("utf8"), &cfg()).expect("loc");
        let bad = root.child("t/bad.parquet");
        bad.put(Bytes::from_static(b"PAR1 this is not parquet"))
            .await
            .expect("put");
        let files = root.child("t").list_parquet().await.expect("list");
        let err = read_parquet_info(&root, &files[0])
            .await
            .expect_err("corrupt");
        assert_eq!(err.kind(), fidelis_core::ErrorKind::Data);
        assert!(err.to_string().contains("bad.parquet"), "{err}");
    }
}
