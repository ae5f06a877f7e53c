"""boto3, Python deltalake (lakefs:// URLs), polars and openlineage-python,
unchanged, against weir serve: only the endpoint and the keys differ from a
lakeFS + Marquez setup. Run by crates/weir-server/tests/it/clients.rs with
WEIR_URL, WEIR_KEY and WEIR_SECRET set; exits non-zero on the first failed
check."""
import io
import os
import uuid
from datetime import datetime, timezone

import boto3
import polars as pl
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

URL, KEY, SECRET = os.environ["WEIR_URL"], os.environ["WEIR_KEY"], os.environ["WEIR_SECRET"]
API = f"{URL}/api/v1"
auth = (KEY, SECRET)


def s3_client(secret=SECRET):
    return boto3.client("s3", endpoint_url=URL, aws_access_key_id=KEY,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def code_of(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


r = requests.post(f"{API}/repositories", auth=auth,
                  json={"name": "lake", "storage_namespace": "s3://somewhere/lake"})
assert r.status_code == 201, r.text

# ---- boto3: every S3 operation the gateway serves ----
s3 = s3_client()
assert "lake" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
s3.head_bucket(Bucket="lake")
assert code_of(lambda: s3.head_bucket(Bucket="nope")) in ("404", "NoSuchBucket")
assert code_of(lambda: s3_client("wrong").list_buckets()) == "SignatureDoesNotMatch"

put = s3.put_object(Bucket="lake", Key="main/data/a.csv", Body=b"k,v\n1,2\n3,4\n",
                    ContentType="text/csv", Metadata={"owner": "ops"})
assert put["ETag"].strip('"'), put
# Create-if-absent is what Delta commits rely on.
assert code_of(lambda: s3.put_object(Bucket="lake", Key="main/data/a.csv", Body=b"x",
                                     IfNoneMatch="*")) == "PreconditionFailed"
s3.put_object(Bucket="lake", Key="main/data/new.csv", Body=b"n", IfNoneMatch="*")

got = s3.get_object(Bucket="lake", Key="main/data/a.csv", Range="bytes=4-6")
assert got["Body"].read() == b"1,2" and got["ContentRange"] == "bytes 4-6/12", got
head = s3.head_object(Bucket="lake", Key="main/data/a.csv")
assert head["ContentLength"] == 12 and head["ContentType"] == "text/csv", head
assert head["Metadata"] == {"owner": "ops"}, head["Metadata"]
assert code_of(lambda: s3.get_object(Bucket="lake", Key="main/data/none.csv")) == "NoSuchKey"
assert code_of(lambda: s3.get_object(Bucket="lake", Key="main/data/a.csv",
                                     IfNoneMatch=head["ETag"])) == "304"

s3.copy_object(Bucket="lake", Key="main/data/b.csv",
               CopySource={"Bucket": "lake", "Key": "main/data/a.csv"})
assert s3.get_object(Bucket="lake", Key="main/data/b.csv")["Body"].read() == b"k,v\n1,2\n3,4\n"

ls = s3.list_objects_v2(Bucket="lake", Prefix="main/data/")
assert [o["Key"] for o in ls["Contents"]] == ["main/data/a.csv", "main/data/b.csv",
                                              "main/data/new.csv"], ls
ls = s3.list_objects_v2(Bucket="lake", Prefix="main/", Delimiter="/")
assert [p["Prefix"] for p in ls["CommonPrefixes"]] == ["main/data/"], ls
ls = s3.list_objects_v2(Bucket="lake", Delimiter="/")
assert [p["Prefix"] for p in ls["CommonPrefixes"]] == ["main/"], ls
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="main/",
                                                     PaginationConfig={"PageSize": 1})
assert [o["Key"] for p in pages for o in p.get("Contents", [])] == [
    "main/data/a.csv", "main/data/b.csv", "main/data/new.csv"]

s3.delete_object(Bucket="lake", Key="main/data/new.csv")
out = s3.delete_objects(Bucket="lake", Delete={"Objects": [{"Key": "main/data/b.csv"},
                                                           {"Key": "nobranch/x"}]})
assert [d["Key"] for d in out["Deleted"]] == ["main/data/b.csv"], out
assert [e["Key"] for e in out["Errors"]] == ["nobranch/x"], out

# Multipart: two parts (the first at S3's 5 MiB minimum), listed, completed.
big = os.urandom(5 * 1024 * 1024) + b"tail"
mp = s3.create_multipart_upload(Bucket="lake", Key="main/big.bin")
uid = mp["UploadId"]
p1 = s3.upload_part(Bucket="lake", Key="main/big.bin", UploadId=uid, PartNumber=1,
                    Body=big[:5 * 1024 * 1024])
p2 = s3.upload_part(Bucket="lake", Key="main/big.bin", UploadId=uid, PartNumber=2,
                    Body=big[5 * 1024 * 1024:])
assert [p["PartNumber"] for p in s3.list_parts(Bucket="lake", Key="main/big.bin",
                                               UploadId=uid)["Parts"]] == [1, 2]
assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="lake")["Uploads"]] == [uid]
s3.complete_multipart_upload(Bucket="lake", Key="main/big.bin", UploadId=uid,
                             MultipartUpload={"Parts": [
                                 {"PartNumber": 1, "ETag": p1["ETag"]},
                                 {"PartNumber": 2, "ETag": p2["ETag"]}]})
