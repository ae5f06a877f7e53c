//! Authorization: the policy model, the route table, and what a tenant's
//! SQL session and listings show (the route matrix is in `matrix`).

use weir_server::authz::DEFAULT_TENANT;
use weir_server::authz::model::{
    Decision, Effect, Model, Policy, Resource, Statement, Tenant, User, glob,
};
use weir_server::authz::routes::{param, resource, rule};

fn model() -> Model {
    let mut m = Model::bootstrap(["alice"], 0);
    m.tenants.insert("acme".into(), Tenant::default());
    for (u, t, g) in [
        ("bob", DEFAULT_TENANT, "Developers"),
        ("vic", DEFAULT_TENANT, "Viewers"),
        ("eve", "acme", "Admins"),
    ] {
        m.users.insert(
            u.into(),
            User {
                tenant: t.into(),
                groups: [g.to_string()].into(),
                ..Default::default()
            },
        );
    }
    m.repos.insert("acmerepo".into(), "acme".into());
    m
}

#[test]
fn globs() {
    assert!(glob("*", ""));
    assert!(glob("fs:*", "fs:ReadObject"));
    assert!(!glob("fs:*", "repo:Read"));
    assert!(glob(
        "weir:repository/d*/branch/*",
        "weir:repository/demand/branch/main"
    ));
    assert!(!glob("weir:repository/demand", "weir:repository/demand2"));
    assert!(glob("a*b*c", "aXbYbZc"));
    assert!(glob("weir:lake", "weir:lake") && !glob("weir:lake", "weir:lakes"));
    assert!(glob("weir:*", "weir:") && !glob("weir:*", "weir"));
    assert!(glob("**", "x") && glob("a**", "a") && !glob("a**", "b"));
    assert!(glob("*main", "weir:repository/d/branch/main") && !glob("*main", "mainx"));
}

#[test]
fn tenants_roles_and_deny_beating_allow() {
    let m = model();
    let demand = Resource::repo("demand");
    assert_eq!(m.decide("alice", "repo:Delete", &demand), Decision::Allow);
    assert_eq!(m.decide("bob", "repo:Delete", &demand), Decision::Deny);
    assert_eq!(m.decide("bob", "fs:WriteObject", &demand), Decision::Allow);
    assert_eq!(m.decide("vic", "fs:WriteObject", &demand), Decision::Deny);
    assert_eq!(m.decide("vic", "fs:ReadObject", &demand), Decision::Allow);
    // Across tenants: hidden, even to an admin.
    assert_eq!(m.decide("eve", "fs:ReadObject", &demand), Decision::Hidden);
    assert_eq!(
        m.decide("alice", "fs:ReadObject", &Resource::repo("acmerepo")),
        Decision::Hidden
    );
    assert_eq!(
        m.decide("eve", "repo:Delete", &Resource::repo("acmerepo")),
        Decision::Allow
    );
    assert_eq!(
        m.decide("eve", "admin:ReadMetrics", &Resource::Lake),
        Decision::Deny
    );
    // Lineage is each tenant's own graph.
    assert_eq!(
        m.decide("eve", "lineage:Read", &Resource::Lineage),
        Decision::Allow
    );
    assert_eq!(
        m.decide("alice", "admin:ReadMetrics", &Resource::Lake),
        Decision::Allow
    );
    assert_eq!(
        m.decide("bob", "admin:ReadMetrics", &Resource::Lake),
        Decision::Deny
    );
    assert_eq!(m.decide("nobody", "repo:Read", &demand), Decision::Deny);
    // A deny beats the Developers' allow. (A model decides by the rules it
    // gathered at its first decision: changes go to a copy, as the server
    // makes them.)
    let mut m = m.clone();
    m.tenants.get_mut(DEFAULT_TENANT).unwrap().policies.insert(
        "NoProd".into(),
        Policy {
            id: "NoProd".into(),
            statement: vec![Statement {
                effect: Effect::Deny,
                action: vec!["fs:WriteObject".into()],
                resource: "weir:repository/demand/branch/prod".into(),
            }],
        },
    );
    m.users
        .get_mut("bob")
        .unwrap()
        .policies
        .insert("NoProd".into());
    assert_eq!(
        m.decide("bob", "fs:WriteObject", &Resource::branch("demand", "prod")),
        Decision::Deny
    );
    assert_eq!(
        m.decide("bob", "fs:WriteObject", &Resource::branch("demand", "dev")),
        Decision::Allow
    );
}

