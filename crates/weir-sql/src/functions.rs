//! History as table functions, after Dolt's system tables:
//!
//! | function | rows |
//! |---|---|
//! | `weir_log([ref])` | commits reachable from the ref, newest first |
//! | `weir_branches()`, `weir_tags()` | refs and their commits |
//! | `weir_diff(from, to)` | objects added, removed or changed from `from` to `to` |
//! | `weir_objects(ref [, prefix])` | objects at a ref |
//! | `table_history(table [, ref])` | Delta versions with their lake commit |
//! | `table_diff(table, from, to)` | rows only in one side, with `diff_type` |
//!
//! A ref argument may name another repository as `repo/ref`. Arguments must
//! be string literals; the functions run when the query is planned.

use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, Int64Array, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampSecondArray, UInt64Array,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::Expr;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::scalar::ScalarValue;
use weir_store::{DiffMode, DiffScope, Lake, ListItem, LogOptions, Repo};
use weir_tables::TableRef;

use crate::block_on;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Log,
    Branches,
    Tags,
    Diff,
    Objects,
    TableHistory,
    TableDiff,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Log => "weir_log",
            Kind::Branches => "weir_branches",
            Kind::Tags => "weir_tags",
            Kind::Diff => "weir_diff",
            Kind::Objects => "weir_objects",
            Kind::TableHistory => "table_history",
            Kind::TableDiff => "table_diff",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Kind::Log => "weir_log([ref])",
            Kind::Branches => "weir_branches([repo])",
            Kind::Tags => "weir_tags([repo])",
            Kind::Diff => "weir_diff(from_ref, to_ref)",
            Kind::Objects => "weir_objects(ref [, prefix])",
            Kind::TableHistory => "table_history(table [, ref])",
            Kind::TableDiff => "table_diff(table, from_ref, to_ref)",
        }
    }

    fn arity(self) -> (usize, usize) {
        match self {
            Kind::Log => (0, 1),
            Kind::Branches | Kind::Tags => (0, 1),
            Kind::Diff => (2, 2),
            Kind::Objects => (1, 2),
            Kind::TableHistory => (1, 2),
            Kind::TableDiff => (3, 3),
        }
    }
}

#[derive(Debug)]
struct HistoryFn {
    kind: Kind,
    lake: Arc<Lake>,
    /// Default (repository, ref) of the session.
    default: Option<(String, String)>,
    visible: crate::Visible,
}

pub(crate) fn register(
    ctx: &SessionContext,
    lake: Arc<Lake>,
    default: Option<(String, String)>,
    visible: crate::Visible,
) {
    for kind in [
        Kind::Log,
        Kind::Branches,
        Kind::Tags,
        Kind::Diff,
        Kind::Objects,
        Kind::TableHistory,
        Kind::TableDiff,
    ] {
        ctx.register_udtf(
            kind.name(),
            Arc::new(HistoryFn {
                kind,
                lake: lake.clone(),
                visible: visible.clone(),
                default: default.clone(),
            }),
        );
    }
}

fn plan_err(msg: String) -> DataFusionError {
    DataFusionError::Plan(msg)
}

fn exec(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

fn literal(kind: Kind, e: &Expr) -> Result<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => Err(plan_err(format!(
            "{}: arguments must be string literals, got {other}; usage: {}",
            kind.name(),
            kind.usage()
        ))),
    }
}

