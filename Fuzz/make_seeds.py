#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz harness into Fuzz/corpus/NAME/ (vector-snapshot seeds
come from FuzzSeedTests, which builds real indexes). Seeds are small valid inputs of each
format, so the fuzzer starts from inside the parser rather than at its first byte.

    python3 Fuzz/make_seeds.py
"""
import base64
import hashlib
import json
import os
import re
import struct
import zlib

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)


def write(harness, name, data):
    directory = os.path.join(ROOT, "corpus", harness)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# config: every jsonc block of the docs, and the example app's config.
blocks = []
for doc in sorted(os.listdir(os.path.join(REPO, "Docs"))):
    if doc.endswith(".md"):
        text = open(os.path.join(REPO, "Docs", doc)).read()
        blocks += re.findall(r"```jsonc\n(.*?)```", text, re.S)
for index, block in enumerate(blocks):
    write("config", f"docs-{index:02}.jsonc", block)
write("config", "notes.jsonc", open(os.path.join(REPO, "Examples/Notes/edge.jsonc")).read())
write("config", "trailing-commas.jsonc", '{ "name": "x", /* c */ "vars": { "A": "1", }, // end\n }')

# webhook: GitHub's own payloads (octokit/webhooks fixtures), signed by the harness.
fixtures = os.path.join(REPO, "..", "shared", "fixtures", "github-webhooks")
if not os.path.isdir(fixtures):
    fixtures = os.path.join(ROOT, "corpus", "webhook-sources")  # absent: keep the committed seeds
for name in ["push.json", "ping.json", "create.json", "delete.json", "pull_request.opened.json"]:
    path = os.path.join(fixtures, name)
    if os.path.exists(path):
        event = name.split(".")[0]
        write("webhook", name, f"{event}\nsign\n" + open(path).read())
write("webhook", "bad-signature", 'push\nsha256=00\n{"ref":"refs/heads/main"}')

# http-headers: Range, entity tags, dates, targets.
for index, value in enumerate([
    "bytes=0-99", "bytes=-5", "bytes=10-", "bytes=5-4", "bytes=0-0,2-3", '"abc", W/"def", *',
    "Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
    "/search?q=retry%20policy&repo=a%2Fb&q=2#frag", "/files/a%20b/%E4%B8%AD?x=1+2&&=&y",
]):
    write("http-headers", f"{index:02}", value)

# queue-message: content type byte (0 json, 1 text, 2 bytes) + body.
write("queue-message", "json-object", b"\x00" + b'{"repo":"a/b","files":["x.swift"],"attempt":1}')
write("queue-message", "json-map", b"\x00" + b'{"a":1,"b":2}')
write("queue-message", "text", b"\x01" + "héllo wörld".encode())
write("queue-message", "bytes", b"\x02\x00\xff\x10\x80")

# cron.
for index, value in enumerate(["*/5 * * * *", "0 0 1 JAN MON", "15,45 9-17 * * 1-5", "0 0 29 2 *", "59 23 31 DEC SUN-SAT", "0 12 * * 7"]):
    write("cron", f"{index:02}", value)

# wordpiece: limit byte + text.
write("wordpiece", "prose", b"\x40" + "Hello, world! [SEP] unaffable Café".encode())
write("wordpiece", "code", b"\x80" + b"func queue_swift() { edge.a(b) } <fn> x <CLS>")
write("wordpiece", "scripts", b"\x10" + "中国 Ｆｕｌｌ ﬁ e\u0301 \u200b\x00 🙂".encode())


# safetensors: a valid file with F32, F16 and BF16 tensors and metadata.
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


write("safetensors", "three-dtypes", safetensors({
    "a.weight": ("F32", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, 6)),
    "b.half": ("F16", [4], struct.pack("<4e", 0.5, -1, 2, 65504)),
    "c.brain": ("BF16", [2, 1], b"\x80\x3f\x00\xc0"),
}, {"format": "pt"}))
write("safetensors", "empty-tensor", safetensors({"e": ("F32", [0, 4], b"")}))
write("safetensors", "int-tensor", safetensors({"i": ("I64", [2], struct.pack("<2q", 1, -1)), "f": ("F32", [1], struct.pack("<f", 1))}))

# s3-xml.
write("s3-xml", "delete", '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
      "<Object><Key>a.txt</Key></Object><Object><Key>dir/b &amp; c.bin</Key><VersionId>null</VersionId></Object></Delete>")
write("s3-xml", "complete", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag>"
      "<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>&quot;x&quot;</ETag></Part></CompleteMultipartUpload>")
write("s3-xml", "comments-cdata", "<?xml version='1.0'?><!-- c --><a:Root xmlns:a='urn:x'><a:K><![CDATA[<x>]]></a:K><E/>&#x41;&#66;&lt;</a:Root>")


# s3-request: signed by the harness.
def md5(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode()


delete = b'<Delete><Object><Key>a.txt</Key></Object><Object><Key>missing</Key></Object></Delete>'
complete = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>"
requests = {
    "put": b"PUT /media/new.txt\ncontent-type: text/plain\nx-amz-meta-owner: fuzz\ncache-control: no-cache\ncontent-md5: "
    + md5(b"hello").encode() + b"\n\nhello",
    "get-range": b'GET /media/a.txt\nrange: bytes=10-19\nif-none-match: "nope"\n\n',
    "get-conditional": b"GET /media/a.txt?response-content-type=x/y&response-cache-control=max-age%3D1\nif-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\n\n",
    "head": b"HEAD /media/dir/b.bin\nif-match: *\n\n",
    "list-v2": b"GET /media?list-type=2&prefix=dir/&delimiter=/&max-keys=1&start-after=a&encoding-type=url\n\n",
    "list-v1": b"GET /media?marker=a&max-keys=5\n\n",
    "list-buckets": b"GET /\n\n",
    "delete-objects": b"POST /media?delete\ncontent-md5: " + md5(delete).encode() + b"\n\n" + delete,
    "copy": b"PUT /media/copy.txt\nx-amz-copy-source: /media/a.txt\nx-amz-metadata-directive: REPLACE\nx-amz-copy-source-range: bytes=0-9\n\n",
    "create-upload": b"POST /media/big.bin?uploads\ncontent-type: application/octet-stream\n\n",
    "complete-unknown": b"POST /media/big.bin?uploadId=nope\n\n" + complete,
    "list-uploads": b"GET /media?uploads&prefix=b\n\n",
    "delete": b"DELETE /media/a.txt\n\n",
    "unsigned-payload": b"PUT /media/u.bin\nx-amz-content-sha256: UNSIGNED-PAYLOAD\nx-amz-checksum-crc32: "
    + base64.b64encode(struct.pack(">I", zlib.crc32(b"abc"))) + b"\n\nabc",
    "virtual-host": b"GET /a.txt\nhost: media.localhost:9000\n\n",
    "location": b"GET /media?location\n\n",
}
for name, data in requests.items():
    write("s3-request", name, data)

# sigv4: authenticated only by the input (never with the real key).
fake = "0" * 64
for name, data in {
    "header": f"GET /media/a.txt\nx-amz-date: 20231114T221320Z\nx-amz-content-sha256: UNSIGNED-PAYLOAD\nauthorization: AWS4-HMAC-SHA256 "
    f"Credential=AKIDFUZZ/20231114/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={fake}\n\n",
    "unknown-key": f"GET /media/a.txt\nx-amz-date: 20231114T221320Z\nauthorization: AWS4-HMAC-SHA256 Credential=NOBODY/20231114/us-east-1/s3/aws4_request,"
    f"SignedHeaders=host,Signature={fake}\n\n",
    "presigned": "GET /media/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZ%2F20231114%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Date=20231114T221320Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={fake}\n\n",
    "v2": "GET /media/a.txt\nauthorization: AWS AKIDFUZZ:c2lnbmF0dXJl\ndate: Tue, 14 Nov 2023 22:13:20 GMT\n\n",
    "anonymous": "GET /media/a.txt\n\n",
}.items():
    write("sigv4", name, data)

# aws-chunked: "DECLARED-LENGTH TRAILER-NAME\n" + the framed body.
crc = base64.b64encode(struct.pack(">I", zlib.crc32(b"helloworld"))).decode()
write("aws-chunked", "crc32-trailer", f"10 x-amz-checksum-crc32\n5\r\nhello\r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n")
write("aws-chunked", "no-trailer", "3 \n3\r\nabc\r\n0\r\n\r\n")
sha = base64.b64encode(hashlib.sha256(b"xyz").digest()).decode()
write("aws-chunked", "sha256-trailer", f"3 x-amz-checksum-sha256\n3;ext=1\r\nxyz\r\n0\r\nx-amz-checksum-sha256:{sha}\r\n\r\n")
write("aws-chunked", "wrong-length", "9 \n3\r\nabc\r\n0\r\n\r\n")
