//! S3 multipart uploads. Each part is written to the data store as an
//! unstaged object as it arrives; completing joins the parts into one new
//! object (one part in memory at a time) and stages it with the upload's
//! condition, so `If-None-Match: *` holds for multipart writes too. Uploads
//! in progress live in the server's memory: a restart forgets them and
//! leaves their parts' bytes behind, as an interrupted upload to S3 does
//! until a lifecycle rule removes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use weir_store::{Entry, Repo};

use crate::s3::{Gateway, body_stream, etag, put_options, s3err, timestamp, write_cond};

/// S3's own limit.
const MAX_PART_NUMBER: i32 = 10_000;

struct Upload {
    bucket: String,
    key: String,
    branch: String,
    path: String,
    content_type: Option<String>,
    metadata: Option<Metadata>,
    initiated: SystemTime,
    parts: BTreeMap<i32, Entry>,
}

#[derive(Default)]
pub(crate) struct Uploads(Mutex<HashMap<String, Upload>>);

impl Uploads {
    fn with<R>(
        &self,
        bucket: &str,
        id: &str,
        key: &str,
        f: impl FnOnce(&mut Upload) -> R,
    ) -> S3Result<R> {
        let mut m = self.0.lock().unwrap();
        match m.get_mut(id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(f(u)),
            _ => Err(s3_error!(
                NoSuchUpload,
                "no upload {id} of {key} in {bucket}"
            )),
        }
    }

    /// Removes the upload and returns it with what `check` made of it;
    /// when `check` fails the upload stays, for a corrected retry. One lock
    /// for both, so no part can be replaced between the check and the take.
    fn take_checked<R>(
        &self,
        bucket: &str,
        id: &str,
        key: &str,
        check: impl FnOnce(&Upload) -> S3Result<R>,
    ) -> S3Result<(Upload, R)> {
        let mut m = self.0.lock().unwrap();
        match m.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => {
                let r = check(u)?;
                Ok((m.remove(id).expect("the upload just found"), r))
            }
            _ => Err(s3_error!(
                NoSuchUpload,
                "no upload {id} of {key} in {bucket}"
            )),
        }
    }
}

async fn discard(repo: &Repo, parts: impl IntoIterator<Item = Entry>) {
    for p in parts {
        if let Err(e) = repo.discard_data(&p).await {
            tracing::warn!(error = %e, address = %p.address, "could not remove an upload part");
        }
    }
}

