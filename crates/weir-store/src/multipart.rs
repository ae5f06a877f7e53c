//! Multipart uploads (S3's CreateMultipartUpload … CompleteMultipartUpload)
//! of one repository. Each part's bytes are written as an unstaged object
//! when it arrives; the upload and its parts are recorded in the metadata
//! store, so an upload survives a server restart and an upload left
//! unfinished stays listed (and can be aborted, which removes its bytes)
//! instead of leaving bytes nobody can find.

use std::collections::BTreeMap;

use weir_core::names;

use crate::entry::Entry;
use crate::error::Result;
use crate::meta::{Upload, UploadRecord};
use crate::repo::Repo;

impl Repo {
    /// Begins an upload to `path` on `branch`, named `key` by the client.
    /// The id is random: it is the only handle on the upload.
    pub fn begin_upload(
        &self,
        key: &str,
        branch: &str,
        path: &str,
        content_type: Option<String>,
        metadata: BTreeMap<String, String>,
    ) -> Result<UploadRecord> {
        names::validate_path(path)?;
        self.branch_head(branch)?;
        let u = UploadRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            repo: self.name().to_string(),
            key: key.to_string(),
            branch: branch.to_string(),
            path: path.to_string(),
            content_type,
            metadata,
            initiated: chrono::Utc::now().timestamp_micros(),
        };
        self.lake.meta.create_upload(&u)?;
        Ok(u)
    }

    pub fn upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        self.lake.meta.get_upload(self.name(), id)
    }

    /// Records `part` (written with [`Repo::write_stream`]) as part `n`,
    /// removing the bytes of a part it replaces. False when the upload is
    /// gone (completed or aborted meanwhile): then the part's own bytes are
    /// removed, as nothing will ever point at them.
    pub async fn add_part(&self, id: &str, n: i32, part: &Entry) -> Result<bool> {
        let recorded = self.lake.meta.put_upload_part(self.name(), id, n, part);
        match recorded {
            Ok(Some(replaced)) => {
                self.discard_parts(replaced).await;
                Ok(true)
            }
            Ok(None) => {
                self.discard_parts([part.clone()]).await;
                Ok(false)
            }
            Err(e) => {
                self.discard_parts([part.clone()]).await;
                Err(e)
            }
        }
    }

    /// Parts numbered above `after`, in order, at most `limit`.
    pub fn upload_parts(&self, id: &str, after: i32, limit: usize) -> Result<Vec<(i32, Entry)>> {
        self.lake.meta.upload_parts(self.name(), id, after, limit)
    }

    /// Uploads in progress whose key starts with `prefix`, ordered by
    /// (key, id), after `after` (after the key alone without an id).
    pub fn uploads(
        &self,
        prefix: &str,
        after: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Vec<UploadRecord>> {
        self.lake
            .meta
            .list_uploads(self.name(), prefix, after, limit)
    }

    /// Ends the upload if `accept` agrees with its parts, returning it; the
    /// caller then owns the parts' bytes (joins them, then discards them).
    /// `None` when there is no such upload or `accept` refused, in which
    /// case the upload is unchanged.
    pub fn take_upload(
        &self,
        id: &str,
        accept: &mut dyn FnMut(&Upload) -> bool,
    ) -> Result<Option<Upload>> {
        self.lake.meta.take_upload(self.name(), id, accept)
    }

    /// Removes the bytes of parts no entry points at; failures are logged,
    /// not returned (the bytes are unreachable either way).
    pub async fn discard_parts(&self, parts: impl IntoIterator<Item = Entry>) {
        for p in parts {
            if let Err(e) = self.discard_data(&p).await {
                tracing::warn!(error = %e, address = %p.address, "could not remove an upload part");
            }
        }
    }
}
