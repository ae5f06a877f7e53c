"""S3 tools beyond boto3's basics, unchanged, against weir serve's S3
gateway: pyarrow's S3FileSystem (datasets, directory markers), boto3's
checksums (Content-MD5, flexible checksums, ETags as S3 computes them) and
rclone (ListObjects v1, the bucket check, transfers verified by hash). Run
by crates/weir-server/tests/it/clients.rs with WEIR_URL, WEIR_KEY and
WEIR_SECRET set; exits non-zero on the first failed check."""
import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import ClientError
from pyarrow import fs

URL, KEY, SECRET = os.environ["WEIR_URL"], os.environ["WEIR_KEY"], os.environ["WEIR_SECRET"]
s3 = boto3.client("s3", endpoint_url=URL, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def code_of(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


# A bucket is a repository: creating a new one makes it, creating it again
# is the owner's no-op answer.
s3.create_bucket(Bucket="tools")
assert code_of(lambda: s3.create_bucket(Bucket="tools")) == "BucketAlreadyOwnedByYou"
s3.head_bucket(Bucket="tools")

# ---- ETags as S3 computes them, checksums checked ----
body = b"k,v\n" + b"1,2\n" * 1000
put = s3.put_object(Bucket="tools", Key="main/etag/one.csv", Body=body)
assert put["ETag"].strip('"') == hashlib.md5(body).hexdigest(), put["ETag"]
assert s3.head_object(Bucket="tools", Key="main/etag/one.csv")["ETag"] == put["ETag"]
good_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
s3.put_object(Bucket="tools", Key="main/etag/md5.csv", Body=body, ContentMD5=good_md5)
bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
assert code_of(lambda: s3.put_object(Bucket="tools", Key="main/etag/bad.csv", Body=body,
                                     ContentMD5=bad_md5)) == "BadDigest"
assert code_of(lambda: s3.head_object(Bucket="tools", Key="main/etag/bad.csv")) == "404"
# (CRC32C would need awscrt, botocore[crt].)
for alg in ["CRC32", "SHA1", "SHA256"]:
    r = s3.put_object(Bucket="tools", Key=f"main/etag/{alg}.csv", Body=body, ChecksumAlgorithm=alg)
    assert r.get(f"Checksum{alg}"), (alg, r)
# A wrong flexible checksum in a header is refused and stores nothing.
wrong = base64.b64encode(b"\0\0\0\0").decode()
assert code_of(lambda: s3.put_object(Bucket="tools", Key="main/etag/crc.csv", Body=body,
                                     ChecksumCRC32=wrong)) == "BadDigest"
assert code_of(lambda: s3.head_object(Bucket="tools", Key="main/etag/crc.csv")) == "404"
# A multipart object's ETag: the MD5 of the parts' MD5s, then -N.
parts_data = [os.urandom(5 << 20), os.urandom(1 << 20)]
up = s3.create_multipart_upload(Bucket="tools", Key="main/etag/big.bin")
parts = []
for n, data in enumerate(parts_data, 1):
    p = s3.upload_part(Bucket="tools", Key="main/etag/big.bin", UploadId=up["UploadId"],
                       PartNumber=n, Body=data)
    assert p["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    parts.append({"PartNumber": n, "ETag": p["ETag"]})
done = s3.complete_multipart_upload(Bucket="tools", Key="main/etag/big.bin",
                                    UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
want = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest() + "-2"
assert done["ETag"].strip('"') == want, (done["ETag"], want)
got = s3.get_object(Bucket="tools", Key="main/etag/big.bin")
assert got["ETag"].strip('"') == want and got["Body"].read() == b"".join(parts_data)
# ListObjects v1 with markers, page by page.
names, marker = [], ""
while True:
    page = s3.list_objects(Bucket="tools", Prefix="main/etag/", Marker=marker, MaxKeys=3)
    names += [o["Key"] for o in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    marker = page.get("NextMarker") or names[-1]
assert names == sorted(names) and len(names) == 6, names
v1 = s3.list_objects(Bucket="tools", Prefix="main/", Delimiter="/")
assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["main/etag/"], v1

# ---- pyarrow's S3FileSystem: datasets, stats, copies, deletes ----
pfs = fs.S3FileSystem(access_key=KEY, secret_key=SECRET, endpoint_override=URL,
                      scheme="http", region="us-east-1", allow_bucket_creation=False)
table = pa.table({"id": list(range(100)), "qty": [i * 2 for i in range(100)]})
with pfs.open_output_stream("tools/main/pa/part-0.parquet") as f:
    pq.write_table(table, f)
with pfs.open_output_stream("tools/main/pa/csv/a.csv") as f:
    pacsv.write_csv(table, f)
back = ds.dataset("tools/main/pa/part-0.parquet", filesystem=pfs, format="parquet").to_table()
assert back.equals(table)
assert ds.dataset("tools/main/pa/csv", filesystem=pfs, format="csv").to_table().num_rows == 100
info = pfs.get_file_info("tools/main/pa/part-0.parquet")
assert info.type == fs.FileType.File and info.size > 0
assert pfs.get_file_info("tools/main/pa").type == fs.FileType.Directory
pfs.copy_file("tools/main/pa/csv/a.csv", "tools/main/pa/tmp/b.csv")
# Deleting the only file of a folder makes pyarrow write the folder's
# marker, a key ending in / (as Hadoop s3a and Spark do).
pfs.delete_file("tools/main/pa/tmp/b.csv")
assert pfs.get_file_info("tools/main/pa/tmp").type == fs.FileType.Directory
listed = [i.path for i in pfs.get_file_info(fs.FileSelector("tools/main/pa", recursive=True))]
assert "tools/main/pa/tmp" in listed and "tools/main/pa/tmp/b.csv" not in listed, listed
pfs.delete_dir("tools/main/pa/tmp")
assert pfs.get_file_info("tools/main/pa/tmp").type == fs.FileType.NotFound

# ---- rclone: its own S3 client (ListObjects v1 for provider Other) ----
rclone = shutil.which("rclone")
assert rclone, "rclone is installed by tests/clients/tools.sh"
# AWS_* settings of the machine (a CA bundle, say) are not the test's.
env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
env.update(RCLONE_CONFIG_WEIR_TYPE="s3", RCLONE_CONFIG_WEIR_PROVIDER="Other",
           RCLONE_CONFIG_WEIR_ACCESS_KEY_ID=KEY, RCLONE_CONFIG_WEIR_SECRET_ACCESS_KEY=SECRET,
           RCLONE_CONFIG_WEIR_ENDPOINT=URL, RCLONE_CONFIG_WEIR_REGION="us-east-1",
           RCLONE_CONFIG_WEIR_FORCE_PATH_STYLE="true",
           # Multipart above 5 MiB, so a file below is checked by its MD5 and
           # one above by the MD5 rclone records for it.
           RCLONE_CONFIG_WEIR_UPLOAD_CUTOFF="5M", RCLONE_CONFIG_WEIR_CHUNK_SIZE="5M")


def rc(*args):
    out = subprocess.run([rclone, "--config", os.devnull, *args], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


with tempfile.TemporaryDirectory() as src:
    for i in range(3):
        with open(os.path.join(src, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(200_000 * (i + 1)))
    with open(os.path.join(src, "big.bin"), "wb") as f:
        f.write(os.urandom(12 << 20))
    rc("copy", src, "weir:tools/main/rc")
    # Every file checked by hash: none may be left unverified.
    check = subprocess.run([rclone, "--config", os.devnull, "check", src, "weir:tools/main/rc"],
                           env=env,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    assert "hashes could not be checked" not in check.stderr, check.stderr
    assert sorted(rc("lsf", "weir:tools/main/rc").split()) == ["big.bin", "f0.bin", "f1.bin",
                                                              "f2.bin"]
    with tempfile.TemporaryDirectory() as dst:
        rc("copy", "weir:tools/main/rc", dst)
        for name in os.listdir(src):
            assert open(os.path.join(src, name), "rb").read() == \
                open(os.path.join(dst, name), "rb").read(), name
    rc("delete", "weir:tools/main/rc")
    assert rc("lsf", "weir:tools/main/rc").split() == []
print("ok")
