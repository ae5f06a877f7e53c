//! The repository as an `object_store::ObjectStore`, so deltalake, parquet
//! and DataFusion run on any ref unchanged.
//!
//! [`RepoStore`] presents keys as `REF/PATH`, exactly as lakeFS's S3 gateway
//! presents a repository (bucket = repository). Register it for
//! `weir://REPO/` and a table URL `weir://REPO/REF/TABLE` reaches
//! `REF/TABLE/...` here. [`RefStore`] fixes one ref and takes plain paths.
//!
//! Reads work on any ref; writes only on branches. `PutMode::Create` is
//! atomic per branch (the check and the staging write are one SQLite
//! transaction), which is all Delta's commit protocol needs.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, CopyMode, CopyOptions, GetOptions, GetResult,
    GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    RenameTargetMode, UploadPart,
};

use crate::entry::{DEFAULT_CONTENT_TYPE, Entry};
use crate::error::StoreError;
use crate::meta::Cond;
use crate::objects::{Digests, ListItem, PutOptions as WeirPut};
use crate::repo::{RefKind, Repo};

type OsResult<T> = object_store::Result<T>;

const STORE: &str = "weir";

fn os_err(path: &str, e: StoreError) -> object_store::Error {
    let path = path.to_string();
    match e {
        StoreError::NotFound { .. } => object_store::Error::NotFound {
            path,
            source: Box::new(e),
        },
        StoreError::AlreadyExists { .. } => object_store::Error::AlreadyExists {
            path,
            source: Box::new(e),
        },
        StoreError::PreconditionFailed(_) => object_store::Error::Precondition {
            path,
            source: Box::new(e),
        },
        StoreError::Storage(inner) => inner,
        other => object_store::Error::Generic {
            store: STORE,
            source: Box::new(other),
        },
    }
}

fn meta_of(location: &Path, e: &Entry) -> ObjectMeta {
    ObjectMeta {
        location: location.clone(),
        last_modified: e.mtime(),
        size: e.size,
        e_tag: Some(e.checksum_hex()),
        version: None,
    }
}

fn content_type(attrs: &Attributes) -> Option<String> {
    attrs.get(&Attribute::ContentType).map(|v| v.to_string())
}

/// A repository viewed as an object store with keys `REF/PATH`.
#[derive(Clone)]
pub struct RepoStore {
    repo: Repo,
}

/// One ref of a repository viewed as an object store with keys `PATH`.
#[derive(Clone)]
pub struct RefStore {
    repo: Repo,
    reference: String,
}

impl Repo {
    pub fn object_store(&self) -> RepoStore {
        RepoStore { repo: self.clone() }
    }

    pub fn ref_store(&self, reference: &str) -> RefStore {
        RefStore {
            repo: self.clone(),
            reference: reference.to_string(),
        }
    }
}

impl fmt::Debug for RepoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoStore({})", self.repo.name())
    }
}
impl fmt::Display for RepoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weir://{}", self.repo.name())
    }
}
impl fmt::Debug for RefStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefStore({}/{})", self.repo.name(), self.reference)
    }
}
impl fmt::Display for RefStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weir://{}/{}", self.repo.name(), self.reference)
    }
}

/// The operations, on (ref, path) pairs; both views translate keys into
/// these.
impl Repo {
    fn writable_branch(&self, reference: &str, path: &str) -> OsResult<String> {
        let r = self.resolve(reference).map_err(|e| os_err(path, e))?;
        match (r.kind, r.staging) {
            (RefKind::Branch, Some(b)) => Ok(b),
            _ => Err(os_err(
                path,
                StoreError::NotAllowed(format!(
                    "{reference} is not a branch; writes need a branch"
                )),
            )),
        }
    }

