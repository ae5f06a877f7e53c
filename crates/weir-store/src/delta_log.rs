//! What the store needs to know of Delta tables: where a table's log is,
//! which log files are commits, and what a commit does.
//!
//! A Delta commit is a JSON file `_delta_log/<20-digit version>.json`, one
//! action per line (`add`, `remove`, `metaData`, `protocol`,
//! `commitInfo`, `txn`, `cdc`, `domainMetadata`; Delta protocol
//! specification, "Actions"). The store reads them to merge tables
//! ([`crate::table_merge`]) and to check that logs and data files agree
//! ([`crate::verify`]); checkpoints are never needed for either.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::{Result, StoreError};

pub(crate) const LOG_DIR: &str = "_delta_log/";

/// The table a path belongs to, as the prefix before `_delta_log/` (with
/// its trailing slash, or empty for a table at the root of a ref).
pub(crate) fn table_root(path: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(i) = path[from..].find(LOG_DIR) {
        let at = from + i;
        if at == 0 || path.as_bytes()[at - 1] == b'/' {
            return Some(&path[..at]);
        }
        from = at + LOG_DIR.len();
    }
    None
}

/// The version of a commit file `ROOT_delta_log/00000000000000000012.json`.
pub(crate) fn commit_version(root: &str, path: &str) -> Option<u64> {
    let name = path.strip_prefix(root)?.strip_prefix(LOG_DIR)?;
    let digits = name.strip_suffix(".json")?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

pub(crate) fn commit_path(root: &str, version: u64) -> String {
    format!("{root}{LOG_DIR}{version:020}.json")
}

/// A table name for messages: the root without its slash.
pub(crate) fn table_name(root: &str) -> &str {
    let t = root.trim_end_matches('/');
    if t.is_empty() { "(the root table)" } else { t }
}

/// A data file path of an action, relative to the table root and decoded
/// (the log stores URI-encoded paths); `None` for absolute URIs, which
/// point outside the tree.
pub(crate) fn relative_file(encoded: &str) -> Option<String> {
    if encoded.contains("://") {
        return None;
    }
    Some(crate::view::percent_decode(encoded))
}

/// One commit of a table's log, with what the merge rules look at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commit {
    pub actions: Vec<Value>,
    /// `commitInfo.operation`, or "an unnamed operation".
    pub operation: String,
    /// Data files added / removed (paths as the log has them).
    pub added: BTreeSet<String>,
    pub removed: BTreeSet<String>,
    /// Some removal changes data (`dataChange: true`): the commit rewrote
    /// rows (DELETE, UPDATE, MERGE, an overwrite), so it read the table.
    /// A compaction removes with `dataChange: false` and changes no row.
    pub rewrites: bool,
    pub metadata: Option<Value>,
    pub protocol: Option<Value>,
    /// `txn.appId` and `domainMetadata.domain` it sets.
    pub app_ids: BTreeSet<String>,
    pub domains: BTreeSet<String>,
    /// Files named by `cdc` actions (change data, also in the tree).
    pub cdc: BTreeSet<String>,
}

impl Commit {
    pub fn parse(bytes: &[u8], what: &str) -> Result<Commit> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| StoreError::InvalidArgument(format!("{what} is not UTF-8 text")))?;
        let mut c = Commit {
            operation: "an unnamed operation".into(),
            ..Default::default()
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).map_err(|e| {
                StoreError::InvalidArgument(format!("{what} is not a Delta commit: {e}"))
            })?;
            let Some((kind, body)) = v.as_object().and_then(|o| o.iter().next()) else {
                return Err(StoreError::InvalidArgument(format!(
                    "{what} is not a Delta commit: an action is not an object"
                )));
            };
            let path = || body.get("path").and_then(Value::as_str).map(str::to_string);
            match kind.as_str() {
                "add" => c.added.extend(path()),
                "remove" => {
                    c.removed.extend(path());
                    if body.get("dataChange").and_then(Value::as_bool) != Some(false) {
                        c.rewrites = true;
                    }
                }
                "cdc" => c.cdc.extend(path()),
                "metaData" => c.metadata = Some(body.clone()),
                "protocol" => c.protocol = Some(body.clone()),
                "txn" => c.app_ids.extend(
                    body.get("appId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ),
                "domainMetadata" => c.domains.extend(
                    body.get("domain")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ),
                "commitInfo" => {
                    if let Some(op) = body.get("operation").and_then(Value::as_str) {
                        c.operation = op.to_string();
                    }
                }
                _ => {}
            }
            c.actions.push(v);
        }
        Ok(c)
    }

    /// The commit as log text, one action per line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for a in &self.actions {
            // A Value always serialises.
            out.extend_from_slice(serde_json::to_string(a).unwrap_or_default().as_bytes());
            out.push(b'\n');
        }
        out
    }

    pub fn commit_info_mut(&mut self) -> Option<&mut serde_json::Map<String, Value>> {
        self.actions
            .iter_mut()
            .find_map(|a| a.get_mut("commitInfo").and_then(Value::as_object_mut))
    }

    pub fn in_commit_timestamp(&self) -> Option<i64> {
        self.actions
            .iter()
            .find_map(|a| a.get("commitInfo"))
            .and_then(|c| c.get("inCommitTimestamp"))
            .and_then(Value::as_i64)
    }
}

