//! What schedulers keep in the metadata store for each trigger: claims
//! older than a week are pruned (an open firing's stays), and removing a
//! trigger removes all of it.

use std::sync::Arc;

use chrono::{Duration, Utc};
use weir_jobs::schedule::{self, Spec};

#[tokio::test(flavor = "multi_thread")]
async fn old_claims_are_pruned_and_a_removed_trigger_leaves_nothing() {
    let f = crate::runs::fixture().await;
    let lake: &Arc<weir_store::Lake> = &f.lake;
    let spec = Spec {
        name: "hourly".into(),
        cron: Some("0 * * * *".into()),
        target: Some("weir://demand/main".into()),
        ..Default::default()
    };
    let manifest = f.root.join("pipeline/weir.toml").display().to_string();
    let t = spec
        .build(lake, &manifest, None, "test", Utc::now())
        .unwrap();
    schedule::add(lake, t).unwrap();
    let meta = lake.meta_store();
    let claim = |days: i64| {
        serde_json::json!({"claimant": "gone:1", "at": (Utc::now() - Duration::days(days)).to_rfc3339()})
            .to_string()
    };
    for (key, days) in [
        ("2026-01-01T00:00:00Z", 30),
        ("2026-01-02T00:00:00Z", 8),
        ("recent", 1),
    ] {
        meta.put_setting("", &format!("schedule.claim/hourly/{key}"), &claim(days))
            .unwrap();
    }
    // A claim of another trigger whose name starts the same is not this one's.
    meta.put_setting("", "schedule.claim/hourly2/old", &claim(30))
        .unwrap();
    let open = serde_json::json!([{"key": "2026-01-01T00:00:00Z", "kind": "cron", "due": null,
        "commit": null, "claimant": "elsewhere:1", "at": Utc::now().to_rfc3339()}]);
    meta.put_setting("", "schedule.open/hourly", &open.to_string())
        .unwrap();

    assert_eq!(
        schedule::prune_claims(lake, "hourly", Utc::now()).unwrap(),
        1
    );
    let left: Vec<String> = meta
        .list_settings("", "schedule.claim/hourly/")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        left,
        [
            "schedule.claim/hourly/2026-01-01T00:00:00Z",
            "schedule.claim/hourly/recent"
        ]
    );

    schedule::remove(lake, "hourly").unwrap();
    let kept: Vec<String> = meta
        .list_settings("", "schedule.")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kept, ["schedule.claim/hourly2/old"]);
}
