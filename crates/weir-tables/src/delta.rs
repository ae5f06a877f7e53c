//! Opening Delta tables on a ref through the repository's ObjectStore view.

use std::sync::{Arc, Once};

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use url::Url;
use weir_store::{ListItem, Repo};

use crate::error::{Result, TablesError};

/// deltalake finds log stores by URL scheme; `weir://` uses the default
/// (put-if-absent) log store over whatever store the table is built with.
struct WeirLogStores;

impl LogStoreFactory for WeirLogStores {
    fn with_options(
        &self,
        prefixed: ObjectStoreRef,
        root: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed, root, location, options))
    }
}

/// Registers the `weir://` scheme with deltalake (idempotent). The registry
/// is deltalake's process-wide one; registering only a factory that holds no
/// state keeps weir's own state out of it.
pub fn register_scheme() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        logstore_factories().insert(Url::parse("weir://").unwrap(), Arc::new(WeirLogStores));
    });
}

pub fn validate_table_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(TablesError::InvalidName(name.to_string()))
    }
}

/// A table at a ref: `weir://REPO/REF/TABLE`.
#[derive(Clone)]
pub struct TableRef {
    pub repo: Repo,
    pub reference: String,
    pub name: String,
}

impl TableRef {
    pub fn new(repo: &Repo, reference: &str, name: &str) -> Result<TableRef> {
        validate_table_name(name)?;
        Ok(TableRef {
            repo: repo.clone(),
            reference: reference.to_string(),
            name: name.to_string(),
        })
    }

    pub fn url(&self) -> Url {
        // The ref goes in the path: DataFusion keys object stores by scheme
        // and host, so the host must be the repository alone.
        Url::parse(&format!(
            "weir://{}/{}/{}",
            self.repo.name(),
            self.reference,
            self.name
        ))
        .expect("validated names form a valid URL")
    }

    pub fn uri(&self) -> String {
        format!(
            "weir://{}/{}/{}",
            self.repo.name(),
            self.reference,
            self.name
        )
    }

    /// A deltalake handle over `store` (the repository view by default).
    pub fn builder_with(&self, store: Arc<dyn ObjectStore>) -> Result<DeltaTable> {
        register_scheme();
        let url = self.url();
        Ok(DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(store, url)
            .build()?)
    }

    /// Loads the table's latest version at this ref; `None` if there is no
    /// table there.
    pub async fn load(&self) -> Result<Option<DeltaTable>> {
        // Ask the store first: deltalake logs an error for every location
        // that turns out not to be a table.
        let (log, _) = self
            .repo
            .list_objects(
                &self.reference,
                &format!("{}/_delta_log/", self.name),
                false,
                None,
                1,
            )
            .await?;
        if log.is_empty() {
            return Ok(None);
        }
        let mut t = self.builder_with(Arc::new(self.repo.object_store()))?;
        match t.load().await {
            Ok(()) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// SHA-256 over the table's Delta log at this ref (each entry's path and
    /// content hash): equal on two refs exactly when the logs are, whatever
    /// the branch. `None` when there is no table.
    pub async fn fingerprint(&self) -> Result<Option<String>> {
        Ok(self.log_state().await?.map(|(f, _)| f))
    }

    /// The log fingerprint and the latest Delta version, from one listing
    /// of `_delta_log/` (no log replay: pinning inputs stays cheap).
    pub async fn log_state(&self) -> Result<Option<(String, u64)>> {
        use sha2::Digest;
        let (items, _) = self
            .repo
            .list_objects(
                &self.reference,
                &format!("{}/_delta_log/", self.name),
                false,
                None,
                usize::MAX,
            )
            .await?;
        let mut h = sha2::Sha256::new();
        let mut version: Option<u64> = None;
        for item in &items {
            if let weir_store::ListItem::Object { path, entry } = item {
                h.update(path.as_bytes());
                h.update(b":");
                h.update(entry.checksum_hex().as_bytes());
                h.update(b"\n");
                let file = path.rsplit('/').next().unwrap_or_default();
                if let Some(v) = file
                    .strip_suffix(".json")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    version = Some(version.map_or(v, |x| x.max(v)));
                }
            }
        }
        Ok(version.map(|v| (hex::encode(h.finalize()), v)))
    }

    /// Like [`TableRef::load`] but a missing table is an error.
    pub async fn require(&self) -> Result<DeltaTable> {
        self.load().await?.ok_or_else(|| TablesError::NotATable {
            table: self.name.clone(),
            reference: format!("weir://{}/{}", self.repo.name(), self.reference),
        })
    }
}

pub async fn open_table(repo: &Repo, reference: &str, name: &str) -> Result<DeltaTable> {
    TableRef::new(repo, reference, name)?.require().await
}

/// Names of the tables at a ref: top-level directories holding a
/// `_delta_log/`.
pub async fn list_tables(repo: &Repo, reference: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (items, more) = repo
            .list_objects(reference, "", true, after.as_deref(), 1000)
            .await?;
        after = items.last().map(|i| i.path().to_string());
        for item in items {
            if let ListItem::CommonPrefix { path } = item {
                let name = path.trim_end_matches('/');
                if validate_table_name(name).is_ok() {
                    let (log, _) = repo
                        .list_objects(reference, &format!("{name}/_delta_log/"), false, None, 1)
                        .await?;
                    if !log.is_empty() {
                        out.push(name.to_string());
                    }
                }
            }
        }
        if !more {
            return Ok(out);
        }
    }
}
