"""Two tenants on one server with the real clients: boto3 over the S3
gateway and the lakeFS SDK. The second tenant's key (WEIR_KEY2) sees
nothing of the first's repository; a viewer (WEIR_KEY3) of the first
tenant reads but cannot write."""
import os

import boto3
import lakefs_sdk
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["WEIR_URL"]
ALICE = (os.environ["WEIR_KEY"], os.environ["WEIR_SECRET"])
EVE = (os.environ["WEIR_KEY2"], os.environ["WEIR_SECRET2"])
VIC = (os.environ["WEIR_KEY3"], os.environ["WEIR_SECRET3"])


def s3(who):
    return boto3.client("s3", endpoint_url=URL, aws_access_key_id=who[0],
                        aws_secret_access_key=who[1], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "OK"


def sdk(who):
    cfg = lakefs_sdk.Configuration(host=f"{URL}/api/v1", username=who[0], password=who[1])
    return lakefs_sdk.ApiClient(cfg)


alice, eve, vic = s3(ALICE), s3(EVE), s3(VIC)
alice.create_bucket(Bucket="demand")
alice.put_object(Bucket="demand", Key="main/sales.csv", Body=b"item,qty\na,1\n")
eve.create_bucket(Bucket="acme")
eve.put_object(Bucket="acme", Key="main/orders.csv", Body=b"item,qty\nb,2\n")

# Each tenant lists only its own buckets.
assert [b["Name"] for b in alice.list_buckets()["Buckets"]] == ["demand"]
assert [b["Name"] for b in eve.list_buckets()["Buckets"]] == ["acme"]

# Another tenant's bucket is AccessDenied, as S3 answers for another
# account's bucket; nothing is read, written or deleted.
for i, call in enumerate([
    lambda: eve.get_object(Bucket="demand", Key="main/sales.csv"),
    lambda: eve.head_object(Bucket="demand", Key="main/sales.csv"),
    lambda: eve.list_objects_v2(Bucket="demand"),
    lambda: eve.put_object(Bucket="demand", Key="main/evil.csv", Body=b"x"),
    lambda: eve.delete_object(Bucket="demand", Key="main/sales.csv"),
    lambda: eve.delete_objects(Bucket="demand", Delete={"Objects": [{"Key": "main/sales.csv"}]}),
    lambda: eve.copy_object(Bucket="acme", Key="main/stolen.csv",
                            CopySource={"Bucket": "demand", "Key": "main/sales.csv"}),
    lambda: eve.create_multipart_upload(Bucket="demand", Key="main/big.bin"),
    lambda: eve.delete_bucket(Bucket="demand"),
]):
    # A HEAD answer has no body: botocore reports its status.
    assert code(call) in ("AccessDenied", "403"), (i, code(call))
# A name another tenant holds is taken, as bucket names are in S3.
assert code(lambda: eve.create_bucket(Bucket="demand")) in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou")

# A viewer of the first tenant reads and cannot write.
assert vic.get_object(Bucket="demand", Key="main/sales.csv")["Body"].read() == b"item,qty\na,1\n"
assert code(lambda: vic.put_object(Bucket="demand", Key="main/v.csv", Body=b"x")) == "AccessDenied"
assert code(lambda: vic.delete_object(Bucket="demand", Key="main/sales.csv")) == "AccessDenied"
assert code(lambda: vic.get_object(Bucket="acme", Key="main/orders.csv")) == "AccessDenied"

# Nothing the refused calls aimed at changed.
keys = sorted(o["Key"] for o in alice.list_objects_v2(Bucket="demand", Prefix="main/")["Contents"])
assert keys == ["main/sales.csv"], keys
assert eve.get_object(Bucket="acme", Key="main/orders.csv")["Body"].read() == b"item,qty\nb,2\n"
keys = sorted(o["Key"] for o in eve.list_objects_v2(Bucket="acme", Prefix="main/")["Contents"])
assert keys == ["main/orders.csv"], keys

# The lakeFS SDK: the other tenant's repository is not there.
with sdk(EVE) as c:
    repos = lakefs_sdk.RepositoriesApi(c)
    assert [r.id for r in repos.list_repositories().results] == ["acme"]
    try:
        repos.get_repository("demand")
        raise AssertionError("eve read demand")
    except lakefs_sdk.exceptions.NotFoundException:
        pass
    try:
        lakefs_sdk.BranchesApi(c).delete_branch("demand", "main")
        raise AssertionError("eve deleted a branch of demand")
    except lakefs_sdk.exceptions.NotFoundException:
        pass
with sdk(VIC) as c:
    try:
        lakefs_sdk.RepositoriesApi(c).delete_repository("demand")
        raise AssertionError("a viewer deleted a repository")
    except lakefs_sdk.exceptions.ForbiddenException:
        pass
with sdk(ALICE) as c:
    assert [b.id for b in lakefs_sdk.BranchesApi(c).list_branches("demand").results] == ["main"]

# lakeFS's auth API through the SDK: alice makes a viewer with a key, and
# a policy that denies it one branch.
with sdk(ALICE) as c:
    auth = lakefs_sdk.AuthApi(c)
    auth.create_user(lakefs_sdk.UserCreation(id="carol"))
    auth.add_group_membership("Viewers", "carol")
    auth.create_policy(lakefs_sdk.Policy(id="NoDev", statement=[lakefs_sdk.Statement(
        effect="deny", action=["fs:ReadObject"], resource="weir:repository/demand/branch/dev")]))
    auth.attach_policy_to_user("carol", "NoDev")
    cred = auth.create_credentials("carol")
    assert [u.id for u in auth.list_group_members("Viewers").results] == ["carol", "vic"]
    assert [p.id for p in auth.list_user_policies("carol").results] == ["NoDev"]
    assert "Developers" in [g.id for g in auth.list_groups().results]
    users = [u.id for u in auth.list_users().results]
    assert users == ["alice", "carol", "vic"], users
CAROL = (cred.access_key_id, cred.secret_access_key)
carol = s3(CAROL)
with sdk(ALICE) as c:
    lakefs_sdk.BranchesApi(c).create_branch("demand", lakefs_sdk.BranchCreation(name="dev", source="main"))
assert carol.get_object(Bucket="demand", Key="main/sales.csv")["Body"].read() == b"item,qty\na,1\n"
assert code(lambda: carol.get_object(Bucket="demand", Key="dev/sales.csv")) == "AccessDenied"
assert code(lambda: carol.put_object(Bucket="demand", Key="main/c.csv", Body=b"x")) == "AccessDenied"
# A developer denied a branch cannot copy out of it either.
with sdk(ALICE) as c:
    lakefs_sdk.AuthApi(c).attach_policy_to_user("alice", "NoDev")
assert code(lambda: alice.copy_object(Bucket="demand", Key="main/copy.csv",
                                      CopySource={"Bucket": "demand", "Key": "dev/sales.csv"})) == "AccessDenied"
with sdk(ALICE) as c:
    lakefs_sdk.AuthApi(c).detach_policy_from_user("alice", "NoDev")
# The other tenant's admin sees none of it, and a viewer cannot manage it.
with sdk(EVE) as c:
    auth = lakefs_sdk.AuthApi(c)
    assert [u.id for u in auth.list_users().results] == ["eve"]
    try:
        auth.get_user("carol")
        raise AssertionError("eve found carol")
    except lakefs_sdk.exceptions.NotFoundException:
        pass
with sdk(CAROL) as c:
    try:
        lakefs_sdk.AuthApi(c).create_user(lakefs_sdk.UserCreation(id="mallory"))
        raise AssertionError("a viewer made a user")
    except lakefs_sdk.exceptions.ForbiddenException:
        pass
    # Its own keys it may manage.
    mine = lakefs_sdk.AuthApi(c).list_user_credentials("carol").results
    assert [k.access_key_id for k in mine] == [CAROL[0]]

# SQL over HTTP: the other tenant's tables are not in its lake.
r = requests.post(f"{URL}/api/v1/sql", auth=EVE, data="SHOW TABLES",
                  headers={"accept": "application/json"})
assert r.status_code == 200 and "demand" not in r.text, r.text
# /metrics is the operators'.
assert requests.get(f"{URL}/metrics", auth=EVE).status_code == 403
assert requests.get(f"{URL}/metrics", auth=ALICE).status_code == 200
assert requests.get(f"{URL}/metrics").status_code == 401
print("ok")
