//! One tracking store per tenant, in its repository (`mlflow` for the
//! default tenant, `TENANT-mlflow` for another). A write is journaled in
//! the lake's metadata (one row, durable when the request is answered),
//! applied in memory, and reaches the Delta tables at the next flush: one
//! lake commit for everything written since the last, so a run that logs
//! 10,000 metrics one by one makes a few commits, not 10,000. Reads are
//! answered from memory. A server that starts loads the tables, then
//! replays what the journal has past the mark the last flush committed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use weir_core::names::DEFAULT_TENANT;
use weir_store::{Lake, Repo, StoreError};

use super::model::{Change, State};
use super::tables;
use crate::error::{Result, ServerError};

/// Journal rows: `mlflow/journal/SEQUENCE-SERVER`, in order of sequence.
const JOURNAL: &str = "mlflow/journal/";
/// The commit metadata naming the last journal row a flush wrote.
const MARK: &str = "weir.mlflow.journal";
const COMMITTER: &str = "mlflow";
/// Which process serves a tenant's store: `HOST:PID|EXPIRES_MS`. Each
/// server answers from its own memory and rewrites the small tables whole,
/// so two at once would lose each other's writes; the second is refused
/// until the first is gone (its process ended, or its lease ran out).
const LEASE: &str = "mlflow/owner";
const LEASE_MS: i64 = 30_000;

pub fn repo_name(tenant: &str) -> String {
    if tenant == DEFAULT_TENANT {
        "mlflow".into()
    } else {
        format!("{tenant}-mlflow")
    }
}

/// The tracking stores of a server's tenants, loaded on first use.
pub struct Tracking {
    lake: Arc<Lake>,
    /// Tells this server's journal rows from another's.
    server: String,
    stores: tokio::sync::Mutex<HashMap<String, Arc<Store>>>,
}

pub struct Store {
    pub repo: String,
    lake: Arc<Lake>,
    server: String,
    inner: Mutex<Inner>,
    /// Artifacts were staged since the last flush.
    objects: AtomicBool,
    flushing: tokio::sync::Mutex<()>,
}

struct Inner {
    state: State,
    /// Journaled and applied, not yet in the tables: (row key, changes).
    pending: Vec<(String, Vec<Change>)>,
    seq: u64,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Tracking {
    pub fn new(lake: Arc<Lake>) -> Tracking {
        Tracking {
            lake,
            server: format!("{:08x}", rand::random::<u32>()),
            stores: Default::default(),
        }
    }

    /// The store of `tenant`, loaded from the lake on first use.
    pub async fn store(&self, tenant: &str) -> Result<Arc<Store>> {
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(tenant) {
            return Ok(s.clone());
        }
        let repo = repo_name(tenant);
        hold(&self.lake, &repo)?;
        let s = Arc::new(Store::load(self.lake.clone(), repo, &self.server).await?);
        stores.insert(tenant.to_string(), s.clone());
        Ok(s)
    }

    /// Writes every store's pending changes to its tables.
    pub async fn flush_all(&self) -> Result<usize> {
        let stores: Vec<(String, Arc<Store>)> = self
            .stores
            .lock()
            .await
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        let mut n = 0;
        for (tenant, s) in stores {
            if let Err(e) = hold(&self.lake, &s.repo) {
                // Another server took over (this one stalled past its
                // lease): what it journaled stays for that server's restart.
                tracing::error!(repo = %s.repo, error = %e, "MLflow tracking store lost to another server");
                self.stores.lock().await.remove(&tenant);
                continue;
            }
            n += s.flush().await?;
        }
        Ok(n)
    }
}

impl Store {
    async fn load(lake: Arc<Lake>, repo: String, server: &str) -> Result<Store> {
        let mut state = State::new(now_ms());
        let mut pending = Vec::new();
        let mut seq = 0;
        match lake.repo(&repo) {
            Ok(r) => {
                for c in tables::load(&r, "main").await? {
                    state.apply(c);
                }
                let mark = mark(&lake, &r)?;
                let meta = lake.meta_store();
                for (key, value) in meta.list_settings(&repo, JOURNAL)? {
                    seq = seq.max(sequence(&key));
                    if mark.as_deref().is_some_and(|m| key.as_str() <= m) {
                        // Flushed, then the server stopped before forgetting it.
                        meta.delete_setting(&repo, &key, &value)?;
                        continue;
                    }
                    let changes: Vec<Change> = serde_json::from_str(&value).map_err(|e| {
                        ServerError::Other(
                            weir_core::ErrorCode::Corrupt,
                            format!("tracking journal row {key}: {e}"),
                        )
                    })?;
                    for c in &changes {
                        state.apply(c.clone());
                    }
                    pending.push((key, changes));
                }
                if let Some(m) = &mark {
                    seq = seq.max(sequence(m));
                }
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Store {
            repo,
            lake,
            server: server.to_string(),
            inner: Mutex::new(Inner {
                state,
                pending,
                seq,
            }),
            objects: AtomicBool::new(false),
            flushing: Default::default(),
        })
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.lock().unwrap().state)
    }

