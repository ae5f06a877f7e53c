//! Usage metering: requests counted by tenant, user and operation, SQL
//! queries one row each, stored bytes sampled once across servers, all in
//! the system repository's `usage` table.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use weir_lineage::usage::{UsageRow, select};
use weir_server::{AppState, KeyStore, ServeOptions};

use crate::{Server, basic};

fn find<'a>(rows: &'a [UsageRow], user: &str, op: &str) -> Vec<&'a UsageRow> {
    rows.iter()
        .filter(|r| r.user == user && r.operation == op)
        .collect()
}

async fn create_sales(s: &Server) {
    let (st, _) = s
        .json(
            "POST",
            "/api/v1/repositories",
            Some(json!({"name": "sales", "storage_namespace": "local://sales"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
}

async fn sql(s: &Server, auth: &str, q: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/sql")
        .header("authorization", auth)
        .body(Body::from(q.to_string()))
        .unwrap();
    let (st, _, b) = s.send(req).await;
    (st, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_and_queries_are_metered_by_tenant() {
    let s = Server::start();
    let ann = s.user_auth("ann", "acme", "Admins");
    create_sales(&s).await;
    for _ in 0..3 {
        assert_eq!(
            s.json("GET", "/api/v1/repositories", None).await.0,
            StatusCode::OK
        );
    }
    let as_ann = |method: &str, uri: &str, body: Option<serde_json::Value>| {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", &ann);
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        b.body(body).unwrap()
    };
    let (st, _, _) = s
        .send(as_ann(
            "POST",
            "/api/v1/repositories",
            Some(json!({"name": "acmerepo", "storage_namespace": "local://acmerepo"})),
        ))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    for _ in 0..2 {
        s.send(as_ann("GET", "/api/v1/repositories", None)).await;
    }
    // Refused before any work: not usage.
    let (st, _, _) = s
        .send(as_ann("DELETE", "/api/v1/repositories/sales", None))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let wrong = basic(&s.key.access_key_id, "not-the-secret");
    let (st, _) = sql(&s, &wrong, "SELECT 1").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, body) = sql(&s, &s.auth(), "SELECT 1 AS x UNION ALL SELECT 2").await;
    assert_eq!(st, StatusCode::OK, "{body}");

    let n = s.state.meter.flush(&s.state.lake).await.unwrap();
    assert!(n >= 5, "{n} rows");
    let rows = select(&s.state.lake, None).await.unwrap();
    let list = find(&rows, "alice", "GET /api/v1/repositories");
    assert_eq!(list.len(), 1, "{rows:#?}");
    assert_eq!((list[0].tenant.as_str(), list[0].requests), ("default", 3));
    assert_eq!(list[0].surface, "rest");
    assert!(list[0].bytes_out > 0 && list[0].wall_seconds > 0.0);
    let created = find(&rows, "ann", "POST /api/v1/repositories");
    assert_eq!(created[0].tenant, "acme");
    assert!(created[0].bytes_in > 0);
    assert_eq!(
        find(&rows, "ann", "GET /api/v1/repositories")[0].requests,
        2
    );
    assert!(
        rows.iter().all(|r| !r.operation.starts_with("DELETE")),
        "{rows:#?}"
    );
    let q = find(&rows, "alice", "query");
    assert_eq!(q.len(), 1, "{rows:#?}");
    assert_eq!((q[0].surface.as_str(), q[0].rows), ("sql", 2));
    assert!(q[0].bytes_out > 0 && q[0].cpu_seconds >= 0.0);
    assert!(!q[0].resource_id.as_deref().unwrap_or("").is_empty());
    // Nothing new: nothing written.
    assert_eq!(s.state.meter.flush(&s.state.lake).await.unwrap(), 0);

    // The lake's admin reads it in SQL; another tenant's admin has no
    // weir_usage() at all.
    let (st, body) = sql(
        &s,
        &s.auth(),
        "SELECT sum(requests) AS n FROM weir_usage() WHERE tenant = 'acme'",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("\"n\":3"), "{body}");
    let (st, body) = sql(&s, &ann, "SELECT * FROM weir_usage()").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    // Nor the lake's own viewers, who read its lineage and run records,
    // nor through EXPLAIN.
    let vic = s.user_auth("vic", "default", "Viewers");
    for q in [
        "SELECT * FROM weir_usage()",
        "SELECT * FROM weir_costs()",
        "EXPLAIN SELECT * FROM weir_costs()",
    ] {
        let (st, body) = sql(&s, &vic, q).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {body}");
    }
    // weir_runs() they have (it answers that no pipeline ran yet).
    let (_, body) = sql(&s, &vic, "SELECT * FROM weir_runs()").await;
    assert!(body.contains("no pipeline has run"), "{body}");
    let (st, body) = sql(&s, &s.auth(), "SELECT count(*) AS n FROM weir_costs()").await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_metering_writes_no_usage() {
    let s = Server::start_with(ServeOptions {
        usage: false,
        ..Default::default()
    });
    for _ in 0..3 {
        s.json("GET", "/api/v1/repositories", None).await;
    }
    assert_eq!(s.state.meter.flush(&s.state.lake).await.unwrap(), 0);
    assert!(select(&s.state.lake, None).await.unwrap().is_empty());
}

/// Two servers of one lake: the stored bytes of a period are sampled by
/// one of them, so byte-hours are not counted twice.
#[tokio::test(flavor = "multi_thread")]
async fn storage_is_sampled_once_across_servers() {
    let s = Server::start();
    create_sales(&s).await;
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/repositories/sales/branches/main/objects?path=a.bin")
        .header("authorization", s.auth())
        .body(Body::from(vec![7u8; 50_000]))
        .unwrap();
    assert_eq!(s.send(req).await.0, StatusCode::CREATED);
    let other = AppState::new(
        s.state.lake.clone(),
        Arc::new(KeyStore::open(s.dir.path()).unwrap()),
        ServeOptions::default(),
    )
    .unwrap();
    let hour = Duration::from_secs(3600);
    let (a, b) = tokio::join!(
        weir_server::usage_task::sample_storage(&s.state, hour),
        weir_server::usage_task::sample_storage(&other, hour)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one repository, sampled once");
    // Within the hour: neither samples again.
    assert_eq!(
        weir_server::usage_task::sample_storage(&s.state, hour)
            .await
            .unwrap(),
        0
    );
    // A short period has passed: its byte-hours are the bytes times it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let n = weir_server::usage_task::sample_storage(&other, Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(n, 1);
    s.state.meter.flush(&s.state.lake).await.unwrap();
    other.meter.flush(&s.state.lake).await.unwrap();
    let rows = select(&s.state.lake, None).await.unwrap();
    let samples: Vec<_> = rows.iter().filter(|r| r.surface == "storage").collect();
    assert_eq!(samples.len(), 2, "{rows:#?}");
    assert!(samples.iter().all(|r| r.stored_bytes >= 50_000
        && r.repository.as_deref() == Some("sales")
        && r.tenant == "default"));
    assert_eq!(
        samples[0].byte_hours, 0.0,
        "the first sample starts the clock"
    );
    let hours = samples[1].byte_hours / samples[1].stored_bytes as f64;
    assert!(hours > 0.0 && hours < 0.01, "{hours}");
}

/// A tenant may store so many bytes: an upload that would pass it gets
/// 429 before anything is written, over REST and S3 alike.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_past_a_tenants_stored_bytes_get_429_and_write_nothing() {
    let s = Server::start();
    create_sales(&s).await;
    s.state
        .authz
        .update(|m| {
            m.tenants.get_mut("default").unwrap().quota.stored_bytes = Some(100_000);
            Ok(())
        })
        .unwrap();
    weir_server::usage_task::refresh_stored(&s.state)
        .await
        .unwrap();
    let upload = |path: &str| {
        Request::builder()
            .method("POST")
            .uri(format!(
                "/api/v1/repositories/sales/branches/main/objects?path={path}"
            ))
            .header("authorization", s.auth())
            .body(Body::from(vec![1u8; 60_000]))
            .unwrap()
    };
    assert_eq!(s.send(upload("a.bin")).await.0, StatusCode::CREATED);
    let (st, headers, body) = s.send(upload("b.bin")).await;
    assert_eq!(
        st,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(headers.contains_key("retry-after"));
    assert!(String::from_utf8_lossy(&body).contains("100000"));
    let (st, _) = s
        .json(
            "GET",
            "/api/v1/repositories/sales/refs/main/objects/stat?path=b.bin",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing of the refused upload");
    // Measured again, the limit still holds (the first upload is stored).
    weir_server::usage_task::refresh_stored(&s.state)
        .await
        .unwrap();
    assert_eq!(
        s.send(upload("c.bin")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
