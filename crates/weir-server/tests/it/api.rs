//! The lakeFS REST API in-process: shapes, statuses and errors.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::Server;

const R: &str = "/api/v1/repositories";

async fn with_repo() -> Server {
    with_repo_under(weir_server::ServeOptions::default()).await
}

async fn with_repo_under(options: weir_server::ServeOptions) -> Server {
    let s = Server::start_with(options);
    let (st, v) = s
        .json(
            "POST",
            R,
            Some(json!({"name": "sales", "storage_namespace": "local://sales"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    s
}

async fn upload(s: &Server, branch: &str, path: &str, body: &'static str) -> StatusCode {
    let req = Request::builder()
        .method("POST")
        .uri(format!("{R}/sales/branches/{branch}/objects?path={path}"))
        .header("authorization", s.auth())
        .header("content-type", "text/csv")
        .body(Body::from(body))
        .unwrap();
    s.send(req).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_or_with_wrong_keys_are_refused() {
    let s = Server::start();
    let req = Request::builder().uri(R).body(Body::empty()).unwrap();
    let (st, h, b) = s.send(req).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(h.contains_key("www-authenticate"));
    let msg: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(
        msg["message"].as_str().unwrap().contains("create-key"),
        "{msg}"
    );
    let bad = Request::builder()
        .uri(R)
        .header("authorization", "Basic QUtJQUpYOndyb25n")
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.send(bad).await.0, StatusCode::UNAUTHORIZED);
    // Health needs no key; every response carries a request id, a new one
    // each time unless the client sent its own.
    let health = |id: Option<&str>| {
        let mut b = Request::builder().uri("/healthz");
        if let Some(id) = id {
            b = b.header("x-request-id", id);
        }
        s.send(b.body(Body::empty()).unwrap())
    };
    let (st, h1, _) = health(None).await;
    assert_eq!(st, StatusCode::OK);
    let (_, h2, _) = health(None).await;
    assert_ne!(h1["x-request-id"], h2["x-request-id"]);
    let (_, h3, _) = health(Some("trace-7")).await;
    assert_eq!(h3["x-request-id"], "trace-7");
}

#[tokio::test(flavor = "multi_thread")]
async fn repositories_branches_commits_diff_merge_tags_in_lakefs_shapes() {
    let s = with_repo().await;
    let (st, v) = s.json("GET", &format!("{R}/sales"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["default_branch"], "main");
    assert_eq!(v["storage_namespace"], "local://sales");
    let (_, list) = s.json("GET", R, None).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
    assert_eq!(list["pagination"]["has_more"], false);

    let (st, body) = s
        .json(
            "POST",
            &format!("{R}/sales/branches"),
            Some(json!({"name": "dev", "source": "main"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(body.as_str().unwrap().len(), 64, "the new ref's commit id");
    assert_eq!(
        upload(&s, "dev", "a/x.csv", "k,v\n1,2\n").await,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&s, "dev", "a/y.csv", "k,v\n").await,
        StatusCode::CREATED
    );

    let (st, d) = s
        .json("GET", &format!("{R}/sales/branches/dev/diff"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(d["results"][0]["type"], "added");
    assert_eq!(d["results"][0]["path"], "a/x.csv");

    let (st, c) = s
        .json(
            "POST",
            &format!("{R}/sales/branches/dev/commits"),
            Some(json!({"message": "two files", "metadata": {"source": "test"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    assert_eq!(c["committer"], "alice", "the key's user commits");
    assert_eq!(c["metadata"]["source"], "test");
    let commit = c["id"].as_str().unwrap().to_string();

    let (_, log) = s
        .json("GET", &format!("{R}/sales/refs/dev/commits?amount=1"), None)
        .await;
    assert_eq!(log["results"][0]["id"], commit.as_str());
    assert_eq!(log["pagination"]["has_more"], true);
    let (_, got) = s
        .json("GET", &format!("{R}/sales/commits/{commit}"), None)
        .await;
    assert_eq!(got["message"], "two files");

    let (_, d) = s
        .json(
            "GET",
            &format!("{R}/sales/refs/main/diff/dev?amount=1"),
            None,
        )
        .await;
    assert_eq!(d["results"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(d["pagination"]["has_more"], true);
    assert_eq!(d["pagination"]["next_offset"], "a/x.csv");
    let (_, d2) = s
        .json(
            "GET",
            &format!("{R}/sales/refs/main/diff/dev?after=a/x.csv"),
            None,
        )
        .await;
    assert_eq!(d2["results"][0]["path"], "a/y.csv");

    let (_, base) = s
        .json("GET", &format!("{R}/sales/refs/dev/merge/main"), None)
        .await;
    assert_eq!(base["source_commit_id"], commit.as_str());
    let (st, m) = s
        .json(
            "POST",
            &format!("{R}/sales/refs/dev/merge/main"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["reference"].as_str().unwrap().len(), 64);

    let (st, t) = s
        .json(
            "POST",
            &format!("{R}/sales/tags"),
            Some(json!({"id": "v1", "ref": "main"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(t["commit_id"], m["reference"]);
    let (_, t) = s.json("GET", &format!("{R}/sales/tags/v1"), None).await;
    assert_eq!(t["id"], "v1");
    // A tag is not a branch: writing to it is refused, nothing changes.
    assert!(upload(&s, "v1", "z.csv", "x").await.is_client_error());
    let (st, _) = s.json("DELETE", &format!("{R}/sales/tags/v1"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_ranges_conditions_listing_and_deletes() {
    let s = with_repo().await;
    assert_eq!(
        upload(&s, "main", "d/one.csv", "0123456789").await,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&s, "main", "d/e/two.csv", "ab").await,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&s, "main", "top.csv", "t").await,
        StatusCode::CREATED
    );

    let get = |range: Option<&'static str>| {
        let mut b = Request::builder()
            .uri(format!("{R}/sales/refs/main/objects?path=d/one.csv"))
            .header("authorization", s.auth());
        if let Some(r) = range {
            b = b.header("range", r);
        }
        b.body(Body::empty()).unwrap()
    };
    let (st, h, b) = s.send(get(None)).await;
    assert_eq!((st, b.as_slice()), (StatusCode::OK, &b"0123456789"[..]));
    assert_eq!(h["content-type"], "text/csv");
    let etag = h["etag"].to_str().unwrap().to_string();
    let (st, h, b) = s.send(get(Some("bytes=2-4"))).await;
    assert_eq!(
        (st, b.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &b"234"[..])
    );
    assert_eq!(h["content-range"], "bytes 2-4/10");
    let (_, _, b) = s.send(get(Some("bytes=-3"))).await;
    assert_eq!(b, b"789");
    let (st, _, _) = s.send(get(Some("bytes=20-"))).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    let cached = Request::builder()
        .uri(format!("{R}/sales/refs/main/objects?path=d/one.csv"))
        .header("authorization", s.auth())
        .header("if-none-match", etag.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.send(cached).await.0, StatusCode::NOT_MODIFIED);

    // Create-if-absent: the second writer loses with 412.
    let create = || {
        Request::builder()
            .method("POST")
            .uri(format!("{R}/sales/branches/main/objects?path=lock"))
            .header("authorization", s.auth())
            .header("if-none-match", "*")
            .body(Body::from("me"))
            .unwrap()
    };
    assert_eq!(s.send(create()).await.0, StatusCode::CREATED);
    assert_eq!(s.send(create()).await.0, StatusCode::PRECONDITION_FAILED);

    let (_, st) = s
        .json(
            "GET",
            &format!("{R}/sales/refs/main/objects/stat?path=d/one.csv"),
            None,
        )
        .await;
    assert_eq!(st["size_bytes"], 10);
    assert_eq!(st["path_type"], "object");
    let (_, ls) = s
        .json(
            "GET",
            &format!("{R}/sales/refs/main/objects/ls?prefix=d/&delimiter=/"),
            None,
        )
        .await;
    let paths: Vec<(&str, &str)> = ls["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["path_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        paths,
        vec![("d/e/", "common_prefix"), ("d/one.csv", "object")]
    );

    let (st, c) = s
        .json(
            "POST",
            &format!("{R}/sales/branches/main/objects/copy?dest_path=copy.csv"),
            Some(json!({"src_path": "top.csv"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let (st, e) = s
        .json(
            "POST",
            &format!("{R}/sales/branches/main/objects/delete"),
            Some(json!({"paths": ["top.csv", "copy.csv"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(e["errors"], json!([]));
    let (st, _) = s
        .json(
            "GET",
            &format!("{R}/sales/refs/main/objects/stat?path=top.csv"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .json(
            "DELETE",
            &format!("{R}/sales/branches/main/objects?path=nope"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_4xx_with_a_message_and_change_nothing() {
    let s = with_repo().await;
    let head = s
        .json("GET", &format!("{R}/sales/branches/main"), None)
        .await
        .1;
    for (method, uri, body) in [
        ("GET", format!("{R}?amount=5000"), None),
        ("GET", format!("{R}/nope"), None),
        ("GET", format!("{R}/sales/refs/main/objects"), None),
        ("GET", format!("{R}/sales/refs/main/diff/nope"), None),
        (
            "GET",
            format!("{R}/sales/refs/main/diff/main?type=four_dot"),
            None,
        ),
        (
            "POST",
            R.to_string(),
            Some(json!({"name": "Bad Name!", "storage_namespace": "local://x"})),
        ),
        (
            "POST",
            R.to_string(),
            Some(json!({"name": "sales", "storage_namespace": "local://x"})),
        ),
        (
            "POST",
            format!("{R}/sales/branches"),
            Some(json!({"name": "x"})),
        ),
        (
            "POST",
            format!("{R}/sales/branches/main/commits"),
            Some(json!({"message": "nothing"})),
        ),
        (
            "PUT",
            format!("{R}/sales/branches/main"),
            Some(json!({"type": "everything"})),
        ),
        (
            "PUT",
            format!("{R}/sales/branches/main/hard_reset?ref=main"),
            None,
        ),
        (
            "GET",
            format!("{R}/sales/refs/..%2Fother/objects?path=a"),
            None,
        ),
        ("GET", "/api/v1/nothing-here".to_string(), None),
        (
            "GET",
            format!("{R}/sales/refs/main/diff/main?amount=many"),
            None,
        ),
        ("PATCH", format!("{R}/sales"), None),
    ] {
        let (st, v) = s.json(method, &uri, body).await;
        assert!(st.is_client_error(), "{method} {uri}: {st} {v}");
        assert!(v["message"].is_string(), "{method} {uri}: {v}");
    }
    assert_eq!(
        s.json("GET", &format!("{R}/sales/branches/main"), None)
            .await
            .1,
        head
    );
    let (_, _, text) = s
        .send(
            Request::builder()
                .uri("/metrics")
                .header("authorization", s.auth())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("route=\"/api/v1/repositories/{repo}\",status=\"404\"} 1"),
        "{text}"
    );
}

/// A body that never ends holds its upload open past the time limit: the
/// client gets a 408 with a message, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_the_time_limit_gets_408_and_changes_nothing() {
    let s = with_repo_under(weir_server::ServeOptions {
        timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let first =
        futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from("a,b\n")) });
    let endless = futures::StreamExt::chain(first, futures::stream::pending());
    let req = Request::builder()
        .method("POST")
        .uri(format!("{R}/sales/branches/main/objects?path=slow.csv"))
        .header("authorization", s.auth())
        .body(Body::from_stream(endless))
        .unwrap();
    let started = std::time::Instant::now();
    let (st, _, b) = tokio::time::timeout(std::time::Duration::from_secs(10), s.send(req))
        .await
        .expect("the server's time limit did not end the request");
    let took = started.elapsed();
    assert_eq!(st, StatusCode::REQUEST_TIMEOUT);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(v["message"].as_str().unwrap().contains("limit"), "{v}");
    assert!(took >= std::time::Duration::from_millis(300), "{took:?}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let (st, _) = s
        .json(
            "GET",
            &format!("{R}/sales/refs/main/objects/stat?path=slow.csv"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Quick requests are untouched by the limit.
    assert_eq!(
        upload(&s, "main", "quick.csv", "a,b\n").await,
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_system_repository_is_not_reachable_over_http() {
    let s = with_repo().await;
    s.state
        .lake
        .create_repo("weir-system", "main", None, "weir")
        .await
        .unwrap();
    let (_, list) = s.json("GET", R, None).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1, "{list}");
    let (st, _) = s.json("GET", &format!("{R}/weir-system"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let req = Request::builder()
        .method("POST")
        .uri(format!("{R}/weir-system/branches/main/objects?path=runs/x"))
        .header("authorization", s.auth())
        .body(Body::from("forged"))
        .unwrap();
    assert_eq!(s.send(req).await.0, StatusCode::NOT_FOUND);
    let (st, _) = s.json("DELETE", &format!("{R}/weir-system"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = s
        .json(
            "POST",
            R,
            Some(json!({"name": "weir-system", "storage_namespace": "local://x"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(s.state.lake.repo("weir-system").is_ok());
}

/// A request refused before its body was read closes its connection: a
/// client that sends the body anyway (boto3 does, when `100 Continue` is
/// slow to come) must not have those bytes read as its next request.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_request_with_a_body_closes_its_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(weir_server::serve(
        listener,
        s.state.clone(),
        std::future::pending(),
    ));
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(
        b"PUT /lake/main/x.csv HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        c.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection")
    .unwrap();
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 403"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    server.abort();
}
