//! The digests an S3 client sends with a body, checked before anything is
//! staged: `Content-MD5`, and the SDKs' flexible checksums
//! (`x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256`), given as headers
//! or, as boto3 and the AWS SDKs stream uploads, as trailers after an
//! `aws-chunked` body. A mismatch is S3's `BadDigest` and the written
//! bytes are removed.

use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::Checksum;
use s3s::{S3Result, TrailingHeaders, s3_error};
use weir_store::Entry;

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// What a request promises about its body.
pub(crate) struct BodyCheck {
    md5: Option<String>,
    /// (algorithm, value given in a header, or None when it comes as a
    /// trailer)
    wanted: Vec<(&'static str, Option<String>)>,
    hasher: Arc<Mutex<Option<ChecksumHasher>>>,
}

impl BodyCheck {
    pub fn new(headers: &axum::http::HeaderMap, content_md5: Option<&str>) -> S3Result<BodyCheck> {
        let md5 = match content_md5 {
            Some(b64) => Some(hex::encode(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not base64"))?,
            )),
            None => None,
        };
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut wanted = Vec::new();
        let mut hasher = ChecksumHasher::default();
        for alg in ALGORITHMS {
            let name = format!("x-amz-checksum-{alg}");
            let given = headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let trailed = trailer.split(',').any(|t| t.trim() == name);
            if given.is_none() && !trailed {
                continue;
            }
            match alg {
                "crc32" => hasher.crc32 = Some(Crc32::new()),
                "crc32c" => hasher.crc32c = Some(Crc32c::new()),
                "crc64nvme" => hasher.crc64nvme = Some(Crc64Nvme::new()),
                "sha1" => hasher.sha1 = Some(Sha1::new()),
                _ => hasher.sha256 = Some(Sha256::new()),
            }
            wanted.push((alg, given));
        }
        Ok(BodyCheck {
            md5,
            hasher: Arc::new(Mutex::new((!wanted.is_empty()).then_some(hasher))),
            wanted,
        })
    }

    /// The body, hashed as it passes when a checksum was promised.
    pub fn wrap<S, E>(&self, body: S) -> impl Stream<Item = Result<Bytes, E>> + Send + use<S, E>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let hasher = self.hasher.clone();
        body.map(move |chunk| {
            if let Ok(bytes) = &chunk
                && let Some(h) = hasher.lock().unwrap().as_mut()
            {
                h.update(bytes);
            }
            chunk
        })
    }

    /// Compares what was written with what was promised; the checksums
    /// computed, to send back.
    pub fn verify(&self, entry: &Entry, trailers: Option<&TrailingHeaders>) -> S3Result<Checksum> {
        if let Some(want) = &self.md5
            && entry.etag.as_deref() != Some(want.as_str())
        {
            return Err(s3_error!(
                BadDigest,
                "the body does not match its Content-MD5"
            ));
        }
        let Some(hasher) = self.hasher.lock().unwrap().take() else {
            return Ok(Checksum::default());
        };
        let got = hasher.finalize();
        for (alg, given) in &self.wanted {
            let name = format!("x-amz-checksum-{alg}");
            let want = given.clone().or_else(|| {
                trailers.and_then(|t| {
                    t.read(|h| {
                        h.get(name.as_str())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    })
                    .flatten()
                })
            });
            let computed = match *alg {
                "crc32" => &got.checksum_crc32,
                "crc32c" => &got.checksum_crc32c,
                "crc64nvme" => &got.checksum_crc64nvme,
                "sha1" => &got.checksum_sha1,
                _ => &got.checksum_sha256,
            };
            match want {
                Some(w) if Some(&w) == computed.as_ref() => {}
                Some(_) => {
                    return Err(s3_error!(BadDigest, "the body does not match its {name}"));
                }
                None => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "{name} was announced as a trailer and never sent"
                    ));
                }
            }
        }
        Ok(got)
    }
}