impl Gateway {
    pub(crate) async fn create_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = req.input;
        let (branch, path) = Self::branch(&repo, &i.key)?;
        weir_core::names::validate_path(&path).map_err(|e| s3_error!(InvalidArgument, "{e}"))?;
        let id = uuid_like();
        self.uploads.0.lock().unwrap().insert(
            id.clone(),
            Upload {
                bucket: i.bucket.clone(),
                key: i.key.clone(),
                branch,
                path,
                content_type: i.content_type,
                metadata: i.metadata,
                initiated: SystemTime::now(),
                parts: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    pub(crate) async fn put_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = req.input;
        if !(1..=MAX_PART_NUMBER).contains(&i.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "part numbers run from 1 to {MAX_PART_NUMBER}"
            ));
        }
        self.uploads.with(&i.bucket, &i.upload_id, &i.key, |_| ())?;
        self.check_length(i.content_length)?;
        let entry = repo
            .write_stream(
                body_stream(i.body),
                &Default::default(),
                self.max_body() as u64,
            )
            .await
            .map_err(s3err)?;
        let tag = etag(&entry);
        // The upload may have been completed or aborted while the part was
        // being written; then the part's bytes are orphans.
        let replaced = match self.uploads.with(&i.bucket, &i.upload_id, &i.key, |u| {
            u.parts.insert(i.part_number, entry.clone())
        }) {
            Ok(old) => old,
            Err(e) => {
                discard(&repo, [entry]).await;
                return Err(e);
            }
        };
        discard(&repo, replaced).await;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(tag),
            ..Default::default()
        }))
    }

    pub(crate) async fn complete_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = req.input;
        let cond = write_cond(i.if_none_match.as_ref(), i.if_match.as_ref())?;
        let wanted = i
            .multipart_upload
            .and_then(|m| m.parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| s3_error!(MalformedXML, "the request lists no parts"))?;
        let (u, chosen) = self
            .uploads
            .take_checked(&i.bucket, &i.upload_id, &i.key, |u| {
                let mut last = 0;
                let mut chosen = Vec::new();
                for p in &wanted {
                    let n = p.part_number.unwrap_or(0);
                    if n <= last {
                        return Err(s3_error!(
                            InvalidPartOrder,
                            "parts must be listed in ascending order"
                        ));
                    }
                    last = n;
                    let Some(e) = u.parts.get(&n) else {
                        return Err(s3_error!(InvalidPart, "part {n} was not uploaded"));
                    };
                    if let Some(t) = &p.e_tag
                        && t.value() != e.checksum_hex()
                    {
                        return Err(s3_error!(InvalidPart, "part {n}: the ETag does not match"));
                    }
                    chosen.push(e.clone());
                }
                Ok(chosen)
            })?;
        let opts = put_options(u.content_type.clone(), u.metadata.clone(), cond);
        let joined = repo.concat_data(&chosen, &opts).await;
        let result = match joined {
            Ok(entry) => match repo
                .stage_entry(&u.branch, &u.path, Some(entry.clone()), opts.cond.as_ref())
                .await
            {
                Ok(()) => Ok(entry),
                Err(e) => Err((e, Some(entry))),
            },
            Err(e) => Err((e, None)),
        };
        discard(&repo, u.parts.into_values()).await;
        let entry = match result {
            Ok(e) => e,
            Err((e, joined)) => {
                discard(&repo, joined).await;
                return Err(s3err(e));
            }
        };
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            e_tag: Some(etag(&entry)),
            ..Default::default()
        }))
    }

    pub(crate) async fn abort_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let (u, ()) = self
            .uploads
            .take_checked(&i.bucket, &i.upload_id, &i.key, |_| Ok(()))?;
        discard(&repo, u.parts.into_values()).await;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let max = i.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let after = i.part_number_marker.unwrap_or(0);
        let (parts, more) = self.uploads.with(&i.bucket, &i.upload_id, &i.key, |u| {
            let mut it = u.parts.range(after + 1..);
            let parts: Vec<Part> = it
                .by_ref()
                .take(max)
                .map(|(n, e)| Part {
                    part_number: Some(*n),
                    e_tag: Some(etag(e)),
                    size: Some(e.size as i64),
                    last_modified: Some(timestamp(e.mtime_us)),
                    ..Default::default()
                })
                .collect();
            (parts, it.next().is_some())
        })?;
        let next = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            upload_id: Some(i.upload_id.clone()),
            max_parts: Some(max as i32),
            part_number_marker: i.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(more),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    pub(crate) async fn uploads_of(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let prefix = i.prefix.clone().unwrap_or_default();
        let max = i.max_uploads.unwrap_or(1000).clamp(1, 1000) as usize;
        let mut all: Vec<(String, String, SystemTime)> = self
            .uploads
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, u)| u.bucket == i.bucket && u.key.starts_with(&prefix))
            .map(|(id, u)| (u.key.clone(), id.clone(), u.initiated))
            .collect();
        all.sort();
        let marker = (i.key_marker.clone(), i.upload_id_marker.clone());
        let all: Vec<_> = all
            .into_iter()
            .filter(|(k, id, _)| match &marker {
                (Some(km), Some(im)) => (k, id) > (km, im),
                (Some(km), None) => k > km,
                _ => true,
            })
            .collect();
        let more = all.len() > max;
        let page: Vec<_> = all.into_iter().take(max).collect();
        let (next_key, next_id) = match (more, page.last()) {
            (true, Some((k, id, _))) => (Some(k.clone()), Some(id.clone())),
            _ => (None, None),
        };
        let uploads = page
            .into_iter()
            .map(|(key, id, at)| MultipartUpload {
                key: Some(key),
                upload_id: Some(id),
                initiated: Some(Timestamp::from(at)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(i.bucket.clone()),
            prefix: i.prefix.clone(),
            key_marker: i.key_marker.clone(),
            upload_id_marker: i.upload_id_marker.clone(),
            max_uploads: Some(max as i32),
            is_truncated: Some(more),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

/// An upload id nobody can guess (it is the only handle on the upload).
fn uuid_like() -> String {
    use rand::Rng;
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b);
    hex::encode(b)
}
