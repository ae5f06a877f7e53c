"""schemathesis against weir serve, from weir's own OpenAPI document
(docs/openapi.json): generated requests to every operation, well-formed
and malformed, on a repository that exists; no answer may be a 5xx.

Usage: test_api_fuzz.py [MAX_EXAMPLES]  (default 12 per operation)
"""

import os
import pathlib
import subprocess
import sys
import tempfile

import requests

HERE = pathlib.Path(__file__).resolve().parent
SCHEMA = HERE.parent.parent / "docs" / "openapi.json"
URL, KEY, SECRET = os.environ["WEIR_URL"], os.environ["WEIR_KEY"], os.environ["WEIR_SECRET"]
MAX_EXAMPLES = sys.argv[1] if len(sys.argv) > 1 else "12"

# Something real to aim at: generated repository names mostly miss, so a
# repository with a branch, a commit and objects makes the handlers past
# the lookups run too.
api, auth = URL + "/api/v1/repositories", (KEY, SECRET)
for method, path, kwargs in [
    ("POST", "", {"json": {"name": "demand", "storage_namespace": "local://demand"}}),
    ("POST", "/demand/branches/main/objects?path=raw/a.csv", {"data": b"x,y\n1,2\n"}),
    ("POST", "/demand/branches/main/commits", {"json": {"message": "seed"}}),
    ("POST", "/demand/branches/main/objects?path=raw/b.csv", {"data": b"x,y\n3,4\n"}),
]:
    requests.request(method, api + path, auth=auth, **kwargs).raise_for_status()

with tempfile.TemporaryDirectory() as tmp:
    run = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "schemathesis"),
            "run",
            str(SCHEMA),
            "--url",
            URL,
            "--auth",
            f"{KEY}:{SECRET}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            MAX_EXAMPLES,
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            tmp,
        ],
        capture_output=True,
        text=True,
        # schemathesis keeps a crash cache in its working directory: the
        # temporary one, not the source tree the tests run from.
        cwd=tmp,
    )
    if run.returncode != 0:
        sys.exit(f"schemathesis found failures:\n{run.stdout[-20000:]}\n{run.stderr[-4000:]}")
print(run.stdout.strip().splitlines()[-1])
