//! The S3 gateway, as lakeFS has it: bucket = repository, key =
//! `REF/PATH`. Reads from any ref expression, writes only to branches.
//! Requests are checked as AWS SigV4 (or V2) against the same access keys
//! as the REST API, whose secrets are kept encrypted for exactly this.
//! `If-None-Match: *` on PutObject and CompleteMultipartUpload is decided
//! in the metadata transaction that stages the object, so two Delta
//! writers racing for the same log entry cannot both win.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::*;
use s3s::path::S3Path;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use weir_core::names::SYSTEM_REPO;
use weir_store::{Cond, Entry, PutOptions, Repo, StoreError};

use crate::authz::{Decision, Principal, Resource};
use crate::s3_checks::BodyCheck;
use crate::{AppState, KeyStore};

pub(crate) struct Gateway {
    pub(crate) state: Arc<AppState>,
}

/// The service that axum mounts beside the REST API.
pub(crate) fn service(state: Arc<AppState>) -> s3s::service::S3Service {
    let keys = state.keys.clone();
    let mut b = s3s::service::S3ServiceBuilder::new(Gateway {
        state: state.clone(),
    });
    b.set_auth(KeyAuth(keys));
    b.set_access(Access { state });
    b.build()
}

struct KeyAuth(Arc<KeyStore>);

/// A key's secret and user, from memory when the key store has it there.
async fn lookup(keys: &Arc<KeyStore>, id: &str) -> S3Result<Option<(String, String)>> {
    if let Some(v) = keys.secret_cached(id) {
        return Ok(v);
    }
    let keys = keys.clone();
    let id = id.to_string();
    match tokio::task::spawn_blocking(move || keys.secret(&id)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match lookup(&self.0, access_key).await? {
            Some((secret, _)) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(InvalidAccessKeyId, "no such access key")),
        }
    }
}

struct Access {
    state: Arc<AppState>,
}

/// What an S3 operation asks permission for, as the REST routes do
/// (crate::authz::routes): a bucket is a repository, an object key's first
/// segment its ref. Operations not named here are for admins only.
fn s3_rule(op: &str, path: &S3Path) -> (&'static str, Resource) {
    let (bucket, key) = match path {
        S3Path::Root => return ("repo:List", Resource::AnyRepo),
        S3Path::Bucket { bucket } => (&**bucket, None),
        S3Path::Object { bucket, key } => (&**bucket, Some(&**key)),
    };
    let on_ref = || match key.and_then(|k| k.split_once('/')).map(|(r, _)| r).or(key) {
        Some(r) => Resource::branch(bucket, r),
        None => Resource::repo(bucket),
    };
    match op {
        // A name not yet taken is nobody's: the caller's tenant creates it.
        "CreateBucket" => ("repo:Create", Resource::AnyRepo),
        "DeleteBucket" => ("repo:Delete", Resource::repo(bucket)),
        "HeadBucket" | "GetBucketLocation" => ("repo:Read", Resource::repo(bucket)),
        "ListObjects" | "ListObjectsV2" | "ListMultipartUploads" => {
            ("fs:ListObjects", Resource::repo(bucket))
        }
        "GetObject" | "HeadObject" => ("fs:ReadObject", on_ref()),
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts" => ("fs:WriteObject", on_ref()),
        "DeleteObject" => ("fs:DeleteObject", on_ref()),
        // Keys of several refs in one body: the repository as a whole.
        "DeleteObjects" => ("fs:DeleteObject", Resource::repo(bucket)),
        _ => ("admin:S3Operation", Resource::repo(bucket)),
    }
}

