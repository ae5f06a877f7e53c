//! Rendering results: aligned text for people, lakeFS-shaped JSON for
//! scripts (so tools written against lakectl's JSON keep working).

use std::collections::BTreeMap;
pub use weir_server::shapes::{commit_json, diff_json, ref_json, repo_json, stats_json};

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use weir_store::{CommitRecord, DiffEntry, ListItem};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn time(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn print_commit(c: &CommitRecord) {
    println!("ID:            {}", c.id);
    println!("Author:        {}", c.committer);
    println!("Date:          {}", time(c.created));
    if c.parents.len() > 1 {
        println!("Merge:         {}", c.parents.join(" "));
    }
    if !c.metadata.is_empty() {
        for (k, v) in &c.metadata {
            println!("Meta:          {k} = {v}");
        }
    }
    println!();
    for line in c.message.lines() {
        println!("    {line}");
    }
    println!();
}

pub fn print_diff(d: &DiffEntry) {
    let sign = match d.kind {
        weir_store::DiffKind::Added => "+ added  ",
        weir_store::DiffKind::Removed => "- removed",
        weir_store::DiffKind::Changed => "~ changed",
    };
    println!("{sign} {}", d.path);
}

pub fn list_json(items: &[ListItem]) -> Vec<Value> {
    items
        .iter()
        .map(|i| match i {
            ListItem::Object { path, entry } => stats_json(path, entry),
            ListItem::CommonPrefix { path } => {
                json!({ "path": path, "path_type": "common_prefix" })
            }
        })
        .collect()
}

/// Parses repeated `k=v` options into a map, rejecting malformed ones.
pub fn parse_meta(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                weir_store::StoreError::InvalidArgument(format!("metadata {p:?} is not KEY=VALUE"))
            })?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}
