//! `weir billing export` against a fake Stripe that checks what Stripe
//! checks (the secret key, a form body with the meter event's fields),
//! answers a repeated `Idempotency-Key` with its first answer as Stripe
//! does, and fails on cue: 429, 500, an answer later than the client
//! waits, and a request held until the test kills the exporter.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Env;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answered as usual.
    Pass,
    TooMany,
    ServerError,
    /// Answers after the client's timeout (1 s in these tests).
    Late,
    /// Never answers: the test kills the exporter meanwhile.
    Hold,
}

#[derive(Default)]
struct Stripe {
    faults: VecDeque<Fault>,
    /// Accepted events by identifier: (event_name, customer, value, timestamp).
    events: BTreeMap<String, (String, String, u64, i64)>,
    requests: usize,
    replays: usize,
    held: bool,
    refused: Vec<String>,
}

fn decode(s: &str) -> String {
    let b = s.replace('+', " ");
    let bytes = b.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&b[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn answer(mut s: &TcpStream, status: &str, extra: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
}

fn serve(stream: TcpStream, state: Arc<Mutex<Stripe>>) {
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let n: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; n];
    let _ = r.read_exact(&mut body);
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let fault = {
        let mut st = state.lock().unwrap();
        st.requests += 1;
        st.faults.pop_front()
    };
    match fault {
        Some(Fault::TooMany) => {
            return answer(
                &stream,
                "429 Too Many Requests",
                "retry-after: 0\r\n",
                r#"{"error":{"message":"Too many requests"}}"#,
            );
        }
        Some(Fault::ServerError) => {
            return answer(
                &stream,
                "500 Internal Server Error",
                "",
                r#"{"error":{"message":"oops"}}"#,
            );
        }
        Some(Fault::Late) => std::thread::sleep(Duration::from_millis(2500)),
        Some(Fault::Hold) => {
            state.lock().unwrap().held = true;
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        Some(Fault::Pass) | None => {}
    }
    let mut st = state.lock().unwrap();
    let refuse = |st: &mut Stripe, status: &str, m: String| {
        st.refused.push(m.clone());
        answer(
            &stream,
            status,
            "",
            &serde_json::json!({"error": {"message": m}}).to_string(),
        )
    };
    if line.split_whitespace().nth(1) != Some("/v1/billing/meter_events") {
        return refuse(&mut st, "404 Not Found", format!("no route {line}"));
    }
    if headers.get("authorization").map(String::as_str) != Some("Bearer sk_test_weir") {
        return refuse(
            &mut st,
            "401 Unauthorized",
            "Invalid API Key provided".into(),
        );
    }
    if !headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return refuse(&mut st, "400 Bad Request", "not a form".into());
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let value: Option<u64> = field("payload[value]").parse().ok();
    let timestamp: Option<i64> = field("timestamp").parse().ok();
    let id = field("identifier");
    if field("event_name").is_empty()
        || !field("payload[stripe_customer_id]").starts_with("cus_")
        || value.is_none()
        || timestamp.is_none()
        || id.is_empty()
        || id.len() > 100
    {
        return refuse(
            &mut st,
            "400 Bad Request",
            format!("bad meter event {form:?}"),
        );
    }
    if st.events.contains_key(&id) {
        if headers.get("idempotency-key") == Some(&id) {
            st.replays += 1;
            return answer(&stream, "200 OK", "", r#"{"object":"billing.meter_event"}"#);
        }
        return refuse(
            &mut st,
            "400 Bad Request",
            format!("duplicate identifier {id}"),
        );
    }
    st.events.insert(
        id,
        (
            field("event_name"),
            field("payload[stripe_customer_id]"),
            value.unwrap(),
            timestamp.unwrap(),
        ),
    );
    answer(&stream, "200 OK", "", r#"{"object":"billing.meter_event"}"#);
}

fn fake_stripe() -> (u16, Arc<Mutex<Stripe>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let state = Arc::new(Mutex::new(Stripe::default()));
    let st = state.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let st = st.clone();
            std::thread::spawn(move || serve(s, st));
        }
    });
    (port, state)
}

fn sum(v: &serde_json::Value, k: &str) -> f64 {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r[k].as_f64().unwrap_or(0.0))
        .sum()
}