/// The fields of a schema (`metaData.schemaString`), by name.
fn schema_fields(metadata: &Value) -> Option<Vec<Value>> {
    let s = metadata.get("schemaString")?.as_str()?;
    let v: Value = serde_json::from_str(s).ok()?;
    v.get("fields")?.as_array().cloned()
}

/// Whether data written under `old` reads correctly under `new`: every old
/// column is still there with the same type, new columns are nullable
/// (old files read them as null), and the partitioning is the same.
pub(crate) fn schema_extends(old: &Value, new: &Value) -> bool {
    let (Some(old_f), Some(new_f)) = (schema_fields(old), schema_fields(new)) else {
        return false;
    };
    if old.get("partitionColumns") != new.get("partitionColumns") {
        return false;
    }
    let name = |f: &Value| f.get("name").and_then(Value::as_str).map(str::to_string);
    for f in &old_f {
        let Some(n) = new_f.iter().find(|g| name(g) == name(f)) else {
            return false;
        };
        if n.get("type") != f.get("type") {
            return false;
        }
    }
    new_f
        .iter()
        .filter(|g| !old_f.iter().any(|f| name(f) == name(g)))
        .all(|g| g.get("nullable").and_then(Value::as_bool) != Some(false))
}

/// Two `metaData` actions describe the same table (their creation time
/// aside, which a writer may restamp).
pub(crate) fn same_metadata(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("createdTime");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_versions() {
        assert_eq!(
            table_root("sales/_delta_log/00000000000000000001.json"),
            Some("sales/")
        );
        assert_eq!(table_root("a/b/_delta_log/_last_checkpoint"), Some("a/b/"));
        assert_eq!(table_root("_delta_log/00000000000000000000.json"), Some(""));
        assert_eq!(table_root("x_delta_log/1.json"), None);
        assert_eq!(table_root("sales/part-1.parquet"), None);
        assert_eq!(
            commit_version("s/", "s/_delta_log/00000000000000000012.json"),
            Some(12)
        );
        assert_eq!(
            commit_version("s/", "s/_delta_log/00000000000000000010.checkpoint.parquet"),
            None
        );
        assert_eq!(
            commit_path("s/", 3),
            "s/_delta_log/00000000000000000003.json"
        );
        assert_eq!(
            relative_file("a%20b/part%3D1.parquet").as_deref(),
            Some("a b/part=1.parquet")
        );
        assert_eq!(relative_file("s3://bucket/x.parquet"), None);
        // A % before a multi-byte character is kept, not split.
        assert_eq!(
            relative_file("%a\u{e9}.parquet").as_deref(),
            Some("%a\u{e9}.parquet")
        );
    }

    #[test]
    fn a_commit_says_what_it_does() {
        let log = br#"{"commitInfo":{"operation":"DELETE","timestamp":1}}
{"remove":{"path":"a.parquet","dataChange":true}}
{"add":{"path":"b.parquet","dataChange":true}}
{"txn":{"appId":"app","version":3}}
"#;
        let c = Commit::parse(log, "test").unwrap();
        assert_eq!(c.operation, "DELETE");
        assert!(c.rewrites);
        assert!(c.removed.contains("a.parquet") && c.added.contains("b.parquet"));
        assert!(c.app_ids.contains("app"));
        let again = Commit::parse(&c.to_bytes(), "again").unwrap();
        assert_eq!(again.actions, c.actions);
        let compaction = br#"{"remove":{"path":"a.parquet","dataChange":false}}"#;
        assert!(!Commit::parse(compaction, "t").unwrap().rewrites);
        assert!(Commit::parse(b"not json", "t").is_err());
    }

    #[test]
    fn schemas_extend_by_nullable_columns_only() {
        let md = |fields: &str| {
            serde_json::json!({
                "schemaString": format!(r#"{{"type":"struct","fields":[{fields}]}}"#),
                "partitionColumns": []
            })
        };
        let a = r#"{"name":"id","type":"long","nullable":true,"metadata":{}}"#;
        let b = r#"{"name":"x","type":"string","nullable":true,"metadata":{}}"#;
        let b_req = r#"{"name":"x","type":"string","nullable":false,"metadata":{}}"#;
        let a_str = r#"{"name":"id","type":"string","nullable":true,"metadata":{}}"#;
        assert!(schema_extends(&md(a), &md(&format!("{a},{b}"))));
        assert!(!schema_extends(&md(a), &md(&format!("{a},{b_req}"))));
        assert!(!schema_extends(&md(a), &md(a_str)));
        assert!(!schema_extends(&md(&format!("{a},{b}")), &md(a)));
    }
}
