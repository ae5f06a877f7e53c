//! `weir auth`: tenants, users, groups and policies from the command line,
//! and what they mean to the clients of `weir serve`.

use std::process::Command;
use std::time::Duration;

use crate::{Env, output_within};

/// (status, body) of an HTTP request with curl.
fn http(port: u16, key: &serde_json::Value, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-m", "60", "-X", method, "-w", "\n%{http_code}", "-u"])
        .arg(format!(
            "{}:{}",
            key["access_key_id"].as_str().unwrap(),
            key["secret_access_key"].as_str().unwrap()
        ))
        .arg(format!("http://127.0.0.1:{port}{path}"));
    if !body.is_empty() {
        c.args(["-H", "accept: application/json", "--data-binary", body]);
    }
    let out = output_within(&mut c, Duration::from_secs(90));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// On a lake that holds the quickstart's repository, a key of a second
/// tenant finds no trace of it over HTTP, while the first tenant's admin
/// reads it.
pub fn a_second_tenant_sees_nothing_of_the_first(e: &Env) {
    let alice = e.json(&["auth", "create-key", "--user", "alice"]);
    assert_eq!(alice["tenant"], "default", "{alice}");
    assert_eq!(alice["groups"], serde_json::json!(["Admins"]), "{alice}");
    let eve = e.json(&["auth", "create-key", "--user", "eve", "--tenant", "acme"]);
    assert_eq!(eve["tenant"], "acme", "{eve}");
    assert_eq!(eve["groups"], serde_json::json!(["Admins"]), "{eve}");
    let (_server, port) = crate::backends::serve(e);

    let q = "SELECT count(*) AS n FROM demand.main.weather";
    let (st, body) = http(port, &alice, "POST", "/api/v1/sql", q);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("1461"), "{body}");

    let (st, body) = http(port, &eve, "GET", "/api/v1/repositories", "");
    assert_eq!(st, 200, "{body}");
    assert!(!body.contains("demand"), "{body}");
    for path in [
        "/api/v1/repositories/demand",
        "/api/v1/repositories/demand/branches",
        "/api/v1/repositories/demand/refs/main/objects/ls",
    ] {
        assert_eq!(http(port, &eve, "GET", path, "").0, 404, "{path}");
    }
    assert_eq!(
        http(port, &eve, "DELETE", "/api/v1/repositories/demand", "").0,
        404
    );
    for q in [
        "SELECT count(*) FROM demand.main.weather",
        "SELECT * FROM weir_log('demand/main')",
        "SELECT * FROM weir_runs()",
        "SELECT * FROM weir_lineage()",
    ] {
        let (st, body) = http(port, &eve, "POST", "/api/v1/sql", q);
        assert!((400..500).contains(&st) && st != 403, "{q}: {st} {body}");
    }
    for q in ["SHOW TABLES", "SELECT * FROM information_schema.schemata"] {
        let (st, body) = http(port, &eve, "POST", "/api/v1/sql", q);
        assert_eq!(st, 200, "{q}: {body}");
        assert!(
            !body.contains("demand") && !body.contains("weather"),
            "{q}: {body}"
        );
    }
    // Each tenant has its own lineage graph: the quickstart's runs are the
    // default tenant's.
    let (st, body) = http(port, &eve, "GET", "/api/v1/namespaces", "");
    assert_eq!(st, 200, "{body}");
    assert!(!body.contains("demand"), "{body}");
    let (st, body) = http(port, &alice, "GET", "/api/v1/namespaces", "");
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("weir://demand"), "{body}");
    let q = "SELECT * FROM weir_lineage('base_forecast', 'upstream', 2, NULL, 'demand/main')";
    let (st, body) = http(port, &eve, "POST", "/api/v1/sql", q);
    assert!((400..500).contains(&st) && st != 403, "{st} {body}");
    let (st, body) = http(port, &alice, "POST", "/api/v1/sql", q);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("panel"), "{body}");
    // Metrics are the lake operators'.
    assert_eq!(http(port, &eve, "GET", "/metrics", "").0, 403);
    assert_eq!(http(port, &alice, "GET", "/metrics", "").0, 200);
    // And the first tenant still has everything.
    let (st, body) = http(
        port,
        &alice,
        "GET",
        "/api/v1/repositories/demand/branches",
        "",
    );
    assert_eq!(st, 200, "{body}");
}