/// A resource whose name is longer than a decision's buffer is decided
/// the same as a short one.
#[test]
fn long_names_are_decided_alike() {
    let mut m = model();
    let long = "b".repeat(300);
    let bob = m.users.get_mut("bob").unwrap();
    bob.policies.insert("NoLong".into());
    m.tenants.get_mut(DEFAULT_TENANT).unwrap().policies.insert(
        "NoLong".into(),
        Policy {
            id: "NoLong".into(),
            statement: vec![Statement {
                effect: Effect::Deny,
                action: vec!["fs:WriteObject".into()],
                resource: format!("weir:repository/demand/branch/{long}"),
            }],
        },
    );
    let on = |b: &str| Resource::branch("demand", b);
    assert_eq!(
        m.decide("bob", "fs:WriteObject", &on(&long)),
        Decision::Deny
    );
    assert_eq!(
        m.decide("bob", "fs:ReadObject", &on(&long)),
        Decision::Allow
    );
    assert_eq!(
        m.decide("bob", "fs:WriteObject", &on("main")),
        Decision::Allow
    );
    assert_eq!(
        on(&long).arn(),
        format!("weir:repository/demand/branch/{long}")
    );
}

#[test]
fn route_parameters_come_from_the_right() {
    let t = "/api/v1/repositories/{repo}/refs/{source}/merge/{dest}";
    let u = "/repositories/demand/refs/dev/merge/ma%2Fin";
    assert_eq!(param(t, u, "repo").as_deref(), Some("demand"));
    assert_eq!(param(t, u, "dest").as_deref(), Some("ma/in"));
    let r = rule("POST", t).unwrap();
    assert_eq!(
        resource(&r, t, u, DEFAULT_TENANT),
        Some(Resource::branch("demand", "ma/in"))
    );
    assert!(rule("PATCH", t).is_none());
}

/// A tenant's SQL session is a lake without the other tenants: their
/// repositories are in no catalog, no `information_schema`, no table
/// function, and the errors are those of a name that does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn sql_sees_only_the_callers_tenant() {
    let f = crate::matrix::fixture().await;
    let sql = |who: &'static str, q: &'static str| {
        let f = &f;
        async move {
            f.send_raw(who, "POST", "/api/v1/sql", Some(("text/plain", q.into())))
                .await
        }
    };
    let (st, own) = sql("eve", "SELECT item, qty FROM acmerepo.main.orders").await;
    assert_eq!(st, 200, "{own}");
    assert!(own.contains("2.0") || own.contains('2'), "{own}");
    for q in [
        "SELECT * FROM demand.main.sales",
        "SELECT * FROM acmerepo.main.orders o JOIN demand.main.sales s ON o.item = s.item",
        "SELECT * FROM weir_log('demand/main')",
        "SELECT * FROM weir_branches('demand')",
        "SELECT * FROM weir_objects('demand/main')",
        "SELECT * FROM table_history('demand.main.sales')",
        "SELECT * FROM drift_report('SELECT qty FROM acmerepo.main.orders', 'SELECT qty FROM demand.main.sales')",
        "SELECT * FROM weir_runs()",
    ] {
        let (st, text) = sql("eve", q).await;
        assert!((400..500).contains(&st) && st != 403, "{q}: {st} {text}");
    }
    for q in [
        "SELECT table_catalog, table_schema, table_name FROM information_schema.tables",
        "SHOW TABLES",
        "SELECT catalog_name FROM information_schema.schemata",
    ] {
        let (st, text) = sql("eve", q).await;
        assert_eq!(st, 200, "{q}: {text}");
        assert!(
            !text.contains("demand") && !text.contains("sales"),
            "{q}: {text}"
        );
        assert!(text.contains("acmerepo"), "{q}: {text}");
        let (st, text) = sql("admin", q).await;
        assert_eq!(st, 200, "{q}: {text}");
        assert!(
            text.contains("demand") && !text.contains("acmerepo"),
            "{q}: {text}"
        );
    }
    // The default tenant does not see acme's repository either.
    let (st, text) = sql("viewer", "SELECT * FROM acmerepo.main.orders").await;
    assert!((400..500).contains(&st) && st != 403, "{st} {text}");
    // Listings show each tenant its own.
    let (_, eve) = f.send("eve", "GET", "/api/v1/repositories", None).await;
    assert!(eve.contains("acmerepo") && !eve.contains("demand"), "{eve}");
    let (_, alice) = f.send("admin", "GET", "/api/v1/repositories", None).await;
    assert!(
        alice.contains("demand") && !alice.contains("acmerepo"),
        "{alice}"
    );
    // A name another tenant holds is taken, without saying whose.
    let (st, text) = f
        .send(
            "admin",
            "POST",
            "/api/v1/repositories",
            Some(serde_json::json!({"name": "acmerepo", "storage_namespace": "local://x"})),
        )
        .await;
    assert_eq!(st, 409, "{text}");
    assert!(!text.contains("acme\""), "{text}");
    // The other tenant's admin may do anything with its own.
    assert_eq!(
        f.send("eve", "DELETE", "/api/v1/repositories/acmerepo", None)
            .await
            .0,
        204
    );
    assert_eq!(
        f.send("eve", "GET", "/api/v1/repositories/acmerepo", None)
            .await
            .0,
        404
    );
}

