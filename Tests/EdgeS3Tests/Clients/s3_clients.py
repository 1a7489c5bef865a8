"""Real S3 clients against swift-edge's S3 API: boto3 and aws-cli (PyPI), as users run them.

    python3 s3_clients.py ENDPOINT ACCESS_KEY SECRET BUCKET SCRATCH_DIR [--big-mib 256] [--keys 10000] [--listing-bucket B]

Prints one JSON line of figures, or FAILED and the reason (exit 1).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def client(args, secret=None, key=None, style="path"):
    return boto3.client(
        "s3", endpoint_url=args.endpoint, region_name="us-east-1",
        aws_access_key_id=key or args.access_key, aws_secret_access_key=secret or args.secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}, retries={"max_attempts": 1}))


def error_code(call):
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    raise Failure("the call succeeded; it should have failed")


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def basics(args, s3, figures):
    bucket = args.bucket
    check(bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]], "list_buckets does not show the bucket")
    s3.head_bucket(Bucket=bucket)
    body = b"hello from boto3\n" * 100
    put = s3.put_object(Bucket=bucket, Key="docs/hello.txt", Body=body, ContentType="text/plain", Metadata={"author": "ada"},
                        CacheControl="max-age=60", ContentDisposition="inline")
    check(put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), f"put etag {put['ETag']}")
    got = s3.get_object(Bucket=bucket, Key="docs/hello.txt")
    check(got["Body"].read() == body, "get returned other bytes")
    check(got["ContentType"] == "text/plain" and got["Metadata"] == {"author": "ada"} and got["CacheControl"] == "max-age=60",
          f"metadata: {got['ContentType']} {got['Metadata']} {got.get('CacheControl')}")
    part = s3.get_object(Bucket=bucket, Key="docs/hello.txt", Range="bytes=6-9")
    check(part["Body"].read() == body[6:10] and part["ResponseMetadata"]["HTTPStatusCode"] == 206, "range get")
    head = s3.head_object(Bucket=bucket, Key="docs/hello.txt")
    check(head["ContentLength"] == len(body), "head length")
    check(error_code(lambda: s3.get_object(Bucket=bucket, Key="docs/hello.txt", IfNoneMatch=put["ETag"]))[1] == 304, "If-None-Match")
    check(error_code(lambda: s3.get_object(Bucket=bucket, Key="docs/hello.txt", IfMatch='"0"'))[0] == "PreconditionFailed", "If-Match")
    s3.copy_object(Bucket=bucket, Key="docs/copy.txt", CopySource={"Bucket": bucket, "Key": "docs/hello.txt"})
    check(s3.get_object(Bucket=bucket, Key="docs/copy.txt")["Body"].read() == body, "copy")
    s3.delete_object(Bucket=bucket, Key="docs/copy.txt")
    check(error_code(lambda: s3.get_object(Bucket=bucket, Key="docs/copy.txt"))[0] == "NoSuchKey", "deleted key")
    check(error_code(lambda: s3.head_object(Bucket=bucket, Key="docs/copy.txt"))[1] == 404, "head of a deleted key")
    check(error_code(lambda: s3.get_object(Bucket="no-such-bucket", Key="x"))[0] == "NoSuchBucket", "unknown bucket")
    # Virtual-hosted style: the bucket in the Host (BUCKET.localhost).
    vh = client(args, style="virtual")
    try:
        vh.put_object(Bucket=bucket, Key="docs/virtual.txt", Body=b"v")
        check(s3.get_object(Bucket=bucket, Key="docs/virtual.txt")["Body"].read() == b"v", "virtual-hosted put")
        figures["virtual_hosted"] = True
    except Exception as error:  # *.localhost does not resolve everywhere
        figures["virtual_hosted"] = f"skipped: {type(error).__name__}"
    figures["basics"] = True


def odd_keys(args, s3, figures):
    keys = ["../escape", "a/../../b", "spaces in key", "ünïcödé/☃ snow", "plus+and=eq&amp;", "k" * 1024, "//double//slash", "tab\there"]
    for key in keys:
        s3.put_object(Bucket=args.bucket, Key=key, Body=key.encode())
        check(s3.get_object(Bucket=args.bucket, Key=key)["Body"].read() == key.encode(), f"round trip of {key[:40]!r}")
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket):
        listed.update(o["Key"] for o in page.get("Contents", []))
    check(set(keys) <= listed, f"listing lost keys: {set(keys) - listed}")
    check(not os.path.exists(os.path.join(args.scratch, "escape")), "a key became a path")
    check(error_code(lambda: s3.put_object(Bucket=args.bucket, Key="k" * 1025, Body=b"x"))[0] == "KeyTooLongError", "1025-byte key")
    figures["odd_keys"] = len(keys)


def listing(args, s3, figures):
    count = args.keys
    bucket = args.listing_bucket or args.bucket
    names = [f"many/{n % 10}/key-{n:05d}" for n in range(count)]
    start = time.time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda name: s3.put_object(Bucket=bucket, Key=name, Body=b"x"), names))
    figures["put_keys_per_s"] = round(count / (time.time() - start))
    seen, pages = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/", PaginationConfig={"PageSize": 1000}):
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
    check(seen == sorted(names), f"listed {len(seen)} keys in {pages} pages, not the {count} put")
    figures["list_pages"] = pages
    prefixes = s3.list_objects_v2(Bucket=bucket, Prefix="many/", Delimiter="/")
    check([p["Prefix"] for p in prefixes.get("CommonPrefixes", [])] == [f"many/{d}/" for d in range(10)], "delimiter roll-up")
    v1, marker = [], None
    while True:
        page = s3.list_objects(Bucket=bucket, Prefix="many/3/", MaxKeys=300, **({"Marker": marker} if marker else {}))
        v1 += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or v1[-1]
    check(v1 == sorted(n for n in names if n.startswith("many/3/")), "ListObjects (V1) with markers")
    after = s3.list_objects_v2(Bucket=bucket, Prefix="many/9/", StartAfter="many/9/key-09979", MaxKeys=5)
    check([o["Key"] for o in after["Contents"]] == ["many/9/key-09989", "many/9/key-09999"], "start-after")
    if "s3cmd" in args.tools:
        lines = s3cmd(args, "ls", "--recursive", f"s3://{bucket}/many/").splitlines()
        check(len(lines) == count, f"s3cmd ls --recursive listed {len(lines)} keys, not {count}")
    if "rclone" in args.tools:
        lines = rclone(args, "lsf", "--recursive", "--files-only", f"edge:{bucket}/many").splitlines()
        check(len(lines) == count, f"rclone lsf --recursive listed {len(lines)} keys, not {count}")
    deleted = 0
    for chunk in range(0, count, 1000):
        result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in names[chunk:chunk + 1000]], "Quiet": True})
        check(not result.get("Errors"), f"delete_objects errors: {result.get('Errors')}")
        deleted += len(names[chunk:chunk + 1000])
    check(s3.list_objects_v2(Bucket=bucket, Prefix="many/")["KeyCount"] == 0, "delete_objects left keys")
    figures["listed_keys"] = count


def presigned(args, s3, figures):
    v2 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1", aws_access_key_id=args.access_key,
                      aws_secret_access_key=args.secret, config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    status, body = http("GET", v2.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": "docs/hello.txt"}))
    check(status == 400 and b"AWS4-HMAC-SHA256" in body, f"a Signature Version 2 URL answered {status} {body[:200]!r}")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": args.bucket, "Key": "shared/up.bin"}, ExpiresIn=300)
    status, _ = http("PUT", url, body=b"uploaded with curl-like PUT")
    check(status == 200, f"presigned PUT answered {status} {_[:300]!r}")
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": "shared/up.bin"}, ExpiresIn=300)
    result = subprocess.run(["curl", "-s", "-f", get_url], capture_output=True)
    check(result.returncode == 0 and result.stdout == b"uploaded with curl-like PUT", f"curl of a presigned GET: {result.returncode}")
    short = s3.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": "shared/up.bin"}, ExpiresIn=1)
    time.sleep(2.2)
    status, body = http("GET", short)
    check(status == 403 and b"AccessDenied" in body and b"expired" in body, f"an expired presigned GET answered {status} {body[:200]!r}")
    tampered = get_url.replace("shared/up.bin", "shared/other.bin")
    status, body = http("GET", tampered)
    check(status == 403 and b"SignatureDoesNotMatch" in body, f"a changed presigned URL answered {status}")
    figures["presigned"] = True


def wrong_keys(args, s3, figures):
    bad = client(args, secret="not-the-secret")
    check(error_code(lambda: bad.list_objects_v2(Bucket=args.bucket)) == ("SignatureDoesNotMatch", 403), "a wrong secret")
    unknown = client(args, key="AKIDNOBODY")
    check(error_code(lambda: unknown.list_objects_v2(Bucket=args.bucket)) == ("InvalidAccessKeyId", 403), "an unknown key")
    check(error_code(lambda: bad.put_object(Bucket=args.bucket, Key="nope", Body=b"x"))[1] == 403, "a put with a wrong secret")
    check(error_code(lambda: s3.head_object(Bucket=args.bucket, Key="nope"))[1] == 404, "the refused put stored nothing")
    figures["wrong_keys"] = True


def aws(args, *arguments):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=args.access_key, AWS_SECRET_ACCESS_KEY=args.secret, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    result = subprocess.run(["aws", "--endpoint-url", args.endpoint, *arguments], capture_output=True, env=env, text=True)
    check(result.returncode == 0, f"aws {' '.join(arguments)} failed ({result.returncode}): {result.stderr[-800:]}")
    return result.stdout


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def big(args, s3, figures):
    source = big_file(args)
    start = time.time()
    aws(args, "s3", "cp", source, f"s3://{args.bucket}/big/upload.bin")
    figures["aws_cp_up_s"] = round(time.time() - start, 2)
    head = s3.head_object(Bucket=args.bucket, Key="big/upload.bin")
    check(head["ContentLength"] == args.big_mib << 20, f"stored {head['ContentLength']} bytes")
    check(head["ETag"].strip('"').endswith(f"-{(args.big_mib + 7) // 8}"), f"a multipart etag, not {head['ETag']}")
    target = os.path.join(args.scratch, "big.down")
    start = time.time()
    aws(args, "s3", "cp", f"s3://{args.bucket}/big/upload.bin", target)
    figures["aws_cp_down_s"] = round(time.time() - start, 2)
    check(sha256_file(target) == sha256_file(source), "the downloaded file differs")
    listing = aws(args, "s3", "ls", f"s3://{args.bucket}/big/")
    check("upload.bin" in listing, "aws s3 ls")
    # boto3's own multipart with SHA-256 part checksums, and the parts listed before completion.
    upload = s3.create_multipart_upload(Bucket=args.bucket, Key="big/boto3.bin", ChecksumAlgorithm="SHA256")
    parts = []
    with open(source, "rb") as handle:
        for number in (1, 2):
            data = handle.read(5 << 20)
            part = s3.upload_part(Bucket=args.bucket, Key="big/boto3.bin", UploadId=upload["UploadId"], PartNumber=number, Body=data,
                                  ChecksumAlgorithm="SHA256")
            parts.append({"PartNumber": number, "ETag": part["ETag"]})
    listed = s3.list_parts(Bucket=args.bucket, Key="big/boto3.bin", UploadId=upload["UploadId"])
    check([p["PartNumber"] for p in listed["Parts"]] == [1, 2], "list_parts")
    uploads = s3.list_multipart_uploads(Bucket=args.bucket, Prefix="big/")
    check(upload["UploadId"] in [u["UploadId"] for u in uploads.get("Uploads", [])], "list_multipart_uploads")
    copied = s3.upload_part_copy(Bucket=args.bucket, Key="big/boto3.bin", UploadId=upload["UploadId"], PartNumber=3,
                                 CopySource={"Bucket": args.bucket, "Key": "docs/hello.txt"}, CopySourceRange="bytes=0-99")
    parts.append({"PartNumber": 3, "ETag": copied["CopyPartResult"]["ETag"]})
    s3.complete_multipart_upload(Bucket=args.bucket, Key="big/boto3.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    check(s3.head_object(Bucket=args.bucket, Key="big/boto3.bin")["ContentLength"] == (10 << 20) + 100, "boto3 multipart size")
    aborted = s3.create_multipart_upload(Bucket=args.bucket, Key="big/aborted.bin")
    s3.abort_multipart_upload(Bucket=args.bucket, Key="big/aborted.bin", UploadId=aborted["UploadId"])
    check(error_code(lambda: s3.list_parts(Bucket=args.bucket, Key="big/aborted.bin", UploadId=aborted["UploadId"]))[0] == "NoSuchUpload",
          "an aborted upload")
    figures["big_mib"] = args.big_mib


def tool_env(args, secret=None):
    # rclone's AWS SDK refuses a custom CA bundle with its own HTTP transport; the endpoint is
    # plain HTTP, so no bundle is needed.
    inherited = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    return dict(
        inherited, RCLONE_CONFIG_EDGE_TYPE="s3", RCLONE_CONFIG_EDGE_PROVIDER="Other", RCLONE_CONFIG_EDGE_ACCESS_KEY_ID=args.access_key,
        RCLONE_CONFIG_EDGE_SECRET_ACCESS_KEY=secret or args.secret, RCLONE_CONFIG_EDGE_ENDPOINT=args.endpoint,
        RCLONE_CONFIG_EDGE_REGION="us-east-1", RCLONE_CONFIG_EDGE_FORCE_PATH_STYLE="true", RCLONE_CONFIG="/dev/null")


def run_tool(command, env, expect_failure=False):
    result = subprocess.run(command, capture_output=True, env=env, text=True)
    if expect_failure:
        check(result.returncode != 0, f"{' '.join(command[:3])} succeeded; it should have failed")
        return result.stdout + result.stderr
    check(result.returncode == 0, f"{' '.join(command[:6])} failed ({result.returncode}): {(result.stderr or result.stdout)[-800:]}")
    return result.stdout


def s3cmd(args, *arguments, secret=None, expect_failure=False):
    host = args.endpoint.split("://", 1)[1]
    command = ["s3cmd", "--config=/dev/null", f"--access_key={args.access_key}", f"--secret_key={secret or args.secret}", f"--host={host}",
               f"--host-bucket={host}", "--no-ssl", "--region=us-east-1", "--no-check-certificate", *arguments]
    return run_tool(command, tool_env(args), expect_failure)


def rclone(args, *arguments, secret=None, expect_failure=False):
    return run_tool(["rclone", "--retries", "1", "--low-level-retries", "1", *arguments], tool_env(args, secret), expect_failure)


def big_file(args):
    source = os.path.join(args.scratch, "big.bin")
    if not os.path.exists(source):
        with open(source, "wb") as handle:
            block = os.urandom(1 << 20)
            for n in range(args.big_mib):
                handle.write(block[n % 7:] + block[:n % 7])
    return source


def with_s3cmd(args, s3, figures):
    """s3cmd (Debian): put, ls, info, get, cp, del, a multipart upload and download, a wrong secret."""
    bucket = args.bucket
    small = os.path.join(args.scratch, "small.txt")
    with open(small, "w") as handle:
        handle.write("from s3cmd\n" * 50)
    s3cmd(args, "put", "--mime-type=text/plain", "--add-header=x-amz-meta-tool:s3cmd", small, f"s3://{bucket}/s3cmd/small.txt")
    check("s3cmd/small.txt" in s3cmd(args, "ls", f"s3://{bucket}/s3cmd/"), "s3cmd ls")
    info = s3cmd(args, "info", f"s3://{bucket}/s3cmd/small.txt")
    check("text/plain" in info and hashlib.md5(open(small, "rb").read()).hexdigest() in info, f"s3cmd info: {info[:300]}")
    got = os.path.join(args.scratch, "small.got")
    s3cmd(args, "get", "--force", f"s3://{bucket}/s3cmd/small.txt", got)
    check(open(got, "rb").read() == open(small, "rb").read(), "s3cmd get")
    s3cmd(args, "cp", f"s3://{bucket}/s3cmd/small.txt", f"s3://{bucket}/s3cmd/copy.txt")
    check(s3.get_object(Bucket=bucket, Key="s3cmd/copy.txt")["Metadata"].get("tool") == "s3cmd", "s3cmd cp kept the metadata")
    s3cmd(args, "del", f"s3://{bucket}/s3cmd/copy.txt")
    check(error_code(lambda: s3.head_object(Bucket=bucket, Key="s3cmd/copy.txt"))[1] == 404, "s3cmd del")
    source = big_file(args)
    s3cmd(args, "put", "--multipart-chunk-size-mb=16", source, f"s3://{bucket}/s3cmd/big.bin")
    check(s3.head_object(Bucket=bucket, Key="s3cmd/big.bin")["ETag"].strip('"').endswith(f"-{(args.big_mib + 15) // 16}"), "s3cmd multipart etag")
    down = os.path.join(args.scratch, "s3cmd.down")
    s3cmd(args, "get", "--force", f"s3://{bucket}/s3cmd/big.bin", down)
    check(sha256_file(down) == sha256_file(source), "s3cmd downloaded other bytes")
    os.remove(down)
    refused = s3cmd(args, "ls", f"s3://{bucket}/", secret="wrong", expect_failure=True)
    check("403" in refused or "SignatureDoesNotMatch" in refused, f"s3cmd with a wrong secret: {refused[-300:]}")
    figures["s3cmd"] = True


def with_rclone(args, s3, figures):
    """rclone (Debian): copyto, cat, lsjson, server-side copy, deletefile, multipart both ways, a wrong secret."""
    bucket = args.bucket
    small = os.path.join(args.scratch, "rclone.txt")
    with open(small, "w") as handle:
        handle.write("from rclone\n" * 50)
    rclone(args, "copyto", small, f"edge:{bucket}/rclone/small.txt")
    check(rclone(args, "cat", f"edge:{bucket}/rclone/small.txt") == open(small).read(), "rclone cat")
    listed = json.loads(rclone(args, "lsjson", f"edge:{bucket}/rclone"))
    check([entry["Name"] for entry in listed] == ["small.txt"] and listed[0]["Size"] == os.path.getsize(small), f"rclone lsjson: {listed}")
    rclone(args, "copyto", f"edge:{bucket}/rclone/small.txt", f"edge:{bucket}/rclone/copy.txt")
    check(s3.get_object(Bucket=bucket, Key="rclone/copy.txt")["Body"].read() == open(small, "rb").read(), "rclone server-side copy")
    rclone(args, "deletefile", f"edge:{bucket}/rclone/copy.txt")
    check(error_code(lambda: s3.head_object(Bucket=bucket, Key="rclone/copy.txt"))[1] == 404, "rclone deletefile")
    source = big_file(args)
    rclone(args, "copyto", "--s3-upload-cutoff", "16M", "--s3-chunk-size", "16M", source, f"edge:{bucket}/rclone/big.bin")
    check(s3.head_object(Bucket=bucket, Key="rclone/big.bin")["ContentLength"] == args.big_mib << 20, "rclone multipart size")
    down = os.path.join(args.scratch, "rclone.down")
    rclone(args, "copyto", f"edge:{bucket}/rclone/big.bin", down)
    check(sha256_file(down) == sha256_file(source), "rclone downloaded other bytes")
    os.remove(down)
    rclone(args, "lsf", f"edge:{bucket}/", secret="wrong", expect_failure=True)
    figures["rclone"] = True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoint")
    parser.add_argument("access_key")
    parser.add_argument("secret")
    parser.add_argument("bucket")
    parser.add_argument("scratch")
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--only", default="")
    parser.add_argument("--tools", default="s3cmd,rclone", help="the Debian clients to run too (comma-separated; '' for none)")
    parser.add_argument("--listing-bucket", default="", help="the bucket of the 10,000-key listing (default: BUCKET)")
    args = parser.parse_args()
    s3 = client(args)
    figures = {}
    steps = [basics, odd_keys, wrong_keys, presigned, listing, big]
    steps += [step for name, step in (("s3cmd", with_s3cmd), ("rclone", with_rclone)) if name in args.tools.split(",")]
    try:
        for step in steps:
            if not args.only or step.__name__ in args.only.split(","):
                step(args, s3, figures)
    except (Failure, ClientError) as failure:
        print(f"FAILED {step.__name__}: {failure}")
        sys.exit(1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