#[test]
fn tenants_users_groups_and_policies_from_the_cli() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://demand", "local://demand"]);
    let k = e.json(&["auth", "create-key", "--user", "alice"]);
    assert_eq!(k["groups"], serde_json::json!(["Admins"]), "{k}");
    let k = e.json(&["auth", "create-key", "--user", "bob"]);
    assert_eq!(k["groups"], serde_json::json!(["Developers"]), "{k}");
    e.ok(&["auth", "create-key", "--user", "vic", "--group", "Viewers"]);
    // A second key of a user keeps its tenant and groups.
    let k = e.json(&["auth", "create-key", "--user", "bob"]);
    assert_eq!(k["tenant"], "default", "{k}");
    e.ok(&["auth", "tenant", "create", "acme"]);
    let k = e.json(&["auth", "create-key", "--user", "eve", "--tenant", "acme"]);
    assert_eq!(k["groups"], serde_json::json!(["Admins"]), "{k}");
    let tenants = e.json(&["auth", "tenant", "list"]);
    assert_eq!(
        tenants["default"]["users"],
        serde_json::json!(["alice", "bob", "vic"])
    );
    assert_eq!(
        tenants["default"]["repositories"],
        serde_json::json!(["demand"])
    );
    assert_eq!(tenants["acme"]["users"], serde_json::json!(["eve"]));

    let policy = e.write(
        "no-main.json",
        r#"{"statement": [{"effect": "deny", "action": ["fs:WriteObject", "commit:Create"], "resource": "weir:repository/demand/branch/main"}]}"#,
    );
    e.ok(&[
        "auth",
        "policy",
        "create",
        "NoMain",
        "--file",
        policy.to_str().unwrap(),
    ]);
    e.ok(&["auth", "policy", "attach", "NoMain", "--user", "bob"]);
    e.ok(&["auth", "policy", "attach", "NoMain", "--group", "Interns"]);
    e.ok(&["auth", "user", "add-group", "vic", "Interns"]);
    let users = e.json(&["auth", "user", "list"]);
    assert_eq!(
        users["bob"]["policies"],
        serde_json::json!(["NoMain"]),
        "{users}"
    );
    assert_eq!(
        users["vic"]["groups"],
        serde_json::json!(["Interns", "Viewers"]),
        "{users}"
    );
    let listed = e.ok(&["auth", "policy", "list"]);
    assert!(
        listed.contains("NoMain") && listed.contains("DeveloperAccess"),
        "{listed}"
    );
    let q = e.json(&[
        "auth",
        "tenant",
        "quota",
        "acme",
        "--requests-per-second",
        "5",
        "--concurrent-queries",
        "2",
    ]);
    assert_eq!(
        q,
        serde_json::json!({"requests_per_second": 5, "concurrent_queries": 2})
    );
    e.ok(&[
        "auth",
        "tenant",
        "quota",
        "acme",
        "--concurrent-queries",
        "0",
    ]);
    let tenants = e.json(&["auth", "tenant", "list"]);
    assert_eq!(
        tenants["acme"]["quota"],
        serde_json::json!({"requests_per_second": 5})
    );
    e.ok(&["auth", "assign-repo", "demand", "--tenant", "acme"]);
    let tenants = e.json(&["auth", "tenant", "list"]);
    assert_eq!(
        tenants["acme"]["repositories"],
        serde_json::json!(["demand"])
    );

    // Bad input: one line, a non-zero exit, nothing changed.
    let before = e.ok(&["auth", "user", "list", "--output", "json"]);
    let bad = e.write("bad.json", r#"{"statement": [{"effect": "maybe"}]}"#);
    let empty = e.write(
        "empty.json",
        r#"{"statement": [{"effect": "allow", "action": [], "resource": "*"}]}"#,
    );
    for args in [
        vec!["auth", "create-key", "--user", "eve", "--tenant", "default"],
        vec!["auth", "create-key", "--user", "anonymous"],
        vec!["auth", "create-key", "--user", "a b"],
        vec!["auth", "create-key", "--user", "zed", "--group", "Nope"],
        vec!["auth", "tenant", "create", "acme"],
        vec!["auth", "user", "add-group", "nobody", "Viewers"],
        vec![
            "auth",
            "policy",
            "create",
            "Bad",
            "--file",
            bad.to_str().unwrap(),
        ],
        vec![
            "auth",
            "policy",
            "create",
            "AdminAccess",
            "--file",
            policy.to_str().unwrap(),
        ],
        vec![
            "auth",
            "policy",
            "create",
            "Empty",
            "--file",
            empty.to_str().unwrap(),
        ],
        vec!["auth", "policy", "attach", "Nope", "--user", "bob"],
        vec!["auth", "policy", "attach", "NoMain", "--group", "Admins"],
        vec!["auth", "assign-repo", "nosuch", "--tenant", "acme"],
        vec!["auth", "assign-repo", "demand", "--tenant", "nosuch"],
        vec![
            "auth",
            "tenant",
            "quota",
            "nosuch",
            "--requests-per-second",
            "1",
        ],
    ] {
        let (code, _, err) = e.run(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(
            err.starts_with("error: ") && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert_eq!(e.ok(&["auth", "user", "list", "--output", "json"]), before);
    assert!(!e.ok(&["auth", "list-keys"]).contains("zed"));
}
