//! The MLflow API in-process: what is journaled survives a crash, a flush
//! is one commit for many writes, tables and memory agree after a restart,
//! MLflow's error shapes, and tenants.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use weir_core::names::DEFAULT_TENANT;
use weir_server::{AppState, KeyStore};
use weir_store::Lake;

use crate::Server;

/// Sends an MLflow request (a GET's fields as its query) with `auth`.
async fn mlf(
    state: &Arc<AppState>,
    auth: &str,
    method: &str,
    rpc: &str,
    fields: Value,
) -> (u16, Value) {
    let mut uri = format!("/api/2.0/mlflow/{rpc}");
    let mut b = Request::builder()
        .method(method)
        .header("authorization", auth);
    let body = if method == "GET" {
        let q: Vec<String> = fields
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                format!("{k}={}", url_encode(&v))
            })
            .collect();
        uri = format!("{uri}?{}", q.join("&"));
        Body::empty()
    } else {
        b = b.header("content-type", "application/json");
        Body::from(fields.to_string())
    };
    let resp = tower::ServiceExt::oneshot(
        weir_server::router(state.clone()),
        b.uri(uri).body(body).unwrap(),
    )
    .await
    .unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn ok(state: &Arc<AppState>, auth: &str, method: &str, rpc: &str, fields: Value) -> Value {
    let (st, v) = mlf(state, auth, method, rpc, fields).await;
    assert_eq!(st, 200, "{rpc}: {v}");
    v
}

/// A server on the same lake, as after a restart (or a crash: nothing of
/// the first server's memory is kept).
fn reopen(s: &Server) -> Arc<AppState> {
    let lake = Arc::new(Lake::open(s.dir.path()).unwrap());
    let keys = Arc::new(KeyStore::open(s.dir.path()).unwrap());
    AppState::new(lake, keys, Default::default()).unwrap()
}

