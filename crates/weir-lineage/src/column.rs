//! Column lineage from a DataFusion logical plan: for every output column,
//! the table columns it is computed from and how (OpenLineage's DIRECT
//! transformations: IDENTITY, TRANSFORMATION, AGGREGATION), plus the columns
//! that shape every row without flowing into one (INDIRECT: FILTER, JOIN,
//! GROUP_BY, SORT, WINDOW). Walk the optimized plan: the optimizer turns
//! subqueries into joins, so their tables show up as ordinary inputs.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use deltalake::datafusion::common::{Column, DFSchema, TableReference};
use deltalake::datafusion::logical_expr::{Expr, JoinType, LogicalPlan};

/// How an output column depends on an input column, ordered so that the
/// strongest applies when several paths meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direct {
    Identity,
    Transformation,
    Aggregation,
}

impl Direct {
    pub fn as_str(self) -> &'static str {
        match self {
            Direct::Identity => "IDENTITY",
            Direct::Transformation => "TRANSFORMATION",
            Direct::Aggregation => "AGGREGATION",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indirect {
    Filter,
    Join,
    GroupBy,
    Sort,
    Window,
}

impl Indirect {
    pub fn as_str(self) -> &'static str {
        match self {
            Indirect::Filter => "FILTER",
            Indirect::Join => "JOIN",
            Indirect::GroupBy => "GROUP_BY",
            Indirect::Sort => "SORT",
            Indirect::Window => "WINDOW",
        }
    }
}

/// A column of an input dataset (the name the resolver gave its table).
pub type SourceColumn = (String, String);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnLineage {
    /// Output column → its direct sources.
    pub fields: Vec<(String, BTreeMap<SourceColumn, Direct>)>,
    /// Columns that affect which rows appear or how they are grouped.
    pub indirect: BTreeMap<SourceColumn, BTreeSet<Indirect>>,
}

type Sources = BTreeMap<SourceColumn, Direct>;

struct Node {
    cols: Vec<Sources>,
    indirect: BTreeMap<SourceColumn, BTreeSet<Indirect>>,
}

/// The lineage of `plan`'s output columns. `resolve` names the dataset a
/// table scan reads, or `None` for scans that are not datasets (table
/// functions, in-memory tables): their columns drop out of the lineage.
pub fn column_lineage(
    plan: &LogicalPlan,
    resolve: &dyn Fn(&TableReference) -> Option<String>,
) -> ColumnLineage {
    let node = walk(plan, resolve);
    let fields = plan
        .schema()
        .fields()
        .iter()
        .zip(node.cols)
        .map(|(f, s)| (f.name().clone(), s))
        .collect();
    ColumnLineage {
        fields,
        indirect: node.indirect,
    }
}

fn merge_into(into: &mut Sources, from: &Sources, at_least: Direct) {
    for (k, d) in from {
        let d = (*d).max(at_least);
        let e = into.entry(k.clone()).or_insert(d);
        *e = (*e).max(d);
    }
}

fn merge_indirect(
    into: &mut BTreeMap<SourceColumn, BTreeSet<Indirect>>,
    from: BTreeMap<SourceColumn, BTreeSet<Indirect>>,
) {
    for (k, v) in from {
        into.entry(k).or_default().extend(v);
    }
}

/// The sources of the input columns `expr` refers to. A bare column (or an
/// alias of one) keeps its transformation; anything computed becomes at
/// least `computed`.
fn expr_sources(expr: &Expr, schema: &DFSchema, cols: &[Sources], computed: Direct) -> Sources {
    let mut out = Sources::new();
    let bare = matches!(expr.clone().unalias_nested().data, Expr::Column(_));
    for c in expr.column_refs() {
        if let Some(s) = lookup(schema, cols, c) {
            merge_into(&mut out, s, if bare { Direct::Identity } else { computed });
        }
    }
    out
}

fn lookup<'a>(schema: &DFSchema, cols: &'a [Sources], c: &Column) -> Option<&'a Sources> {
    schema
        .index_of_column(c)
        .ok()
        .or_else(|| schema.index_of_column_by_name(None, &c.name))
        .and_then(|i| cols.get(i))
}

fn mark(
    indirect: &mut BTreeMap<SourceColumn, BTreeSet<Indirect>>,
    exprs: &[&Expr],
    schema: &DFSchema,
    cols: &[Sources],
    kind: Indirect,
) {
    for e in exprs {
        for c in e.column_refs() {
            if let Some(s) = lookup(schema, cols, c) {
                for k in s.keys() {
                    indirect.entry(k.clone()).or_default().insert(kind);
                }
            }
        }
    }
}

