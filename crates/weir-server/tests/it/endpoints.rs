//! SQL, lineage and decisions over HTTP, in-process.

use std::collections::BTreeMap;
use std::io::Write;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use serde_json::{Value, json};

use crate::Server;

/// A repository `shop` whose `main` holds a committed forecast table in
/// the flagship's shape (unique_id, ds, mean, lo, hi with a 95 % interval).
pub async fn with_forecast() -> (Server, String) {
    let s = Server::start();
    let (st, v) = s
        .json(
            "POST",
            "/api/v1/repositories",
            Some(json!({"name": "shop", "storage_namespace": "local://shop"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let ctx = weir_sql::session(s.state.lake.clone(), &Default::default()).unwrap();
    // sd = 10 for a: (hi - lo) = 2 * 1.96 * 10.
    ctx.sql(
        "CREATE TABLE shop.main.reconciled AS SELECT * FROM (VALUES \
         ('a', DATE '2025-01-01', 100.0, 100.0 - 19.59963984540054, 100.0 + 19.59963984540054), \
         ('a', DATE '2025-02-01', 120.0, 120.0 - 19.59963984540054, 120.0 + 19.59963984540054), \
         ('b', DATE '2025-01-01', 5.0, 5.0, 5.0)) AS v(unique_id, ds, mean, lo, hi)",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    let repo = s.state.lake.repo("shop").unwrap();
    let c = repo
        .commit("main", "forecast", "alice", BTreeMap::new(), false)
        .await
        .unwrap();
    (s, c.id)
}

pub async fn sql(s: &Server, accept: &str, query: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/sql")
        .header("authorization", s.auth())
        .header("accept", accept)
        .body(Body::from(query.to_string()))
        .unwrap();
    let (st, _, b) = s.send(req).await;
    (st, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_answers_in_arrow_json_ndjson_and_csv_and_refuses_writes() {
    let (s, _) = with_forecast().await;
    let q = "SELECT unique_id, CAST(mean AS BIGINT) AS m FROM shop.main.reconciled ORDER BY unique_id, m";
    let (st, b) = sql(&s, "application/vnd.apache.arrow.stream", q).await;
    assert_eq!(st, StatusCode::OK);
    let reader =
        deltalake::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(b), None)
            .unwrap();
    let mut means = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        means.extend(
            batch
                .column(1)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    assert_eq!(means, vec![100, 120, 5]);

    let (_, b) = sql(&s, "application/json", q).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v,
        json!([{"unique_id": "a", "m": 100}, {"unique_id": "a", "m": 120}, {"unique_id": "b", "m": 5}])
    );
    let (_, b) = sql(&s, "application/x-ndjson", q).await;
    assert_eq!(String::from_utf8(b).unwrap().lines().count(), 3);
    let (_, b) = sql(&s, "text/csv", q).await;
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "unique_id,m\na,100\na,120\nb,5\n"
    );
    // An empty result is still well-formed.
    let (_, b) = sql(
        &s,
        "text/csv",
        "SELECT unique_id FROM shop.main.reconciled WHERE false",
    )
    .await;
    assert_eq!(String::from_utf8(b).unwrap(), "unique_id\n");
    let (_, b) = sql(&s, "application/json", "SELECT 1 AS x WHERE false").await;
    assert_eq!(String::from_utf8(b).unwrap(), "[]");

    // Errors: JSON with the position; writes refused; nothing changed.
    let (st, b) = sql(&s, "application/json", "SELECT * FORM x").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert!(e["message"].as_str().unwrap().contains("FORM"), "{e}");
    assert_eq!(e["line"], 1, "{e}");
    let (st, b) = sql(&s, "application/json", "SELECT * FROM shop.main.missing").await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&b)
    );
    for w in [
        "INSERT INTO shop.main.reconciled VALUES ('c', DATE '2025-01-01', 1.0, 1.0, 1.0)",
        "CREATE TABLE shop.main.t AS SELECT 1",
        "SELECT 1; SELECT 2",
    ] {
        let (st, _) = sql(&s, "application/json", w).await;
        assert!(st.is_client_error(), "{w}: {st}");
    }
    let (_, b) = sql(
        &s,
        "text/csv",
        "SELECT count(*) AS n FROM shop.main.reconciled",
    )
    .await;
    assert_eq!(String::from_utf8(b).unwrap(), "n\n3\n");
}

fn gzip(v: &Value) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(v.to_string().as_bytes()).unwrap();
    e.finish().unwrap()
}

async fn post_event(s: &Server, v: &Value, gz: bool) -> StatusCode {
    let mut b = Request::builder()
        .method("POST")
        .uri("/api/v1/lineage")
        // Emitters authenticate with a Bearer API key: KEY_ID:SECRET.
        .header(
            "authorization",
            format!("Bearer {}:{}", s.key.access_key_id, s.key.secret_access_key),
        )
        .header("content-type", "application/json");
    let body = if gz {
        b = b.header("content-encoding", "gzip");
        gzip(v)
    } else {
        v.to_string().into_bytes()
    };
    s.send(b.body(Body::from(body)).unwrap()).await.0
}

fn event(kind: &str, time: &str, run: &str, input: &str, output: &str) -> Value {
    json!({
        "eventType": kind, "eventTime": time,
        "run": {"runId": run}, "job": {"namespace": "airflow", "name": "load"},
        "producer": "test", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        "inputs": [{"namespace": "pg://db:5432", "name": input, "facets": {"custom": {"kept": true}}}],
        "outputs": [{"namespace": "weir://shop", "name": output}],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn openlineage_events_in_marquez_graph_out_as_of_a_time() {
    let s = Server::start();
    let r1 = "01890000-0000-7000-8000-000000000001";
    let r2 = "01890000-0000-7000-8000-000000000002";
    // No offset and nanoseconds, as Marquez accepts; gzip as emitters send.
    let first = event(
        "COMPLETE",
        "2025-01-01T10:00:00.123456789",
        r1,
        "public.orders",
        "sales",
    );
    assert_eq!(post_event(&s, &first, true).await, StatusCode::CREATED);
    let second = event(
        "COMPLETE",
        "2025-03-01T10:00:00Z",
        r2,
        "public.returns",
        "sales",
    );
    assert_eq!(post_event(&s, &second, false).await, StatusCode::CREATED);

    let (st, g) = s
        .json(
            "GET",
            "/api/v1/lineage?nodeId=dataset:weir://shop:sales&depth=3",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    let ids: Vec<&str> = g["graph"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    // The latest run made sales from returns.
    assert_eq!(
        ids,
        [
            "dataset:pg://db:5432:public.returns",
            "dataset:weir://shop:sales",
            "job:airflow:load"
        ]
    );
    let job = &g["graph"][2];
    assert_eq!(job["data"]["latestRun"]["id"], r2);
    assert_eq!(
        job["outEdges"],
        json!([{"origin": "job:airflow:load", "destination": "dataset:weir://shop:sales"}])
    );
    // As of February, the first run's inputs.
    let (_, g) = s
        .json(
            "GET",
            "/api/v1/lineage?nodeId=dataset:weir://shop:sales&asOf=2025-02-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(
        g["graph"][0]["id"], "dataset:pg://db:5432:public.orders",
        "{g}"
    );

    let (_, runs) = s
        .json("GET", "/api/v1/namespaces/airflow/jobs/load/runs", None)
        .await;
    assert_eq!(runs["runs"][0]["id"], r2, "{runs}");
    assert_eq!(runs["totalCount"], 2);
    let (_, ds) = s
        .json("GET", "/api/v1/namespaces/pg:%2F%2Fdb:5432/datasets", None)
        .await;
    assert_eq!(ds["totalCount"], 2, "{ds}");
    let (_, jobs) = s.json("GET", "/api/v1/namespaces/airflow/jobs", None).await;
    assert_eq!(jobs["jobs"][0]["latestRun"]["state"], "COMPLETED", "{jobs}");

    // Bad input: 400, nothing stored.
    for bad in [
        json!({"eventTime": "not a time", "run": {"runId": r1}, "job": {"namespace": "a", "name": "b"}}),
        json!({"eventTime": "2025-01-01T00:00:00Z"}),
        json!({"eventTime": "2025-01-01T00:00:00Z", "run": {"runId": r1}}),
        json!([1, 2]),
    ] {
        assert_eq!(
            post_event(&s, &bad, false).await,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let (st, _) = s.json("GET", "/api/v1/lineage?nodeId=table:x", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Marquez's event log and search.
    let (st, ev) = s
        .json(
            "GET",
            "/api/v1/events/lineage?after=2025-02-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ev}");
    assert_eq!(ev["totalCount"], 1, "{ev}");
    assert_eq!(ev["events"][0]["run"]["runId"], r2);
    assert_eq!(
        ev["events"][0]["inputs"][0]["facets"]["custom"]["kept"],
        true
    );
    let (_, ev) = s
        .json(
            "GET",
            "/api/v1/events/lineage?sortDirection=asc&limit=1",
            None,
        )
        .await;
    assert_eq!(ev["events"][0]["run"]["runId"], r1, "{ev}");
    let (_, found) = s.json("GET", "/api/v1/search?q=RETURN", None).await;
    assert_eq!(found["totalCount"], 1, "{found}");
    assert_eq!(
        found["results"][0]["nodeId"],
        "dataset:pg://db:5432:public.returns"
    );
    let (_, found) = s
        .json("GET", "/api/v1/search?q=load&filter=job", None)
        .await;
    assert_eq!(found["results"][0]["type"], "JOB", "{found}");
    for bad in [
        "/api/v1/search",
        "/api/v1/search?q=x&filter=table",
        "/api/v1/events/lineage?before=yesterday",
        "/api/v1/events/lineage?sortDirection=up",
    ] {
        assert_eq!(
            s.json("GET", bad, None).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let (_, runs) = s
        .json("GET", "/api/v1/namespaces/airflow/jobs/load/runs", None)
        .await;
    assert_eq!(runs["totalCount"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_and_the_value_of_information_from_the_forecast_at_a_commit() {
    let (s, commit) = with_forecast().await;
    let (st, v) = s
        .json(
            "POST",
            "/recommend_qty",
            Some(json!({"repo": "shop", "series": "a", "under_cost": 3.0, "over_cost": 1.0})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Critical fractile 0.75: z = 0.6745, q = 100 + 6.745.
    assert!(
        (v["quantity"].as_f64().unwrap() - 106.744_897_5).abs() < 1e-3,
        "{v}"
    );
    assert!((v["sd"].as_f64().unwrap() - 10.0).abs() < 1e-9, "{v}");
    assert_eq!(v["service_level"], 0.75);
    assert_eq!(v["forecast"]["commit"], commit.as_str());
    assert_eq!(v["forecast"]["ds"], "2025-01-01");

    // Two periods: means add, variances add.
    let (_, v) = s
        .json(
            "POST",
            "/recommend_qty",
            Some(
                json!({"repo": "shop", "ref": commit, "series": "a", "periods": 2,
                        "under_cost": 1.0, "over_cost": 1.0}),
            ),
        )
        .await;
    assert!(
        (v["quantity"].as_f64().unwrap() - 220.0).abs() < 1e-6,
        "{v}"
    );
    assert!(
        (v["sd"].as_f64().unwrap() - 200f64.sqrt()).abs() < 1e-9,
        "{v}"
    );

    // An explicit distribution needs no lake.
    let (_, v) = s
        .json(
            "POST",
            "/recommend_qty",
            Some(
                json!({"distribution": {"support": [0.0, 1.0, 2.0], "pmf": [0.2, 0.5, 0.3]},
                        "under_cost": 1.0, "over_cost": 1.0}),
            ),
        )
        .await;
    assert_eq!(v["quantity"], 1.0, "{v}");

    let (st, v) = s
        .json(
            "POST",
            "/voi",
            Some(
                json!({"repo": "shop", "series": "a", "under_cost": 3.0, "over_cost": 1.0,
                        "improvement": 0.5}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let evpi = v["evpi"].as_f64().unwrap();
    // Under normal demand the cost is linear in sd: halving sd halves it.
    assert!(
        (v["improved"]["value"].as_f64().unwrap() - evpi / 2.0).abs() < 1e-9,
        "{v}"
    );

    for (bad, want) in [
        (
            json!({"repo": "shop", "series": "zz", "under_cost": 1.0, "over_cost": 1.0}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"repo": "shop", "series": "a", "under_cost": -1.0, "over_cost": 1.0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"repo": "shop", "series": "a", "periods": 9, "under_cost": 1.0, "over_cost": 1.0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"repo": "shop", "series": "a", "periods": u64::MAX, "under_cost": 1.0, "over_cost": 1.0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"repo": "shop", "series": "a", "table": "nope", "under_cost": 1.0, "over_cost": 1.0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"repo": "nope", "series": "a", "under_cost": 1.0, "over_cost": 1.0}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"under_cost": 1.0, "over_cost": 1.0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"series": "a", "under_cost": 1.0, "over_cost": 1.0, "colour": "red"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (st, v) = s.json("POST", "/recommend_qty", Some(bad.clone())).await;
        assert_eq!(st, want, "{bad} -> {v}");
        assert!(v["message"].is_string(), "{v}");
    }
    // A body that is not JSON, or not declared as JSON.
    let body = r#"{"repo": "shop", "series": "a", "under_cost": 3, "over_cost": 1}"#;
    for (path, content_type, body, want) in [
        (
            "/recommend_qty",
            Some("application/json"),
            "{\"repo\": ",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/voi",
            Some("application/json; charset=utf-8"),
            "[1, 2]",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/recommend_qty",
            Some("text/plain"),
            body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("/voi", None, body, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "/recommend_qty",
            Some("application/json; charset=utf-8"),
            body,
            StatusCode::OK,
        ),
    ] {
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header("authorization", s.auth());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let (st, h, b) = s.send(req.body(Body::from(body)).unwrap()).await;
        let text = String::from_utf8_lossy(&b);
        assert_eq!(st, want, "{path} {content_type:?} {body} -> {text}");
        assert_eq!(h["content-type"], "application/json", "{text}");
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert!(st == StatusCode::OK || v["message"].is_string(), "{v}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/voi")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(s.send(req).await.0, StatusCode::UNAUTHORIZED);
}

fn src(file: &str) -> String {
    std::fs::read_to_string(crate::manifest_dir().join("src").join(file)).unwrap()
}

/// Every route the router declares is in the OpenAPI table, every entry
/// of the table reaches a handler, and docs/openapi.json is current.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_matches_the_router() {
    use weir_server::openapi::{ENDPOINTS, document};
    let documented: std::collections::BTreeSet<&str> = ENDPOINTS.iter().map(|e| e.path).collect();
    for (file, prefix) in [
        ("lakefs.rs", "/api/v1"),
        ("objects.rs", "/api/v1"),
        ("sql.rs", "/api/v1"),
        ("lineage.rs", "/api/v1"),
        ("marquez.rs", "/api/v1"),
        ("server_info.rs", "/api/v1"),
        ("decide.rs", ""),
        ("lib.rs", ""),
    ] {
        let text = src(file);
        for piece in text.split(".route(").skip(1) {
            let route = piece
                .trim_start()
                .trim_start_matches('"')
                .split('"')
                .next()
                .unwrap();
            let full = if route == "/healthcheck" {
                "/api/v1/healthcheck".to_string()
            } else {
                format!("{prefix}{route}")
            };
            assert!(
                documented.contains(full.as_str()),
                "{full} (in {file}) is not in openapi.rs"
            );
        }
    }
    let s = Server::start();
    for e in ENDPOINTS {
        let uri = e
            .path
            .split('/')
            .map(|p| if p.starts_with('{') { "x" } else { p })
            .collect::<Vec<_>>()
            .join("/");
        let req = Request::builder()
            .method(e.method.to_uppercase().as_str())
            .uri(&uri)
            .header("authorization", s.auth())
            .body(Body::empty())
            .unwrap();
        let (st, h, b) = s.send(req).await;
        let ct = h
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert_ne!(st, StatusCode::METHOD_NOT_ALLOWED, "{} {uri}", e.method);
        assert!(
            !ct.contains("xml"),
            "{} {uri} fell through to the S3 gateway",
            e.method
        );
        assert!(
            !String::from_utf8_lossy(&b).contains("no such endpoint"),
            "{} {uri} has no handler",
            e.method
        );
    }
    let committed = std::fs::read_to_string(crate::manifest_dir().join("../../docs/openapi.json"))
        .unwrap_or_default();
    let current = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    assert!(
        committed == current,
        "docs/openapi.json is stale: regenerate it with `weir serve --openapi > docs/openapi.json`"
    );
}

/// An output field's columnLineage facet, as OpenLineage emitters send it.
fn column_event(
    run: &str,
    job: &str,
    input: (&str, &str),
    output: (&str, &str),
    fields: Value,
) -> Value {
    json!({
        "eventType": "COMPLETE", "eventTime": "2025-02-01T10:00:00Z",
        "run": {"runId": run}, "job": {"namespace": "airflow", "name": job},
        "producer": "test", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        "inputs": [{"namespace": input.0, "name": input.1}],
        "outputs": [{"namespace": output.0, "name": output.1,
                     "facets": {"columnLineage": {"fields": fields}}}],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn marquez_column_lineage_of_a_field_up_and_downstream() {
    let s = Server::start();
    let field = |ns: &str, name: &str, f: &str, t: &str| {
        json!({"namespace": ns, "name": name, "field": f,
               "transformations": [{"type": "DIRECT", "subtype": t}]})
    };
    let curated = column_event(
        "01890000-0000-7000-8000-000000000011",
        "curate",
        ("pg://db:5432", "raw"),
        ("weir://shop", "curated"),
        json!({"total": {"inputFields": [
            field("pg://db:5432", "raw", "amount", "AGGREGATION"),
            field("pg://db:5432", "raw", "qty", "AGGREGATION"),
        ]}, "region": {"inputFields": [
            field("pg://db:5432", "raw", "region", "IDENTITY"),
            field("pg://db:5432", "raw", "amount", "AGGREGATION"),
        ]}}),
    );
    let report = column_event(
        "01890000-0000-7000-8000-000000000012",
        "report",
        ("weir://shop", "curated"),
        ("weir://shop", "report"),
        json!({"total": {"inputFields": [field("weir://shop", "curated", "total", "IDENTITY")]}}),
    );
    for e in [&curated, &report] {
        assert_eq!(post_event(&s, e, false).await, StatusCode::CREATED);
    }
    let ids = |g: &Value| -> Vec<String> {
        g["graph"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (st, g) = s
        .json(
            "GET",
            "/api/v1/column-lineage?nodeId=datasetField:weir://shop:report:total&depth=5",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    assert_eq!(
        ids(&g),
        [
            "datasetField:pg://db:5432:raw:amount",
            "datasetField:pg://db:5432:raw:qty",
            "datasetField:weir://shop:curated:total",
            "datasetField:weir://shop:report:total",
        ]
    );
    let node = |g: &Value, id: &str| -> Value {
        g["graph"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .unwrap()
    };
    let total = node(&g, "datasetField:weir://shop:curated:total");
    assert_eq!(total["type"], "DATASET_FIELD");
    assert_eq!(total["data"]["transformationType"], "AGGREGATION");
    assert_eq!(total["data"]["inputFields"].as_array().unwrap().len(), 2);
    assert_eq!(total["inEdges"].as_array().unwrap().len(), 2);
    assert_eq!(
        total["outEdges"][0]["destination"],
        "datasetField:weir://shop:report:total"
    );

    // A field made of several inputs takes the strongest transformation.
    let url = "/api/v1/column-lineage?nodeId=datasetField:weir://shop:curated:region";
    let (_, g) = s.json("GET", url, None).await;
    let region = node(&g, "datasetField:weir://shop:curated:region");
    assert_eq!(region["data"]["transformationType"], "AGGREGATION", "{g}");

    // One hop up from curated.total; downstream only when asked.
    let url = "/api/v1/column-lineage?nodeId=datasetField:weir://shop:curated:total&depth=1";
    let (_, g) = s.json("GET", url, None).await;
    assert_eq!(ids(&g).len(), 3, "{g}");
    let (_, g) = s
        .json("GET", &format!("{url}&withDownstream=true"), None)
        .await;
    assert_eq!(ids(&g).len(), 4, "{g}");

    for bad in [
        "/api/v1/column-lineage",
        "/api/v1/column-lineage?nodeId=dataset:weir://shop:report",
        "/api/v1/column-lineage?nodeId=datasetField:report",
        "/api/v1/column-lineage?nodeId=datasetField:weir://shop:report:",
    ] {
        let (st, v) = s.json("GET", bad, None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad} -> {v}");
        assert!(v["message"].is_string(), "{v}");
    }
}

/// A series name holding what JSON must escape (quotes, a backslash, a tab)
/// comes back intact in the answer, which stays valid JSON.
#[tokio::test(flavor = "multi_thread")]
async fn a_series_name_that_json_must_escape_comes_back_intact() {
    let (s, _) = with_forecast().await;
    let name = "say \"hi\"\t\\ now";
    let ctx = weir_sql::session(s.state.lake.clone(), &Default::default()).unwrap();
    let insert = format!(
        "INSERT INTO shop.main.reconciled VALUES ('{name}', DATE '2025-01-01', 7.0, 7.0, 7.0)"
    );
    ctx.sql(&insert).await.unwrap().collect().await.unwrap();
    let repo = s.state.lake.repo("shop").unwrap();
    let c = repo
        .commit("main", "odd name", "alice", BTreeMap::new(), false)
        .await
        .unwrap();
    for path in ["/recommend_qty", "/voi"] {
        let (st, v) = s
            .json(
                "POST",
                path,
                Some(json!({"repo": "shop", "series": name, "under_cost": 1.0, "over_cost": 1.0})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["forecast"]["series"], name, "{v}");
        assert_eq!(v["forecast"]["commit"], c.id.as_str(), "{v}");
        assert_eq!(v["quantity"], 7.0, "{v}");
    }
}