    /// Decides on the current state what a request changes, journals it,
    /// then applies it: the journal's order is the order of application.
    /// `f` returns the changes (none: nothing to write) and the answer.
    pub fn write<T>(&self, f: impl FnOnce(&State) -> Result<(Vec<Change>, T)>) -> Result<T> {
        let mut inner = self.inner.lock().unwrap();
        let (changes, out) = f(&inner.state)?;
        if changes.is_empty() {
            return Ok(out);
        }
        let key = format!("{JOURNAL}{:020}-{}", inner.seq + 1, self.server);
        let text = serde_json::to_string(&changes)
            .map_err(|e| ServerError::InvalidArgument(e.to_string()))?;
        self.lake
            .meta_store()
            .put_setting(&self.repo, &key, &text)?;
        inner.seq += 1;
        for c in &changes {
            inner.state.apply(c.clone());
        }
        inner.pending.push((key, changes));
        Ok(out)
    }

    /// The repository, created (for `tenant`) on the first write.
    pub async fn repo(&self, s: &crate::AppState, tenant: &str) -> Result<Repo> {
        match self.lake.repo(&self.repo) {
            Ok(r) => Ok(r),
            Err(StoreError::NotFound { .. }) => {
                let name = self.repo.clone();
                let t = tenant.to_string();
                s.authz.update(|m| {
                    if m.repo_tenant(&name) != t && m.repos.contains_key(&name) {
                        return Err(ServerError::Conflict(format!(
                            "the tracking repository {name} belongs to another tenant"
                        )));
                    }
                    m.repos.insert(name.clone(), t.clone());
                    Ok(())
                })?;
                match self
                    .lake
                    .create_repo(&self.repo, "main", None, COMMITTER)
                    .await
                {
                    Ok(r) => Ok(r),
                    Err(StoreError::AlreadyExists { .. }) => Ok(self.lake.repo(&self.repo)?),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn objects_changed(&self) {
        self.objects.store(true, Ordering::Relaxed);
    }

    /// Writes what was journaled since the last flush to the tables and
    /// commits it with the staged artifacts; the journal rows go after.
    /// Returns the number of journal rows flushed.
    pub async fn flush(&self) -> Result<usize> {
        let _one = self.flushing.lock().await;
        let objects = self.objects.swap(false, Ordering::Relaxed);
        let (batch, writes) = {
            let inner = self.inner.lock().unwrap();
            if inner.pending.is_empty() && !objects {
                return Ok(0);
            }
            let batch: Vec<(String, Vec<Change>)> = inner.pending.clone();
            let changes: Vec<Change> = batch.iter().flat_map(|(_, c)| c.clone()).collect();
            let mut writes = BTreeMap::new();
            for t in tables::touched(&changes) {
                writes.insert(t, tables::rows(t, &inner.state, &changes)?);
            }
            (batch, writes)
        };
        let result = self.commit(&batch, &writes).await;
        if let Err(e) = result {
            if objects {
                self.objects.store(true, Ordering::Relaxed);
            }
            tracing::warn!(repo = %self.repo, error = %e, "tracking changes not flushed; kept for the next flush");
            return Err(e);
        }
        let mut inner = self.inner.lock().unwrap();
        inner.pending.drain(..batch.len());
        drop(inner);
        let meta = self.lake.meta_store();
        for (key, changes) in &batch {
            let text = serde_json::to_string(changes).unwrap_or_default();
            if let Err(e) = meta.delete_setting(&self.repo, key, &text) {
                // The mark says it is flushed; the next start forgets it.
                tracing::warn!(key, error = %e, "flushed journal row not removed");
            }
        }
        Ok(batch.len())
    }

    async fn commit(
        &self,
        batch: &[(String, Vec<Change>)],
        writes: &BTreeMap<&'static str, Vec<serde_json::Value>>,
    ) -> Result<()> {
        let repo = self.lake.repo_as(&self.repo, COMMITTER)?;
        for (table, rows) in writes {
            tables::write(&repo, table, rows).await?;
        }
        let mut md = BTreeMap::new();
        if let Some((last, _)) = batch.last() {
            md.insert(MARK.to_string(), last.clone());
        } else if let Some(m) = mark(&self.lake, &repo)? {
            md.insert(MARK.to_string(), m);
        }
        let n: usize = batch.iter().map(|(_, c)| c.len()).sum();
        let message = format!("mlflow: {n} changes");
        match repo.commit("main", &message, COMMITTER, md, false).await {
            Ok(_) => Ok(()),
            // Nothing was staged (an artifact put and deleted again).
            Err(StoreError::NoChanges(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The last journal row the tables hold: the mark of the newest flush on
/// `main`'s first-parent history.
fn mark(lake: &Arc<Lake>, repo: &Repo) -> Result<Option<String>> {
    let meta = lake.meta_store();
    let Some(mut id) = meta.get_branch(repo.name(), "main")? else {
        return Ok(None);
    };
    for _ in 0..1000 {
        let Some(c) = meta.get_commit(repo.name(), &id)? else {
            break;
        };
        if let Some(m) = c.metadata.get(MARK) {
            return Ok(Some(m.clone()));
        }
        match c.parents.first() {
            Some(p) => id = p.clone(),
            None => break,
        }
    }
    Ok(None)
}

/// Takes or renews this process's lease on the store of `repo`.
fn hold(lake: &Lake, repo: &str) -> Result<()> {
    let meta = lake.meta_store();
    let me = weir_lineage::usage::recorder();
    for _ in 0..5 {
        let current = meta.get_setting(repo, LEASE)?;
        if let Some(c) = &current {
            let (owner, until) = c.rsplit_once('|').unwrap_or((c.as_str(), "0"));
            let until: i64 = until.parse().unwrap_or(0);
            if owner != me && until > now_ms() && alive(owner, &me) {
                return Err(ServerError::Other(
                    weir_core::ErrorCode::Unavailable,
                    format!(
                        "the MLflow tracking store {repo} is served by another server ({owner}); send MLflow requests there, or wait until its lease ends"
                    ),
                ));
            }
        }
        let lease = format!("{me}|{}", now_ms() + LEASE_MS);
        if meta.swap_setting(repo, LEASE, current.as_deref(), &lease)? {
            return Ok(());
        }
    }
    Err(ServerError::Conflict(format!(
        "the MLflow tracking store {repo} is being taken by another server"
    )))
}

/// Whether the process `owner` (`HOST:PID`) may still run: on this host,
/// while the process exists; on another, until its lease ends.
fn alive(owner: &str, me: &str) -> bool {
    let host = |o: &str| {
        o.rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.to_string()))
    };
    match (host(owner), host(me)) {
        (Some((h, pid)), Some((mine, _))) if h == mine => {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => true,
    }
}

fn sequence(key: &str) -> u64 {
    key.strip_prefix(JOURNAL)
        .and_then(|k| k.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
