//! S3 multipart uploads over the store's uploads (`weir_store::multipart`):
//! each part is written to the data store as an unstaged object as it
//! arrives and recorded in the metadata store; completing joins the parts
//! into one new object (one part in memory at a time) and stages it with
//! the upload's condition, so `If-None-Match: *` holds for multipart writes
//! too. Uploads outlive the server: a restart, or another server on the
//! same lake, can take the next part.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use weir_store::{Entry, PutOptions, Repo, Upload, UploadRecord};

use crate::s3::{Gateway, body_stream, etag, s3err, timestamp, write_cond};
use crate::s3_checks::BodyCheck;

/// S3's own limit.
const MAX_PART_NUMBER: i32 = 10_000;

fn no_upload(bucket: &str, id: &str, key: &str) -> s3s::S3Error {
    s3_error!(NoSuchUpload, "no upload {id} of {key} in {bucket}")
}

/// The upload `id` of `key`: an id is refused for any other key, as S3
/// refuses it.
fn upload_of(repo: &Repo, id: &str, key: &str) -> S3Result<UploadRecord> {
    match repo.upload(id).map_err(s3err)? {
        Some(u) if u.key == key => Ok(u),
        _ => Err(no_upload(repo.name(), id, key)),
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
        let metadata = i.metadata.unwrap_or_default().into_iter().collect();
        let u = repo
            .begin_upload(&i.key, &branch, &path, i.content_type, metadata)
            .map_err(s3err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(u.id),
            ..Default::default()
        }))
    }

    pub(crate) async fn put_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let check = BodyCheck::new(&req.headers, req.input.content_md5.as_deref())?;
        let trailers = req.trailing_headers;
        let i = req.input;
        if !(1..=MAX_PART_NUMBER).contains(&i.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "part numbers run from 1 to {MAX_PART_NUMBER}"
            ));
        }
        upload_of(&repo, &i.upload_id, &i.key)?;
        self.check_length(i.content_length)?;
        let entry = repo
            .write_stream(
                check.wrap(body_stream(i.body)),
                &Default::default(),
                self.max_body() as u64,
            )
            .await
            .map_err(s3err)?;
        let sums = match check.verify(&entry, trailers.as_ref()) {
            Ok(sums) => sums,
            Err(bad) => {
                let _ = repo.discard_data(&entry).await;
                return Err(bad);
            }
        };
        // The upload may have been completed or aborted while the part was
        // being written; then the store removes the part's bytes.
        if !repo
            .add_part(&i.upload_id, i.part_number, &entry)
            .await
            .map_err(s3err)?
        {
            return Err(no_upload(&i.bucket, &i.upload_id, &i.key));
        }
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&entry)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
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
        // The parts are checked and the upload ended in one transaction; a
        // refused list leaves the upload as it was, for a corrected retry.
        let mut refused = None;
        let mut chosen = Vec::new();
        let taken = repo
            .take_upload(&i.upload_id, &mut |u: &Upload| {
                if u.record.key != i.key {
                    return false;
                }
                match choose(u, &wanted) {
                    Ok(c) => {
                        chosen = c;
                        true
                    }
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                }
            })
            .map_err(s3err)?;
        let Some(u) = taken else {
            return Err(refused.unwrap_or_else(|| no_upload(&i.bucket, &i.upload_id, &i.key)));
        };
        let opts = PutOptions {
            content_type: u.record.content_type.clone(),
            metadata: u.record.metadata.clone(),
            cond,
        };
        let joined = repo.concat_data(&chosen, &opts).await;
        let result = match joined {
            Ok(entry) => match repo
                .stage_entry(
                    &u.record.branch,
                    &u.record.path,
                    Some(entry.clone()),
                    opts.cond.as_ref(),
                )
                .await
            {
                Ok(()) => Ok(entry),
                Err(e) => Err((e, Some(entry))),
            },
            Err(e) => Err((e, None)),
        };
        repo.discard_parts(u.parts.into_values()).await;
        let entry = match result {
            Ok(e) => e,
            Err((e, joined)) => {
                repo.discard_parts(joined).await;
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
        let taken = repo
            .take_upload(&i.upload_id, &mut |u: &Upload| u.record.key == i.key)
            .map_err(s3err)?;
        let u = taken.ok_or_else(|| no_upload(&i.bucket, &i.upload_id, &i.key))?;
        repo.discard_parts(u.parts.into_values()).await;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        upload_of(&repo, &i.upload_id, &i.key)?;
        let max = i.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let after = i.part_number_marker.unwrap_or(0);
        // One more than a page tells whether the listing is truncated.
        let mut found = repo
            .upload_parts(&i.upload_id, after, max + 1)
            .map_err(s3err)?;
        let more = found.len() > max;
        found.truncate(max);
        let parts: Vec<Part> = found
            .into_iter()
            .map(|(n, e)| Part {
                part_number: Some(n),
                e_tag: Some(etag(&e)),
                size: Some(e.size as i64),
                last_modified: Some(timestamp(e.mtime_us)),
                ..Default::default()
            })
            .collect();
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
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let prefix = i.prefix.as_deref().unwrap_or_default();
        let max = i.max_uploads.unwrap_or(1000).clamp(1, 1000) as usize;
        // S3 ignores an upload-id marker given without a key marker.
        let after = match &i.key_marker {
            Some(k) => (k.as_str(), i.upload_id_marker.as_deref()),
            None => ("", None),
        };
        let mut found = repo.uploads(prefix, after, max + 1).map_err(s3err)?;
        let more = found.len() > max;
        found.truncate(max);
        let (next_key, next_id) = match (more, found.last()) {
            (true, Some(u)) => (Some(u.key.clone()), Some(u.id.clone())),
            _ => (None, None),
        };
        let uploads = found
            .into_iter()
            .map(|u| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(u.id),
                initiated: Some(timestamp(u.initiated)),
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

/// The parts a completion names, checked against what was uploaded: in
/// ascending order, each uploaded, each with the ETag the client was given.
fn choose(u: &Upload, wanted: &[CompletedPart]) -> S3Result<Vec<Entry>> {
    let mut last = 0;
    let mut chosen = Vec::with_capacity(wanted.len());
    for p in wanted {
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
            && !e.etag_matches(t.value())
        {
            return Err(s3_error!(InvalidPart, "part {n}: the ETag does not match"));
        }
        chosen.push(e.clone());
    }
    Ok(chosen)
}
