//! A lake: the metadata store plus the data store, and its repositories.
//!
//! On disk (the embedded default):
//!
//! ```text
//! lake/
//!   meta.db        SQLite: repositories, refs, commit index, staging
//!   lake.toml      the data store, when it is not data/ (see backend)
//!   data/          object_store root
//!     REPO-xxxx/data/..          object bytes, at random immutable addresses
//!     REPO-xxxx/_weir/ranges/..  tree ranges, named by SHA-256
//!     REPO-xxxx/_weir/metaranges/..
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use weir_core::names;

use crate::audit::AuditDraft;
pub use crate::backend::{DATA_DIR, LAKE_FILE, LakeSpec};
use crate::commit::NewCommit;
use crate::error::{Result, StoreError};
use crate::meta::postgres::PgMeta;
use crate::meta::sqlite::SqliteMeta;
use crate::meta::{CommitRecord, MetaStore, RepoRecord};
use crate::repo::Repo;
use crate::tree::Trees;

pub const META_FILE: &str = "meta.db";

pub struct Lake {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) trees: Arc<Trees>,
    /// Commits are immutable once written, so they can be cached forever
    /// (bounded in size); this keeps ref resolution off SQLite's JSON.
    /// By repository, then id.
    pub(crate) commits: Mutex<HashMap<String, HashMap<String, Arc<CommitRecord>>>>,
    root: Option<PathBuf>,
    /// The directory the data store is a `LocalFileSystem` over, when it is
    /// one: small reads go to the file directly (see `Repo::read_small`).
    pub(crate) local_data: Option<PathBuf>,
    /// The data store's URL, for `weir lake info`.
    data_url: String,
    /// Small objects read from a data store that is not local.
    pub(crate) blobs: Option<crate::blob_cache::BlobCache>,
    /// Who the audit log names for changes made through this handle when
    /// the operation has no committer of its own (branch, tag, reset, ...).
    actor: String,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.root {
            Some(r) => write!(f, "Lake({})", r.display()),
            None => write!(f, "Lake({})", self.trees.data),
        }
    }
}

pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Lake {
    /// Creates a new lake in `dir` (which may exist but must be empty),
    /// with its data beside it in `dir/data`.
    pub fn init(dir: &Path) -> Result<Lake> {
        Lake::prepare(dir, &LakeSpec::default())?;
        Lake::create(dir, &LakeSpec::default())
    }

    /// Creates a new lake in `dir` whose data lives where `spec` says. An
    /// object store is tried first (a marker written and read back), so a
    /// wrong URL, bucket or credential fails here, before anything is made.
    pub async fn init_with(dir: &Path, spec: &LakeSpec) -> Result<Lake> {
        spec.check()?;
        Lake::prepare(dir, spec)?;
        let data = crate::backend::open(dir, spec, true)?;
        if data.local.is_none() {
            let marker = object_store::path::Path::from("_weir/lake");
            let id = uuid::Uuid::new_v4().to_string();
            let reach = |e: object_store::Error| {
                StoreError::InvalidArgument(format!(
                    "the data store {} cannot be used: {e}",
                    data.url
                ))
            };
            data.store
                .put(&marker, PutPayload::from(id.clone().into_bytes()))
                .await
                .map_err(reach)?;
            let back = data
                .store
                .get(&marker)
                .await
                .map_err(reach)?
                .bytes()
                .await
                .map_err(reach)?;
            if back != id.as_bytes() {
                return Err(StoreError::InvalidArgument(format!(
                    "the data store {} did not give back what was written to it",
                    data.url
                )));
            }
        }
        Lake::create(dir, spec)
    }

    /// Refuses a directory that holds something already.
    fn prepare(dir: &Path, _spec: &LakeSpec) -> Result<()> {
        if dir.join(META_FILE).exists() || dir.join(LAKE_FILE).exists() {
            return Err(StoreError::AlreadyExists {
                kind: "lake",
                name: dir.display().to_string(),
            });
        }
        if dir.exists() {
            if !dir.is_dir() {
                return Err(StoreError::NotALake {
                    path: dir.display().to_string(),
                    hint: "it is a file, not a directory".into(),
                });
            }
            if std::fs::read_dir(dir)?.next().is_some() {
                return Err(StoreError::NotALake {
                    path: dir.display().to_string(),
                    hint: "the directory is not empty and holds no lake; pick an empty or new directory".into(),
                });
            }
        }
        Ok(())
    }

    fn create(dir: &Path, spec: &LakeSpec) -> Result<Lake> {
        std::fs::create_dir_all(dir)?;
        spec.write(dir)?;
        let data = crate::backend::open(dir, spec, true)?;
        let meta: Arc<dyn MetaStore> = match &spec.meta {
            Some(url) => Arc::new(PgMeta::create(url)?),
            None => Arc::new(SqliteMeta::create(&dir.join(META_FILE))?),
        };
        Ok(Lake::assemble(dir, meta, data))
    }

    /// Opens the lake in `dir`.
    pub fn open(dir: &Path) -> Result<Lake> {
        if !dir.join(META_FILE).is_file() && !dir.join(LAKE_FILE).is_file() {
            return Err(StoreError::NotALake {
                path: dir.display().to_string(),
                hint: if dir.exists() {
                    "this directory is not a weir lake (run `weir init` in an empty directory, or pass --lake)".into()
                } else {
                    "the directory does not exist (run `weir init` to create it, or pass --lake)"
                        .into()
                },
            });
        }
        let spec = LakeSpec::read(dir)?;
        let data = crate::backend::open(dir, &spec, false)?;
        let meta: Arc<dyn MetaStore> = match &spec.meta {
            Some(url) => Arc::new(PgMeta::open(url)?),
            None => Arc::new(SqliteMeta::open(&dir.join(META_FILE))?),
        };
        Ok(Lake::assemble(dir, meta, data))
    }

    /// Opens the lake in `dir`, creating it first if the directory is absent
    /// or empty.
    pub fn open_or_init(dir: &Path) -> Result<Lake> {
        if dir.join(META_FILE).exists() || dir.join(LAKE_FILE).exists() {
            Lake::open(dir)
        } else {
            Lake::init(dir)
        }
    }

    fn assemble(dir: &Path, meta: Arc<dyn MetaStore>, data: crate::backend::DataStore) -> Lake {
        let mut lake = Lake::with_stores(meta, data.store);
        lake.root = Some(dir.to_path_buf());
        if data.local.is_none() {
            lake.blobs = Some(Default::default());
        }
        lake.local_data = data.local;
        lake.data_url = data.url;
        lake
    }

    /// A lake over any metadata store and any `object_store` backend.
    pub fn with_stores(meta: Arc<dyn MetaStore>, data: Arc<dyn ObjectStore>) -> Lake {
        Lake {
            meta,
            trees: Arc::new(Trees::new(data)),
            commits: Mutex::new(HashMap::new()),
            root: None,
            local_data: None,
            data_url: String::new(),
            blobs: None,
            actor: "weir".to_string(),
        }
    }

    /// Sets who the audit log names for changes made through this lake.
    pub fn with_actor(mut self, actor: &str) -> Lake {
        self.actor = actor.to_string();
        self
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The audit log from record `after + 1` on, at most `limit` records.
    pub fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<crate::audit::AuditRecord>> {
        self.meta.audit_scan(after, limit)
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    pub fn data_store(&self) -> Arc<dyn ObjectStore> {
        self.trees.data.clone()
    }

    /// Where the lake's bytes are, as a URL (`file:///…/data`, `s3://…`).
    pub fn data_url(&self) -> &str {
        &self.data_url
    }

    /// The metadata store (for what the server keeps beside the lake's
    /// history: access keys).
    pub fn meta_store(&self) -> Arc<dyn MetaStore> {
        self.meta.clone()
    }

    /// Whether the data store is a local directory.
    pub fn data_is_local(&self) -> bool {
        self.local_data.is_some()
    }

    /// Creates a repository with its default branch and an initial commit.
    pub async fn create_repo(
        self: &Arc<Self>,
        name: &str,
        default_branch: &str,
        storage_namespace: Option<&str>,
        committer: &str,
    ) -> Result<Repo> {
        names::validate_repo(name)?;
        names::validate_branch(default_branch)?;
        if self.meta.get_repo(name)?.is_some() {
            return Err(StoreError::AlreadyExists {
                kind: "repository",
                name: name.to_string(),
            });
        }
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let namespace = format!("{name}-{suffix}");
        let empty = self.trees.write_metarange(&namespace, Vec::new()).await?;
        let initial = NewCommit {
            parents: vec![],
            metarange: hex::encode(empty),
            message: "Repository created",
            committer,
            created: now_secs(),
            metadata: Default::default(),
            generation: 1,
        }
        .seal();
        let record = RepoRecord {
            name: name.to_string(),
            namespace: namespace.clone(),
            default_branch: default_branch.to_string(),
            storage_namespace: storage_namespace
                .map(str::to_string)
                .unwrap_or_else(|| format!("local://{namespace}")),
            created: now_secs(),
        };
        let audit = AuditDraft::new(committer, "repo_create", name, default_branch)
            .detail(serde_json::json!({"storage_namespace": record.storage_namespace}));
        self.meta.create_repo(&record, &initial, &audit)?;
        Ok(Repo::new(self.clone(), Arc::new(record), self.actor()))
    }

    pub fn repo(self: &Arc<Self>, name: &str) -> Result<Repo> {
        self.repo_as(name, self.actor())
    }

    /// The repository with its changes attributed to `actor` in the audit
    /// log (a server acting for an authenticated user).
    pub fn repo_as(self: &Arc<Self>, name: &str, actor: &str) -> Result<Repo> {
        names::validate_repo(name)?;
        let record = self
            .meta
            .get_repo(name)?
            .ok_or_else(|| StoreError::not_found("repository", name))?;
        Ok(Repo::new(self.clone(), record, actor))
    }

    pub fn list_repos(&self) -> Result<Vec<RepoRecord>> {
        self.meta.list_repos()
    }

    /// Deletes a repository: its refs, history and stored bytes. `actor`
    /// is recorded in the audit log, as `create_repo`'s committer is.
    pub async fn delete_repo(self: &Arc<Self>, name: &str, actor: &str) -> Result<()> {
        let repo = self.repo(name)?;
        self.meta
            .delete_repo(name, &AuditDraft::new(actor, "repo_delete", name, ""))?;
        self.commits.lock().unwrap().remove(name);
        // The metadata is gone first, so a crash here leaves only unreachable
        // bytes, never a repository pointing at missing data.
        use futures::{StreamExt, TryStreamExt};
        let prefix = object_store::path::Path::from(repo.record().namespace.as_str());
        let data = self.data_store();
        let paths = data.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        data.delete_stream(paths).try_collect::<Vec<_>>().await?;
        Ok(())
    }
}
