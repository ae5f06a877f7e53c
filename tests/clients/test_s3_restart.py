"""A multipart upload across a restart of weir serve, with boto3.
`begin` creates a repository, begins an upload, sends part 1 and prints
the upload id; `finish ID` (against a new server on the same lake) finds
the upload and its part, sends part 2, completes it and reads the object."""
import os
import sys

import boto3
import requests
from botocore.config import Config

URL, KEY, SECRET = os.environ["WEIR_URL"], os.environ["WEIR_KEY"], os.environ["WEIR_SECRET"]
s3 = boto3.client("s3", endpoint_url=URL, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
PART1 = b"a" * (5 << 20)
PART2 = b"tail"

if sys.argv[1] == "begin":
    r = requests.post(f"{URL}/api/v1/repositories", auth=(KEY, SECRET),
                      json={"name": "lake", "storage_namespace": "local://lake"})
    assert r.status_code == 201, r.text
    uid = s3.create_multipart_upload(Bucket="lake", Key="main/restart.bin",
                                     ContentType="application/x-test")["UploadId"]
    s3.upload_part(Bucket="lake", Key="main/restart.bin", UploadId=uid, PartNumber=1, Body=PART1)
    print(uid)
else:
    uid = sys.argv[2]
    ups = s3.list_multipart_uploads(Bucket="lake")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in ups] == [("main/restart.bin", uid)], ups
    parts = s3.list_parts(Bucket="lake", Key="main/restart.bin", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(PART1))], parts
    p2 = s3.upload_part(Bucket="lake", Key="main/restart.bin", UploadId=uid, PartNumber=2, Body=PART2)
    s3.complete_multipart_upload(
        Bucket="lake", Key="main/restart.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]},
                                   {"PartNumber": 2, "ETag": p2["ETag"]}]})
    got = s3.get_object(Bucket="lake", Key="main/restart.bin")
    assert got["Body"].read() == PART1 + PART2
    assert got["ContentType"] == "application/x-test", got["ContentType"]
    assert s3.list_multipart_uploads(Bucket="lake").get("Uploads", []) == []
