//! Where a lake keeps its bytes and its metadata: a data store named by a
//! URL, and SQLite in the lake directory or PostgreSQL named by a URL,
//! recorded in the lake's descriptor `lake.toml` when not the defaults.
//!
//! - no descriptor, or `file://` URL: a directory (`LAKE/data` by default);
//!   small reads go to the files directly;
//! - `s3://BUCKET[/PREFIX]` (S3 and S3-compatible servers), `gs://…`,
//!   `az://…`: object_store's builders, credentials from the environment
//!   as their SDKs read it (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_ENDPOINT_URL`, `GOOGLE_APPLICATION_CREDENTIALS`, ...), settings
//!   that are not secrets (endpoint, region, path style, plain HTTP) from
//!   the descriptor. Secrets are never written to the descriptor.
//!
//! ```toml
//! meta = "postgres://weir@db.internal:5432/weir?schema=demand"
//! data = "s3://lake-bucket/weir"
//! [data_options]
//! endpoint = "http://127.0.0.1:8333"
//! region = "us-east-1"
//! allow_http = "true"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Result, StoreError};

/// The lake's descriptor, beside its metadata.
pub const LAKE_FILE: &str = "lake.toml";
/// The data directory of a lake whose bytes stay beside it.
pub const DATA_DIR: &str = "data";

/// What `weir init` chose for a lake (the descriptor's content).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSpec {
    /// Metadata store URL (`postgres://…`); `None` is SQLite in the lake
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<String>,
    /// Data store URL; `None` is `LAKE/data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// object_store settings of the data store (`endpoint`, `region`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_options: BTreeMap<String, String>,
}

fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::InvalidArgument(msg.into())
}

/// Settings that hold credentials: they come from the environment.
const SECRET_WORDS: &[&str] = &["secret", "password", "token", "access_key", "key_id"];

impl LakeSpec {
    /// The descriptor in `dir`, or the default when there is none.
    pub fn read(dir: &Path) -> Result<LakeSpec> {
        let path = dir.join(LAKE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LakeSpec::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        if *self == LakeSpec::default() {
            return Ok(());
        }
        let text = toml::to_string(self).map_err(|e| bad(e.to_string()))?;
        std::fs::write(
            dir.join(LAKE_FILE),
            format!("# This lake's data store (written by weir init).\n{text}"),
        )?;
        Ok(())
    }

    /// Refuses what could not open: a malformed URL, an unknown scheme,
    /// an unknown or secret setting.
    pub fn check(&self) -> Result<()> {
        for k in self.data_options.keys() {
            let lower = k.to_ascii_lowercase();
            if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                return Err(bad(format!(
                    "data option {k}: credentials are not written to the lake's descriptor; set them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...)"
                )));
            }
        }
        if let Some(m) = &self.meta {
            crate::meta::postgres::check_url(m)?;
        }
        if let Some(u) = &self.data {
            let url = parse(u)?;
            if url.scheme() != "file" {
                remote(&url, &self.data_options)?;
            } else if !self.data_options.is_empty() {
                return Err(bad(
                    "data options apply to object storage URLs, not file://",
                ));
            }
        }
        Ok(())
    }
}

fn parse(u: &str) -> Result<Url> {
    Url::parse(u).map_err(|e| {
        bad(format!(
            "data store URL {u:?}: {e} (use file:///DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX)"
        ))
    })
}

/// The data store of a lake, and the directory behind it when it is local.
pub(crate) struct DataStore {
    pub store: Arc<dyn ObjectStore>,
    pub local: Option<PathBuf>,
    pub url: String,
}

pub(crate) fn open(dir: &Path, spec: &LakeSpec, create: bool) -> Result<DataStore> {
    let url = match &spec.data {
        None => {
            let d = dir.join(DATA_DIR);
            return local(&d, create, format!("file://{}", absolute(&d).display()));
        }
        Some(u) => parse(u)?,
    };
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|()| bad(format!("{url}: not a local directory")))?;
        return local(&path, create, url.to_string());
    }
    Ok(DataStore {
        store: remote(&url, &spec.data_options)?,
        local: None,
        url: url.to_string(),
    })
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize()
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