fn walk(plan: &LogicalPlan, resolve: &dyn Fn(&TableReference) -> Option<String>) -> Node {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let dataset = resolve(&scan.table_name);
            let cols = scan
                .projected_schema
                .fields()
                .iter()
                .map(|f| match &dataset {
                    Some(d) => Sources::from([((d.clone(), f.name().clone()), Direct::Identity)]),
                    None => Sources::new(),
                })
                .collect::<Vec<_>>();
            let mut indirect = BTreeMap::new();
            if let Some(d) = &dataset {
                for f in &scan.filters {
                    for c in f.column_refs() {
                        indirect
                            .entry((d.clone(), c.name.clone()))
                            .or_insert_with(BTreeSet::new)
                            .insert(Indirect::Filter);
                    }
                }
            }
            Node { cols, indirect }
        }
        LogicalPlan::Projection(p) => {
            let input = walk(&p.input, resolve);
            let schema = p.input.schema();
            let cols = p
                .expr
                .iter()
                .map(|e| expr_sources(e, schema, &input.cols, Direct::Transformation))
                .collect();
            Node {
                cols,
                indirect: input.indirect,
            }
        }
        LogicalPlan::Filter(f) => {
            let mut input = walk(&f.input, resolve);
            mark(
                &mut input.indirect,
                &[&f.predicate],
                f.input.schema(),
                &input.cols,
                Indirect::Filter,
            );
            input
        }
        LogicalPlan::Aggregate(a) => {
            let mut input = walk(&a.input, resolve);
            let schema = a.input.schema();
            let mut cols: Vec<Sources> = a
                .group_expr
                .iter()
                .map(|e| expr_sources(e, schema, &input.cols, Direct::Transformation))
                .chain(
                    a.aggr_expr
                        .iter()
                        .map(|e| expr_sources(e, schema, &input.cols, Direct::Aggregation)),
                )
                .collect();
            // Grouping sets add an internal grouping id column at the end.
            cols.resize(a.schema.fields().len(), Sources::new());
            let groups: Vec<&Expr> = a.group_expr.iter().collect();
            mark(
                &mut input.indirect,
                &groups,
                schema,
                &input.cols,
                Indirect::GroupBy,
            );
            Node {
                cols,
                indirect: input.indirect,
            }
        }
        LogicalPlan::Window(w) => {
            let mut input = walk(&w.input, resolve);
            let schema = w.input.schema();
            let mut cols = input.cols.clone();
            for e in &w.window_expr {
                cols.push(expr_sources(e, schema, &input.cols, Direct::Aggregation));
                // Partition and order keys shape every value of the window.
                let _ = e.apply(|sub| {
                    if let Expr::WindowFunction(wf) = sub {
                        let keys: Vec<&Expr> = wf
                            .params
                            .partition_by
                            .iter()
                            .chain(wf.params.order_by.iter().map(|s| &s.expr))
                            .collect();
                        mark(
                            &mut input.indirect,
                            &keys,
                            schema,
                            &input.cols,
                            Indirect::Window,
                        );
                    }
                    Ok(TreeNodeRecursion::Continue)
                });
            }
            Node {
                cols,
                indirect: input.indirect,
            }
        }
        LogicalPlan::Sort(s) => {
            let mut input = walk(&s.input, resolve);
            let keys: Vec<&Expr> = s.expr.iter().map(|e| &e.expr).collect();
            mark(
                &mut input.indirect,
                &keys,
                s.input.schema(),
                &input.cols,
                Indirect::Sort,
            );
            input
        }
        LogicalPlan::Join(j) => {
            let left = walk(&j.left, resolve);
            let right = walk(&j.right, resolve);
            let joined = j.left.schema().join(j.right.schema()).ok();
            let both: Vec<Sources> = left.cols.iter().chain(&right.cols).cloned().collect();
            let mut indirect = left.indirect;
            merge_indirect(&mut indirect, right.indirect);
            if let Some(schema) = &joined {
                let keys: Vec<&Expr> =
                    j.on.iter()
                        .flat_map(|(l, r)| [l, r])
                        .chain(j.filter.iter())
                        .collect();
                mark(&mut indirect, &keys, schema, &both, Indirect::Join);
            }
            let cols = match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                    let mut c = left.cols;
                    c.resize(j.schema.fields().len(), Sources::new());
                    c
                }
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                    let mut c = right.cols;
                    c.resize(j.schema.fields().len(), Sources::new());
                    c
                }
                _ => both,
            };
            Node { cols, indirect }
        }
        LogicalPlan::Union(u) => {
            let mut cols = vec![Sources::new(); u.schema.fields().len()];
            let mut indirect = BTreeMap::new();
            for i in &u.inputs {
                let n = walk(i, resolve);
                for (c, s) in cols.iter_mut().zip(&n.cols) {
                    merge_into(c, s, Direct::Identity);
                }
                merge_indirect(&mut indirect, n.indirect);
            }
            Node { cols, indirect }
        }
        LogicalPlan::Unnest(u) => {
            let input = walk(&u.input, resolve);
            let exploded: BTreeSet<usize> = u
                .list_type_columns
                .iter()
                .map(|(i, _)| *i)
                .chain(u.struct_type_columns.iter().copied())
                .collect();
            let cols = u
                .dependency_indices
                .iter()
                .map(|&i| {
                    let mut s = Sources::new();
                    if let Some(src) = input.cols.get(i) {
                        let d = if exploded.contains(&i) {
                            Direct::Transformation
                        } else {
                            Direct::Identity
                        };
                        merge_into(&mut s, src, d);
                    }
                    s
                })
                .collect();
            Node {
                cols,
                indirect: input.indirect,
            }
        }
        LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Distinct(_)
        | LogicalPlan::Repartition(_)
        | LogicalPlan::Subquery(_) => passthrough(plan, resolve),
        other => fallback(other, resolve),
    }
}

/// Nodes that keep their single input's columns in order.
fn passthrough(plan: &LogicalPlan, resolve: &dyn Fn(&TableReference) -> Option<String>) -> Node {
    match plan.inputs().first() {
        Some(input) => {
            let mut n = walk(input, resolve);
            n.cols.resize(plan.schema().fields().len(), Sources::new());
            n
        }
        None => fallback(plan, resolve),
    }
}

/// Anything else: each output column depends on every input column
/// (a transformation), which over-approximates but never hides a source.
fn fallback(plan: &LogicalPlan, resolve: &dyn Fn(&TableReference) -> Option<String>) -> Node {
    let mut all = Sources::new();
    let mut indirect = BTreeMap::new();
    for input in plan.inputs() {
        let n = walk(input, resolve);
        for s in &n.cols {
            merge_into(&mut all, s, Direct::Transformation);
        }
        merge_indirect(&mut indirect, n.indirect);
    }
    Node {
        cols: vec![all; plan.schema().fields().len()],
        indirect,
    }
}