assert s3.get_object(Bucket="lake", Key="main/big.bin")["Body"].read() == big
# An aborted upload is gone; boto3's managed transfer uses multipart as well.
uid = s3.create_multipart_upload(Bucket="lake", Key="main/gone.bin")["UploadId"]
s3.abort_multipart_upload(Bucket="lake", Key="main/gone.bin", UploadId=uid)
assert s3.list_multipart_uploads(Bucket="lake").get("Uploads", []) == []
assert code_of(lambda: s3.upload_part(Bucket="lake", Key="main/gone.bin", UploadId=uid,
                                      PartNumber=1, Body=b"x")) == "NoSuchUpload"
# Bodies above the server's part size (8 MiB) are streamed to storage in
# parts, through the gateway and through the REST API alike.
nine = os.urandom(9 * 1024 * 1024)
s3.put_object(Bucket="lake", Key="main/nine.bin", Body=nine)
assert s3.get_object(Bucket="lake", Key="main/nine.bin")["Body"].read() == nine
r = requests.post(f"{API}/repositories/lake/branches/main/objects", auth=auth,
                  params={"path": "nine-rest.bin"}, data=nine)
assert r.status_code == 201 and r.json()["size_bytes"] == len(nine), r.text
assert s3.get_object(Bucket="lake", Key="main/nine-rest.bin")["Body"].read() == nine
s3.upload_fileobj(io.BytesIO(big * 2), "lake", "main/managed.bin")
assert s3.head_object(Bucket="lake", Key="main/managed.bin")["ContentLength"] == len(big) * 2

# Commit over the REST API, then read at the commit and refuse writes to it.
c = requests.post(f"{API}/repositories/lake/branches/main/commits", auth=auth,
                  json={"message": "objects from boto3"})
assert c.status_code == 201, c.text
cid = c.json()["id"]
assert s3.get_object(Bucket="lake", Key=f"{cid}/data/a.csv")["Body"].read().startswith(b"k,v")
assert code_of(lambda: s3.put_object(Bucket="lake", Key=f"{cid}/data/x.csv",
                                     Body=b"x")) == "AccessDenied"
code = code_of(lambda: s3.get_object(Bucket="weir-system", Key="main/lineage"))
assert code == "NoSuchBucket", code

# ---- Python deltalake through lakefs:// (branch per transaction), polars ----
lakefs_opts = {"endpoint": URL, "access_key_id": KEY, "secret_access_key": SECRET,
               "allow_http": "true"}
pl.DataFrame({"store": ["a", "b", "c"], "qty": [1, 2, 3]}).write_delta(
    "lakefs://lake/main/sales", storage_options=lakefs_opts)
pl.DataFrame({"store": ["d"], "qty": [4]}).write_delta(
    "lakefs://lake/main/sales", mode="append", storage_options=lakefs_opts)
# deltalake's transaction branches are merged and deleted.
names = [b["id"] for b in requests.get(f"{API}/repositories/lake/branches", auth=auth)
         .json()["results"]]
assert names == ["main"], names

