"""edge-bench s3: 4 KiB objects through the S3 API with boto3 from 8 threads.

    python3 s3_small.py ENDPOINT ACCESS_KEY SECRET BUCKET [--objects 2000] [--threads 8]

Prints {"put_per_s": ..., "get_per_s": ...}.
"""

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.client import Config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("access_key")
    parser.add_argument("secret")
    parser.add_argument("bucket")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1", aws_access_key_id=args.access_key,
                      aws_secret_access_key=args.secret,
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=args.threads * 2))
    body = os.urandom(4096)
    keys = [f"small/{n:06d}" for n in range(args.objects)]
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=args.bucket, Key="warm/" + k, Body=body), keys[:50]))
        start = time.time()
        list(pool.map(lambda k: s3.put_object(Bucket=args.bucket, Key=k, Body=body), keys))
        put = args.objects / (time.time() - start)
        start = time.time()
        sizes = list(pool.map(lambda k: len(s3.get_object(Bucket=args.bucket, Key=k)["Body"].read()), keys))
        get = args.objects / (time.time() - start)
    assert all(size == 4096 for size in sizes)
    print(json.dumps({"put_per_s": round(put, 1), "get_per_s": round(get, 1)}))


if __name__ == "__main__":
    main()
