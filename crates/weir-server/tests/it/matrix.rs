//! The authorization matrix: every route of the OpenAPI document against
//! every kind of caller, each on a fresh lake, with the status each must
//! get and a check that a refused request changed nothing.

use weir_server::authz::DEFAULT_TENANT;
use weir_server::authz::model::{Effect, Holder, Policy, Statement};

/// Who calls, in the order the matrix sends them: the callers that must be
/// refused first, so that what an allowed caller changes cannot hide a
/// change made by a refused one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    WrongSecret,
    OtherTenant,
    Viewer,
    Developer,
    Admin,
}

const CALLERS: [Who; 6] = [
    Who::Nobody,
    Who::WrongSecret,
    Who::OtherTenant,
    Who::Viewer,
    Who::Developer,
    Who::Admin,
];

/// What a route is, as the test sees it (independently of the server's
/// own rule table): who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Public,
    AnyKey,
    Operator,
    RepoRead,
    RepoWrite,
    RepoAdmin,
    TenantRead,
    TenantAdmin,
    LineageRead,
    LineageWrite,
    Sql,
    /// lakeFS's /auth API: the tenant's admins.
    AuthRead,
    AuthManage,
    /// A user's own access keys.
    OwnKeys,
}

fn kind(method: &str, path: &str) -> Kind {
    use Kind::*;
    let p = path.strip_prefix("/api/v1").unwrap_or(path);
    match (method, p) {
        (_, "/healthz" | "/healthcheck") => Public,
        (_, "/metrics") => Operator,
        (_, "/config" | "/config/version" | "/config/storage" | "/user") => AnyKey,
        // An explicit distribution reads nothing of the lake.
        (_, "/recommend_qty" | "/voi") => AnyKey,
        ("get", "/repositories") => TenantRead,
        ("post", "/repositories") => TenantAdmin,
        ("delete", "/repositories/{repo}") => RepoAdmin,
        (_, "/sql") => Sql,
        (_, p) if p.starts_with("/auth/users/{userId}/credentials") => OwnKeys,
        ("get", p) if p.starts_with("/auth/") => AuthRead,
        (_, p) if p.starts_with("/auth/") => AuthManage,
        ("post", p) if p.starts_with("/lineage") => LineageWrite,
        (_, p) if p.starts_with("/repositories/") => {
            let read = method == "get" || method == "head";
            if read { RepoRead } else { RepoWrite }
        }
        (_, _) => LineageRead,
    }
}

/// The statuses `who` may get on a route of `kind`: Err(status) is the
/// one refusal expected, Ok(()) means allowed (anything but 401, 403 and
/// 5xx).
fn expected(kind: Kind, who: Who, path: &str) -> Result<(), u16> {
    use Kind::*;
    use Who::*;
    if kind == Public {
        return Ok(());
    }
    if matches!(who, Nobody | WrongSecret) {
        return Err(401);
    }
    // The fixture's users, groups and policies named in paths are the
    // first tenant's: the other tenant's admin does not find them.
    let names_one = ["{userId}", "{groupId}", "{policyId}"]
        .iter()
        .any(|p| path.contains(p));
    match (kind, who) {
        (AuthRead | AuthManage | OwnKeys, OtherTenant) if names_one => Err(404),
        (AuthRead | AuthManage | OwnKeys, OtherTenant | Admin) => Ok(()),
        (OwnKeys, Developer) => Ok(()),
        (AuthRead | AuthManage | OwnKeys, _) => Err(403),
        (Public | AnyKey | TenantRead, _) => Ok(()),
        (Operator, Admin) => Ok(()),
        (Operator, _) => Err(403),
        // Another tenant's repository is not there, for them.
        (RepoRead | RepoWrite | RepoAdmin, OtherTenant) => Err(404),
        (RepoRead, _) => Ok(()),
        (RepoWrite, Viewer) => Err(403),
        (RepoWrite, _) => Ok(()),
        (RepoAdmin | TenantAdmin, Admin) => Ok(()),
        (TenantAdmin, OtherTenant) => Ok(()),
        (RepoAdmin | TenantAdmin, _) => Err(403),
        // Each tenant reads and writes its own graph.
        (LineageRead, _) => Ok(()),
        (LineageWrite, Viewer) => Err(403),
        (LineageWrite, _) => Ok(()),
        // Handled below: the other tenant's query fails as if on a lake
        // without the repository.
        (Sql, OtherTenant) => Err(400),
        (Sql, _) => Ok(()),
    }
}