fn billed(st: &Stripe, meter: &str) -> u64 {
    st.events
        .values()
        .filter(|e| e.0 == meter && e.1 == "cus_A")
        .map(|e| e.2)
        .sum()
}

#[test]
fn usage_is_billed_to_stripe_once_through_faults_and_a_killed_export() {
    let mut e: Env = crate::pipeline::setup();
    let (port, stripe) = fake_stripe();
    e.vars.extend([
        (
            "WEIR_STRIPE_API_BASE".to_string(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("WEIR_STRIPE_SECRET_KEY".into(), "sk_test_weir".into()),
        ("WEIR_STRIPE_TIMEOUT_SECS".into(), "1".into()),
    ]);
    e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    // Not billed before the tenant has a customer.
    let r = e.json(&["billing", "export", "--settle-secs", "0"]);
    assert_eq!(r["events"], 0, "{r}");
    assert_eq!(r["unbilled_tenants"], serde_json::json!(["default"]));
    let (code, _, err) = e.run(&["billing", "customer", "default", "acct_1"]);
    assert_eq!(code, 2, "{err}");
    e.ok(&["billing", "customer", "default", "cus_A"]);

    // The usage of the run, billed through a 429, a 500 and a timeout.
    e.ok(&["run", "p/weir.toml", "weir://shop/main", "--force"]);
    stripe.lock().unwrap().faults = [Fault::TooMany, Fault::ServerError, Fault::Late].into();
    let r = e.json(&["billing", "export", "--settle-secs", "0"]);
    let used = e.json(&["usage", "--by", "tenant", "--from", "2000-01-01"]);
    {
        let st = stripe.lock().unwrap();
        assert!(st.refused.is_empty(), "{:?}", st.refused);
        assert!(r["events"].as_u64().unwrap() >= 2, "{r}");
        assert_eq!(st.requests, r["events"].as_u64().unwrap() as usize + 3);
        // The first run's stages were used before the customer was set;
        // the cursor had moved past them, so they stay unbilled.
        assert_eq!(billed(&st, "weir_requests"), 2, "{:?}", st.events);
        let cpu_ms = billed(&st, "weir_cpu_ms") as f64;
        let both_runs_cpu = sum(&used, "cpu_seconds") * 1e3;
        assert!(
            cpu_ms > 0.0 && cpu_ms <= both_runs_cpu + 2.0,
            "{cpu_ms} {both_runs_cpu}"
        );
    }
    // Again: nothing new.
    let r = e.json(&["billing", "export", "--settle-secs", "0"]);
    assert_eq!(r["events"], 0, "{r}");

    // A wrong key is refused: the export fails and bills nothing.
    e.ok(&["run", "p/weir.toml", "weir://shop/main", "--force"]);
    let status = e.json(&["billing", "status"]);
    let mut wrong = e.cmd();
    wrong.env("WEIR_STRIPE_SECRET_KEY", "sk_test_wrong").args([
        "billing",
        "export",
        "--settle-secs",
        "0",
    ]);
    let out = wrong.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Invalid API Key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.json(&["billing", "status"])["cursor"], status["cursor"]);
    assert_eq!(stripe.lock().unwrap().refused.len(), 1);
    stripe.lock().unwrap().refused.clear();

    // Killed while Stripe holds its second event: the next export posts
    // the same events again, which Stripe takes as the ones it has.
    let before = stripe.lock().unwrap().events.len();
    stripe.lock().unwrap().faults = [Fault::Pass, Fault::Hold].into();
    let mut cmd = e.cmd();
    let mut child = cmd
        .args(["billing", "export", "--settle-secs", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !stripe.lock().unwrap().held {
        assert!(start.elapsed() < Duration::from_secs(60), "never posted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let r = e.json(&["billing", "export", "--settle-secs", "0"]);
    assert!(r["events"].as_u64().unwrap() >= 2, "{r}");
    let st = stripe.lock().unwrap();
    assert!(st.refused.is_empty(), "{:?}", st.refused);
    // Four stages ran since the customer was set: four requests billed,
    // whatever was posted twice.
    assert_eq!(billed(&st, "weir_requests"), 4, "{:?}", st.events);
    assert!(st.events.len() > before);
    let status = e.json(&["billing", "status"]);
    assert_eq!(status["not_billed_yet"], serde_json::json!([]), "{status}");
}

/// The cost of a run's stages at the lake's prices, summed and as FOCUS
/// rows that the FOCUS validator (PyPI focus-validator) accepts.
#[test]
fn costs_price_usage_and_export_focus_rows_the_validator_accepts() {
    let e: Env = crate::pipeline::setup();
    e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    let run = e.json(&["runs"])[0]["run_id"].as_str().unwrap().to_string();
    let used = e.json(&["usage", "--by", "resource_id"]);
    let cpu = sum(&used, "cpu_seconds");
    assert!(cpu > 0.0, "{used}");
    e.ok(&[
        "costs",
        "prices",
        "--cpu-second",
        "2",
        "--million-requests",
        "1000000",
    ]);
    let c = e.json(&["costs", "--resource", &run, "--by", "tenant,sku"]);
    let rows = c.as_array().unwrap();
    let cost = |sku: &str| {
        rows.iter()
            .find(|r| r["sku"] == sku)
            .map(|r| r["cost"].as_f64().unwrap())
            .unwrap_or(0.0)
    };
    assert!((cost("cpu") - 2.0 * cpu).abs() < 1e-9, "{c} {cpu}");
    // Two stages, a request each, at a dollar a request.
    assert!((cost("requests") - 2.0).abs() < 1e-9, "{c}");
    assert_eq!(rows[0]["tenant"], "default");
    assert_eq!(rows[0]["currency"], "USD");
    let (code, _, err) = e.run(&["costs", "prices", "--currency", "dollars"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = e.run(&["costs", "--by", "colour"]);
    assert_eq!(code, 2, "{err}");
    // The same in SQL.
    let n = e.ok(&[
        "sql",
        &format!(
            "SELECT count(*) AS n FROM weir_costs() WHERE \"ResourceId\" = '{run}' AND \"SubAccountId\" = 'default'"
        ),
        "--format",
        "csv",
    ]);
    assert_eq!(n, "n\n4\n", "two stages, each a request and CPU");

    let out = e.dir.path().join("focus.csv");
    e.ok(&["costs", "--focus", out.to_str().unwrap()]);
    let venv = crate::output_within(
        std::process::Command::new("bash")
            .arg(crate::backends::repo_root().join("tests/clients/venv.sh"))
            .arg("focus"),
        Duration::from_secs(900),
    );
    assert!(
        venv.status.success(),
        "{}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let python = std::path::PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim());
    let site = String::from_utf8(
        std::process::Command::new(&python)
            .args([
                "-c",
                "import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // The validator reads its currency list relative to the working directory.
    let v = crate::output_within(
        std::process::Command::new(python.with_file_name("focus-validator"))
            .current_dir(site.trim())
            .arg("--data-file")
            .arg(&out)
            .args(["--validate-version", "1.0", "--override-file"])
            .arg(crate::backends::repo_root().join("tests/clients/focus-overrides.yaml")),
        Duration::from_secs(300),
    );
    let text =
        String::from_utf8_lossy(&v.stdout).into_owned() + &String::from_utf8_lossy(&v.stderr);
    assert!(text.contains("Validation succeeded"), "{text}");
}
