//! Atomic publishing (docs/contract.md, "Outputs and publishing").
//!
//! Stages write into attempt folders below `<out>/_staging/run_date=D/`
//! ([`crate::attempt`]). [`publish`] copies each published table of the
//! attempts a run's lineage names to `<out>/<table>/run_date=D/run_id=<P>/`
//! under a fresh publish id P (new objects, never an overwrite in place),
//! checks that the run still holds its leases, then writes
//! `<out>/runs/run_date=D/_manifest.json`: the commit point (every path from
//! [`crate::layout`]). Only after it does it remove the date's other
//! publish ids (older publishes, and leftovers of a killed one): safe, as
//! the publish lease lets one publish of a date run at a time. The staging
//! folder stays for inspection until a run with another id validates the
//! date. Readers resolve a date through its manifest, so a run killed at
//! any point leaves the last manifest and every file it names intact.
//!
//! The manifest is written with a multipart upload (one part): on S3 the
//! object appears only when the upload completes, on a local disk
//! object_store writes a temporary file and renames it. Either way a reader
//! sees the old manifest or the new one, never half of one.

use std::collections::BTreeMap;

use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use fidelis_core::{Error, Result, RunDate};

use crate::Location;
use crate::attempt::Lineage;
use crate::layout::{Layout, MANIFEST_FILE, PUBLISHED_TABLES, RunLayout};
use crate::lease::Lease;

/// The manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// One published object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedFile {
    /// Path relative to the output root.
    pub path: String,
    pub bytes: u64,
    /// SHA-256 (hex) of the object's bytes.
    pub sha256: String,
    /// Rows: from the footer of a Parquet file, the records of a CSV file;
    /// `None` for other files (JSON, HTML).
    pub rows: Option<u64>,
}

/// `runs/run_date=D/_manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub manifest_version: u32,
    pub run_date: String,
    /// The publish id: the `run_id=` folders of this publication.
    pub run_id: String,
    /// The run (`--run-id`, Airflow's run id) and the stage attempts whose
    /// outputs were published; absent in manifests written before attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<Lineage>,
    /// The binary's version and commit.
    pub code_version: String,
    /// SHA-256 of the config file's bytes.
    pub config_hash: String,
    /// When the manifest was written (UTC, RFC 3339). Metadata only: no
    /// output value depends on it.
    pub published_at: String,
    /// Per input table: files, rows read = rows accepted + rows rejected.
    pub inputs: serde_json::Value,
    /// The models' version, champions and every candidate's metrics.
    pub models: serde_json::Value,
    /// The export summary (per audience: kept, excluded, control, capped).
    pub exports: serde_json::Value,
    /// Seconds per stage.
    pub durations: BTreeMap<String, f64>,
    /// Table -> its published files.
    pub tables: BTreeMap<String, Vec<PublishedFile>>,
}

impl Manifest {
    /// Every published file with its table.
    pub fn files(&self) -> impl Iterator<Item = (&str, &PublishedFile)> {
        self.tables
            .iter()
            .flat_map(|(t, files)| files.iter().map(move |f| (t.as_str(), f)))
    }
}

/// What the caller knows about the run (everything but the files and the
/// run date, which is the staging area's).
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub code_version: String,
    pub config_hash: String,
    pub inputs: serde_json::Value,
    pub models: serde_json::Value,
    pub exports: serde_json::Value,
    pub durations: BTreeMap<String, f64>,
}

/// The published manifest of a date, if any.
pub async fn read_manifest(layout: &Layout, run_date: RunDate) -> Result<Option<Manifest>> {
    let loc = layout.manifest(run_date);
    match loc.get_opt().await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e)),
    }
}

/// Every published manifest of an output root, by run date.
pub async fn read_manifests(layout: &Layout) -> Result<Vec<Manifest>> {
    let mut out_list = Vec::new();
    let manifests = layout.manifests();
    for meta in manifests.list_all().await? {
        if meta.location.filename() != Some(MANIFEST_FILE) {
            continue;
        }
        let loc = Location::at(&manifests, meta.location.clone());
        if let Some(bytes) = loc.get_opt().await? {
            out_list.push(
                serde_json::from_slice::<Manifest>(&bytes)
                    .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e))?,
            );
        }
    }
    out_list.sort_by(|a, b| a.run_date.cmp(&b.run_date));
    Ok(out_list)
}

/// Records of a CSV file (RFC 4180: quoted fields may hold newlines), less
/// the header.
fn csv_records(bytes: &[u8]) -> u64 {
    let (mut records, mut quoted, mut any) = (0u64, false, false);
    for &c in bytes {
        match c {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                records += 1;
                any = false;
                continue;
            }
            _ => {}
        }
        any = true;
    }
    if any {
        records += 1;
    }
    records.saturating_sub(1)
}