    async fn v_put(
        &self,
        reference: &str,
        path: &str,
        payload: PutPayload,
        opts: PutOptions,
    ) -> OsResult<PutResult> {
        let branch = self.writable_branch(reference, path)?;
        let cond = match opts.mode {
            PutMode::Overwrite => None,
            PutMode::Create => Some(Cond::Absent),
            PutMode::Update(v) => Some(Cond::Matches(v.e_tag.ok_or_else(|| {
                object_store::Error::Generic {
                    store: STORE,
                    source: "conditional update needs an e_tag".into(),
                }
            })?)),
        };
        let put = WeirPut {
            content_type: content_type(&opts.attributes),
            metadata: Default::default(),
            cond,
        };
        let e = self
            .put_object(&branch, path, payload, &put)
            .await
            .map_err(|e| os_err(path, e))?;
        Ok(PutResult {
            e_tag: Some(e.checksum_hex()),
            version: None,
        })
    }

    async fn v_get(
        &self,
        reference: &str,
        path: &str,
        location: &Path,
        opts: GetOptions,
    ) -> OsResult<GetResult> {
        let entry = self
            .entry_at(reference, path)
            .await
            .map_err(|e| os_err(path, e))?
            .ok_or_else(|| os_err(path, StoreError::not_found("object", path)))?;
        let meta = meta_of(location, &entry);
        opts.check_preconditions(&meta)?;
        let mut attributes = Attributes::new();
        if entry.content_type != DEFAULT_CONTENT_TYPE {
            attributes.insert(
                Attribute::ContentType,
                AttributeValue::from(entry.content_type.clone()),
            );
        }
        if opts.head {
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
                meta,
                range: 0..entry.size,
                attributes,
            });
        }
        let inner = GetOptions {
            range: opts.range,
            ..Default::default()
        };
        let data = self.lake.data_store();
        let got = data
            .get_opts(&Path::from(entry.address.as_str()), inner)
            .await?;
        Ok(GetResult {
            payload: got.payload,
            meta,
            range: got.range,
            attributes,
        })
    }

    async fn v_get_ranges(
        &self,
        reference: &str,
        path: &str,
        ranges: &[Range<u64>],
    ) -> OsResult<Vec<Bytes>> {
        let entry = self
            .entry_at(reference, path)
            .await
            .map_err(|e| os_err(path, e))?
            .ok_or_else(|| os_err(path, StoreError::not_found("object", path)))?;
        self.lake
            .data_store()
            .get_ranges(&Path::from(entry.address.as_str()), ranges)
            .await
    }

    async fn v_delete(&self, reference: &str, path: &str) -> OsResult<()> {
        let branch = self.writable_branch(reference, path)?;
        self.delete_object(&branch, path)
            .await
            .map_err(|e| os_err(path, e))?;
        Ok(())
    }

    async fn v_copy(&self, from: (&str, &str), to: (&str, &str), mode: CopyMode) -> OsResult<()> {
        let branch = self.writable_branch(to.0, to.1)?;
        let cond = match mode {
            CopyMode::Overwrite => None,
            CopyMode::Create => Some(Cond::Absent),
        };
        self.copy_object(from.0, from.1, &branch, to.1, cond.as_ref())
            .await
            .map_err(|e| os_err(from.1, e))?;
        Ok(())
    }

    /// Lists every object under `prefix` (a directory, segment-wise) with a
    /// key greater than `offset`, mapping paths back with `key`.
    fn v_list(
        &self,
        reference: String,
        prefix: String,
        offset: Option<String>,
        key: impl Fn(&str) -> Path + Send + Sync + 'static,
    ) -> BoxStream<'static, OsResult<ObjectMeta>> {
        let repo = self.clone();
        let state = (repo, offset, false);
        futures::stream::try_unfold(state, move |(repo, after, done)| {
            let reference = reference.clone();
            let prefix = prefix.clone();
            async move {
                if done {
                    return OsResult::Ok(None);
                }
                let (items, more) = repo
                    .list_objects(&reference, &prefix, false, after.as_deref(), 1000)
                    .await
                    .map_err(|e| os_err(&prefix, e))?;
                let next = items.last().map(|i| i.path().to_string());
                Ok(Some((items, (repo, next, !more))))
            }
        })
        .map_ok(move |items| {
            let metas: Vec<OsResult<ObjectMeta>> = items
                .into_iter()
                .filter_map(|i| match i {
                    // object_store has no directory markers: `dir/` would
                    // read back as a file `dir` beside the folder.
                    ListItem::Object { path, .. } if path.ends_with('/') => None,
                    ListItem::Object { path, entry } => Some(Ok(meta_of(&key(&path), &entry))),
                    ListItem::CommonPrefix { .. } => None,
                })
                .collect();
            futures::stream::iter(metas)
        })
        .try_flatten()
        .boxed()
    }

    async fn v_list_delim(
        &self,
        reference: &str,
        prefix: &str,
        key: impl Fn(&str) -> Path,
    ) -> OsResult<ListResult> {
        let mut out = ListResult {
            common_prefixes: vec![],
            objects: vec![],
        };
        let mut after: Option<String> = None;
        loop {
            let (items, more) = self
                .list_objects(reference, prefix, true, after.as_deref(), 1000)
                .await
                .map_err(|e| os_err(prefix, e))?;
            after = items.last().map(|i| i.path().to_string());
            for i in items {
                match i {
                    ListItem::Object { path, .. } if path.ends_with('/') => {}
                    ListItem::Object { path, entry } => {
                        out.objects.push(meta_of(&key(&path), &entry))
                    }
                    ListItem::CommonPrefix { path } => {
                        out.common_prefixes.push(key(path.trim_end_matches('/')))
                    }
                }
            }
            if !more {
                return Ok(out);
            }
        }
    }
}

