"""Signature Version 4 test vectors computed with botocore's own signer.

    pip install boto3
    python3 Tests/EdgeS3Tests/Clients/sigv4_vectors.py > Tests/EdgeS3Tests/Fixtures/sigv4-botocore.json

Each vector is a request (method, path as sent, query items, headers) signed by botocore's
S3SigV4Auth at a fixed time, with the Authorization header it produced; presigned vectors hold
the URL S3SigV4QueryAuth produced. SigV4Tests recomputes every one with EdgeS3's signer.
"""

import datetime
import json
import sys
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FIXED = datetime.datetime(2026, 11, 30, 12, 34, 56)
botocore.auth.get_current_datetime = lambda *args, **kwargs: FIXED

CREDENTIALS = Credentials("AKIDEXAMPLEEDGE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
REGION = "us-east-1"

CASES = [
    ("GET", "/bucket/plain.txt", [], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
    ("GET", "/bucket/a key with spaces.txt", [], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "range": "bytes=0-99"}),
    ("PUT", "/bucket/dir/ünïcödé ☃.bin", [], {
        "x-amz-content-sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        "content-type": "application/octet-stream", "x-amz-meta-owner": "  ada   lovelace  ", "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
    ("GET", "/bucket", [("list-type", "2"), ("prefix", "a/b c"), ("delimiter", "/"), ("max-keys", "100"), ("encoding-type", "url")],
     {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
    ("GET", "/bucket", [("continuation-token", "abc+/=def"), ("list-type", "2"), ("start-after", "k~1")], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
    ("POST", "/bucket/big.bin", [("uploads", "")], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-type": "video/webm"}),
    ("PUT", "/bucket/big.bin", [("partNumber", "3"), ("uploadId", "u-1_2.3~4")], {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "8388608", "x-amz-trailer": "x-amz-checksum-crc32"}),
    ("POST", "/bucket", [("delete", "")], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-checksum-crc32": "AAAAAA=="}),
    ("PUT", "/bucket/key+with=odd&chars!*'()", [], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-copy-source": "/bucket/src%20key"}),
    ("DELETE", "/bucket/../etc/passwd", [], {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
]


def signed(method, path, query, headers):
    url = "http://127.0.0.1:9000" + quote(path, safe="/~")
    if query:
        url += "?" + "&".join(quote(k, safe="~") + ("=" + quote(v, safe="~") if v else "") for k, v in query)
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    botocore.auth.S3SigV4Auth(CREDENTIALS, "s3", REGION).add_auth(request)
    return {
        "method": method, "path": path, "query": [[k, v] for k, v in query],
        "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
        "host": "127.0.0.1:9000",
        "authorization": request.headers["Authorization"],
    }


def presigned(method, path, expires):
    url = "http://127.0.0.1:9000" + quote(path, safe="/~")
    request = AWSRequest(method=method, url=url, headers={})
    botocore.auth.S3SigV4QueryAuth(CREDENTIALS, "s3", REGION, expires=expires).add_auth(request)
    return {"method": method, "path": path, "expires": expires, "host": "127.0.0.1:9000", "url": request.url}


def main():
    vectors = {
        "botocore": botocore.__version__,
        "time": FIXED.strftime("%Y%m%dT%H%M%SZ"),
        "access_key_id": CREDENTIALS.access_key,
        "secret_access_key": CREDENTIALS.secret_key,
        "region": REGION,
        "signed": [signed(*case) for case in CASES],
        "presigned": [presigned("GET", "/bucket/shared file.webm", 3600), presigned("PUT", "/bucket/upload/ünï.webm", 604800)],
    }
    json.dump(vectors, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
