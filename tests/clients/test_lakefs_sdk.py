"""The lakeFS Python SDK (lakefs-sdk), unchanged, against weir serve: only
the endpoint and the keys differ from a lakeFS setup. Run by
crates/weir-server/tests/it/clients.rs with WEIR_ENDPOINT, WEIR_KEY and
WEIR_SECRET set; exits non-zero on the first failed check."""
import os
import tempfile

import lakefs_sdk
from lakefs_sdk.exceptions import ApiException
from lakefs_sdk.models import (BranchCreation, CommitCreation, Merge, RepositoryCreation,
                               ResetCreation, TagCreation)

cfg = lakefs_sdk.Configuration(host=os.environ["WEIR_ENDPOINT"],
                               username=os.environ["WEIR_KEY"], password=os.environ["WEIR_SECRET"])
client = lakefs_sdk.ApiClient(cfg)
repos, branches = lakefs_sdk.RepositoriesApi(client), lakefs_sdk.BranchesApi(client)
objects, commits = lakefs_sdk.ObjectsApi(client), lakefs_sdk.CommitsApi(client)
refs, tags = lakefs_sdk.RefsApi(client), lakefs_sdk.TagsApi(client)


def put(branch, path, data):
    # The SDK uploads files by name, as multipart form data.
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
    try:
        return objects.upload_object("demo", branch, path, content=f.name)
    finally:
        os.unlink(f.name)


def status_of(call):
    try:
        call()
    except ApiException as e:
        return e.status
    return 200


repo = repos.create_repository(RepositoryCreation(name="demo", storage_namespace="local://demo",
                                                  default_branch="main"))
assert repo.id == "demo" and repo.default_branch == "main", repo
assert [r.id for r in repos.list_repositories().results] == ["demo"]

head = branches.create_branch("demo", BranchCreation(name="dev", source="main"))
assert len(head) == 64, head
stats = put("dev", "data/a.csv", b"k,v\n1,2\n")
assert stats.path == "data/a.csv" and stats.size_bytes == 8, stats
put("dev", "data/b.csv", b"k,v\n")
assert [d.path for d in branches.diff_branch("demo", "dev").results] == ["data/a.csv", "data/b.csv"]
# Discard one uncommitted object, keep the other.
branches.reset_branch("demo", "dev", ResetCreation(type="object", path="data/b.csv"))
c = commits.commit("demo", "dev", CommitCreation(message="add a", metadata={"by": "sdk"}))
# weir adds its own keys (the audit chain head), as lakeFS adds `.lakefs.*`.
assert c.message == "add a" and c.metadata["by"] == "sdk", c

diff = refs.diff_refs("demo", "main", "dev")
assert [(d.type, d.path) for d in diff.results] == [("added", "data/a.csv")], diff
merged = refs.merge_into_branch("demo", "dev", "main", merge=Merge(message="merge dev"))
assert len(merged.reference) == 64
assert bytes(objects.get_object("demo", "main", "data/a.csv")) == b"k,v\n1,2\n"

# The same object changed on both sides: a conflict (409), then source-wins.
put("main", "data/a.csv", b"main")
commits.commit("demo", "main", CommitCreation(message="main edit"))
put("dev", "data/a.csv", b"dev")
commits.commit("demo", "dev", CommitCreation(message="dev edit"))
assert status_of(lambda: refs.merge_into_branch("demo", "dev", "main", merge=Merge())) == 409
refs.merge_into_branch("demo", "dev", "main", merge=Merge(strategy="source-wins"))
assert bytes(objects.get_object("demo", "main", "data/a.csv")) == b"dev"

log = refs.log_commits("demo", "main", amount=100)
messages = [c.message for c in log.results]
assert "main edit" in messages and "dev edit" in messages, messages
assert log.pagination.has_more is False

tags.create_tag("demo", TagCreation(id="v1", ref="main"))
assert tags.get_tag("demo", "v1").commit_id == branches.get_branch("demo", "main").commit_id
assert bytes(objects.get_object("demo", "v1", "data/a.csv", range="bytes=0-1")) == b"de"
listing = objects.list_objects("demo", "v1", prefix="data/")
assert [o.path for o in listing.results] == ["data/a.csv"], listing
assert objects.stat_object("demo", "v1", "data/a.csv").size_bytes == 3
assert status_of(lambda: objects.stat_object("demo", "v1", "data/none.csv")) == 404

# Wrong keys: 401, and nothing is created.
bad = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(host=cfg.host, username="AKIAJNOBODY",
                                                    password="wrong"))
assert status_of(lambda: lakefs_sdk.RepositoriesApi(bad).create_repository(
    RepositoryCreation(name="evil", storage_namespace="local://evil"))) == 401
assert [r.id for r in repos.list_repositories().results] == ["demo"]
print("lakefs-sdk: all checks passed")
