//! The OpenAPI document of `weir serve`'s HTTP API (not the S3 gateway,
//! whose API is S3's). The endpoint table below is the one source: `weir
//! serve --openapi` prints the document built from it, `docs/openapi.json`
//! is that output committed, and the tests check that every route the
//! router has is in the table, that every entry reaches a handler, and that
//! the committed file is current.

use serde_json::{Map, Value, json};

/// Where a parameter goes.
#[derive(Clone, Copy)]
pub enum In {
    Path,
    Query,
}

pub struct Param {
    pub name: &'static str,
    pub at: In,
    pub required: bool,
    pub about: &'static str,
}

pub struct Endpoint {
    pub method: &'static str,
    /// Full path, as the router matches it.
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub query: &'static [Param],
    /// The request body's media type, when there is one.
    pub body: Option<&'static str>,
    /// The success status.
    pub ok: u16,
}

const fn q(name: &'static str, about: &'static str) -> Param {
    Param {
        name,
        at: In::Query,
        required: false,
        about,
    }
}

const fn q_req(name: &'static str, about: &'static str) -> Param {
    Param {
        name,
        at: In::Query,
        required: true,
        about,
    }
}

const PAGE: &[Param] = &[
    q("prefix", "only names starting with this"),
    q("after", "start after this name"),
    q("amount", "page size, 1 to 1000 (default 100)"),
];
const PATH: &[Param] = &[q_req("path", "the object's path")];
const NONE: &[Param] = &[];
const JSON: Option<&str> = Some("application/json");
const MARQUEZ_PAGE: &[Param] = &[
    q("limit", "page size (default 100)"),
    q("offset", "rows to skip"),
];

macro_rules! ep {
    ($m:literal $p:literal $tag:literal $ok:literal $body:expr, $query:expr, $s:literal) => {
        Endpoint {
            method: $m,
            path: $p,
            tag: $tag,
            summary: $s,
            query: $query,
            body: $body,
            ok: $ok,
        }
    };
}

