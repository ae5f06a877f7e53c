"""The high-level `lakefs` Python package (the interface lakeFS's docs give
Python users), unchanged, against weir serve: repositories, branches,
objects through upload / writer / reader, uncommitted changes, commits,
diffs, merges, tags, cherry-picks, reverts and transactions. Also the
lakeFS SDK's merge with no body, as `merge_into_branch(repo, src, dst)`
sends it. Run by crates/weir-server/tests/it/clients.rs with WEIR_ENDPOINT,
WEIR_KEY and WEIR_SECRET set; exits non-zero on the first failed check."""
import os

import lakefs
import lakefs_sdk
from lakefs.client import Client
from lakefs.exceptions import ConflictException, NotFoundException, ObjectExistsException

client = Client(host=os.environ["WEIR_ENDPOINT"], username=os.environ["WEIR_KEY"],
                password=os.environ["WEIR_SECRET"])
# The wrapper reads the server's configuration before any object call.
assert client.version, "the server reports a version"
assert client.storage_config.pre_sign_support is False

repo = lakefs.Repository("wrapped", client=client).create(storage_namespace="local://wrapped",
                                                          default_branch="main")
assert repo.properties.default_branch == "main"
assert [r.id for r in lakefs.repositories(client=client)] == ["wrapped"]
main = repo.branch("main")

# Objects: upload, stat, exists, reader (whole and ranged), writer.
obj = main.object("raw/a.csv").upload(data=b"k,v\n1,2\n", content_type="text/csv",
                                      metadata={"source": "wrapper"})
st = obj.stat()
assert st.path == "raw/a.csv" and st.size_bytes == 8 and st.content_type == "text/csv", st
assert st.metadata["source"] == "wrapper", st
assert obj.exists() and not main.object("raw/none.csv").exists()
with obj.reader(mode="rb") as r:
    assert r.read() == b"k,v\n1,2\n"
with obj.reader(mode="rb") as r:
    r.seek(4)
    assert r.read(3) == b"1,2"
with main.object("raw/b.txt").writer(mode="w") as w:
    w.write("hello ")
    w.write("lake")
assert main.object("raw/b.txt").reader(mode="r").read() == "hello lake"
try:
    main.object("raw/a.csv").upload(data=b"again", mode="xb")
    raise AssertionError("an exclusive upload over an existing object must fail")
except ObjectExistsException:
    pass

# Uncommitted changes, reset, commit, log.
assert sorted(c.path for c in main.uncommitted()) == ["raw/a.csv", "raw/b.txt"]
main.object("raw/tmp.bin").upload(data=b"scratch")
main.reset_changes(path_type="object", path="raw/tmp.bin")
assert not main.object("raw/tmp.bin").exists()
ref = main.commit(message="load raw", metadata={"by": "wrapper"})
assert ref.get_commit().message == "load raw" and ref.get_commit().metadata["by"] == "wrapper"
assert not list(main.uncommitted())
assert [c.message for c in main.log(max_amount=1)] == ["load raw"]

# A branch, a diff, a merge, a tag.
dev = repo.branch("dev").create(source_reference="main")
dev.object("raw/c.csv").upload(data=b"k,v\n3,4\n")
dev.object("raw/a.csv").delete()
dev.commit(message="add c, drop a")
changes = sorted((c.type, c.path) for c in main.diff(other_ref=dev))
assert changes == [("added", "raw/c.csv"), ("removed", "raw/a.csv")], changes
merged = dev.merge_into(main, message="merge dev")
assert len(merged) == 64, merged
assert main.object("raw/c.csv").exists() and not main.object("raw/a.csv").exists()
tag = repo.tag("v1").create(main)
assert tag.get_commit().id == main.get_commit().id
assert [t.id for t in repo.tags()] == ["v1"]
assert repo.ref("v1").object("raw/c.csv").reader().read() == b"k,v\n3,4\n"
try:
    repo.tag("v1").create(main, exist_ok=False)
    raise AssertionError("a second tag v1 must fail")
except ConflictException:
    pass

# Cherry-pick a commit of another branch, then revert it.
feature = repo.branch("feature").create(source_reference="main")
feature.object("raw/d.csv").upload(data=b"k,v\n5,6\n")
picked = feature.commit(message="add d")
main.cherry_pick(picked)
assert main.object("raw/d.csv").exists()
assert main.get_commit().message == "add d", main.get_commit()
main.revert(main.get_commit())
assert not main.object("raw/d.csv").exists()

# A transaction: changes on an ephemeral branch, committed and merged back
# when the block ends.
with main.transact(commit_message="in a transaction") as tx:
    tx.object("raw/e.csv").upload(data=b"k,v\n7,8\n")
assert main.object("raw/e.csv").reader().read() == b"k,v\n7,8\n"
assert any(c.message == "in a transaction" for c in main.log(max_amount=3))

# Batch delete, then delete a branch and the repository.
main.delete_objects(["raw/c.csv", "raw/e.csv"])
assert not main.object("raw/c.csv").exists()
main.commit(message="clean up")
feature.delete()
try:
    repo.branch("feature").get_commit()
    raise AssertionError("a deleted branch must be gone")
except NotFoundException:
    pass

# The lakeFS SDK's merge sends no body when none is given (the body is
# optional in lakeFS's API).
sdk = client.sdk_client
sdk.branches_api.create_branch("wrapped", lakefs_sdk.BranchCreation(name="plain", source="main"))
repo.branch("plain").object("raw/f.csv").upload(data=b"f")
repo.branch("plain").commit(message="add f")
result = sdk.refs_api.merge_into_branch("wrapped", "plain", "main")
assert len(result.reference) == 64, result
assert main.object("raw/f.csv").exists()

repo.delete()
print("ok")