async fn new_run(state: &Arc<AppState>, auth: &str) -> String {
    let v = ok(
        state,
        auth,
        "POST",
        "runs/create",
        json!({"experiment_id": "0"}),
    )
    .await;
    v["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

async fn sql(lake: &Arc<Lake>, q: &str) -> Vec<deltalake::arrow::array::RecordBatch> {
    let session = weir_sql::read_only_session(lake.clone(), &Default::default()).unwrap();
    session.query(q).await.unwrap().collect().await.unwrap()
}

fn rows(b: &[deltalake::arrow::array::RecordBatch]) -> usize {
    b.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_was_logged_survives_a_crash_and_is_flushed_once() {
    let s = Server::start();
    let auth = s.auth();
    let run = new_run(&s.state, &auth).await;
    for step in 0..300 {
        let m = json!({"run_id": run, "key": "mae", "value": 300 - step, "timestamp": 1000 + step, "step": step});
        ok(&s.state, &auth, "POST", "runs/log-metric", m).await;
    }
    ok(
        &s.state,
        &auth,
        "POST",
        "runs/log-parameter",
        json!({"run_id": run, "key": "model", "value": "ets"}),
    )
    .await;
    let nan = json!({"run_id": run, "key": "bias", "value": "NaN", "timestamp": 5});
    ok(&s.state, &auth, "POST", "runs/log-metric", nan).await;
    // A crash: the server's memory is gone, nothing was flushed.
    let after = reopen(&s);
    let v = ok(&after, &auth, "GET", "runs/get", json!({"run_id": run})).await;
    assert_eq!(
        v["run"]["data"]["params"],
        json!([{"key": "model", "value": "ets"}])
    );
    let metrics = v["run"]["data"]["metrics"].to_string();
    assert!(metrics.contains(r#""value":1.0"#), "{metrics}");
    assert!(metrics.contains(r#""value":"NaN""#), "{metrics}");
    let h = ok(
        &after,
        &auth,
        "GET",
        "metrics/get-history",
        json!({"run_id": run, "metric_key": "mae"}),
    )
    .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 300);

    // The journal as it was before the flush, to replay after it.
    let journal = after
        .lake
        .meta_store()
        .list_settings("mlflow", "mlflow/journal/")
        .unwrap();
    assert_eq!(journal.len(), 303);
    // 303 writes, one commit.
    let repo = after.lake.repo("mlflow").unwrap();
    let commits = || {
        let opts = weir_store::LogOptions {
            first_parent: false,
            after: None,
            amount: 1000,
        };
        repo.log("main", &opts).unwrap().0.len()
    };
    let before = commits();
    assert_eq!(after.mlflow.flush_all().await.unwrap(), 303);
    assert_eq!(commits(), before + 1);
    assert_eq!(after.mlflow.flush_all().await.unwrap(), 0);
    let n = sql(&after.lake, "SELECT * FROM mlflow.main.metrics").await;
    assert_eq!(rows(&n), 301);

    // Restarted again: the tables hold it, the journal is empty, and
    // nothing is counted twice.
    let third = reopen(&s);
    let h = ok(
        &third,
        &auth,
        "GET",
        "metrics/get-history",
        json!({"run_id": run, "metric_key": "mae"}),
    )
    .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 300);
    assert_eq!(third.mlflow.flush_all().await.unwrap(), 0);
    assert!(
        third
            .lake
            .meta_store()
            .list_settings("mlflow", "mlflow/journal/")
            .unwrap()
            .is_empty()
    );
    let p = sql(&third.lake, "SELECT * FROM mlflow.main.params").await;
    assert_eq!(rows(&p), 1);

    // A crash after the commit, before the journal rows went: replayed,
    // they add nothing to memory or to the tables.
    for (k, v) in &journal {
        third.lake.meta_store().put_setting("mlflow", k, v).unwrap();
    }
    let fourth = reopen(&s);
    let h = ok(
        &fourth,
        &auth,
        "GET",
        "metrics/get-history",
        json!({"run_id": run, "metric_key": "mae"}),
    )
    .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 300);
    fourth.mlflow.flush_all().await.unwrap();
    let n = sql(&fourth.lake, "SELECT * FROM mlflow.main.metrics").await;
    assert_eq!(rows(&n), 301);
    let p = sql(&fourth.lake, "SELECT * FROM mlflow.main.params").await;
    assert_eq!(rows(&p), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_mlflows_codes_and_change_nothing() {
    let s = Server::start();
    let auth = s.auth();
    let run = new_run(&s.state, &auth).await;
    let cases = [
        (
            "GET",
            "runs/get",
            json!({"run_id": "f".repeat(32)}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            "experiments/get-by-name",
            json!({"experiment_name": "nope"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "experiments/create",
            json!({"name": "Default"}),
            400,
            "RESOURCE_ALREADY_EXISTS",
        ),
        (
            "POST",
            "experiments/create",
            json!({}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-metric",
            json!({"run_id": run, "key": "m", "value": "lots", "timestamp": 1}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-metric",
            json!({"run_id": run, "key": "../m", "value": 1, "timestamp": 1}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/log-batch",
            json!({"run_id": run, "params": (0..101).map(|i| json!({"key": format!("p{i}"), "value": "1"})).collect::<Vec<_>>()}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            json!({"experiment_ids": ["0"], "filter": "metrics.a > 1 OR metrics.b > 2"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/search",
            json!({"experiment_ids": ["0"], "page_token": "garbage"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/update",
            json!({"run_id": run, "status": "DONE"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "runs/frobnicate",
            json!({}),
            404,
            "ENDPOINT_NOT_FOUND",
        ),
        (
            "GET",
            "model-versions/get",
            json!({"name": "m", "version": "1"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "POST",
            "registered-models/alias",
            json!({"name": "m", "alias": "latest", "version": "1"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ];
    for (method, rpc, body, status, code) in cases {
        let (st, v) = mlf(&s.state, &auth, method, rpc, body.clone()).await;
        assert_eq!(
            (st, v["error_code"].as_str()),
            (status, Some(code)),
            "{rpc} {body}: {v}"
        );
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty() && !m.contains('\n')),
            "{v}"
        );
    }
    ok(
        &s.state,
        &auth,
        "POST",
        "runs/log-parameter",
        json!({"run_id": run, "key": "a", "value": "1"}),
    )
    .await;
    let (st, v) = mlf(
        &s.state,
        &auth,
        "POST",
        "runs/log-parameter",
        json!({"run_id": run, "key": "a", "value": "2"}),
    )
    .await;
    assert_eq!(
        (st, v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE")),
        "{v}"
    );
    // A body past MLflow's sizes: refused before it is read as JSON.
    let big = json!({"run_id": run, "key": "k", "value": "v".repeat(17 << 20)});
    let (st, v) = mlf(&s.state, &auth, "POST", "runs/set-tag", big).await;
    assert_eq!(
        (st, v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE")),
        "{v}"
    );
    // A body that is not JSON.
    let resp = tower::ServiceExt::oneshot(
        weir_server::router(s.state.clone()),
        Request::builder()
            .method("POST")
            .uri("/api/2.0/mlflow/runs/create")
            .header("authorization", &auth)
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    // Nothing refused reached the run.
    let v = ok(&s.state, &auth, "GET", "runs/get", json!({"run_id": run})).await;
    assert_eq!(
        v["run"]["data"]["params"],
        json!([{"key": "a", "value": "1"}])
    );
    assert!(v["run"]["data"]["metrics"].as_array().unwrap().is_empty());
    assert_eq!(v["run"]["info"]["status"], "RUNNING");
    // An artifact path that climbs out is refused.
    let resp = tower::ServiceExt::oneshot(
        weir_server::router(s.state.clone()),
        Request::builder()
            .method("PUT")
            .uri(format!(
                "/api/2.0/mlflow-artifacts/artifacts/0/{run}/artifacts/../../../x"
            ))
            .header("authorization", &auth)
            .body(Body::from("x"))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_track_apart_and_viewers_only_read() {
    let s = Server::start();
    let admin = s.auth();
    let viewer = s.user_auth("viewer", DEFAULT_TENANT, "Viewers");
    let eve = s.user_auth("eve", "acme", "Admins");
    ok(
        &s.state,
        &admin,
        "POST",
        "experiments/create",
        json!({"name": "ours"}),
    )
    .await;
    let run = new_run(&s.state, &admin).await;

    // Another tenant has its own store and repository, and sees none of ours.
    let (st, _) = mlf(
        &s.state,
        &eve,
        "GET",
        "experiments/get-by-name",
        json!({"experiment_name": "ours"}),
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = mlf(&s.state, &eve, "GET", "runs/get", json!({"run_id": run})).await;
    assert_eq!(st, 404);
    ok(
        &s.state,
        &eve,
        "POST",
        "experiments/create",
        json!({"name": "theirs"}),
    )
    .await;
    assert!(s.state.lake.repo("acme-mlflow").is_ok());
    let mine = ok(
        &s.state,
        &admin,
        "POST",
        "experiments/search",
        json!({"max_results": 10}),
    )
    .await;
    let names: Vec<&str> = mine["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"ours") && !names.contains(&"theirs"));
    // Nor can it read our tracking repository through SQL or the lakeFS API.
    let req = Request::builder()
        .uri("/api/v1/repositories/mlflow")
        .header("authorization", &eve)
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.send(req).await.0, 404);

    // No key, or a wrong one: MLflow's UNAUTHENTICATED.
    for auth in ["", "Basic d3Jvbmc6a2V5"] {
        let (st, v) = mlf(&s.state, auth, "GET", "runs/get", json!({"run_id": run})).await;
        assert_eq!(
            (st, v["error_code"].as_str()),
            (401, Some("UNAUTHENTICATED")),
            "{v}"
        );
    }
    // A viewer reads, and may not write.
    ok(&s.state, &viewer, "GET", "runs/get", json!({"run_id": run})).await;
    let (st, v) = mlf(
        &s.state,
        &viewer,
        "POST",
        "runs/set-tag",
        json!({"run_id": run, "key": "k", "value": "v"}),
    )
    .await;
    assert_eq!(
        (st, v["error_code"].as_str()),
        (403, Some("PERMISSION_DENIED")),
        "{v}"
    );
    let v = ok(&s.state, &admin, "GET", "runs/get", json!({"run_id": run})).await;
    assert!(!v["run"]["data"]["tags"].to_string().contains("\"k\""));
}

/// MLflow's filter grammar and ordering over runs, page by page.
#[tokio::test(flavor = "multi_thread")]
async fn runs_are_searched_with_mlflows_grammar() {
    let s = Server::start();
    let auth = s.auth();
    let mut ids = Vec::new();
    for (i, (model, rmse, team)) in [
        ("ets", 0.5, Some("Forecasting")),
        ("arima", 1.5, None),
        ("naive", 3.0, Some("ops")),
    ]
    .into_iter()
    .enumerate()
    {
        let run = new_run(&s.state, &auth).await;
        let mut tags = vec![json!({"key": "mlflow.runName", "value": format!("r{i}")})];
        if let Some(t) = team {
            tags.push(json!({"key": "team", "value": t}));
        }
        let batch = json!({
            "run_id": run,
            "params": [{"key": "model", "value": model}],
            "metrics": [{"key": "rmse", "value": rmse, "timestamp": 1, "step": 0}],
            "tags": tags,
        });
        ok(&s.state, &auth, "POST", "runs/log-batch", batch).await;
        ids.push(run);
    }
    ok(
        &s.state,
        &auth,
        "POST",
        "runs/update",
        json!({"run_id": ids[2], "status": "FINISHED", "end_time": 5}),
    )
    .await;
    let search = |filter: &str, order: &[&str]| {
        let body = json!({"experiment_ids": ["0"], "filter": filter, "order_by": order});
        let st = s.state.clone();
        let auth = auth.clone();
        async move {
            let v = ok(&st, &auth, "POST", "runs/search", body).await;
            v["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|r| r["info"]["run_name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let cases: [(&str, &[&str], &[&str]); 10] = [
        ("metrics.rmse < 1 AND params.model = 'ets'", &[], &["r0"]),
        ("metrics.rmse >= 1.5", &["metrics.rmse DESC"], &["r2", "r1"]),
        ("tags.team LIKE 'Fore%'", &[], &["r0"]),
        ("tags.team LIKE 'fore%'", &[], &[]),
        ("tags.team ILIKE 'fore%'", &[], &["r0"]),
        ("tags.team IS NULL", &[], &["r1"]),
        ("tags.team != 'ops'", &[], &["r0"]),
        ("attributes.status IN ('FINISHED', 'FAILED')", &[], &["r2"]),
        (
            "status NOT IN ('FINISHED') AND params.`model` != 'arima'",
            &[],
            &["r0"],
        ),
        ("", &["params.model ASC"], &["r1", "r0", "r2"]),
    ];
    for (filter, order, want) in cases {
        assert_eq!(search(filter, order).await, want, "{filter} {order:?}");
    }
    // Two pages of one, then two, cover all three without repeating.
    let first = ok(
        &s.state,
        &auth,
        "POST",
        "runs/search",
        json!({"experiment_ids": ["0"], "max_results": 1}),
    )
    .await;
    let token = first["next_page_token"].as_str().unwrap();
    let rest = ok(
        &s.state,
        &auth,
        "POST",
        "runs/search",
        json!({"experiment_ids": ["0"], "max_results": 2, "page_token": token}),
    )
    .await;
    assert!(rest.get("next_page_token").is_none(), "{rest}");
    let mut seen: Vec<String> = first["runs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["runs"].as_array().unwrap())
        .map(|r| r["info"]["run_id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    // A deleted run is found only when deleted runs are asked for.
    ok(
        &s.state,
        &auth,
        "POST",
        "runs/delete",
        json!({"run_id": ids[0]}),
    )
    .await;
    let active = ok(
        &s.state,
        &auth,
        "POST",
        "runs/search",
        json!({"experiment_ids": ["0"]}),
    )
    .await;
    assert_eq!(active["runs"].as_array().unwrap().len(), 2);
    let deleted = ok(
        &s.state,
        &auth,
        "POST",
        "runs/search",
        json!({"experiment_ids": ["0"], "run_view_type": "DELETED_ONLY"}),
    )
    .await;
    assert_eq!(deleted["runs"].as_array().unwrap().len(), 1);
}

/// A tenant's store is served by one server at a time: another live
/// server's lease refuses this one (503, nothing written); a lease of a
/// process that is gone is taken over.
#[tokio::test(flavor = "multi_thread")]
async fn one_server_at_a_time_serves_a_tenants_store() {
    let s = Server::start();
    let auth = s.auth();
    let meta = s.state.lake.meta_store();
    let until = chrono::Utc::now().timestamp_millis() + 60_000;
    meta.put_setting("mlflow", "mlflow/owner", &format!("elsewhere:1|{until}"))
        .unwrap();
    let (st, v) = mlf(
        &s.state,
        &auth,
        "POST",
        "experiments/create",
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(
        (st, v["error_code"].as_str()),
        (503, Some("TEMPORARILY_UNAVAILABLE")),
        "{v}"
    );
    assert!(s.state.lake.repo("mlflow").is_err());
    // This host, a process id no process has.
    let host = weir_lineage::usage::recorder();
    let host = host.rsplit_once(':').unwrap().0;
    meta.put_setting("mlflow", "mlflow/owner", &format!("{host}:4194999|{until}"))
        .unwrap();
    ok(
        &s.state,
        &auth,
        "POST",
        "experiments/create",
        json!({"name": "x"}),
    )
    .await;
}