/// Each tenant has its own lineage graph: events another tenant posts,
/// even naming the first one's datasets, are not in the first one's
/// graph, and a ref of the first one's repository is not there for it.
#[tokio::test(flavor = "multi_thread")]
async fn lineage_is_each_tenants_own() {
    let f = crate::matrix::fixture().await;
    let event = |job: &str, output: &str| {
        serde_json::json!({
            "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
            "run": {"runId": "01890000-0000-7000-8000-000000000001"},
            "job": {"namespace": "airflow", "name": job},
            "inputs": [], "outputs": [{"namespace": "weir://demand", "name": output}],
            "producer": "test", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        })
    };
    let post = |who: &'static str, body: serde_json::Value| {
        let f = &f;
        async move { f.send(who, "POST", "/api/v1/lineage", Some(body)).await.0 }
    };
    assert_eq!(post("admin", event("alice_load", "sales")).await, 201);
    // Acme's admin claims to have written the default tenant's table.
    assert_eq!(post("eve", event("eve_forgery", "sales")).await, 201);

    let read = |who: &'static str, uri: &'static str| {
        let f = &f;
        async move { f.send(who, "GET", uri, None).await }
    };
    let graph = "/api/v1/lineage?nodeId=dataset:weir://demand:sales&depth=5";
    let (st, alice) = read("admin", graph).await;
    assert_eq!(st, 200, "{alice}");
    assert!(
        alice.contains("alice_load") && !alice.contains("eve_forgery"),
        "{alice}"
    );
    let (_, events) = read("viewer", "/api/v1/events/lineage").await;
    assert!(
        events.contains("alice_load") && !events.contains("eve_forgery"),
        "{events}"
    );
    let (st, eve) = read("eve", "/api/v1/events/lineage").await;
    assert_eq!(st, 200, "{eve}");
    assert!(
        eve.contains("eve_forgery") && !eve.contains("alice_load"),
        "{eve}"
    );
    for uri in ["/api/v1/namespaces", "/api/v1/search?q=load"] {
        let (st, text) = read("eve", uri).await;
        assert_eq!(st, 200, "{uri}: {text}");
        assert!(!text.contains("alice_load"), "{uri}: {text}");
    }
    // asOf a ref of a repository acme cannot see: not there, as a missing one.
    let (st, text) = read(
        "eve",
        "/api/v1/lineage?nodeId=dataset:weir://demand:sales&asOf=main",
    )
    .await;
    assert_eq!(st, 404, "{text}");
    let (st, _) = read(
        "eve",
        "/api/v1/lineage?nodeId=dataset:weir://nosuchrepo:sales&asOf=main",
    )
    .await;
    assert_eq!(st, 404);

    // In SQL, weir_lineage() walks the caller's tenant's events over the
    // repositories it sees; the lake-wide run records stay the default
    // tenant's.
    let sql = |who: &'static str, q: &'static str| {
        let f = &f;
        async move {
            f.send_raw(who, "POST", "/api/v1/sql", Some(("text/plain", q.into())))
                .await
        }
    };
    let (st, text) = sql(
        "eve",
        "SELECT * FROM weir_lineage('orders', 'upstream', 2, NULL, 'acmerepo/main')",
    )
    .await;
    assert_eq!(st, 200, "{text}");
    let (st, text) = sql(
        "eve",
        "SELECT * FROM weir_lineage('sales', 'upstream', 2, NULL, 'demand/main')",
    )
    .await;
    assert!((400..500).contains(&st) && st != 403, "{st} {text}");
    assert!(text.contains("not found"), "{text}");
    for q in [
        "SELECT * FROM weir_audit()",
        "SELECT * FROM weir_schedule_runs()",
    ] {
        let (st, text) = sql("eve", q).await;
        assert!((400..500).contains(&st), "{q}: {st} {text}");
    }
}

