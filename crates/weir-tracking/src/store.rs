//! One tracking store per tenant, in its repository (`mlflow` for the
//! default tenant, `TENANT-mlflow` for another).
//!
//! A write is journaled in the lake's metadata (one row, durable before the
//! write is acknowledged), applied in memory, and reaches the Delta tables
//! at the next flush: one lake commit for everything written since the
//! last, so a run that logs 10,000 metrics one by one makes a few commits,
//! not 10,000. A flushed row leaves the journal after its commit; one left
//! by a crash in between is replayed to no effect (every change is
//! idempotent, see `model`).
//!
//! One process serves a tenant's store at a time (a lease): it answers
//! reads from memory and rewrites the small tables whole, so two would
//! lose each other's writes. Another process (a `weir run` beside a
//! server) only journals; the owner applies those rows when it next looks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use weir_core::names::DEFAULT_TENANT;
use weir_store::{Lake, Repo, StoreError};

use crate::error::{Result, TrackingError};
use crate::model::{Change, State};
use crate::tables::{self, Appended};

const JOURNAL: &str = "mlflow/journal/";
/// Which process serves a tenant's store: `HOST:PID|EXPIRES_MS`.
const LEASE: &str = "mlflow/owner";
const LEASE_MS: i64 = 30_000;
pub const COMMITTER: &str = "mlflow";

pub fn repo_name(tenant: &str) -> String {
    weir_core::names::tracking_repo(tenant)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Records a new tracking repository as its tenant's (a server's
/// authorization model), before it is made: `(repo, tenant)`.
pub type Registrar = Arc<dyn Fn(&str, &str) -> Result<()> + Send + Sync>;

/// The tracking stores a process serves, by tenant, loaded on first use.
pub struct Stores {
    lake: Arc<Lake>,
    registrar: Option<Registrar>,
    stores: tokio::sync::Mutex<HashMap<String, Arc<Store>>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}

impl Stores {
    /// The stores of a process that can make only the default tenant's
    /// repository (the CLI).
    pub fn new(lake: Arc<Lake>) -> Stores {
        Stores {
            lake,
            registrar: None,
            stores: Default::default(),
        }
    }

    /// The stores of a server, which records each new repository with
    /// `registrar` before making it.
    pub fn with_registrar(lake: Arc<Lake>, registrar: Registrar) -> Stores {
        Stores {
            lake,
            registrar: Some(registrar),
            stores: Default::default(),
        }
    }

    /// The store of `tenant`; an error when another process serves it.
    pub async fn store(&self, tenant: &str) -> Result<Arc<Store>> {
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(tenant) {
            return Ok(s.clone());
        }
        hold(&self.lake, &repo_name(tenant))?;
        let s = Arc::new(Store::load(self.lake.clone(), tenant, self.registrar.clone()).await?);
        stores.insert(tenant.to_string(), s.clone());
        Ok(s)
    }

    /// Renews the leases, takes in what other processes journaled, and
    /// writes every store's changes to its tables. The number of journal
    /// rows flushed.
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
                // Another process took over (this one stalled past its
                // lease): what this one journaled stays for that one.
                tracing::error!(repo = %s.repo, error = %e, "tracking store lost to another process");
                self.stores.lock().await.remove(&tenant);
                continue;
            }
            s.absorb()?;
            n += s.flush().await?;
        }
        Ok(n)
    }

    /// Flushes, then gives the leases up: the process is stopping.
    pub async fn close(&self) -> Result<()> {
        self.flush_all().await?;
        for s in self.stores.lock().await.values() {
            release(&self.lake, &s.repo);
        }
        Ok(())
    }
}

pub struct Store {
    pub repo: String,
    tenant: String,
    registrar: Option<Registrar>,
    lake: Arc<Lake>,
    /// Tells this store's journal rows from another process's.
    writer: String,
    count: AtomicU64,
    inner: Mutex<Inner>,
    /// Artifacts were staged since the last flush.
    objects: AtomicBool,
    flushing: tokio::sync::Mutex<()>,
}

struct Inner {
    state: State,
    /// Journaled and applied, not yet flushed: (row key, row text, its
    /// changes).
    pending: Vec<(String, String, Vec<Change>)>,
    /// The keys of `pending`, and of rows being flushed.
    known: HashSet<String>,
}

fn corrupt(key: &str, e: serde_json::Error) -> TrackingError {
    TrackingError::Corrupt(format!("tracking journal row {key}: {e}"))
}