/// An S3 operation's name as usage counts it: those the gateway answers,
/// and `Other` for the rest (so the names counted stay a closed set).
fn metered_op(name: &str) -> &'static str {
    const OPS: &[&str] = &[
        "ListBuckets",
        "HeadBucket",
        "GetBucketLocation",
        "GetObject",
        "HeadObject",
        "PutObject",
        "CopyObject",
        "DeleteObject",
        "DeleteObjects",
        "CreateBucket",
        "DeleteBucket",
        "ListObjects",
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "ListMultipartUploads",
    ];
    OPS.iter().find(|o| **o == name).copied().unwrap_or("Other")
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // weir's own repository is no bucket, whoever asks and whatever
        // their policies say.
        if let S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } = cx.s3_path()
            && &**bucket == SYSTEM_REPO
        {
            return Err(s3_error!(NoSuchBucket, "no repository {bucket}"));
        }
        let user = match cx.credentials() {
            Some(c) => match lookup(&self.state.keys, &c.access_key).await? {
                Some((_, user)) => user,
                None => return Err(s3_error!(InvalidAccessKeyId)),
            },
            None if self.state.options.allow_anonymous => crate::gate::ANONYMOUS.to_string(),
            None => {
                return Err(s3_error!(
                    AccessDenied,
                    "requests must be signed with an access key (weir auth create-key)"
                ));
            }
        };
        let model = match self.state.authz.model_cached() {
            Some(m) => m,
            None => {
                let authz = self.state.authz.clone();
                match tokio::task::spawn_blocking(move || authz.model()).await {
                    Ok(Ok(m)) => m,
                    Ok(Err(e)) => return Err(internal(e)),
                    Err(e) => return Err(internal(e)),
                }
            }
        };
        let principal = crate::gate::principal(&self.state, user, model);
        let (action, resource) = s3_rule(cx.s3_op().name(), cx.s3_path());
        match principal.decide(action, &resource) {
            Decision::Allow => {
                if let Err(e) = crate::gate::admit(&self.state, &principal) {
                    return Err(S3Error::with_message(S3ErrorCode::SlowDown, e.to_string()));
                }
                if crate::quota::stores_body(cx.method(), None, Some(cx.s3_op().name()))
                    && let Err(e) = crate::gate::admit_bytes(
                        &self.state,
                        &principal,
                        crate::gate::body_length(cx.headers()),
                    )
                {
                    return Err(S3Error::with_message(S3ErrorCode::SlowDown, e.to_string()));
                }
                let op = metered_op(cx.s3_op().name());
                crate::usage::Slot::claim(cx.extensions_mut(), &principal, Some(op));
                cx.extensions_mut().insert(principal);
                Ok(())
            }
            // As S3 answers for another account's bucket.
            Decision::Hidden => Err(s3_error!(AccessDenied, "Access Denied")),
            Decision::Deny => Err(s3_error!(
                AccessDenied,
                "{} may not {action} on {}",
                principal.user,
                resource.arn()
            )),
        }
    }
}

/// The caller the access check let through.
pub(crate) fn principal<T>(req: &S3Request<T>) -> S3Result<&Principal> {
    req.extensions
        .get::<Principal>()
        .ok_or_else(|| internal("request without an access check"))
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "S3 request failed");
    S3Error::with_message(S3ErrorCode::InternalError, e.to_string())
}

/// A store error as the S3 error a client expects.
pub(crate) fn s3err(e: StoreError) -> S3Error {
    use weir_core::ErrorCode as C;
    let msg = e.to_string();
    let code = match &e {
        StoreError::NotFound {
            kind: "repository", ..
        } => S3ErrorCode::NoSuchBucket,
        StoreError::NotFound { .. } => S3ErrorCode::NoSuchKey,
        StoreError::AlreadyExists { .. } | StoreError::PreconditionFailed(_) => {
            S3ErrorCode::PreconditionFailed
        }
        e => match e.code() {
            C::InvalidArgument => S3ErrorCode::InvalidArgument,
            C::Conflict => S3ErrorCode::ConditionalRequestConflict,
            C::NotAllowed => S3ErrorCode::AccessDenied,
            _ => return internal(msg),
        },
    };
    S3Error::with_message(code, msg)
}

impl Gateway {
    /// The repository behind a bucket, acting as the request's key owner.
    pub(crate) async fn repo<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<Repo> {
        if bucket == SYSTEM_REPO {
            return Err(s3_error!(NoSuchBucket, "no repository {bucket}"));
        }
        let p = principal(req)?;
        // The access check covered the bucket of the path; this one may
        // be another (a copy's source).
        if p.decide("repo:Read", &Resource::repo(bucket)) != Decision::Allow {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        self.state.lake.repo_as(bucket, &p.user).map_err(s3err)
    }

    /// A write target: `REF` must be a branch.
    pub(crate) fn branch(repo: &Repo, key: &str) -> S3Result<(String, String)> {
        let (reference, path) = split_key(key)?;
        match repo.branch_head(&reference) {
            Ok(_) => Ok((reference, path)),
            Err(StoreError::NotFound { .. }) if repo.resolve(&reference).is_ok() => Err(s3_error!(
                AccessDenied,
                "{reference} is not a branch: writes go to REF/PATH where REF is a branch"
            )),
            Err(e) => Err(s3err(e)),
        }
    }

    pub(crate) fn max_body(&self) -> usize {
        self.state.options.max_body
    }

    /// Refuses a declared body above the limit before reading it.
    pub(crate) fn check_length(&self, length: Option<i64>) -> S3Result<()> {
        match length {
            Some(n) if n > self.max_body() as i64 => Err(s3_error!(
                EntityTooLarge,
                "{n} bytes: the server's limit is {} (weir serve --max-body-mib)",
                self.max_body()
            )),
            _ => Ok(()),
        }
    }
}

/// `REF/PATH` → (ref, path).
pub(crate) fn split_key(key: &str) -> S3Result<(String, String)> {
    match key.split_once('/') {
        Some((r, p)) if !r.is_empty() && !p.is_empty() => Ok((r.to_string(), p.to_string())),
        _ => Err(s3_error!(
            InvalidArgument,
            "key {key:?}: keys are REF/PATH (a branch, tag or commit, then the object's path)"
        )),
    }
}

/// The ETag S3 would give (MD5-based), so clients can check transfers.
pub(crate) fn etag(e: &Entry) -> ETag {
    ETag::Strong(e.s3_etag())
}

pub(crate) fn timestamp(us: i64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_micros(us.max(0) as u64))
}