s3_opts = {"AWS_ENDPOINT_URL": URL, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
df = pl.read_delta("s3://lake/main/sales", storage_options=s3_opts).sort("store")
assert df["qty"].to_list() == [1, 2, 3, 4], df
from deltalake import DeltaTable  # noqa: E402

assert DeltaTable("lakefs://lake/main/sales", storage_options=lakefs_opts).version() == 1

# weir reads the same table in SQL; polars decodes the Arrow IPC answer.
q = requests.post(f"{API}/sql", auth=auth,
                  headers={"Accept": "application/vnd.apache.arrow.stream"},
                  json={"query": "SELECT store, qty FROM lake.main.sales ORDER BY store"})
assert q.status_code == 200, q.text
assert pl.read_ipc_stream(q.content)["qty"].to_list() == [1, 2, 3, 4]
q = requests.post(f"{API}/sql", auth=auth, headers={"Accept": "text/csv"},
                  data="SELECT sum(qty) AS total FROM lake.main.sales")
assert q.text == "total\n10\n", q.text
# A partitioned table (the partition column lives in the paths, not in the
# files): weir reads it through deltalake's own scan, not the blob scan.
pl.DataFrame({"store": ["a", "a", "b"], "qty": [1, 2, 5]}).write_delta(
    "lakefs://lake/main/by_store", storage_options=lakefs_opts,
    delta_write_options={"partition_by": ["store"]})
q = requests.post(f"{API}/sql", auth=auth, headers={"Accept": "text/csv"},
                  data="SELECT store, sum(qty) AS qty FROM lake.main.by_store "
                       "GROUP BY store ORDER BY store")
assert q.text == "store,qty\na,3\nb,5\n", q.text
q = requests.post(f"{API}/sql", auth=auth, data="SELEC 1")
assert q.status_code == 400 and "message" in q.json(), q.text
q = requests.post(f"{API}/sql", auth=auth, data="DROP TABLE lake.main.sales")
assert q.status_code == 403, q.text  # the session only reads

# ---- openlineage-python: events in, Marquez-shaped graph out ----
from openlineage.client import OpenLineageClient  # noqa: E402
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent  # noqa: E402
from openlineage.client.event_v2 import RunState  # noqa: E402
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig  # noqa: E402
from openlineage.client.transport.http import HttpTransport  # noqa: E402

transport = HttpTransport(HttpConfig(url=URL, compression=HttpCompression.GZIP,
                                     auth=ApiKeyTokenProvider({"apiKey": f"{KEY}:{SECRET}"})))
ol = OpenLineageClient(transport=transport)
run = Run(runId=str(uuid.uuid4()))
job = Job(namespace="airflow", name="load_orders")
src = InputDataset(namespace="postgres://db:5432", name="public.orders")
dst = OutputDataset(namespace="weir://lake", name="sales")
for state in (RunState.START, RunState.COMPLETE):
    ol.emit(RunEvent(eventType=state, eventTime=datetime.now(timezone.utc).isoformat(), run=run,
                     job=job, producer="https://example.com/airflow", inputs=[src],
                     outputs=[dst]))

g = requests.get(f"{API}/lineage", auth=auth,
                 params={"nodeId": "dataset:postgres://db:5432:public.orders", "depth": 5}).json()
ids = [n["id"] for n in g["graph"]]
assert ids == ["dataset:postgres://db:5432:public.orders", "dataset:weir://lake:sales",
               "job:airflow:load_orders"], ids
job_node = g["graph"][2]
assert job_node["inEdges"] == [{"origin": "dataset:postgres://db:5432:public.orders",
                                "destination": "job:airflow:load_orders"}], job_node
runs = requests.get(f"{API}/namespaces/airflow/jobs/load_orders/runs", auth=auth).json()
assert runs["runs"][0]["id"] == run.runId and runs["runs"][0]["state"] == "COMPLETED", runs
ns = [n["name"] for n in requests.get(f"{API}/namespaces", auth=auth).json()["namespaces"]]
assert "airflow" in ns and "postgres://db:5432" in ns, ns
# Bad events are refused with a 400, which emitters do not retry.
bad = requests.post(f"{API}/lineage", auth=auth, json={"eventTime": "yesterday", "run": {}})
assert bad.status_code == 400, bad.text
print("ok")