impl Store {
    /// The store of `tenant`: its tables on `main`, then every journal row.
    pub async fn load(
        lake: Arc<Lake>,
        tenant: &str,
        registrar: Option<Registrar>,
    ) -> Result<Store> {
        let repo = repo_name(tenant);
        let mut state = State::new(now_ms());
        let mut pending = Vec::new();
        match lake.repo(&repo) {
            Ok(r) => {
                for c in tables::load(&r, "main").await? {
                    state.apply_stored(c);
                }
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        for (key, text) in lake.meta_store().list_settings(&repo, JOURNAL)? {
            let changes: Vec<Change> = serde_json::from_str(&text).map_err(|e| corrupt(&key, e))?;
            for c in &changes {
                state.apply(c.clone());
            }
            pending.push((key, text, changes));
        }
        let known = pending.iter().map(|(k, ..)| k.clone()).collect();
        Ok(Store {
            repo,
            tenant: tenant.to_string(),
            registrar,
            lake,
            writer: format!("{:08x}", rand::random::<u32>()),
            count: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                state,
                pending,
                known,
            }),
            objects: AtomicBool::new(false),
            flushing: Default::default(),
        })
    }

    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.lock().unwrap().state)
    }

    /// Decides on the current state what a request changes, journals it,
    /// then applies it. `f` returns the changes (none: nothing to write)
    /// and the answer.
    pub fn write<T, E: From<TrackingError>>(
        &self,
        f: impl FnOnce(&State) -> std::result::Result<(Vec<Change>, T), E>,
    ) -> std::result::Result<T, E> {
        let mut inner = self.inner.lock().unwrap();
        let (changes, out) = f(&inner.state)?;
        if changes.is_empty() {
            return Ok(out);
        }
        // Keys sort by time, so a replay applies rows in about the order
        // they were written, whichever process wrote them.
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let key = format!("{JOURNAL}{:013}-{n:010}-{}", now_ms(), self.writer);
        let text = serde_json::to_string(&changes)
            .map_err(|e| TrackingError::InvalidArgument(e.to_string()))?;
        self.lake
            .meta_store()
            .put_setting(&self.repo, &key, &text)
            .map_err(TrackingError::from)?;
        for c in &changes {
            inner.state.apply(c.clone());
        }
        inner.known.insert(key.clone());
        inner.pending.push((key, text, changes));
        Ok(out)
    }

    /// Applies what other processes journaled since this store last
    /// looked; the number of rows.
    pub fn absorb(&self) -> Result<usize> {
        let rows = self.lake.meta_store().list_settings(&self.repo, JOURNAL)?;
        let mut inner = self.inner.lock().unwrap();
        let mut n = 0;
        for (key, text) in rows {
            if inner.known.contains(&key) {
                continue;
            }
            let changes: Vec<Change> = serde_json::from_str(&text).map_err(|e| corrupt(&key, e))?;
            for c in &changes {
                inner.state.apply(c.clone());
            }
            inner.known.insert(key.clone());
            inner.pending.push((key, text, changes));
            n += 1;
        }
        Ok(n)
    }

    /// The repository, made on the first flush. Another tenant's than the
    /// default is recorded as that tenant's first, so no one else sees
    /// it; a process that cannot record it (the CLI) does not make it.
    pub async fn create_repo(&self) -> Result<Repo> {
        match self.lake.repo(&self.repo) {
            Ok(r) => Ok(r),
            Err(StoreError::NotFound { .. }) => {
                match &self.registrar {
                    Some(register) => register(&self.repo, &self.tenant)?,
                    None if self.tenant == DEFAULT_TENANT => {}
                    None => {
                        return Err(TrackingError::NotFound(format!(
                            "tenant {} has no tracking repository yet: weir serve makes it on the tenant's first MLflow request",
                            self.tenant
                        )));
                    }
                }
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

    /// Writes what was applied since the last flush to the tables and
    /// commits it with the staged artifacts; the journal rows go after.
    /// Returns the number of journal rows flushed. Nothing leaves memory
    /// before its commit, so a flush cut short (an error, a cancelled
    /// future) leaves it all for the next.
    pub async fn flush(&self) -> Result<usize> {
        let _one = self.flushing.lock().await;
        let objects = self.objects.swap(false, Ordering::Relaxed);
        let (batch, new, writes) = {
            let inner = self.inner.lock().unwrap();
            if inner.pending.is_empty() && !objects {
                return Ok(0);
            }
            let batch = inner.pending.clone();
            let new = Appended {
                params: inner.state.unflushed_params.clone(),
                metrics: inner.state.unflushed_metrics.clone(),
            };
            let changes = batch.iter().flat_map(|(_, _, c)| c.iter());
            let mut writes = BTreeMap::new();
            for t in tables::touched(changes, &new) {
                writes.insert(t, tables::rows(t, &inner.state, &new));
            }
            (batch, new, writes)
        };
        if let Err(e) = self.commit(batch.len(), &writes).await {
            if objects {
                self.objects.store(true, Ordering::Relaxed);
            }
            tracing::warn!(repo = %self.repo, error = %e, "tracking changes not flushed; kept for the next flush");
            return Err(e);
        }
        {
            // Writes since only appended after what was flushed.
            let mut inner = self.inner.lock().unwrap();
            inner.pending.drain(..batch.len());
            inner.state.unflushed_params.drain(..new.params.len());
            inner.state.unflushed_metrics.drain(..new.metrics.len());
        }
        let meta = self.lake.meta_store();
        for (key, text, _) in &batch {
            if let Err(e) = meta.delete_setting(&self.repo, key, text) {
                // Replayed to no effect at the next load.
                tracing::warn!(key, error = %e, "flushed journal row not removed");
            }
        }
        let mut inner = self.inner.lock().unwrap();
        for (key, ..) in &batch {
            inner.known.remove(key);
        }
        Ok(batch.len())
    }

    async fn commit(
        &self,
        n: usize,
        writes: &BTreeMap<&'static str, Vec<serde_json::Value>>,
    ) -> Result<()> {
        let repo = self.create_repo().await?;
        let repo = self.lake.repo_as(repo.name(), COMMITTER)?;
        for (table, rows) in writes {
            tables::write(&repo, table, rows).await?;
        }
        let md = BTreeMap::from([("weir.mlflow.changes".to_string(), n.to_string())]);
        let message = format!("mlflow: {n} changes");
        match repo.commit("main", &message, COMMITTER, md, false).await {
            Ok(_) => Ok(()),
            // Nothing was staged (an artifact put and deleted again).
            Err(StoreError::NoChanges(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What a process records of its own work (a pipeline run): changes
/// built on the store's state, and artifacts (path under the artifact
/// root, bytes).
pub type Built = (Vec<Change>, Vec<(String, Vec<u8>)>);

impl Store {
    /// Journals and applies what `build` makes, and stages its artifacts
    /// (the next flush commits them).
    pub async fn record(&self, build: impl FnOnce(&State) -> Built) -> Result<()> {
        let mut artifacts = Vec::new();
        self.write(|s| {
            let (c, a) = build(s);
            artifacts = a;
            Ok::<_, TrackingError>((c, ()))
        })?;
        if artifacts.is_empty() {
            return Ok(());
        }
        let repo = self.create_repo().await?;
        for (path, bytes) in artifacts {
            let at = format!("artifacts/{path}");
            repo.put_object("main", &at, bytes.into(), &Default::default())
                .await?;
        }
        self.objects_changed();
        Ok(())
    }
}

/// Records what `build` makes of `tenant`'s tracking store, from a process
/// that may not serve it (a pipeline run from the CLI). When no other
/// process serves it, this one loads it, writes and flushes; when one does,
/// the changes are only journaled (the artifacts staged), and that process
/// applies and commits them at its next flush.
pub async fn record(
    lake: &Arc<Lake>,
    tenant: &str,
    build: impl FnOnce(&State) -> Built,
) -> Result<()> {
    let repo = &repo_name(tenant);
    let owned = match hold(lake, repo) {
        Ok(()) => true,
        Err(TrackingError::Unavailable(_)) => false,
        Err(e) => return Err(e),
    };
    let store = Store::load(lake.clone(), tenant, None).await?;
    let written = store.record(build).await;
    if owned {
        let flushed = match written {
            Ok(()) => store.flush().await.map(|_| ()),
            Err(e) => Err(e),
        };
        release(lake, repo);
        return flushed;
    }
    written
}

/// Takes or renews this process's lease on the store of `repo`.
pub fn hold(lake: &Lake, repo: &str) -> Result<()> {
    let meta = lake.meta_store();
    let me = weir_lineage::usage::recorder();
    for _ in 0..5 {
        let current = meta.get_setting(repo, LEASE)?;
        if let Some(c) = &current {
            let (owner, until) = c.rsplit_once('|').unwrap_or((c.as_str(), "0"));
            let until: i64 = until.parse().unwrap_or(0);
            // Ours with most of its time left: a flush every second need
            // not write the metadata every second.
            if owner == me && until - now_ms() > LEASE_MS / 2 {
                return Ok(());
            }
            if owner != me && until > now_ms() && alive(owner, &me) {
                return Err(TrackingError::Unavailable(format!(
                    "the MLflow tracking store {repo} is served by another process ({owner}); send MLflow requests to that server, or wait until its lease ends"
                )));
            }
        }
        let lease = format!("{me}|{}", now_ms() + LEASE_MS);
        if meta.swap_setting(repo, LEASE, current.as_deref(), &lease)? {
            return Ok(());
        }
    }
    Err(TrackingError::Conflict(format!(
        "the MLflow tracking store {repo} is being taken by another process"
    )))
}

/// Gives up this process's lease, if it still holds it.
pub fn release(lake: &Lake, repo: &str) {
    let meta = lake.meta_store();
    let me = weir_lineage::usage::recorder();
    if let Ok(Some(c)) = meta.get_setting(repo, LEASE)
        && c.split('|').next() == Some(me.as_str())
    {
        let _ = meta.delete_setting(repo, LEASE, &c);
    }
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
