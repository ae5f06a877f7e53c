//! Triggers over HTTP: a tenant's user adds one to a repository with a
//! pipeline kept in the lake, fires it, reads its firings; other tenants
//! see nothing of it, viewers only read, and the trigger's runs read only
//! its tenant's repositories.

use serde_json::{Value, json};

use crate::matrix::{fixture, pipeline_in_lake};

const BASE: &str = "/api/v1/repositories/demand/schedules";
const PIPELINE: &str = "weir://demand/main/pipelines/copy/weir.toml";

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_added_over_http_fires_and_stays_in_its_tenant() {
    let f = fixture().await;
    let body = json!({"cron": "0 6 * * *", "timezone": "Europe/Paris", "pipeline": PIPELINE});
    let (st, text) = f
        .send("dev", "PUT", &format!("{BASE}/daily"), Some(body.clone()))
        .await;
    assert_eq!(st, 201, "{text}");
    let t = parse(&text);
    assert_eq!(t["target"], "weir://demand/main");
    assert_eq!(t["created_by"], "dev");
    assert!(t["next"].as_str().is_some(), "{t}");
    // The same again changes nothing.
    let (st, text) = f
        .send("dev", "PUT", &format!("{BASE}/daily"), Some(body))
        .await;
    assert_eq!(
        (st, parse(&text)["state"].clone()),
        (200, json!("unchanged"))
    );

    // Viewers read; they do not add, fire or remove.
    let (st, text) = f.send("viewer", "GET", BASE, None).await;
    assert_eq!(st, 200);
    let names: Vec<Value> = parse(&text)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("daily"), json!("nightly")]);
    for (m, p) in [
        ("PUT", "/daily"),
        ("POST", "/daily/run"),
        ("DELETE", "/daily"),
    ] {
        let b = (m == "PUT").then(|| json!({"cron": "0 1 * * *", "pipeline": PIPELINE}));
        assert_eq!(f.send("viewer", m, &format!("{BASE}{p}"), b).await.0, 403);
    }
    // Another tenant has no such repository, so no such triggers.
    assert_eq!(f.send("eve", "GET", BASE, None).await.0, 404);
    assert_eq!(
        f.send("eve", "GET", &format!("{BASE}/daily"), None).await.0,
        404
    );

    // Fired by hand: the run merges the pipeline's output into main.
    let (st, text) = f
        .send("dev", "POST", &format!("{BASE}/daily/run"), None)
        .await;
    assert_eq!(st, 200, "{text}");
    let fired = parse(&text);
    assert_eq!(fired["outcome"], "succeeded", "{fired}");
    assert_eq!(fired["kind"], "manual");
    let (st, text) = f
        .send_raw(
            "dev",
            "POST",
            "/api/v1/sql?repo=demand&ref=main",
            Some(("text/plain", "SELECT count(*) AS n FROM copy".into())),
        )
        .await;
    assert_eq!(st, 200, "{text}");
    assert!(text.contains("\"n\":1"), "{text}");
    let (_, text) = f
        .send("viewer", "GET", &format!("{BASE}/daily/firings"), None)
        .await;
    let firings = parse(&text)["results"].as_array().unwrap().clone();
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0]["run_id"], fired["run_id"]);
    // The run is an MLflow run at once, through the server's own store.
    let (st, text) = f
        .send(
            "viewer",
            "GET",
            "/api/2.0/mlflow/experiments/get-by-name?experiment_name=copy",
            None,
        )
        .await;
    assert_eq!(st, 200, "{text}");
    let exp = parse(&text)["experiment"]["experiment_id"].clone();
    let filter = format!("tags.weir.run_id = '{}'", fired["run_id"].as_str().unwrap());
    let (st, text) = f
        .send(
            "viewer",
            "POST",
            "/api/2.0/mlflow/runs/search",
            Some(json!({"experiment_ids": [exp], "filter": filter})),
        )
        .await;
    assert_eq!(st, 200, "{text}");
    let runs = parse(&text)["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 1, "{text}");
    assert_eq!(runs[0]["info"]["status"], "FINISHED");

    // Pause, resume, remove.
    let (_, text) = f
        .send("dev", "POST", &format!("{BASE}/daily/pause"), None)
        .await;
    assert_eq!(parse(&text)["paused"], true);
    let (_, text) = f
        .send("dev", "POST", &format!("{BASE}/daily/resume"), None)
        .await;
    assert_eq!(parse(&text)["paused"], false);
    assert_eq!(
        f.send("dev", "DELETE", &format!("{BASE}/daily"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        f.send("dev", "GET", &format!("{BASE}/daily"), None).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_trigger_reads_only_its_tenants_repositories() {
    let f = fixture().await;
    // A pipeline of acme's that copies the first tenant's sales: it loads,
    // and its run cannot see the table.
    let lake = f.server.state.lake.clone();
    pipeline_in_lake(&lake, "acmerepo", "SELECT item, qty FROM demand.main.sales").await;
    let acme = "/api/v1/repositories/acmerepo/schedules";
    let (st, text) = f
        .send(
            "eve",
            "PUT",
            &format!("{acme}/steal"),
            Some(json!({"cron": "0 6 * * *", "pipeline": "weir://acmerepo/main/pipelines/copy/weir.toml"})),
        )
        .await;
    assert_eq!(st, 201, "{text}");
    let (st, text) = f
        .send("eve", "POST", &format!("{acme}/steal/run"), None)
        .await;
    assert_eq!(st, 200, "{text}");
    let fired = parse(&text);
    assert_ne!(fired["outcome"], "succeeded", "{fired}");
    assert!(
        fired["error"].as_str().unwrap().contains("demand"),
        "{fired}"
    );
    let orders = lake.repo("acmerepo").unwrap();
    assert!(orders.resolve("main").is_ok());
    let copied = weir_tables::TableRef::new(&orders, "main", "copy").unwrap();
    assert!(
        copied.log_state().await.unwrap().is_none(),
        "nothing was copied"
    );

    // Nor may it name the first tenant's pipeline, watch its branches or
    // merge into them, take a name another repository has, or have this
    // server post to its own machine or network.
    let own = |extra: Value| {
        let mut v = json!({"cron": "0 6 * * *", "pipeline": "weir://acmerepo/main/pipelines/copy/weir.toml"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    for (name, body, want) in [
        ("a", own(json!({"pipeline": PIPELINE})), 404),
        (
            "b",
            own(json!({"cron": null, "on_commit": "weir://demand/main", "paths": ["x/**"]})),
            400,
        ),
        ("c", own(json!({"target": "weir://demand/main"})), 400),
        ("nightly", own(json!({})), 409),
        ("d", own(json!({"pipeline": "/etc/passwd"})), 400),
        ("e", own(json!({"cron": "every day"})), 400),
        (
            "f",
            own(json!({"pipeline": "weir://acmerepo/main/pipelines/none/weir.toml"})),
            400,
        ),
        (
            "g",
            own(json!({"notify": "http://169.254.169.254/latest"})),
            400,
        ),
        (
            "h",
            own(json!({"notify": "http://localhost:8000/api/v1/repositories"})),
            400,
        ),
        ("i", own(json!({"notify": "http://[::1]:80/"})), 400),
        ("j", own(json!({"notify": "http://u@10.0.0.7/x"})), 400),
        // A condition is one read-only query, checked when it is added.
        (
            "k",
            own(json!({"when": "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/weir-k.csv'"})),
            400,
        ),
        (
            "l",
            own(json!({"when": "INSERT INTO orders VALUES ('b', 1.0)"})),
            400,
        ),
        ("m", own(json!({"when": "SELECT 1; SELECT 2"})), 400),
    ] {
        let (st, text) = f
            .send("eve", "PUT", &format!("{acme}/{name}"), Some(body))
            .await;
        assert_eq!(st, want, "{name}: {text}");
    }
    // A condition naming the first tenant's table is added (it parses),
    // and asking it finds no such repository: nothing of it comes back,
    // no run starts.
    let body = own(json!({"when": "SELECT item, qty FROM demand.main.sales"}));
    let (st, text) = f
        .send("eve", "PUT", &format!("{acme}/peek"), Some(body))
        .await;
    assert_eq!(st, 201, "{text}");
    let (st, text) = f
        .send("eve", "POST", &format!("{acme}/peek/run"), None)
        .await;
    assert!((400..500).contains(&st), "{st} {text}");
    assert!(!text.contains("\"a\"") && !text.contains("1.0"), "{text}");
    let (_, text) = f
        .send("eve", "GET", &format!("{acme}/peek/firings"), None)
        .await;
    assert_eq!(parse(&text)["results"], json!([]));
    assert!(!std::path::Path::new("/tmp/weir-k.csv").exists());
    f.send("eve", "DELETE", &format!("{acme}/peek"), None).await;

    // A public webhook is fine.
    let body = own(json!({"notify": "https://hooks.example.com/weir"}));
    let (st, text) = f
        .send("eve", "PUT", &format!("{acme}/told"), Some(body))
        .await;
    assert_eq!(st, 201, "{text}");
    let names: Vec<String> = weir_jobs::schedule::list(&lake)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(names, ["nightly", "steal", "told"]);
}
