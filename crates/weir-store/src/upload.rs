//! Writes too large to hold in memory: a body streamed to the data store
//! in parts (HTTP uploads, S3 PutObject), and the parts of an S3 multipart
//! upload joined into one object. Like every write, the bytes land at a
//! fresh address before any entry points at them.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::Digest;
use weir_core::names;

use crate::entry::Entry;
use crate::error::{Result, StoreError};
use crate::objects::{Digests, PutOptions, fresh_entry, new_address};
use crate::repo::Repo;

/// Bodies up to this size are written in one request; larger ones in parts
/// of this size (object_store's S3 backend needs parts of at least 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

impl Repo {
    /// Streams a body to `path` on `branch` and stages it (honouring
    /// `opts.cond`); on a refused condition the written bytes are removed.
    pub async fn put_stream<S, E>(
        &self,
        branch: &str,
        path: &str,
        body: S,
        opts: &PutOptions,
        limit: u64,
    ) -> Result<Entry>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        names::validate_path(path)?;
        self.branch_head(branch)?;
        let entry = self.write_stream(body, opts, limit).await?;
        if let Err(e) = self
            .stage_entry(branch, path, Some(entry.clone()), opts.cond.as_ref())
            .await
        {
            let _ = self.discard_data(&entry).await;
            return Err(e);
        }
        Ok(entry)
    }

    /// Writes a streamed body to a fresh address, at most `limit` bytes,
    /// holding at most one part in memory. Returns the entry (not staged).
    pub async fn write_stream<S, E>(&self, body: S, opts: &PutOptions, limit: u64) -> Result<Entry>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let mut body = std::pin::pin!(body);
        let too_big =
            || StoreError::InvalidArgument(format!("the body exceeds the limit of {limit} bytes"));
        let mut h = Digests::new();
        let mut buf = BytesMut::new();
        let address = new_address(self.ns());
        let target = Path::from(address.as_str());
        let mut upload = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    if let Some(mut u) = upload {
                        let _ = object_store::MultipartUpload::abort(&mut u).await;
                    }
                    return Err(StoreError::InvalidArgument(format!(
                        "reading the body: {e}"
                    )));
                }
            };
            if h.size + chunk.len() as u64 > limit {
                if let Some(mut u) = upload {
                    let _ = object_store::MultipartUpload::abort(&mut u).await;
                }
                return Err(too_big());
            }
            h.update(&chunk);
            buf.extend_from_slice(&chunk);
            while buf.len() >= PART_SIZE {
                let part = buf.split_to(PART_SIZE).freeze();
                if upload.is_none() {
                    upload = Some(self.lake.trees.data.put_multipart(&target).await?);
                }
                let u = upload.as_mut().expect("an upload");
                if let Err(e) = u.put_part(part.into()).await {
                    let _ = u.abort().await;
                    return Err(e.into());
                }
            }
        }
        match upload {
            None => {
                self.lake
                    .trees
                    .data
                    .put(&target, PutPayload::from(buf.freeze()))
                    .await?;
            }
            Some(mut u) => {
                if !buf.is_empty()
                    && let Err(e) = u.put_part(buf.freeze().into()).await
                {
                    let _ = u.abort().await;
                    return Err(e.into());
                }
                u.complete().await?;
            }
        }
        Ok(h.entry(address, opts))
    }

    /// Joins unstaged data objects (the parts of an S3 multipart upload)
    /// into one new object, holding one part in memory at a time.
    pub async fn concat_data(&self, parts: &[Entry], opts: &PutOptions) -> Result<Entry> {
        let address = new_address(self.ns());
        let target = Path::from(address.as_str());
        let mut upload = self.lake.trees.data.put_multipart(&target).await?;
        let mut whole = Digests::new();
        // S3's ETag of a multipart object: the MD5 of the parts' MD5s.
        let mut part_md5s = md5::Md5::new();
        for p in parts {
            let bytes = match self.read_entry(p, None).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(e);
                }
            };
            whole.update(&bytes);
            part_md5s.update(md5::Md5::digest(&bytes));
            if let Err(e) = upload.put_part(bytes.into()).await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
        }
        upload.complete().await?;
        let (checksum, _, size) = whole.finish();
        let etag = format!("{}-{}", hex::encode(part_md5s.finalize()), parts.len());
        Ok(fresh_entry(address, size, checksum, Some(etag), opts))
    }

    /// Deletes the bytes of an entry that was written but never staged (an
    /// abandoned upload part). Staged or committed entries must not be
    /// passed: their bytes belong to history.
    pub async fn discard_data(&self, entry: &Entry) -> Result<()> {
        match self
            .lake
            .trees
            .data
            .delete(&Path::from(entry.address.as_str()))
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