pub const ENDPOINTS: &[Endpoint] = &[
    ep!("get" "/healthz" "operations" 200 None, NONE, "Liveness: answers ok (no key needed)"),
    ep!("get" "/metrics" "operations" 200 None, NONE, "Prometheus metrics: requests and their durations by route and status"),
    ep!("get" "/api/v1/healthcheck" "operations" 204 None, NONE, "lakeFS's health check"),
    ep!("get" "/api/v1/config" "config" 200 None, NONE, "Server configuration as lakeFS clients read it (version, storage: no pre-signed URLs, no imports)"),
    ep!("get" "/api/v1/config/version" "config" 200 None, NONE, "Server version"),
    ep!("get" "/api/v1/config/storage" "config" 200 None, NONE, "Storage configuration"),
    ep!("get" "/api/v1/user" "config" 200 None, NONE, "The user of the key the request is signed with"),
    ep!("get" "/api/v1/repositories" "repositories" 200 None, PAGE, "List repositories"),
    ep!("post" "/api/v1/repositories" "repositories" 201 JSON, NONE, "Create a repository (name, storage_namespace, default_branch)"),
    ep!("get" "/api/v1/repositories/{repo}" "repositories" 200 None, NONE, "Get a repository"),
    ep!("get" "/api/v1/repositories/{repo}/metadata" "repositories" 200 None, NONE, "A repository's metadata (none yet: {})"),
    ep!("delete" "/api/v1/repositories/{repo}" "repositories" 204 None, NONE, "Delete a repository"),
    ep!("get" "/api/v1/repositories/{repo}/branches" "branches" 200 None, PAGE, "List branches"),
    ep!("post" "/api/v1/repositories/{repo}/branches" "branches" 201 JSON, NONE, "Create a branch from a ref (answers the commit id as text)"),
    ep!("get" "/api/v1/repositories/{repo}/branches/{branch}" "branches" 200 None, NONE, "Get a branch"),
    ep!("delete" "/api/v1/repositories/{repo}/branches/{branch}" "branches" 204 None, NONE, "Delete a branch"),
    ep!("put" "/api/v1/repositories/{repo}/branches/{branch}" "branches" 204 JSON, NONE, "Reset uncommitted changes (type reset, common_prefix or object)"),
    ep!("put" "/api/v1/repositories/{repo}/branches/{branch}/hard_reset" "branches" 400 None, NONE, "Refused: weir branches move only by commit, merge and revert"),
    ep!("post" "/api/v1/repositories/{repo}/branches/{branch}/commits" "commits" 201 JSON, NONE, "Commit the branch's staged changes (message, metadata)"),
    ep!("post" "/api/v1/repositories/{repo}/branches/{branch}/revert" "branches" 204 JSON, NONE, "Revert a commit on the branch (ref, parent_number)"),
    ep!("post" "/api/v1/repositories/{repo}/branches/{branch}/cherry-pick" "branches" 201 JSON, NONE, "Apply a commit's changes to the branch as a new commit (ref, parent_number)"),
    ep!("get" "/api/v1/repositories/{repo}/branches/{branch}/diff" "branches" 200 None, PAGE, "Uncommitted changes on the branch"),
    ep!("get" "/api/v1/repositories/{repo}/refs/{reference}/commits" "commits" 200 None, &[q("after", "start after this commit"), q("amount", "page size"), q("first_parent", "follow first parents only")], "Commit log of a ref"),
    ep!("get" "/api/v1/repositories/{repo}/commits/{id}" "commits" 200 None, NONE, "Get a commit"),
    ep!("get" "/api/v1/repositories/{repo}/refs/{left}/diff/{right}" "refs" 200 None, &[q("type", "two_dot or three_dot (default)"), q("prefix", "only paths starting with this"), q("after", "start after this path"), q("amount", "page size")], "Difference between two refs"),
    ep!("post" "/api/v1/repositories/{repo}/refs/{source}/merge/{dest}" "refs" 200 JSON, NONE, "Merge a ref into a branch (optional body: message, metadata, strategy source-wins or dest-wins, squash_merge; Delta tables changed on both sides merge by their logs; a conflict is 409)"),
    ep!("get" "/api/v1/repositories/{repo}/refs/{source}/merge/{dest}" "refs" 200 None, NONE, "Merge base of two refs"),
    ep!("get" "/api/v1/repositories/{repo}/tags" "tags" 200 None, PAGE, "List tags"),
    ep!("post" "/api/v1/repositories/{repo}/tags" "tags" 201 JSON, NONE, "Create a tag (id, ref)"),
    ep!("get" "/api/v1/repositories/{repo}/tags/{tag}" "tags" 200 None, NONE, "Get a tag"),
    ep!("delete" "/api/v1/repositories/{repo}/tags/{tag}" "tags" 204 None, NONE, "Delete a tag"),
    ep!("post" "/api/v1/repositories/{repo}/branches/{branch}/objects" "objects" 201 Some("application/octet-stream"), PATH, "Upload an object (raw body or multipart content; If-None-Match: * creates only if absent)"),
    ep!("delete" "/api/v1/repositories/{repo}/branches/{branch}/objects" "objects" 204 None, PATH, "Delete an object"),
    ep!("post" "/api/v1/repositories/{repo}/branches/{branch}/objects/delete" "objects" 200 JSON, NONE, "Delete up to 1000 objects (paths)"),
    ep!("post" "/api/v1/repositories/{repo}/branches/{branch}/objects/copy" "objects" 201 JSON, &[q_req("dest_path", "where the copy goes")], "Copy an object (src_path, src_ref)"),
    ep!("get" "/api/v1/repositories/{repo}/refs/{reference}/objects" "objects" 200 None, PATH, "Read an object (Range, If-None-Match)"),
    ep!("head" "/api/v1/repositories/{repo}/refs/{reference}/objects" "objects" 200 None, PATH, "An object's headers"),
    ep!("get" "/api/v1/repositories/{repo}/refs/{reference}/objects/stat" "objects" 200 None, PATH, "An object's metadata"),
    ep!("get" "/api/v1/repositories/{repo}/refs/{reference}/objects/ls" "objects" 200 None, &[q("prefix", "only paths starting with this"), q("delimiter", "/ folds deeper paths into common prefixes"), q("after", "start after this path"), q("amount", "page size")], "List objects"),
    ep!("post" "/api/v1/sql" "sql" 200 Some("text/plain"), &[q("query", "the query, when not in the body"), q("repo", "repository for unqualified names"), q("ref", "ref for unqualified names")], "Run one query; Accept picks Arrow IPC stream, JSON, NDJSON or CSV; streamed"),
    ep!("get" "/api/v1/repositories/{repo}/schedules" "schedules" 200 None, NONE, "The repository's triggers, with when each fires next"),
    ep!("get" "/api/v1/repositories/{repo}/schedules/{name}" "schedules" 200 None, NONE, "One trigger"),
    ep!("put" "/api/v1/repositories/{repo}/schedules/{name}" "schedules" 200 JSON, NONE, "Add (201) or replace a trigger: weir schedule add's settings as JSON, with pipeline a manifest in the lake (weir://REPO/REF/PATH/weir.toml)"),
    ep!("delete" "/api/v1/repositories/{repo}/schedules/{name}" "schedules" 204 None, NONE, "Remove a trigger (its firings stay in weir_schedule_runs())"),
    ep!("post" "/api/v1/repositories/{repo}/schedules/{name}/run" "schedules" 200 None, NONE, "Fire a trigger now; answers with the firing's record when its run ended"),
    ep!("post" "/api/v1/repositories/{repo}/schedules/{name}/pause" "schedules" 200 None, NONE, "Stop a trigger firing until resumed"),
    ep!("post" "/api/v1/repositories/{repo}/schedules/{name}/resume" "schedules" 200 None, NONE, "Let a paused trigger fire again, from now"),
    ep!("get" "/api/v1/repositories/{repo}/schedules/{name}/firings" "schedules" 200 None, NONE, "A trigger's firings, newest first"),
    ep!("post" "/api/v1/lineage" "lineage" 201 JSON, NONE, "Receive an OpenLineage RunEvent, JobEvent or DatasetEvent (gzip bodies too)"),
    ep!("get" "/api/v1/lineage" "lineage" 200 None, &[q_req("nodeId", "dataset:NAMESPACE:NAME or job:NAMESPACE:NAME"), q("depth", "hops to follow (default 20)"), q("asOf", "the graph as of a ref of the dataset's weir repository, or a time")], "Marquez-shaped lineage graph around a node"),
    ep!("post" "/api/v1/lineage/batch" "lineage" 200 JSON, NONE, "Receive an array of OpenLineage events; bad ones are reported by index"),
    ep!("get" "/api/v1/namespaces" "lineage" 200 None, MARQUEZ_PAGE, "Lineage namespaces"),
    ep!("get" "/api/v1/namespaces/{ns}/datasets" "lineage" 200 None, MARQUEZ_PAGE, "Datasets of a namespace"),
    ep!("get" "/api/v1/namespaces/{ns}/jobs" "lineage" 200 None, MARQUEZ_PAGE, "Jobs of a namespace"),
    ep!("get" "/api/v1/namespaces/{ns}/jobs/{job}/runs" "lineage" 200 None, MARQUEZ_PAGE, "Runs of a job, newest first"),
    ep!("get" "/api/v1/events/lineage" "lineage" 200 None, &[q("before", "only events at or before this RFC 3339 time (default 2030-01-01)"), q("after", "only events at or after this time (default 1970-01-01)"), q("sortDirection", "desc (default) or asc"), q("limit", "page size (default 100)"), q("offset", "rows to skip")], "Lineage events as received, newest first (Marquez)"),
    ep!("get" "/api/v1/column-lineage" "lineage" 200 None, &[q_req("nodeId", "datasetField:NAMESPACE:DATASET:FIELD"), q("depth", "hops to follow (default 20)"), q("withDownstream", "also the fields computed from it (default false)"), q("asOf", "as of a ref of the dataset's weir repository, or a time")], "Marquez-shaped column lineage of one field"),
    ep!("get" "/api/v1/search" "lineage" 200 None, &[q_req("q", "text to find in dataset and job names (case-insensitive)"), q("filter", "dataset or job"), q("sort", "name (default) or updated_at"), q("limit", "page size (default 10)"), q("namespace", "only this namespace"), q("before", "updated before this day (YYYY-MM-DD)"), q("after", "updated after this day")], "Search datasets and jobs by name (Marquez)"),
    ep!("get" "/api/v1/auth/users" "auth" 200 None, PAGE, "Users of the caller's tenant"),
    ep!("post" "/api/v1/auth/users" "auth" 201 JSON, NONE, "Create a user in the caller's tenant (id), with no group"),
    ep!("get" "/api/v1/auth/users/{userId}" "auth" 200 None, NONE, "Get a user"),
    ep!("delete" "/api/v1/auth/users/{userId}" "auth" 204 None, NONE, "Delete a user and its access keys"),
    ep!("get" "/api/v1/auth/users/{userId}/credentials" "auth" 200 None, PAGE, "A user's access keys (a user may list its own)"),
    ep!("post" "/api/v1/auth/users/{userId}/credentials" "auth" 201 None, NONE, "Create an access key for a user (a user may for itself); the secret is shown only now"),
    ep!("get" "/api/v1/auth/users/{userId}/credentials/{accessKeyId}" "auth" 200 None, NONE, "Get an access key (without its secret)"),
    ep!("delete" "/api/v1/auth/users/{userId}/credentials/{accessKeyId}" "auth" 204 None, NONE, "Delete an access key"),
    ep!("get" "/api/v1/auth/users/{userId}/groups" "auth" 200 None, PAGE, "A user's groups"),
    ep!("get" "/api/v1/auth/users/{userId}/policies" "auth" 200 None, PAGE, "Policies attached to a user (not through groups)"),
    ep!("put" "/api/v1/auth/users/{userId}/policies/{policyId}" "auth" 201 None, NONE, "Attach a policy to a user"),
    ep!("delete" "/api/v1/auth/users/{userId}/policies/{policyId}" "auth" 204 None, NONE, "Detach a policy from a user"),
    ep!("get" "/api/v1/auth/groups" "auth" 200 None, PAGE, "Groups of the caller's tenant: Admins, Developers, Viewers and its own"),
    ep!("post" "/api/v1/auth/groups" "auth" 201 JSON, NONE, "Create a group (id)"),
    ep!("get" "/api/v1/auth/groups/{groupId}" "auth" 200 None, NONE, "Get a group"),
    ep!("delete" "/api/v1/auth/groups/{groupId}" "auth" 204 None, NONE, "Delete a group (its members leave it)"),
    ep!("get" "/api/v1/auth/groups/{groupId}/members" "auth" 200 None, PAGE, "A group's users"),
    ep!("put" "/api/v1/auth/groups/{groupId}/members/{userId}" "auth" 201 None, NONE, "Add a user to a group"),
    ep!("delete" "/api/v1/auth/groups/{groupId}/members/{userId}" "auth" 204 None, NONE, "Remove a user from a group"),
    ep!("get" "/api/v1/auth/groups/{groupId}/policies" "auth" 200 None, PAGE, "Policies attached to a group"),
    ep!("put" "/api/v1/auth/groups/{groupId}/policies/{policyId}" "auth" 201 None, NONE, "Attach a policy to a group"),
    ep!("delete" "/api/v1/auth/groups/{groupId}/policies/{policyId}" "auth" 204 None, NONE, "Detach a policy from a group"),
    ep!("get" "/api/v1/auth/policies" "auth" 200 None, PAGE, "Policies of the caller's tenant and the built-in ones"),
    ep!("post" "/api/v1/auth/policies" "auth" 201 JSON, NONE, "Create a policy (id, statement: effect allow|deny, action, resource)"),
    ep!("get" "/api/v1/auth/policies/{policyId}" "auth" 200 None, NONE, "Get a policy"),
    ep!("put" "/api/v1/auth/policies/{policyId}" "auth" 200 JSON, NONE, "Replace a policy's statements"),
    ep!("delete" "/api/v1/auth/policies/{policyId}" "auth" 204 None, NONE, "Delete a policy (detached everywhere)"),
    ep!("post" "/recommend_qty" "decisions" 200 JSON, NONE, "Newsvendor order quantity from a distribution or the forecast at a ref, with the commit used"),
    ep!("post" "/voi" "decisions" 200 JSON, NONE, "Expected value of perfect information, and of a given cut in forecast error"),
];

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for e in ENDPOINTS {
        let mut params = path_params(e.path);
        params.extend(e.query.iter().map(|p| {
            json!({
                "name": p.name,
                "in": match p.at { In::Path => "path", In::Query => "query" },
                "required": p.required,
                "description": p.about,
                "schema": { "type": "string" },
            })
        }));
        let mut op = json!({
            "tags": [e.tag],
            "summary": e.summary,
            "parameters": params,
            "responses": {
                e.ok.to_string(): { "description": "success" },
                "default": {
                    "description": "error: {\"message\": ...} with the status of its kind (400, 401, 403, 404, 409, 412, 416)",
                },
            },
        });
        if let Some(mt) = e.body {
            // As lakeFS declares it: a merge's body may be left out.
            let required = !e.path.contains("/merge/");
            op["requestBody"] = json!({ "required": required, "content": { mt: {} } });
        }
        if e.path != "/healthz" && e.path != "/metrics" && e.path != "/api/v1/healthcheck" {
            op["security"] = json!([{ "basic_auth": [] }, { "api_key": [] }]);
        }
        paths
            .entry(e.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object")
            .insert(e.method.to_string(), op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "weir serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A weir lake over HTTP: lakeFS's REST API under /api/v1, SQL, OpenLineage ingest and Marquez-style lineage reads, and decisions. The S3 gateway on the same port (bucket = repository, key = REF/PATH) follows S3's API and is not described here.",
        },
        "components": {
            "securitySchemes": {
                "basic_auth": { "type": "http", "scheme": "basic", "description": "access key id and secret (weir auth create-key)" },
                "api_key": { "type": "http", "scheme": "bearer", "description": "KEY_ID:SECRET, as OpenLineage emitters send an API key" },
            },
        },
        "paths": paths,
    })
}