/// A request body as a stream (none is empty).
pub(crate) fn body_stream(
    body: Option<StreamingBlob>,
) -> impl futures::Stream<Item = Result<Bytes, s3s::StdError>> + Send {
    match body {
        Some(b) => futures::stream::StreamExt::left_stream(b),
        None => futures::stream::StreamExt::right_stream(futures::stream::empty()),
    }
}

/// s3s wants a `Sync` body and object_store's streams are only `Send`.
/// The stream is only ever polled through `&mut self`, so the mutex is
/// never contended: it exists to make the type `Sync`.
struct SyncStream(std::sync::Mutex<BoxStream<'static, Result<Bytes, StoreError>>>);

impl futures::Stream for SyncStream {
    type Item = Result<Bytes, StoreError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        inner.as_mut().poll_next(cx)
    }
}

/// `If-None-Match: *` / `If-Match: ETAG` as a store condition.
pub(crate) fn write_cond(
    if_none_match: Option<&IfNoneMatch>,
    if_match: Option<&IfMatch>,
) -> S3Result<Option<Cond>> {
    if let Some(c) = if_none_match {
        if !c.is_any() {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on a write: only * (create if absent) is supported"
            ));
        }
        return Ok(Some(Cond::Absent));
    }
    Ok(match if_match {
        Some(c) if c.is_any() => {
            return Err(s3_error!(
                NotImplemented,
                "If-Match: * on a write is not supported; give the ETag"
            ));
        }
        Some(c) => c.as_etag().map(|t| Cond::Matches(t.value().to_string())),
        None => None,
    })
}

pub(crate) fn put_options(
    content_type: Option<String>,
    metadata: Option<Metadata>,
    cond: Option<Cond>,
) -> PutOptions {
    PutOptions {
        content_type,
        metadata: metadata
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        cond,
    }
}

