//! What a tenant's SQL session costs to open. `POST /api/v1/sql` used to
//! open one session that saw the whole lake; a caller now gets a session
//! that sees only the repositories its policies let it query (the lake's
//! repositories listed, one authorization decision each) and weir's own
//! tables as its tenant allows. Both are timed here, in one process, on
//! the same lake, as the handler does them before planning.
//!
//! `cargo run --release -p weir-bench -- session [REPOS]`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use weir_server::authz::DEFAULT_TENANT;
use weir_server::authz::model::{Decision, Model, Resource};
use weir_sql::{SqlOptions, SystemTables};
use weir_store::Lake;

const ROUNDS: usize = 7;
const PER_ROUND: usize = 300;

pub fn run(args: &[String]) {
    let repos: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().expect("temporary directory");
    let lake = Arc::new(Lake::init(&dir.path().join("lake")).expect("lake"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut model = Model::bootstrap(["alice"], 0);
    let made = model
        .add_tenant("acme", 0)
        .and_then(|_| model.create_user("eve", "acme", 0).map(|_| ()))
        .and_then(|_| model.add_to_group("eve", "Admins"));
    made.unwrap_or_else(|e| panic!("{e}"));
    // Half the lake is the default tenant's, half acme's.
    for i in 0..repos {
        let name = format!("repo-{i:04}");
        rt.block_on(lake.create_repo(&name, "main", None, "bench"))
            .expect("repository");
        if i % 2 == 1 {
            model.repos.insert(name, "acme".into());
        }
    }
    let opts = |repo: &str| SqlOptions {
        repo: Some(repo.to_string()),
        reference: None,
    };

    let whole = median(|| {
        weir_sql::read_only_session(lake.clone(), &opts("repo-0000")).expect("session");
    });
    let scoped = |user: &'static str, repo: &'static str| {
        let (lake, model) = (lake.clone(), &model);
        median(move || {
            let tenant = model.user_tenant(user).unwrap_or(DEFAULT_TENANT);
            let seen: HashSet<String> = lake
                .list_repos()
                .expect("repositories")
                .into_iter()
                .map(|r| r.name)
                .filter(|n| model.decide(user, "sql:Query", &Resource::repo(n)) == Decision::Allow)
                .collect();
            let lineage = model.decide(user, "lineage:Read", &Resource::Lineage) == Decision::Allow;
            let system = SystemTables {
                records: lineage && tenant == DEFAULT_TENANT,
                lineage: lineage.then(|| Some(tenant.to_string())),
                usage: model.decide(user, "admin:ReadUsage", &Resource::Lake) == Decision::Allow,
            };
            weir_sql::scoped_session(lake.clone(), &opts(repo), seen, system).expect("session");
        })
    };
    let default_admin = scoped("alice", "repo-0000");
    let other_admin = scoped("eve", "repo-0001");

    println!(
        "| SQL session open, {repos} repositories | median µs | more than the whole-lake session |"
    );
    println!("|---|---|---|");
    println!("| whole lake (before tenants) | {whole:.0} | |");
    for (who, t) in [
        ("default tenant's admin", default_admin),
        ("another tenant's admin", other_admin),
    ] {
        println!("| {who} | {t:.0} | {:+.0} µs |", t - whole);
    }
}

/// The median over rounds of the mean time of one call, in µs.
fn median(mut f: impl FnMut()) -> f64 {
    for _ in 0..PER_ROUND / 10 {
        f();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..PER_ROUND {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}