/// A multipart upload straight into the data store: parts go to a fresh
/// address as they arrive (hashed in call order) and the entry is staged on
/// completion, so large files never sit in memory.
struct Upload {
    repo: Repo,
    branch: String,
    path: String,
    address: String,
    content_type: Option<String>,
    inner: Box<dyn MultipartUpload>,
    hasher: Arc<Mutex<Option<Digests>>>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upload({})", self.path)
    }
}

#[async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if let Some(h) = self.hasher.lock().unwrap().as_mut() {
            for chunk in data.iter() {
                h.update(chunk);
            }
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> OsResult<PutResult> {
        self.inner.complete().await?;
        let digests = self
            .hasher
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(Digests::new);
        let opts = WeirPut {
            content_type: self.content_type.clone(),
            ..Default::default()
        };
        let entry = digests.entry(self.address.clone(), &opts);
        let e_tag = entry.checksum_hex();
        self.repo
            .stage_entry(&self.branch, &self.path, Some(entry), None)
            .await
            .map_err(|e| os_err(&self.path, e))?;
        Ok(PutResult {
            e_tag: Some(e_tag),
            version: None,
        })
    }

    async fn abort(&mut self) -> OsResult<()> {
        self.inner.abort().await
    }
}

impl Repo {
    async fn v_multipart(
        &self,
        reference: &str,
        path: &str,
        opts: PutMultipartOptions,
    ) -> OsResult<Box<dyn MultipartUpload>> {
        let branch = self.writable_branch(reference, path)?;
        weir_core::names::validate_path(path).map_err(|e| os_err(path, e.into()))?;
        let address = crate::objects::new_address(self.ns());
        let inner = self
            .lake
            .data_store()
            .put_multipart(&Path::from(address.as_str()))
            .await?;
        Ok(Box::new(Upload {
            repo: self.clone(),
            branch,
            path: path.to_string(),
            address,
            content_type: content_type(&opts.attributes),
            inner,
            hasher: Arc::new(Mutex::new(Some(Digests::new()))),
        }))
    }
}

/// Keys are stored in object_store's encoded form; parse them back without
/// encoding twice.
fn to_path(s: &str) -> Path {
    Path::parse(s).unwrap_or_else(|_| Path::from(s))
}

/// Splits `REF/PATH`.
fn split(location: &Path) -> (&str, &str) {
    let s = location.as_ref();
    s.split_once('/').unwrap_or((s, ""))
}