/// A tenant over its requests per second gets 429 with Retry-After and
/// its request does nothing; a tenant over its queries at once gets 429
/// while its running query is still sending; other tenants are untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_over_its_quota_gets_429_and_changes_nothing() {
    use tower::ServiceExt;
    let f = crate::matrix::fixture().await;
    let quota = |rps: Option<u32>, queries: Option<u32>| {
        f.server
            .state
            .authz
            .update(|m| {
                let q = &mut m.tenants.get_mut("acme").unwrap().quota;
                q.requests_per_second = rps;
                q.concurrent_queries = queries;
                Ok(())
            })
            .unwrap()
    };
    quota(Some(3), None);
    let mut ok = 0;
    let mut refused = Vec::new();
    for i in 0..12 {
        let before = f.snapshot().await;
        let uri = format!("/api/v1/repositories/acmerepo/branches/main/objects?path=q{i}.csv");
        let (st, body) = f
            .send_raw("eve", "POST", &uri, Some(("text/csv", "a\n".into())))
            .await;
        match st {
            201 => ok += 1,
            429 => {
                assert_eq!(f.snapshot().await, before, "a refused upload wrote");
                refused.push(body);
            }
            other => panic!("{other}: {body}"),
        }
    }
    // A burst of one second's worth, then refusals (a slow machine may
    // earn one more token meanwhile).
    assert!((3..=5).contains(&ok), "{ok} admitted");
    assert!(refused[0].contains("requests per second"), "{}", refused[0]);
    let req = axum::http::Request::builder()
        .uri("/api/v1/repositories")
        .header("authorization", &f.headers["eve"])
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = weir_server::router(f.server.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // The first tenant has no quota.
    for _ in 0..20 {
        assert_eq!(
            f.send("admin", "GET", "/api/v1/repositories/demand", None)
                .await
                .0,
            200
        );
    }

    // Queries at once: the first still sending holds the only place.
    quota(None, Some(1));
    let query = |q: &str| {
        axum::http::Request::builder()
            .method("POST")
            .uri("/api/v1/sql")
            .header("authorization", &f.headers["eve"])
            .body(axum::body::Body::from(q.to_string()))
            .unwrap()
    };
    let router = weir_server::router(f.server.state.clone());
    let first = router
        .clone()
        .oneshot(query("SELECT * FROM generate_series(1, 1000000)"))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = router.clone().oneshot(query("SELECT 1")).await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    // Another tenant's query runs meanwhile.
    let (st, _) = f
        .send_raw(
            "admin",
            "POST",
            "/api/v1/sql",
            Some(("text/plain", "SELECT 1".into())),
        )
        .await;
    assert_eq!(st, 200);
    drop(first);
    let third = router.oneshot(query("SELECT 1")).await.unwrap();
    assert_eq!(third.status(), 200);
}