fn local(d: &Path, create: bool, url: String) -> Result<DataStore> {
    if create {
        std::fs::create_dir_all(d)?;
    }
    let d = d.canonicalize().map_err(|e| StoreError::NotALake {
        path: d.display().to_string(),
        hint: format!("the lake's data directory cannot be opened: {e}"),
    })?;
    Ok(DataStore {
        store: Arc::new(LocalFileSystem::new_with_prefix(&d)?),
        local: Some(d),
        url,
    })
}

/// An object-storage data store, prefixed by the URL's path.
fn remote(url: &Url, options: &BTreeMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    let unknown = |k: &str| {
        bad(format!(
            "data option {k:?} is not a setting of {} stores (object_store's names: endpoint, region, allow_http, virtual_hosted_style_request, ...)",
            url.scheme()
        ))
    };
    let failed = |e: object_store::Error| bad(format!("data store {url}: {e}"));
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_url(url.as_str());
            for (k, v) in options {
                b = b.with_config(k.parse().map_err(|_| unknown(k))?, v);
            }
            Arc::new(b.build().map_err(failed)?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (k, v) in options {
                b = b.with_config(k.parse().map_err(|_| unknown(k))?, v);
            }
            Arc::new(b.build().map_err(failed)?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in options {
                b = b.with_config(k.parse().map_err(|_| unknown(k))?, v);
            }
            Arc::new(b.build().map_err(failed)?)
        }
        other => {
            return Err(bad(format!(
                "data store URL {url}: scheme {other}: is not supported (use file://, s3://, gs:// or az://)"
            )));
        }
    };
    let prefix = url.path().trim_matches('/');
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_checked_before_use() {
        let s3 = |opts: &[(&str, &str)]| LakeSpec {
            meta: None,
            data: Some("s3://bucket/lake".into()),
            data_options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s3(&[
            ("endpoint", "http://127.0.0.1:8333"),
            ("region", "us-east-1"),
        ])
        .check()
        .unwrap();
        let e = s3(&[("aws_secret_access_key", "x")]).check().unwrap_err();
        assert!(e.to_string().contains("environment"), "{e}");
        let e = s3(&[("colour", "blue")]).check().unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let bad_scheme = LakeSpec {
            data: Some("ftp://x/y".into()),
            ..Default::default()
        };
        assert!(bad_scheme.check().unwrap_err().to_string().contains("ftp"));
        let garbage = LakeSpec {
            data: Some("not a url".into()),
            ..Default::default()
        };
        assert!(garbage.check().is_err());
        LakeSpec::default().check().unwrap();
        let pg = |url: &str| LakeSpec {
            meta: Some(url.into()),
            ..Default::default()
        };
        pg("postgres://weir@127.0.0.1:5432/weir?schema=lake_1")
            .check()
            .unwrap();
        for bad in [
            "postgres://weir:secret@127.0.0.1/weir",
            "mysql://weir@127.0.0.1/weir",
            "postgres://weir@127.0.0.1/weir?schema=Bad-Name",
        ] {
            assert!(pg(bad).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_descriptor_round_trips_and_the_default_writes_none() {
        let dir = tempfile::tempdir().unwrap();
        LakeSpec::default().write(dir.path()).unwrap();
        assert!(!dir.path().join(LAKE_FILE).exists());
        let spec = LakeSpec {
            meta: Some("postgres://weir@db/weir?schema=one".into()),
            data: Some("s3://b/p".into()),
            data_options: [("region".to_string(), "eu-west-1".to_string())].into(),
        };
        spec.write(dir.path()).unwrap();
        assert_eq!(LakeSpec::read(dir.path()).unwrap(), spec);
    }
}