pub struct Fixture {
    pub server: crate::Server,
    pub headers: std::collections::HashMap<&'static str, String>,
    commit: String,
    dev_key: String,
}

pub async fn fixture() -> Fixture {
    use serde_json::json;
    let server = crate::Server::start();
    let mut headers = std::collections::HashMap::new();
    headers.insert("admin", server.auth());
    let dev = server.add_user("dev", DEFAULT_TENANT, "Developers");
    headers.insert(
        "dev",
        crate::basic(&dev.access_key_id, &dev.secret_access_key),
    );
    headers.insert(
        "viewer",
        server.user_auth("viewer", DEFAULT_TENANT, "Viewers"),
    );
    headers.insert("eve", server.user_auth("eve", "acme", "Admins"));
    headers.insert("wrong", crate::basic("AKIAWRONGWRONGWRONG0", "wrong"));
    server
        .state
        .authz
        .update(|m| {
            m.put_policy(
                DEFAULT_TENANT,
                Policy {
                    id: "Custom".into(),
                    statement: vec![Statement {
                        effect: Effect::Allow,
                        action: vec!["fs:ReadObject".into()],
                        resource: "*".into(),
                    }],
                },
            )?;
            m.attach(DEFAULT_TENANT, "Custom", &Holder::Group("Team".into()))?;
            Ok(())
        })
        .unwrap();
    let f = Fixture {
        server,
        headers,
        commit: String::new(),
        dev_key: dev.access_key_id,
    };
    let st = f
        .send(
            "admin",
            "POST",
            "/api/v1/repositories",
            Some(json!({"name": "demand", "storage_namespace": "local://demand"})),
        )
        .await
        .0;
    assert_eq!(st, 201);
    let st = f
        .send(
            "eve",
            "POST",
            "/api/v1/repositories",
            Some(json!({"name": "acmerepo", "storage_namespace": "local://acme"})),
        )
        .await
        .0;
    assert_eq!(st, 201);
    let repo = f.server.state.lake.repo("demand").unwrap();
    let ctx = weir_sql::session(f.server.state.lake.clone(), &Default::default()).unwrap();
    for q in [
        "CREATE TABLE demand.main.sales AS SELECT * FROM (VALUES ('a', 1.0)) AS v(item, qty)",
        "CREATE TABLE acmerepo.main.orders AS SELECT * FROM (VALUES ('a', 2.0)) AS v(item, qty)",
    ] {
        ctx.sql(q).await.unwrap().collect().await.unwrap();
    }
    let commit = repo
        .commit("main", "sales", "alice", Default::default(), false)
        .await
        .unwrap()
        .id;
    f.server
        .state
        .lake
        .repo("acmerepo")
        .unwrap()
        .commit("main", "orders", "eve", Default::default(), false)
        .await
        .unwrap();
    repo.create_branch("dev", "main").unwrap();
    repo.create_tag("v1", "main").unwrap();
    // A pipeline kept in the lake and a trigger of the repository running it.
    pipeline_in_lake(
        &f.server.state.lake,
        "demand",
        "SELECT item, qty FROM sales",
    )
    .await;
    let (st, text) = f
        .send(
            "admin",
            "PUT",
            "/api/v1/repositories/demand/schedules/nightly",
            Some(json!({"cron": "0 3 * * *", "pipeline": "weir://demand/main/pipelines/copy/weir.toml"})),
        )
        .await;
    assert_eq!(st, 201, "{text}");
    Fixture { commit, ..f }
}