fn dir_prefix(p: &str) -> String {
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

macro_rules! impl_store {
    ($ty:ty, $split:expr, $key:expr) => {
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl ObjectStore for $ty {
            async fn put_opts(
                &self,
                location: &Path,
                payload: PutPayload,
                opts: PutOptions,
            ) -> OsResult<PutResult> {
                let (r, p) = $split(self, location);
                self.repo.v_put(&r, p, payload, opts).await
            }

            async fn put_multipart_opts(
                &self,
                location: &Path,
                opts: PutMultipartOptions,
            ) -> OsResult<Box<dyn MultipartUpload>> {
                let (r, p) = $split(self, location);
                self.repo.v_multipart(&r, p, opts).await
            }

            async fn get_opts(&self, location: &Path, options: GetOptions) -> OsResult<GetResult> {
                let (r, p) = $split(self, location);
                self.repo.v_get(&r, p, location, options).await
            }

            async fn get_ranges(
                &self,
                location: &Path,
                ranges: &[Range<u64>],
            ) -> OsResult<Vec<Bytes>> {
                let (r, p) = $split(self, location);
                self.repo.v_get_ranges(&r, p, ranges).await
            }

            fn delete_stream(
                &self,
                locations: BoxStream<'static, OsResult<Path>>,
            ) -> BoxStream<'static, OsResult<Path>> {
                let this = self.clone();
                locations
                    .and_then(move |loc| {
                        let this = this.clone();
                        async move {
                            let (r, p) = $split(&this, &loc);
                            this.repo.v_delete(&r, p).await?;
                            Ok(loc)
                        }
                    })
                    .boxed()
            }

            fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, OsResult<ObjectMeta>> {
                let loc = prefix.cloned().unwrap_or_default();
                let (r, p) = $split(self, &loc);
                let key = $key(self, &r);
                self.repo.v_list(r.to_string(), dir_prefix(p), None, key)
            }

            fn list_with_offset(
                &self,
                prefix: Option<&Path>,
                offset: &Path,
            ) -> BoxStream<'static, OsResult<ObjectMeta>> {
                let loc = prefix.cloned().unwrap_or_default();
                let (r, p) = $split(self, &loc);
                let (_, off) = $split(self, offset);
                let key = $key(self, &r);
                self.repo
                    .v_list(r.to_string(), dir_prefix(p), Some(off.to_string()), key)
            }

            async fn list_with_delimiter(&self, prefix: Option<&Path>) -> OsResult<ListResult> {
                let loc = prefix.cloned().unwrap_or_default();
                let (r, p) = $split(self, &loc);
                let key = $key(self, &r);
                self.repo.v_list_delim(&r, &dir_prefix(p), key).await
            }

            async fn copy_opts(
                &self,
                from: &Path,
                to: &Path,
                options: CopyOptions,
            ) -> OsResult<()> {
                let (fr, fp) = $split(self, from);
                let (tr, tp) = $split(self, to);
                self.repo.v_copy((&fr, fp), (&tr, tp), options.mode).await
            }

            async fn rename_opts(
                &self,
                from: &Path,
                to: &Path,
                options: RenameOptions,
            ) -> OsResult<()> {
                let mode = match options.target_mode {
                    RenameTargetMode::Overwrite => CopyMode::Overwrite,
                    RenameTargetMode::Create => CopyMode::Create,
                };
                let (fr, fp) = $split(self, from);
                let (tr, tp) = $split(self, to);
                self.repo.v_copy((&fr, fp), (&tr, tp), mode).await?;
                self.repo.v_delete(&fr, fp).await
            }
        }
    };
}

fn repo_split<'a>(_: &RepoStore, l: &'a Path) -> (String, &'a str) {
    let (r, p) = split(l);
    (percent_decode(r), p)
}

/// object_store percent-encodes `~` and `^` in path segments (and URLs
/// carry them encoded); ref expressions need them back.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Bytes, not string slices: a `%` before a multi-byte character
        // must not split it.
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn repo_key(_: &RepoStore, r: &str) -> impl Fn(&str) -> Path + Send + Sync + 'static {
    let r = r.to_string();
    move |p: &str| to_path(&format!("{r}/{p}"))
}

fn ref_split<'a>(s: &RefStore, l: &'a Path) -> (String, &'a str) {
    (s.reference.clone(), l.as_ref())
}

fn ref_key(_: &RefStore, _: &str) -> impl Fn(&str) -> Path + Send + Sync + 'static {
    |p: &str| to_path(p)
}

impl_store!(RepoStore, repo_split, repo_key);
impl_store!(RefStore, ref_split, ref_key);
