//! Listing a bucket: ListObjects (v1, `marker`) and ListObjectsV2
//! (continuation tokens), one page at a time over the repository's refs.
//! Keys are `REF/PATH`; above the refs, branches show as folders.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use weir_store::{ListItem, Repo};

use crate::s3::{Gateway, etag, s3err, timestamp};

impl Gateway {
    /// ListObjects (v1), as s3cmd, rclone and older SDKs list: `marker`
    /// in, `next_marker` out.
    pub(crate) async fn list_v1(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let after = i.marker.clone().filter(|m| !m.is_empty());
        let page = list_page(
            &repo,
            i.prefix.as_deref(),
            i.delimiter.as_deref(),
            after,
            i.max_keys,
        )
        .await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(i.bucket.clone()),
            prefix: i.prefix.clone(),
            delimiter: i.delimiter.clone(),
            marker: i.marker.clone(),
            max_keys: Some(page.max_keys as i32),
            is_truncated: Some(page.next.is_some()),
            next_marker: page.next,
            contents: Some(page.contents),
            common_prefixes: Some(page.prefixes),
            encoding_type: i.encoding_type.clone(),
            ..Default::default()
        }))
    }

    pub(crate) async fn list_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let repo = self.repo(&req, &req.input.bucket).await?;
        let i = &req.input;
        let after = i
            .continuation_token
            .clone()
            .or_else(|| i.start_after.clone())
            .filter(|a| !a.is_empty());
        let page = list_page(
            &repo,
            i.prefix.as_deref(),
            i.delimiter.as_deref(),
            after,
            i.max_keys,
        )
        .await?;
        let (max_keys, contents, prefixes, next) =
            (page.max_keys, page.contents, page.prefixes, page.next);
        let key_count = (contents.len() + prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(i.bucket.clone()),
            prefix: i.prefix.clone(),
            delimiter: i.delimiter.clone(),
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            continuation_token: i.continuation_token.clone(),
            start_after: i.start_after.clone(),
            is_truncated: Some(next.is_some()),
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            ..Default::default()
        }))
    }
}

/// One page of a bucket listing, for both ListObjects versions.
struct Page {
    max_keys: usize,
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    /// Where the next page starts, when there is one.
    next: Option<String>,
}

async fn list_page(
    repo: &Repo,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    after: Option<String>,
    max_keys: Option<i32>,
) -> S3Result<Page> {
    let max_keys = max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
    let prefix = prefix.unwrap_or_default();
    let delimiter = match delimiter {
        None | Some("") => false,
        Some("/") => true,
        Some(d) => {
            return Err(s3_error!(
                InvalidArgument,
                "delimiter {d:?}: only / is supported"
            ));
        }
    };
    let (contents, prefixes, next) = match prefix.split_once('/') {
        Some((reference, p)) => {
            let inner_after = after
                .as_deref()
                .and_then(|a| a.strip_prefix(&format!("{reference}/")))
                .map(str::to_string);
            let (items, more) = repo
                .list_objects(reference, p, delimiter, inner_after.as_deref(), max_keys)
                .await
                .map_err(s3err)?;
            let next = more
                .then(|| items.last().map(|l| format!("{reference}/{}", l.path())))
                .flatten();
            let mut contents = Vec::new();
            let mut prefixes = Vec::new();
            for item in items {
                match item {
                    ListItem::Object { path, entry } => contents.push(Object {
                        key: Some(format!("{reference}/{path}")),
                        e_tag: Some(etag(&entry)),
                        size: Some(entry.size as i64),
                        last_modified: Some(timestamp(entry.mtime_us)),
                        ..Default::default()
                    }),
                    ListItem::CommonPrefix { path } => prefixes.push(CommonPrefix {
                        prefix: Some(format!("{reference}/{path}")),
                    }),
                }
            }
            (contents, prefixes, next)
        }
        // Above the refs, a listing shows the branches as folders.
        None => {
            let mut names: Vec<String> = repo
                .list_branches()
                .map_err(s3err)?
                .into_iter()
                .map(|(b, _)| format!("{b}/"))
                .filter(|b| b.starts_with(prefix) && after.as_ref().is_none_or(|a| b > a))
                .collect();
            names.sort();
            let more = names.len() > max_keys;
            names.truncate(max_keys);
            let next = more.then(|| names.last().cloned()).flatten();
            let prefixes = names
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect();
            (Vec::new(), prefixes, next)
        }
    };
    Ok(Page {
        max_keys,
        contents,
        prefixes,
        next,
    })
}
