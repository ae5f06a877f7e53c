//! Functional dependencies do not survive `unnest`.
//!
//! DataFusion 55 gives an `Unnest` the functional dependencies of its input
//! unchanged (apache/datafusion#24787, open). After `GROUP BY unique_id`
//! the key `unique_id` is unique; after unnesting each group's forecast it
//! repeats once per step, yet the optimizer still believes it unique, so
//! it drops the later keys of `ORDER BY unique_id, step`, drops grouping
//! keys, and may turn a join on it into a semi join that loses rows.
//!
//! Until the fix ships, the optimizer rules that act on functional
//! dependencies run behind [`Guarded`], which first clears the dependencies
//! of every `Unnest` and recomputes the schemas above it. Clearing is the
//! sound downgrade: after an unnest no column set is known to be unique,
//! and the dependencies of the input would name the wrong columns anyway
//! where a struct is expanded. Plans without an `Unnest` go through
//! untouched (one walk to look for one).

use std::sync::Arc;

use deltalake::datafusion::common::tree_node::{
    Transformed, TreeNode, TreeNodeRecursion, TreeNodeRewriter,
};
use deltalake::datafusion::common::{FunctionalDependencies, Result};
use deltalake::datafusion::logical_expr::{LogicalPlan, Unnest};
use deltalake::datafusion::optimizer::optimizer::{ApplyOrder, Optimizer};
use deltalake::datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The rules of DataFusion's default optimizer that read functional
/// dependencies (sort and group key pruning, join elimination, distinct).
const READS_DEPENDENCIES: &[&str] = &[
    "replace_distinct_aggregate",
    "eliminate_join",
    "eliminate_duplicated_expr",
    "optimize_projections",
];

/// DataFusion's default optimizer rules, those that read functional
/// dependencies guarded.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    Optimizer::new()
        .rules
        .into_iter()
        .map(|r| -> Arc<dyn OptimizerRule + Send + Sync> {
            if READS_DEPENDENCIES.contains(&r.name()) {
                Arc::new(Guarded(r))
            } else {
                r
            }
        })
        .collect()
}

fn has_unnest(plan: &LogicalPlan) -> bool {
    plan.exists(|n| Ok(matches!(n, LogicalPlan::Unnest(_))))
        .unwrap_or(false)
}

/// `plan` with no functional dependency claimed at or above an `Unnest`.
pub fn clear_after_unnest(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if !has_unnest(&plan) {
        return Ok(Transformed::no(plan));
    }
    plan.transform_up_with_subqueries(|node| {
        let node = match node {
            LogicalPlan::Unnest(u) => {
                if u.schema.functional_dependencies().is_empty() {
                    return Ok(Transformed::no(LogicalPlan::Unnest(u)));
                }
                let schema = u
                    .schema
                    .as_ref()
                    .clone()
                    .with_functional_dependencies(FunctionalDependencies::empty())?;
                return Ok(Transformed::yes(LogicalPlan::Unnest(Unnest {
                    schema: Arc::new(schema),
                    ..u
                })));
            }
            other => other,
        };
        // Nodes with their own schema derive its dependencies from their
        // inputs; an input at or above an unnest may have just lost some.
        if node.inputs().iter().any(|i| has_unnest(i)) {
            let before = node.schema().functional_dependencies().clone();
            let node = node.recompute_schema()?;
            let changed = *node.schema().functional_dependencies() != before;
            return Ok(Transformed::new_transformed(node, changed));
        }
        Ok(Transformed::no(node))
    })
}

/// A rule that sees every plan with [`clear_after_unnest`] applied.
#[derive(Debug)]
struct Guarded(Arc<dyn OptimizerRule + Send + Sync>);

struct Apply<'a> {
    order: ApplyOrder,
    rule: &'a dyn OptimizerRule,
    config: &'a dyn OptimizerConfig,
}

impl TreeNodeRewriter for Apply<'_> {
    type Node = LogicalPlan;

    fn f_down(&mut self, node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        if self.order == ApplyOrder::TopDown {
            self.rule.rewrite(node, self.config)
        } else {
            Ok(Transformed::no(node))
        }
    }

    fn f_up(&mut self, node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        if self.order == ApplyOrder::BottomUp {
            self.rule.rewrite(node, self.config)
        } else {
            Ok(Transformed::no(node))
        }
    }
}

impl OptimizerRule for Guarded {
    fn name(&self) -> &str {
        self.0.name()
    }

    /// The guard walks the plan itself, so that the inner rule's walk
    /// starts from the corrected plan.
    fn apply_order(&self) -> Option<ApplyOrder> {
        None
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let cleared = clear_after_unnest(plan)?;
        let was = cleared.transformed;
        let out = match self.0.apply_order() {
            Some(order) => cleared.data.rewrite_with_subqueries(&mut Apply {
                order,
                rule: self.0.as_ref(),
                config,
            })?,
            None => self.0.rewrite(cleared.data, config)?,
        };
        let transformed = out.transformed || was;
        Ok(Transformed::new(
            out.data,
            transformed,
            TreeNodeRecursion::Continue,
        ))
    }
}