/// Applies GET/HEAD preconditions against the stored entry.
fn check_read_conditions(
    e: &Entry,
    if_match: Option<&IfMatch>,
    if_none_match: Option<&IfNoneMatch>,
) -> S3Result<()> {
    let matches =
        |c: &ETagCondition| c.is_any() || c.as_etag().is_some_and(|t| e.etag_matches(t.value()));
    if let Some(c) = if_match
        && !matches(c)
    {
        return Err(s3_error!(PreconditionFailed));
    }
    if let Some(c) = if_none_match
        && matches(c)
    {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let p = principal(&req)?;
        let repos = self.state.lake.list_repos().map_err(s3err)?;
        let buckets = repos
            .into_iter()
            .filter(|r| r.name != SYSTEM_REPO)
            .filter(|r| p.decide("repo:Read", &Resource::repo(&r.name)) == Decision::Allow)
            .map(|r| Bucket {
                name: Some(r.name.clone()),
                creation_date: Some(timestamp(r.created * 1_000_000)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let bucket = req.input.bucket.clone();
        self.repo(&req, &bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = req.input.bucket.clone();
        self.repo(&req, &bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let (reference, path) = split_key(&i.key)?;
        let e = repo.stat(&reference, &path).await.map_err(s3err)?;
        check_read_conditions(&e, i.if_match.as_ref(), i.if_none_match.as_ref())?;
        let range =
            match &i.range {
                Some(r) => Some(r.check(e.size).map_err(|_| {
                    s3_error!(InvalidRange, "range outside a {}-byte object", e.size)
                })?),
                None => None,
            };
        let content_range = range
            .as_ref()
            .map(|r| format!("bytes {}-{}/{}", r.start, r.end - 1, e.size));
        let len = range.as_ref().map_or(e.size, |r| r.end - r.start) as i64;
        let stream = repo.read_entry_stream(&e, range).await.map_err(s3err)?;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(SyncStream(std::sync::Mutex::new(
                stream,
            )))),
            content_length: Some(len),
            content_range,
            content_type: Some(e.content_type.clone()),
            e_tag: Some(etag(&e)),
            last_modified: Some(timestamp(e.mtime_us)),
            accept_ranges: Some("bytes".into()),
            metadata: metadata(&e),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let (reference, path) = split_key(&i.key)?;
        let e = repo.stat(&reference, &path).await.map_err(s3err)?;
        check_read_conditions(&e, i.if_match.as_ref(), i.if_none_match.as_ref())?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(e.size as i64),
            content_type: Some(e.content_type.clone()),
            e_tag: Some(etag(&e)),
            last_modified: Some(timestamp(e.mtime_us)),
            accept_ranges: Some("bytes".into()),
            metadata: metadata(&e),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let check = BodyCheck::new(&req.headers, req.input.content_md5.as_deref())?;
        let trailers = req.trailing_headers;
        let i = req.input;
        let (branch, path) = Self::branch(&repo, &i.key)?;
        let cond = write_cond(i.if_none_match.as_ref(), i.if_match.as_ref())?;
        self.check_length(i.content_length)?;
        weir_core::names::validate_path(&path).map_err(|e| s3err(e.into()))?;
        let opts = put_options(i.content_type, i.metadata, cond);
        let e = repo
            .write_stream(
                check.wrap(body_stream(i.body)),
                &opts,
                self.max_body() as u64,
            )
            .await
            .map_err(s3err)?;
        // Nothing is staged unless the bytes are what the client sent.
        let staged = match check.verify(&e, trailers.as_ref()) {
            Ok(sums) => repo
                .stage_entry(&branch, &path, Some(e.clone()), opts.cond.as_ref())
                .await
                .map(|()| sums)
                .map_err(s3err),
            Err(bad) => Err(bad),
        };
        let sums = match staged {
            Ok(sums) => sums,
            Err(err) => {
                let _ = repo.discard_data(&e).await;
                return Err(err);
            }
        };
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&e)),
            size: Some(e.size as i64),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let (src_bucket, src_key) = match &i.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "copy sources are BUCKET/REF/PATH"
                ));
            }
        };
        // The access check covered the destination; reading the source
        // needs its own permission.
        let (src_ref, src_path) = split_key(&src_key)?;
        let p = principal(&req)?;
        if p.decide("fs:ReadObject", &Resource::branch(&src_bucket, &src_ref)) != Decision::Allow {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        if src_bucket != i.bucket {
            return Err(s3_error!(
                NotImplemented,
                "copying between repositories is not supported: copy within {}",
                i.bucket
            ));
        }
        let (branch, path) = Self::branch(&repo, &i.key)?;
        let e = repo
            .copy_object(&src_ref, &src_path, &branch, &path, None)
            .await
            .map_err(s3err)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&e)),
                last_modified: Some(timestamp(e.mtime_us)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let (branch, path) = Self::branch(&repo, &req.input.key)?;
        // S3 answers 204 whether or not the key existed.
        repo.delete_object(&branch, &path).await.map_err(s3err)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in &req.input.delete.objects {
            let r = match Self::branch(&repo, &o.key) {
                Ok((b, p)) => repo.delete_object(&b, &p).await.map_err(s3err),
                Err(e) => Err(e),
            };
            match r {
                Ok(_) if quiet => {}
                Ok(_) => deleted.push(DeletedObject {
                    key: Some(o.key.clone()),
                    ..Default::default()
                }),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(o.key.clone()),
                    message: e.message().map(str::to_string),
                    ..Default::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    /// A bucket is a repository. Creating one that exists answers as S3
    /// does to its owner (`BucketAlreadyOwnedByYou`), which clients that
    /// check their bucket before writing (rclone, s3fs) take as success; a
    /// new name creates a repository with branch `main`.
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket.clone();
        if self.repo(&req, &bucket).await.is_ok() {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "repository {bucket} exists"
            ));
        }
        if bucket == SYSTEM_REPO {
            return Err(s3_error!(AccessDenied, "{bucket} is weir's own repository"));
        }
        let p = principal(&req)?.clone();
        let (state, name) = (self.state.clone(), bucket.clone());
        crate::lakefs::create_repo_for(&state, &p, &name, "main", None)
            .await
            .map_err(|e| match e {
                crate::ServerError::Store(e) => s3err(e),
                crate::ServerError::Conflict(m) => {
                    S3Error::with_message(S3ErrorCode::BucketAlreadyExists, m)
                }
                e => internal(e),
            })?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_v1(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.put_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.uploads_of(req).await
    }
}

fn metadata(e: &Entry) -> Option<Metadata> {
    (!e.metadata.is_empty()).then(|| {
        e.metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}