fn parquet_rows(bytes: &Bytes) -> Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(bytes.clone())
        .map_err(|e| Error::internal_with("reading a staged Parquet footer", e))?;
    Ok(u64::try_from(r.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// Publish the staged outputs of a run (see the module docs): the attempts
/// of `run`'s lineage. Every lease of `leases` is checked before the
/// manifest is written: a run that lost one publishes nothing (its copies
/// are removed) and fails with exit 75. `pause` is called at the named
/// points (`publish.data` after the first file, `publish.before_manifest`,
/// `publish.manifest` with the manifest upload open) so that tests can kill
/// the process there.
pub async fn publish(
    run: &RunLayout,
    info: RunInfo,
    leases: &[&Lease],
    pause: &dyn Fn(&str),
) -> Result<Manifest> {
    let d = run.run_date();
    let layout = run.layout();
    let out = layout.root();
    let mut tables: BTreeMap<String, Vec<PublishedFile>> = BTreeMap::new();
    let mut first = true;
    for table in PUBLISHED_TABLES {
        let src = run.table(table);
        let prefix = src.path().parts().count();
        let dest = layout.published_run(table, d, &info.run_id);
        let mut files = Vec::new();
        for meta in src.list_all().await? {
            let rel: Vec<String> = meta
                .location
                .parts()
                .skip(prefix)
                .map(|p| p.as_ref().to_string())
                .collect();
            let rel = rel.join("/");
            let bytes = Location::at(out, meta.location.clone())
                .get_opt()
                .await?
                .ok_or_else(|| {
                    Error::storage(
                        out.url_of(&meta.location),
                        "the staged file vanished while publishing",
                    )
                })?;
            let rows = if rel.ends_with(".parquet") {
                Some(parquet_rows(&bytes)?)
            } else if rel.ends_with(".csv") {
                Some(csv_records(&bytes))
            } else {
                None
            };
            let target = dest.child(&rel);
            files.push(PublishedFile {
                path: relative(out, target.path()),
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                rows,
            });
            target.put(bytes).await?;
            if first {
                pause("publish.data");
                first = false;
            }
        }
        if !files.is_empty() {
            tables.insert((*table).to_string(), files);
        }
    }
    pause("publish.before_manifest");
    for lease in leases {
        if let Err(e) = lease.check().await {
            // Best effort: the copies are orphans either way (no manifest
            // names them; the next publish of the date removes them).
            for table in PUBLISHED_TABLES {
                let _ = layout
                    .published_run(table, d, &info.run_id)
                    .delete_all()
                    .await;
            }
            return Err(e);
        }
    }
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        run_date: d.to_string(),
        run_id: info.run_id.clone(),
        staged: Some(run.lineage().clone()),
        code_version: info.code_version,
        config_hash: info.config_hash,
        published_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        inputs: info.inputs,
        models: info.models,
        exports: info.exports,
        durations: info.durations,
        tables,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::internal_with("serialising the manifest", e))?;
    let loc = layout.manifest(d);
    let mut upload = loc
        .store()
        .put_multipart(loc.path())
        .await
        .map_err(|e| Error::storage(loc.url(), e))?;
    upload
        .put_part(PutPayload::from_bytes(Bytes::from(json)))
        .await
        .map_err(|e| Error::storage(loc.url(), e))?;
    pause("publish.manifest");
    upload
        .complete()
        .await
        .map_err(|e| Error::storage(loc.url(), e))?;
    // Committed. Older run_ids of this date and leftovers go now.
    for table in PUBLISHED_TABLES {
        let date_dir = layout.published_date(table, d);
        let keep = Layout::run_id_folder(&info.run_id);
        let prefix = date_dir.path().parts().count();
        for meta in date_dir.list_all().await? {
            let run_part = meta.location.parts().nth(prefix);
            if run_part.as_ref().map(|p| p.as_ref()) != Some(keep.as_str()) {
                Location::at(out, meta.location).delete().await?;
            }
        }
    }
    Ok(manifest)
}

fn relative(out: &Location, path: &ObjPath) -> String {
    path.parts()
        .skip(out.path().parts().count())
        .map(|p| p.as_ref().to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_respect_quotes() {
        assert_eq!(csv_records(b"a,b\n1,2\n3,4\n"), 2);
        assert_eq!(csv_records(b"a,b\n1,\"x\ny\"\n3,4"), 2);
        assert_eq!(csv_records(b"a,b\n"), 0);
    }
}