impl Fixture {
    pub async fn send(
        &self,
        who: &str,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, String) {
        self.send_raw(
            who,
            method,
            uri,
            body.map(|v| ("application/json", v.to_string())),
        )
        .await
    }

    pub async fn send_raw(
        &self,
        who: &str,
        method: &str,
        uri: &str,
        body: Option<(&str, String)>,
    ) -> (u16, String) {
        let mut b = axum::http::Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(uri);
        if let Some(h) = self.headers.get(who) {
            b = b.header("authorization", h);
        }
        let body = match body {
            Some((ct, text)) => {
                b = b.header("content-type", ct);
                axum::body::Body::from(text)
            }
            None => axum::body::Body::empty(),
        };
        let (st, _, bytes) = self.server.send(b.body(body).unwrap()).await;
        (st.as_u16(), String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Everything a request could change: every repository's branches,
    /// tags and staged changes, the authorization model, the keys, the
    /// lineage; with `first_only`, only what is the first tenant's.
    async fn snapshot_of(&self, first_only: bool) -> String {
        let lake = &self.server.state.lake;
        let mut out = String::new();
        let full = self.server.state.authz.model().unwrap();
        let mut model = (*full).clone();
        if first_only {
            model.tenants.retain(|t, _| t == DEFAULT_TENANT);
            model.users.retain(|_, u| u.tenant == DEFAULT_TENANT);
            model.repos.retain(|_, t| t == DEFAULT_TENANT);
        }
        for r in lake.list_repos().unwrap() {
            // The system repository holds every tenant's lineage: the
            // first tenant's part of it is its events, read below.
            if first_only
                && (full.repo_tenant(&r.name) != DEFAULT_TENANT
                    || r.name == weir_core::names::SYSTEM_REPO)
            {
                continue;
            }
            let repo = lake.repo(&r.name).unwrap();
            out += &format!(
                "{} {:?} {:?}\n",
                r.name,
                repo.list_branches().unwrap(),
                repo.list_tags().unwrap()
            );
            for (b, _) in repo.list_branches().unwrap() {
                let staged = repo
                    .diff_uncommitted(&b, &weir_store::DiffScope::all())
                    .await
                    .unwrap();
                out += &format!(
                    "  {b}: {:?}\n",
                    staged.iter().map(|d| &d.path).collect::<Vec<_>>()
                );
            }
        }
        out += &format!("{model:?}\n");
        let triggers = weir_jobs::schedule::list(lake).unwrap();
        for t in triggers.values() {
            let repo = t.target_repo().unwrap_or_default();
            if !first_only || full.repo_tenant(&repo) == DEFAULT_TENANT {
                out += &format!("{t:?}\n");
            }
        }
        for k in self.server.state.keys.list().unwrap() {
            if model.users.contains_key(&k.user) {
                out += &format!("{} {}\n", k.access_key_id, k.user);
            }
        }
        out += &self
            .send("admin", "GET", "/api/v1/events/lineage", None)
            .await
            .1;
        out
    }

    pub async fn snapshot(&self) -> String {
        self.snapshot_of(false).await
    }

    /// A request to `path` (a route of the OpenAPI document) as `who` sends it.
    fn request(
        &self,
        method: &str,
        path: &str,
        who: &str,
    ) -> (String, Option<(&'static str, String)>) {
        use serde_json::json;
        let uri = path
            .replace("{repo}", "demand")
            .replace("{branch}", "dev")
            .replace("{reference}", "main")
            .replace("{source}", "dev")
            .replace("{dest}", "main")
            .replace("{left}", "main")
            .replace("{right}", "dev")
            .replace("{id}", &self.commit)
            .replace("{tag}", "v1")
            .replace("{ns}", "airflow")
            .replace("{userId}", "dev")
            .replace("{groupId}", "Team")
            .replace("{policyId}", "Custom")
            .replace("{accessKeyId}", &self.dev_key)
            .replace("{job}", "load")
            .replace("{name}", "nightly");
        let p = path.strip_prefix("/api/v1").unwrap_or(path);
        let event = json!({
            "eventType": "COMPLETE", "eventTime": "2025-01-01T00:00:00Z",
            "run": {"runId": "01890000-0000-7000-8000-000000000001"},
            "job": {"namespace": "airflow", "name": "load"},
            "producer": "test", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        });
        let (query, body): (String, Option<serde_json::Value>) = match (method, p) {
            ("post", "/repositories") => (
                String::new(),
                Some(json!({"name": format!("new-{who}"), "storage_namespace": "local://x"})),
            ),
            ("post", "/repositories/{repo}/branches") => (
                String::new(),
                Some(json!({"name": format!("b-{who}"), "source": "main"})),
            ),
            ("put", "/repositories/{repo}/branches/{branch}") => {
                (String::new(), Some(json!({"type": "reset"})))
            }
            ("post", "/repositories/{repo}/branches/{branch}/commits") => (
                String::new(),
                Some(json!({"message": "m", "allow_empty": true})),
            ),
            (
                "post",
                "/repositories/{repo}/branches/{branch}/revert"
                | "/repositories/{repo}/branches/{branch}/cherry-pick",
            ) => (
                String::new(),
                Some(json!({"ref": self.commit, "parent_number": 1})),
            ),
            ("post", "/repositories/{repo}/refs/{source}/merge/{dest}") => {
                (String::new(), Some(json!({})))
            }
            ("post", "/repositories/{repo}/tags") => (
                String::new(),
                Some(json!({"id": format!("t-{who}"), "ref": "main"})),
            ),
            ("post", "/repositories/{repo}/branches/{branch}/objects") => {
                return (
                    format!("{uri}?path=up-{who}.csv"),
                    Some(("application/octet-stream", "a,b\n".into())),
                );
            }
            ("delete", "/repositories/{repo}/branches/{branch}/objects") => (
                "?path=sales/_delta_log/00000000000000000000.json".into(),
                None,
            ),
            ("post", "/repositories/{repo}/branches/{branch}/objects/delete") => (
                String::new(),
                Some(json!({"paths": ["sales/_delta_log/00000000000000000000.json"]})),
            ),
            ("post", "/repositories/{repo}/branches/{branch}/objects/copy") => (
                format!("?dest_path=copy-{who}.json"),
                Some(json!({"src_path": "sales/_delta_log/00000000000000000000.json"})),
            ),
            (
                _,
                "/repositories/{repo}/refs/{reference}/objects"
                | "/repositories/{repo}/refs/{reference}/objects/stat",
            ) => (
                "?path=sales/_delta_log/00000000000000000000.json".into(),
                None,
            ),
            ("post", "/auth/users" | "/auth/groups") => {
                (String::new(), Some(json!({"id": format!("new-{who}")})))
            }
            ("post" | "put", "/auth/policies" | "/auth/policies/{policyId}") => (
                String::new(),
                Some(json!({
                    "id": if p.ends_with('}') { "Custom".to_string() } else { format!("p-{who}") },
                    "statement": [{"effect": "deny", "action": ["fs:*"], "resource": "*"}],
                })),
            ),
            ("put", "/repositories/{repo}/schedules/{name}") => (
                String::new(),
                Some(
                    json!({"cron": "0 4 * * *", "pipeline": "weir://demand/main/pipelines/copy/weir.toml"}),
                ),
            ),
            ("post", "/sql") => {
                return (
                    uri,
                    Some(("text/plain", "SELECT item FROM demand.main.sales".into())),
                );
            }
            ("post", "/lineage") => (String::new(), Some(event)),
            ("post", "/lineage/batch") => (String::new(), Some(json!([event]))),
            ("get", "/lineage") => ("?nodeId=job:airflow:load".into(), None),
            ("get", "/column-lineage") => ("?nodeId=datasetField:airflow:t:x".into(), None),
            ("get", "/search") => ("?q=load".into(), None),
            ("post", "/recommend_qty") => (
                String::new(),
                Some(
                    json!({"distribution": {"support": [0.0, 1.0], "pmf": [0.5, 0.5]}, "under_cost": 1.0, "over_cost": 1.0}),
                ),
            ),
            ("post", "/voi") => (
                String::new(),
                Some(
                    json!({"distribution": {"support": [0.0, 1.0], "pmf": [0.5, 0.5]}, "under_cost": 1.0, "over_cost": 1.0, "improvement": 0.5}),
                ),
            ),
            _ => (String::new(), None),
        };
        (
            format!("{uri}{query}"),
            body.map(|v| ("application/json", v.to_string())),
        )
    }
}

fn name(who: Who) -> &'static str {
    match who {
        Who::Nobody => "nobody",
        Who::WrongSecret => "wrong",
        Who::OtherTenant => "eve",
        Who::Viewer => "viewer",
        Who::Developer => "dev",
        Who::Admin => "admin",
    }
}

/// Every route of the OpenAPI document against every kind of caller, on
/// a fresh lake per route; a route the server has no rule for answers 500
/// and fails here. What a refused request touched must be as it was.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_every_caller_as_its_policies_say() {
    let doc = weir_server::openapi::document();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let k = kind(method, path);
            let f = fixture().await;
            for who in CALLERS {
                let before = f.snapshot().await;
                let first_before = f.snapshot_of(true).await;
                let (uri, body) = f.request(method, path, name(who));
                let (st, text) = f.send_raw(name(who), method, &uri, body).await;
                cases += 1;
                let want = expected(k, who, path);
                let ok = match want {
                    // 405: the gate has no rule for a documented route.
                    Ok(()) => !matches!(st, 401 | 403 | 405) && st < 500,
                    // A query the other tenant cannot plan: any 4xx but
                    // the ones that would confirm the repository exists.
                    Err(400) => (400..500).contains(&st) && !matches!(st, 401 | 403),
                    Err(code) => st == code,
                };
                if !ok {
                    failures.push(format!(
                        "{method} {path} as {who:?} ({k:?}): {st}, expected {want:?}: {}",
                        text.chars().take(200).collect::<String>()
                    ));
                }
                if want.is_err() && f.snapshot().await != before {
                    failures.push(format!(
                        "{method} {path} as {who:?}: refused ({st}) but changed the lake"
                    ));
                }
                // Whatever the other tenant may do, the first one's things
                // stay as they were.
                if who == Who::OtherTenant && f.snapshot_of(true).await != first_before {
                    failures.push(format!(
                        "{method} {path} as {who:?}: changed the first tenant's things"
                    ));
                }
            }
        }
    }
    assert!(cases > 250, "{cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Commits a one-stage pipeline to `repo`'s main at `pipelines/copy/`:
/// `sql` into the table `copy`.
pub async fn pipeline_in_lake(lake: &std::sync::Arc<weir_store::Lake>, repo: &str, sql: &str) {
    let r = lake.repo(repo).unwrap();
    let manifest =
        "name = \"copy\"\n[[stage]]\nname = \"copy\"\nsql = \"copy.sql\"\noutput = \"copy\"\n";
    for (path, text) in [("weir.toml", manifest), ("copy.sql", sql)] {
        r.put_object(
            "main",
            &format!("pipelines/copy/{path}"),
            text.as_bytes().to_vec().into(),
            &Default::default(),
        )
        .await
        .unwrap();
    }
    r.commit("main", "pipeline", "alice", Default::default(), false)
        .await
        .unwrap();
}
