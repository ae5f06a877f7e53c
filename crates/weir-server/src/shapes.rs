//! lakeFS's JSON shapes (`api/swagger.yml` components), shared by the
//! server and the CLI's `-o json` output so both speak the same format.

use serde_json::{Value, json};
use weir_store::{CommitRecord, DiffEntry, Entry, RepoRecord};

pub fn pagination(has_more: bool, next: &str, results: usize) -> Value {
    json!({
        "has_more": has_more,
        "next_offset": if has_more { next } else { "" },
        "results": results,
        "max_per_page": 1000,
    })
}

pub fn repo_json(r: &RepoRecord) -> Value {
    json!({
        "id": r.name,
        "creation_date": r.created,
        "default_branch": r.default_branch,
        "storage_namespace": r.storage_namespace,
        "read_only": false,
    })
}

pub fn commit_json(c: &CommitRecord) -> Value {
    json!({
        "id": c.id,
        "parents": c.parents,
        "committer": c.committer,
        "message": c.message,
        "creation_date": c.created,
        "meta_range_id": c.metarange,
        "metadata": c.metadata,
        "generation": c.generation,
        "version": 1,
    })
}

pub fn ref_json(id: &str, commit: &str) -> Value {
    json!({ "id": id, "commit_id": commit })
}

pub fn diff_json(d: &DiffEntry) -> Value {
    json!({
        "type": d.kind.as_str(),
        "path": d.path,
        "path_type": "object",
        "size_bytes": d.size(),
    })
}

pub fn stats_json(path: &str, e: &Entry) -> Value {
    json!({
        "path": path,
        "path_type": "object",
        "physical_address": e.address,
        "checksum": e.checksum_hex(),
        "size_bytes": e.size,
        "mtime": e.mtime_us.div_euclid(1_000_000),
        "metadata": e.metadata,
        "content_type": e.content_type,
    })
}
