//! Catalog = repository, schema = ref, table = Delta table at that ref.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deltalake::datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProviderList, SchemaProvider, TableProvider,
};
use deltalake::datafusion::error::{DataFusionError, Result};
use weir_store::{Lake, RefKind, Repo};
use weir_tables::TableRef;

use crate::block_on;

fn df(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

/// Repositories as catalogs; other names (DataFusion's own `datafusion`
/// catalog) fall through to a memory list so registering tables works.
#[derive(Debug)]
pub struct LakeCatalogs {
    lake: Arc<Lake>,
    fallback: MemoryCatalogProviderList,
    tables: Arc<TableCache>,
    /// Every table read-only, on branches too (sessions of remote callers).
    read_only: bool,
    visible: crate::Visible,
}

/// Opened tables of this session by (repository, ref, table), each with the
/// fingerprint of its Delta log when it was opened. Opening a Delta table
/// (log replay, snapshot) costs milliseconds per query; listing its log in
/// the store costs microseconds, so a table is reopened only when its log
/// at that ref changed (a commit, a write on the branch, a moved ref).
#[derive(Debug, Default)]
pub struct TableCache {
    map: Mutex<HashMap<String, Cached>>,
}

/// (log fingerprint, provider)
type Cached = (String, Arc<dyn TableProvider>);

impl LakeCatalogs {
    pub(crate) fn new(lake: Arc<Lake>, read_only: bool, visible: crate::Visible) -> LakeCatalogs {
        let fallback = MemoryCatalogProviderList::new();
        let default = Arc::new(deltalake::datafusion::catalog::MemoryCatalogProvider::new());
        default
            .register_schema(
                "public",
                Arc::new(deltalake::datafusion::catalog::MemorySchemaProvider::new()),
            )
            .ok();
        fallback.register_catalog("datafusion".into(), default);
        LakeCatalogs {
            lake,
            fallback,
            tables: Arc::default(),
            read_only,
            visible,
        }
    }
}

impl CatalogProviderList for LakeCatalogs {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.fallback.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .lake
            .list_repos()
            .map(|r| {
                r.into_iter()
                    .map(|r| r.name)
                    .filter(|n| self.visible.allows(n))
                    .collect()
            })
            .unwrap_or_default();
        for n in self.fallback.catalog_names() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        match self.visible.repo(&self.lake, name) {
            Ok(repo) => Some(Arc::new(RepoCatalog {
                repo,
                tables: self.tables.clone(),
                read_only: self.read_only,
            })),
            Err(_) => self.fallback.catalog(name),
        }
    }
}

struct RepoCatalog {
    repo: Repo,
    tables: Arc<TableCache>,
    read_only: bool,
}

impl std::fmt::Debug for RepoCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RepoCatalog({})", self.repo.name())
    }
}

impl std::fmt::Debug for RefSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefSchema({}/{})", self.repo.name(), self.reference)
    }
}

impl CatalogProvider for RepoCatalog {
    /// Branches and tags; any other ref expression (a commit id, `main~2`)
    /// also works as a schema name without being listed.
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .repo
            .list_branches()
            .unwrap_or_default()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.extend(
            self.repo
                .list_tags()
                .unwrap_or_default()
                .into_iter()
                .map(|(n, _)| n),
        );
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let r = self.repo.resolve(name).ok()?;
        Some(Arc::new(RefSchema {
            repo: self.repo.clone(),
            reference: name.to_string(),
            writable: !self.read_only && r.kind == RefKind::Branch && r.staging.is_some(),
            read_only: self.read_only,
            tables: self.tables.clone(),
        }))
    }
}

pub struct RefSchema {
    repo: Repo,
    reference: String,
    writable: bool,
    read_only: bool,
    tables: Arc<TableCache>,
}

impl RefSchema {
    /// A hash of the Delta log at this ref: any new version, checkpoint or
    /// rewrite changes it. None: not a table.
    async fn log_fingerprint(&self, name: &str) -> Result<Option<String>> {
        let Ok(t) = TableRef::new(&self.repo, &self.reference, name) else {
            return Ok(None);
        };
        t.fingerprint().await.map_err(df)
    }
}

#[async_trait]
impl SchemaProvider for RefSchema {
    fn table_names(&self) -> Vec<String> {
        block_on(weir_tables::list_tables(&self.repo, &self.reference)).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Ok(t) = TableRef::new(&self.repo, &self.reference, name) else {
            return Ok(None);
        };
        let Some(fingerprint) = self.log_fingerprint(name).await? else {
            return Ok(None);
        };
        let key = format!("{}\0{}\0{}", self.repo.name(), self.reference, name);
        if let Some((fp, provider)) = self.tables.map.lock().map_err(df)?.get(&key)
            && *fp == fingerprint
        {
            return Ok(Some(provider.clone()));
        }
        let provider: Arc<dyn TableProvider> = match t.load().await.map_err(df)? {
            Some(table) => {
                let provider = table.table_provider().await.map_err(df)?;
                let provider = crate::scan::pinned(&t, &table, provider).await;
                if self.writable {
                    provider
                } else {
                    let why = if self.read_only {
                        "this session only reads".to_string()
                    } else {
                        format!(
                            "{} is not a branch: tables at tags and commits are read-only",
                            self.reference
                        )
                    };
                    Arc::new(crate::readonly::ReadOnly {
                        inner: provider,
                        why,
                    })
                }
            }
            None => return Ok(None),
        };
        self.tables
            .map
            .lock()
            .map_err(df)?
            .insert(key, (fingerprint, provider.clone()));
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        TableRef::new(&self.repo, &self.reference, name).is_ok()
            && matches!(block_on(self.log_fingerprint(name)), Ok(Some(_)))
    }

    /// `CREATE TABLE name AS SELECT ...` on a branch writes a new Delta
    /// table there (staged, like any write; `weir commit` records it).
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.read_only {
            return Err(df("this session only reads: no table can be created"));
        }
        if !self.writable {
            return Err(df(format!(
                "{} is not a branch: tables are created on branches (tags and commits are read-only)",
                self.reference
            )));
        }
        let t = TableRef::new(&self.repo, &self.reference, &name).map_err(df)?;
        block_on(async move {
            if t.load().await.map_err(df)?.is_some() {
                return Err(df(format!(
                    "table {name} already exists at {}",
                    t.reference
                )));
            }
            let ctx = deltalake::datafusion::prelude::SessionContext::new();
            let df_ = ctx.read_table(table)?;
            let stream = df_.execute_stream().await?;
            weir_tables::write_stream(
                &t,
                stream,
                &weir_tables::WriteOptions {
                    mode: weir_tables::WriteMode::Overwrite,
                    allow_new_columns: false,
                    replace_schema: false,
                    commit: None,
                    properties: Vec::new(),
                },
            )
            .await
            .map_err(df)?;
            Ok(None)
        })
    }
}
