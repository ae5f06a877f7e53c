//! From a manifest to an ordered plan: each stage's SQL parsed once with
//! its parameters bound, the tables it reads, and the stages it waits for.
//! A stage depends on another when it reads that stage's output table by
//! its bare name (or lists it in `after`, for reads the SQL does not show,
//! such as a table name passed to a table function).

use std::collections::{BTreeMap, BTreeSet};

use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::execution::SessionState;
use deltalake::datafusion::sql::parser::Statement;
use deltalake::datafusion::sql::sqlparser::ast;
use sha2::{Digest, Sha256};

use crate::error::{JobsError, Result};
use crate::manifest::{Manifest, Stage};
use crate::params::Params;

/// A parsed query with its parameters bound.
#[derive(Debug, Clone)]
pub struct Query {
    pub statement: Statement,
    pub reads: Vec<TableReference>,
    /// The parameters it uses.
    pub params: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct PlannedStage {
    pub stage: Stage,
    pub query: Query,
    /// SHA-256 of the SQL file's text.
    pub sql_hash: String,
    /// The parameters the stage and its gates use, as canonical JSON: a
    /// change to another parameter does not make this stage run again.
    pub params: String,
    pub gates: Vec<(String, Query)>,
    /// Indexes of the stages this one waits for.
    pub deps: Vec<usize>,
    /// Their output tables: inputs of this stage even when its SQL does not
    /// name them (a table function's argument), so a change to one makes
    /// this stage run again.
    pub dep_outputs: Vec<String>,
}

/// Parses one query, binds `params`, and lists the tables it reads.
pub fn parse_query(state: &SessionState, sql: &str, params: &Params, what: &str) -> Result<Query> {
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(|e| JobsError::InvalidArgument(format!("{what}: {}", e.find_root())))?;
    let inner = match &mut statement {
        Statement::Statement(s) if matches!(**s, ast::Statement::Query(_)) => s,
        _ => {
            return Err(JobsError::InvalidArgument(format!(
                "{what}: must be one query (SELECT, WITH or VALUES), not a statement that writes"
            )));
        }
    };
    let used = params.bind(inner, what)?;
    let reads = state
        .resolve_table_references(&statement)
        .map_err(|e| JobsError::InvalidArgument(format!("{what}: {}", e.find_root())))?;
    Ok(Query {
        statement,
        reads,
        params: used,
    })
}

/// The schema a stage reads the target branch with, as it was when the run
/// started (`target.model_choice`): what the run would replace, to compare
/// with. The run branch itself is where the stage's own outputs land.
pub const TARGET_SCHEMA: &str = "target";

/// True for the parts of a name that mean [`TARGET_SCHEMA`] (an unquoted
/// name in any case, as SQL folds it, or quoted exactly).
fn is_target(part: &ast::ObjectNamePart) -> bool {
    match part {
        ast::ObjectNamePart::Identifier(i) => match i.quote_style {
            None => i.value.eq_ignore_ascii_case(TARGET_SCHEMA),
            Some(_) => i.value == TARGET_SCHEMA,
        },
        _ => false,
    }
}

/// `statement` with every `target.T` read as `"BASE".T`: the commit the
/// run branch was made from.
pub fn at_base(statement: &Statement, base: &str) -> Statement {
    let mut statement = statement.clone();
    if let Statement::Statement(inner) = &mut statement {
        let _ = ast::visit_relations_mut(inner.as_mut(), |name| {
            if name.0.len() == 2 && is_target(&name.0[0]) {
                name.0[0] = ast::ObjectNamePart::Identifier(ast::Ident::with_quote('"', base));
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    statement
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Plans every stage and orders them so each comes after what it reads.
pub fn plan(
    manifest: &Manifest,
    params: &Params,
    state: &SessionState,
) -> Result<Vec<PlannedStage>> {
    let writer: BTreeMap<&str, usize> = manifest
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.output.as_str(), i))
        .collect();
    let by_name: BTreeMap<&str, usize> = manifest
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut planned = Vec::new();
    for (i, stage) in manifest.stages.iter().enumerate() {
        let what = format!("stage {} ({})", stage.name, stage.sql_file.display());
        let query = parse_query(state, &stage.sql, params, &what)?;
        let mut deps: Vec<usize> = query
            .reads
            .iter()
            .filter_map(|r| match r {
                TableReference::Bare { table } => writer.get(table.as_ref()).copied(),
                _ => None,
            })
            .filter(|&d| d != i)
            .collect();
        deps.extend(stage.after.iter().filter_map(|a| by_name.get(a.as_str())));
        deps.sort_unstable();
        deps.dedup();
        let mut gates = Vec::new();
        let mut used = query.params.clone();
        for g in &stage.gates {
            let what = format!("stage {} gate {}", stage.name, g.name);
            let q = parse_query(state, &g.query, params, &what)?;
            used.extend(q.params.iter().cloned());
            gates.push((g.name.clone(), q));
        }
        let dep_outputs = deps
            .iter()
            .map(|&d| manifest.stages[d].output.clone())
            .collect();
        planned.push(PlannedStage {
            stage: stage.clone(),
            query,
            sql_hash: sha256_hex(&stage.sql),
            params: params.only(&used).to_json(),
            gates,
            deps,
            dep_outputs,
        });
    }
    check_acyclic(&planned)?;
    Ok(planned)
}

/// Kahn's algorithm; on a cycle, names the stages caught in it.
fn check_acyclic(stages: &[PlannedStage]) -> Result<()> {
    let mut indegree: Vec<usize> = stages.iter().map(|s| s.deps.len()).collect();
    let mut ready: Vec<usize> = (0..stages.len()).filter(|&i| indegree[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for (j, s) in stages.iter().enumerate() {
            if s.deps.contains(&i) {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if done == stages.len() {
        return Ok(());
    }
    let stuck: Vec<&str> = stages
        .iter()
        .zip(&indegree)
        .filter(|(_, d)| **d > 0)
        .map(|(s, _)| s.stage.name.as_str())
        .collect();
    Err(JobsError::InvalidArgument(format!(
        "the stages {} read each other's outputs in a cycle",
        stuck.join(", ")
    )))
}