fn utf8(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn opt_utf8(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn field(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

fn utc(unit: TimeUnit) -> DataType {
    DataType::Timestamp(unit, Some("UTC".into()))
}

impl HistoryFn {
    /// Splits `repo/ref` (or takes the session's repository).
    fn repo_ref(&self, arg: Option<&str>) -> Result<(Repo, String)> {
        let (repo, reference) = match arg.and_then(|a| a.split_once('/')) {
            Some((r, f)) => (r.to_string(), f.to_string()),
            None => {
                let (r, f) = self.default.clone().ok_or_else(|| {
                    plan_err(format!(
                        "{}: no default repository; name one as 'repo/ref'",
                        self.kind.name()
                    ))
                })?;
                (r, arg.map(str::to_string).unwrap_or(f))
            }
        };
        let repo = self
            .visible
            .repo(&self.lake, &repo)
            .map_err(|e| plan_err(format!("{}: {e}", self.kind.name())))?;
        repo.resolve(&reference)
            .map_err(|e| plan_err(format!("{}: {e}", self.kind.name())))?;
        Ok((repo, reference))
    }

    fn run(&self, args: Vec<String>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let a = |i: usize| args.get(i).map(String::as_str);
        match self.kind {
            Kind::Log => {
                let (repo, r) = self.repo_ref(a(0))?;
                let (commits, _) = repo
                    .log(
                        &r,
                        &LogOptions {
                            amount: usize::MAX >> 1,
                            ..Default::default()
                        },
                    )
                    .map_err(exec)?;
                let schema = Arc::new(Schema::new(vec![
                    field("commit_id", DataType::Utf8, false),
                    field(
                        "parents",
                        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                        false,
                    ),
                    field("committer", DataType::Utf8, false),
                    field("message", DataType::Utf8, false),
                    field("creation_date", utc(TimeUnit::Second), false),
                    field("metadata", DataType::Utf8, false),
                    field("generation", DataType::UInt64, false),
                    field("meta_range_id", DataType::Utf8, false),
                ]));
                let mut parents = ListBuilder::new(StringBuilder::new());
                for c in &commits {
                    for p in &c.parents {
                        parents.values().append_value(p);
                    }
                    parents.append(true);
                }
                let cols: Vec<ArrayRef> = vec![
                    utf8(commits.iter().map(|c| c.id.clone()).collect()),
                    Arc::new(parents.finish()),
                    utf8(commits.iter().map(|c| c.committer.clone()).collect()),
                    utf8(commits.iter().map(|c| c.message.clone()).collect()),
                    Arc::new(
                        TimestampSecondArray::from(
                            commits.iter().map(|c| c.created).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    utf8(
                        commits
                            .iter()
                            .map(|c| serde_json::to_string(&c.metadata).unwrap_or_default())
                            .collect(),
                    ),
                    Arc::new(UInt64Array::from(
                        commits.iter().map(|c| c.generation).collect::<Vec<_>>(),
                    )),
                    utf8(commits.iter().map(|c| c.metarange.clone()).collect()),
                ];
                Ok((schema.clone(), vec![RecordBatch::try_new(schema, cols)?]))
            }
            Kind::Branches | Kind::Tags => {
                let repo = match a(0) {
                    Some(name) => self
                        .visible
                        .repo(&self.lake, name)
                        .map_err(|e| plan_err(e.to_string()))?,
                    None => self.repo_ref(None)?.0,
                };
                let refs = if matches!(self.kind, Kind::Branches) {
                    repo.list_branches()
                } else {
                    repo.list_tags()
                }
                .map_err(exec)?;
                let schema = Arc::new(Schema::new(vec![
                    field("name", DataType::Utf8, false),
                    field("commit_id", DataType::Utf8, false),
                ]));
                let cols = vec![
                    utf8(refs.iter().map(|r| r.0.clone()).collect()),
                    utf8(refs.iter().map(|r| r.1.clone()).collect()),
                ];
                Ok((schema.clone(), vec![RecordBatch::try_new(schema, cols)?]))
            }
            Kind::Diff => {
                let (repo, from) = self.repo_ref(a(0))?;
                let (_, to) = self.repo_ref(a(1))?;
                let changes = block_on(repo.diff(&from, &to, DiffMode::TwoDot, &DiffScope::all()))
                    .map_err(exec)?;
                let schema = Arc::new(Schema::new(vec![
                    field("path", DataType::Utf8, false),
                    field("diff_type", DataType::Utf8, false),
                    field("size_bytes", DataType::UInt64, true),
                    field("from_checksum", DataType::Utf8, true),
                    field("to_checksum", DataType::Utf8, true),
                ]));
                let cols: Vec<ArrayRef> = vec![
                    utf8(changes.iter().map(|d| d.path.clone()).collect()),
                    utf8(
                        changes
                            .iter()
                            .map(|d| d.kind.as_str().to_string())
                            .collect(),
                    ),
                    Arc::new(UInt64Array::from(
                        changes.iter().map(|d| d.size()).collect::<Vec<_>>(),
                    )),
                    opt_utf8(
                        changes
                            .iter()
                            .map(|d| d.left.as_ref().map(|e| e.checksum_hex()))
                            .collect(),
                    ),
                    opt_utf8(
                        changes
                            .iter()
                            .map(|d| d.right.as_ref().map(|e| e.checksum_hex()))
                            .collect(),
                    ),
                ];
                Ok((schema.clone(), vec![RecordBatch::try_new(schema, cols)?]))
            }
            Kind::Objects => {
                let (repo, r) = self.repo_ref(a(0))?;
                let prefix = a(1).unwrap_or("").to_string();
                let mut items = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let (mut page, more) =
                        block_on(repo.list_objects(&r, &prefix, false, after.as_deref(), 1000))
                            .map_err(exec)?;
                    after = page.last().map(|i| i.path().to_string());
                    items.append(&mut page);
                    if !more {
                        break;
                    }
                }
                let entries: Vec<(String, weir_store::Entry)> = items
                    .into_iter()
                    .filter_map(|i| match i {
                        ListItem::Object { path, entry } => Some((path, entry)),
                        ListItem::CommonPrefix { .. } => None,
                    })
                    .collect();
                let schema = Arc::new(Schema::new(vec![
                    field("path", DataType::Utf8, false),
                    field("size_bytes", DataType::UInt64, false),
                    field("checksum", DataType::Utf8, false),
                    field("content_type", DataType::Utf8, false),
                    field("mtime", utc(TimeUnit::Microsecond), false),
                    field("physical_address", DataType::Utf8, false),
                ]));
                let cols: Vec<ArrayRef> = vec![
                    utf8(entries.iter().map(|e| e.0.clone()).collect()),
                    Arc::new(UInt64Array::from(
                        entries.iter().map(|e| e.1.size).collect::<Vec<_>>(),
                    )),
                    utf8(entries.iter().map(|e| e.1.checksum_hex()).collect()),
                    utf8(entries.iter().map(|e| e.1.content_type.clone()).collect()),
                    Arc::new(
                        TimestampMicrosecondArray::from(
                            entries.iter().map(|e| e.1.mtime_us).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    utf8(entries.iter().map(|e| e.1.address.clone()).collect()),
                ];
                Ok((schema.clone(), vec![RecordBatch::try_new(schema, cols)?]))
            }
            Kind::TableHistory => {
                let (repo, r) = self.repo_ref(a(1))?;
                let t = TableRef::new(&repo, &r, &args[0]).map_err(|e| plan_err(e.to_string()))?;
                let versions = block_on(weir_tables::table_history(&t))
                    .map_err(|e| plan_err(format!("table_history: {e}")))?;
                let schema = Arc::new(Schema::new(vec![
                    field("version", DataType::Int64, false),
                    field("timestamp", utc(TimeUnit::Millisecond), true),
                    field("operation", DataType::Utf8, true),
                    field("parameters", DataType::Utf8, true),
                    field("lake_commit", DataType::Utf8, true),
                ]));
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from(
                        versions
                            .iter()
                            .map(|v| v.version as i64)
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(
                        TimestampMillisecondArray::from(
                            versions.iter().map(|v| v.timestamp).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    opt_utf8(versions.iter().map(|v| v.operation.clone()).collect()),
                    opt_utf8(versions.iter().map(|v| v.parameters.clone()).collect()),
                    opt_utf8(versions.iter().map(|v| v.lake_commit.clone()).collect()),
                ];
                Ok((schema.clone(), vec![RecordBatch::try_new(schema, cols)?]))
            }
            Kind::TableDiff => {
                let (repo, from) = self.repo_ref(a(1))?;
                let (_, to) = self.repo_ref(a(2))?;
                let ta =
                    TableRef::new(&repo, &from, &args[0]).map_err(|e| plan_err(e.to_string()))?;
                let tb =
                    TableRef::new(&repo, &to, &args[0]).map_err(|e| plan_err(e.to_string()))?;
                block_on(weir_tables::table_diff(&ta, &tb))
                    .map_err(|e| plan_err(format!("table_diff: {e}")))
            }
        }
    }
}

impl TableFunctionImpl for HistoryFn {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let (lo, hi) = self.kind.arity();
        if exprs.len() < lo || exprs.len() > hi {
            return Err(plan_err(format!(
                "{} takes {} argument(s); usage: {}",
                self.kind.name(),
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo} to {hi}")
                },
                self.kind.usage()
            )));
        }
        let args = exprs
            .iter()
            .map(|e| literal(self.kind, e))
            .collect::<Result<Vec<_>>>()?;
        let (schema, batches) = self.run(args)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
    }
}
