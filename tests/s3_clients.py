#!/usr/bin/python3
"""Real S3 clients against a running cask-s3 (started by tests/test_s3.c).

    s3_clients.py CASE

CASE is one of: awscli, boto3, refusals, rclone, s3cmd, chunked, big. The
environment names the gateway (S3_ENDPOINT, S3_KEY, S3_SECRET), a master
(CASK_MASTER, to check what the cluster holds without the gateway), the
gateway's pid (S3_PID, for its memory; S3_RSS_CHECK=0 under a sanitizer,
whose allocator owns it) and a scratch folder (WORK). Each
case exits 0 when every check held, else
prints what did not and exits 1. Debian's clients: /usr/bin/aws,
python3-boto3, /usr/bin/rclone, /usr/bin/s3cmd.
"""

import datetime
import filecmp
import hashlib
import hmac
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request

ENDPOINT = os.environ["S3_ENDPOINT"]
KEY = os.environ["S3_KEY"]
SECRET = os.environ["S3_SECRET"]
MASTER = os.environ["CASK_MASTER"]
WORK = os.environ["WORK"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(argv, env=None, ok=True):
    e = dict(os.environ)
    # rclone cannot take a CA bundle over plain HTTP, and none is needed.
    e.pop("AWS_CA_BUNDLE", None)
    e.update(env or {})
    p = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=300)
    if ok and p.returncode != 0:
        fail("%s exited %d:\n%s\n%s" % (" ".join(argv), p.returncode,
                                         p.stdout[-2000:], p.stderr[-2000:]))
    return p


def make_tree(root, seed):
    """Files in nested folders, 1 byte to 3 MB, returned as relative paths."""
    rnd = random.Random(seed)
    paths = []
    for d in ["", "a", "a/b", "a/b/c", "docs", "docs/x y", "z"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
        for i in range(3):
            rel = os.path.join(d, "f%d-%d.bin" % (seed, i))
            size = rnd.choice([1, 100, 4096, 70000, 3 * 1000 * 1000 + 7])
            with open(os.path.join(root, rel), "wb") as f:
                f.write(rnd.randbytes(size))
            paths.append(rel)
    return sorted(paths)


def cask_get(key):
    """The value as the cluster holds it, through the master (follows
    the 302 to a volume)."""
    with urllib.request.urlopen(MASTER + urllib.request.quote(key)) as r:
        return r.read()


def same_trees(a, b):
    cmp = filecmp.dircmp(a, b)
    stack = [cmp]
    while stack:
        c = stack.pop()
        if c.left_only or c.right_only or c.diff_files or c.funny_files:
            return False
        # dircmp compares shallowly (size, mtime): compare bytes too.
        for f in c.common_files:
            if not filecmp.cmp(os.path.join(c.left, f),
                               os.path.join(c.right, f), shallow=False):
                return False
        stack.extend(c.subdirs.values())
    return True


AWS_ENV = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "",
           "AWS_CONFIG_FILE": os.path.join(WORK, "aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "aws-none")}


def aws(*args, ok=True):
    return run(["/usr/bin/aws", "--endpoint-url", ENDPOINT] + list(args),
               env=AWS_ENV, ok=ok)


def case_awscli():
    with open(AWS_ENV["AWS_CONFIG_FILE"], "w") as f:
        # Objects stay under the multipart threshold.
        f.write("[default]\ns3 =\n  multipart_threshold = 64MB\n")
    src = os.path.join(WORK, "aws-src")
    paths = make_tree(src, 1)
    aws("s3", "mb", "s3://tree")
    p = aws("s3", "mb", "s3://tree", ok=False)
    check(p.returncode != 0 and "BucketAlreadyOwnedByYou" in p.stderr,
          "a second mb: %r" % p.stderr)
    aws("s3", "sync", src, "s3://tree/t")
    ls = aws("s3", "ls", "--recursive", "s3://tree").stdout.splitlines()
    listed = sorted(line.split(None, 3)[3] for line in ls)
    check(listed == sorted("t/" + p for p in paths),
          "ls --recursive: %r" % listed)
    # The cluster holds exactly the bytes, under /bucket/key.
    for rel in paths:
        with open(os.path.join(src, rel), "rb") as f:
            check(cask_get("/tree/t/" + rel) == f.read(),
                  "cask holds other bytes for " + rel)
    # One level of the tree, as `ls` shows folders.
    top = aws("s3", "ls", "s3://tree/t/").stdout
    check("PRE a/" in top and "PRE docs/" in top and "PRE z/" in top,
          "ls of a prefix: %r" % top)
    back = os.path.join(WORK, "aws-back")
    aws("s3", "sync", "s3://tree/t", back)
    check(same_trees(src, back), "sync back: the trees differ")
    one = os.path.join(WORK, "one.bin")
    aws("s3", "cp", "s3://tree/t/" + paths[-1], one)
    check(filecmp.cmp(one, os.path.join(src, paths[-1]), shallow=False),
          "cp of one object")
    p = aws("s3", "rb", "s3://tree", ok=False)
    check(p.returncode != 0 and "BucketNotEmpty" in p.stderr,
          "rb of a full bucket: %r" % p.stderr)
    # s3api: head, ranged get, delete.
    head = aws("s3api", "head-object", "--bucket", "tree", "--key",
               "t/" + paths[0]).stdout
    with open(os.path.join(src, paths[0]), "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    check(md5 in head, "head-object ETag: %r" % head)
    big = [p for p in paths if os.path.getsize(os.path.join(src, p)) > 4096][0]
    part = os.path.join(WORK, "part.bin")
    aws("s3api", "get-object", "--bucket", "tree", "--key", "t/" + big,
        "--range", "bytes=1000-1999", part)
    with open(os.path.join(src, big), "rb") as f:
        whole = f.read()
    with open(part, "rb") as f:
        check(f.read() == whole[1000:2000], "ranged get-object")
    aws("s3", "rm", "--recursive", "s3://tree/t")
    ls = aws("s3", "ls", "--recursive", "s3://tree", ok=False).stdout
    check(ls.strip() == "", "after rm --recursive: %r" % ls)
    aws("s3", "rb", "s3://tree")
    p = aws("s3api", "head-bucket", "--bucket", "tree", ok=False)
    check(p.returncode != 0, "head-bucket after rb")


def client(key=KEY, secret=SECRET):
    import boto3
    import botocore.config
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=key,
        aws_secret_access_key=secret, region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      signature_version="s3v4",
                                      retries={"max_attempts": 1}))


def code_of(e):
    return e.response.get("Error", {}).get("Code")


def case_boto3():
    import botocore.exceptions
    s3 = client()
    s3.create_bucket(Bucket="boto")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check("boto" in names, "list_buckets: %r" % names)
    data = {}
    for i in range(7):
        for d in ["", "x/", "x/y/", "w/"]:
            k = "%sk%02d" % (d, i)
            data[k] = os.urandom(50 + i * 1000)
            s3.put_object(Bucket="boto", Key=k, Body=data[k])
    # Pagination: 2 at a time, every key once, in order.
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket="boto", PaginationConfig={"PageSize": 2}):
        check(len(page.get("Contents", [])) <= 2, "a page over MaxKeys")
        got += [o["Key"] for o in page.get("Contents", [])]
    check(got == sorted(data), "paged listing: %r" % got)
    # A delimiter: the top level's keys and its two folders.
    r = s3.list_objects_v2(Bucket="boto", Delimiter="/")
    check([o["Key"] for o in r["Contents"]] == sorted(
        k for k in data if "/" not in k), "delimiter keys")
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["w/", "x/"],
          "delimiter prefixes: %r" % r.get("CommonPrefixes"))
    r = s3.list_objects_v2(Bucket="boto", Prefix="x/", Delimiter="/",
                           MaxKeys=3)
    check(r["IsTruncated"] and r["KeyCount"] == 3, "prefix, max 3")
    r2 = s3.list_objects_v2(Bucket="boto", Prefix="x/", Delimiter="/",
                            ContinuationToken=r["NextContinuationToken"])
    keys = [o["Key"] for o in r["Contents"] + r2["Contents"]]
    check(keys == sorted(k for k in data if k.startswith("x/")
                         and "/" not in k[2:]), "continued: %r" % keys)
    check([p["Prefix"] for p in r2.get("CommonPrefixes", [])] == ["x/y/"],
          "continued prefixes")
    r = s3.list_objects_v2(Bucket="boto", StartAfter="x/y/k03")
    check([o["Key"] for o in r["Contents"]] ==
          sorted(k for k in data if k > "x/y/k03"), "start-after")
    v1 = s3.list_objects(Bucket="boto", Prefix="w/", MaxKeys=4)
    check([o["Key"] for o in v1["Contents"]] == sorted(
        k for k in data if k.startswith("w/"))[:4], "ListObjects V1")
    # Objects: get, range, head, metadata the listing gives.
    k = "x/y/k06"
    body = s3.get_object(Bucket="boto", Key=k)["Body"].read()
    check(body == data[k], "get_object bytes")
    r = s3.get_object(Bucket="boto", Key=k, Range="bytes=10-99")
    check(r["Body"].read() == data[k][10:100] and
          r["ContentRange"] == "bytes 10-99/%d" % len(data[k]), "range")
    h = s3.head_object(Bucket="boto", Key=k)
    check(h["ContentLength"] == len(data[k]) and
          h["ETag"] == '"%s"' % hashlib.md5(data[k]).hexdigest(), "head")
    try:
        s3.get_object(Bucket="boto", Key="nope")
        fail("get of a missing key")
    except botocore.exceptions.ClientError as e:
        check(code_of(e) == "NoSuchKey", "missing key: %s" % code_of(e))
    try:
        s3.get_object(Bucket="boto", Key=k, Range="bytes=999999-")
        fail("a range past the end")
    except botocore.exceptions.ClientError as e:
        check(code_of(e) == "InvalidRange", "range: %s" % code_of(e))
    try:
        s3.get_bucket_acl(Bucket="boto")
        fail("an ACL from a gateway that keeps none")
    except botocore.exceptions.ClientError as e:
        check(code_of(e) == "NotImplemented" and
              e.response["ResponseMetadata"]["HTTPStatusCode"] == 501,
              "acl: %s" % code_of(e))
    try:
        s3.list_objects_v2(Bucket="nobucket")
        fail("listing a missing bucket")
    except botocore.exceptions.ClientError as e:
        check(code_of(e) == "NoSuchBucket", "bucket: %s" % code_of(e))
    # download_file and upload_file (under the multipart threshold).
    path = os.path.join(WORK, "up.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(300000))
    s3.upload_file(path, "boto", "files/up.bin")
    s3.download_file("boto", "files/up.bin", path + ".back")
    check(filecmp.cmp(path, path + ".back", shallow=False), "file trip")
    # Presigned URLs, used by curl.
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "boto", "Key": k}, ExpiresIn=60)
    out = subprocess.run(["curl", "-sf", url], capture_output=True)
    check(out.returncode == 0 and out.stdout == data[k], "presigned GET")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "boto", "Key": "pre/put"},
        ExpiresIn=60)
    with open(path, "rb") as f:
        want = f.read()
    out = subprocess.run(["curl", "-sf", "-T", path, url],
                         capture_output=True)
    check(out.returncode == 0, "presigned PUT: %r" % out.stderr)
    check(cask_get("/boto/pre/put") == want, "presigned PUT bytes")
    # CopyObject: the same bytes under the new key, in the cluster too.
    r = s3.copy_object(Bucket="boto", Key="copies/k06",
                       CopySource={"Bucket": "boto", "Key": k})
    check(r["CopyObjectResult"]["ETag"] ==
          '"%s"' % hashlib.md5(data[k]).hexdigest(), "copy ETag")
    check(cask_get("/boto/copies/k06") == data[k], "copied bytes")
    try:
        s3.copy_object(Bucket="boto", Key="copies/none",
                       CopySource={"Bucket": "boto", "Key": "nope"})
        fail("a copy of a missing key")
    except botocore.exceptions.ClientError as e:
        check(code_of(e) == "NoSuchKey", "copy of nothing: %s" % code_of(e))
    # DeleteObjects: every key at once, each one reported deleted.
    keys = sorted(data) + ["files/up.bin", "pre/put", "copies/k06"]
    r = s3.delete_objects(Bucket="boto", Delete={
        "Objects": [{"Key": kk} for kk in keys]})
    check(sorted(d["Key"] for d in r.get("Deleted", [])) == sorted(keys)
          and not r.get("Errors"), "delete_objects: %r" % r)
    check(s3.list_objects_v2(Bucket="boto")["KeyCount"] == 0,
          "keys left after delete_objects")
    try:
        cask_get("/boto/" + keys[0])
        fail("a key delete_objects removed is still in the cluster")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "after delete_objects: %d" % e.code)
    s3.delete_bucket(Bucket="boto")


def case_refusals():
    import botocore.exceptions
    s3 = client()
    s3.create_bucket(Bucket="guard")
    s3.put_object(Bucket="guard", Key="kept", Body=b"kept bytes")
    for who, c, want in [
            ("an unknown key", client("NOSUCHKEY", SECRET),
             "InvalidAccessKeyId"),
            ("a wrong secret", client(KEY, SECRET + "x"),
             "SignatureDoesNotMatch")]:
        for op in ("put", "delete", "list", "get"):
            try:
                if op == "put":
                    c.put_object(Bucket="guard", Key="new", Body=b"x")
                elif op == "delete":
                    c.delete_object(Bucket="guard", Key="kept")
                elif op == "list":
                    c.list_objects_v2(Bucket="guard")
                else:
                    c.get_object(Bucket="guard", Key="kept")
                fail("%s: %s went through" % (who, op))
            except botocore.exceptions.ClientError as e:
                check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
                      and code_of(e) == want,
                      "%s, %s: %s" % (who, op, code_of(e)))
    # Nothing changed: "kept" is there, "new" is not, in the cluster too.
    check(cask_get("/guard/kept") == b"kept bytes", "kept changed")
    try:
        cask_get("/guard/new")
        fail("a refused PUT was stored")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "new: %d" % e.code)
    # Anonymous: 403 AccessDenied with S3's XML.
    try:
        urllib.request.urlopen(ENDPOINT + "/guard/kept")
        fail("anonymous GET")
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        check(e.code == 403 and "<Code>AccessDenied</Code>" in body,
              "anonymous: %d %s" % (e.code, body))
    # An expired presigned URL.
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "guard", "Key": "kept"},
        ExpiresIn=1)
    import time
    deadline = time.time() + 10
    while True:
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                              "%{http_code}", url], capture_output=True,
                             text=True)
        if out.stdout == "403" or time.time() > deadline:
            break
        time.sleep(0.2)  # polls until the URL's second has passed
    check(out.stdout == "403", "expired presigned: %s" % out.stdout)
    # A body that is not the one signed: same length, other bytes.
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "guard", "Key": "swapped"},
        ExpiresIn=60)
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="PUT", url=ENDPOINT + "/guard/swapped",
                     data=b"the signed body")
    req.headers["x-amz-content-sha256"] = hashlib.sha256(
        b"the signed body").hexdigest()
    SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(ENDPOINT + "/guard/swapped",
                               data=b"another  body!!", method="PUT",
                               headers=dict(req.headers))
    try:
        urllib.request.urlopen(r)
        fail("a swapped body was taken")
    except urllib.error.HTTPError as e:
        check(e.code == 400 and "XAmzContentSHA256Mismatch" in
              e.read().decode(), "swapped body: %d" % e.code)
    try:
        cask_get("/guard/swapped")
        fail("a swapped body was stored")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "swapped: %d" % e.code)
    s3.delete_object(Bucket="guard", Key="kept")
    s3.delete_bucket(Bucket="guard")


def chunk_sig(key, amz_date, scope, prev, data):
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev,
                     hashlib.sha256(b"").hexdigest(),
                     hashlib.sha256(data).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def signing_key(date):
    k = ("AWS4" + SECRET).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def case_chunked():
    """aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), signed here by
    hand as the AWS documentation lays it out; the seed signature by
    botocore."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    s3 = client()
    s3.create_bucket(Bucket="chunky")
    value = os.urandom(150000)
    pieces = [value[:65536], value[65536:131072], value[131072:], b""]

    def body(tamper):
        req = AWSRequest(method="PUT", url=ENDPOINT + "/chunky/v")
        req.headers["x-amz-content-sha256"] = \
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        req.headers["x-amz-decoded-content-length"] = str(len(value))
        req.headers["Content-Encoding"] = "aws-chunked"
        auth = SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1")
        auth.add_auth(req)
        amz_date = req.headers["X-Amz-Date"]
        seed = req.headers["Authorization"].rsplit("Signature=", 1)[1]
        scope = "%s/us-east-1/s3/aws4_request" % amz_date[:8]
        key = signing_key(amz_date[:8])
        out, prev = b"", seed
        for p in pieces:
            sig = chunk_sig(key, amz_date, scope, prev, p)
            prev = sig
            if tamper and len(p) == 65536 and out:
                p = p[:-1] + bytes([p[-1] ^ 1])
            out += b"%x;chunk-signature=%s\r\n" % (len(p), sig.encode())
            out += p + b"\r\n"
        headers = dict(req.headers)
        headers["Content-Length"] = str(len(out))
        return out, headers

    data, headers = body(True)
    r = urllib.request.Request(ENDPOINT + "/chunky/v", data=data,
                               method="PUT", headers=headers)
    try:
        urllib.request.urlopen(r)
        fail("a tampered chunk was taken")
    except urllib.error.HTTPError as e:
        check(e.code == 403, "tampered chunk: %d" % e.code)
    try:
        cask_get("/chunky/v")
        fail("a tampered chunked body was stored")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "tampered: %d" % e.code)
    data, headers = body(False)
    r = urllib.request.Request(ENDPOINT + "/chunky/v", data=data,
                               method="PUT", headers=headers)
    with urllib.request.urlopen(r) as resp:
        check(resp.status == 200, "chunked PUT: %d" % resp.status)
    check(cask_get("/chunky/v") == value, "chunked bytes")
    s3.delete_object(Bucket="chunky", Key="v")
    s3.delete_bucket(Bucket="chunky")


def case_rclone():
    env = {"RCLONE_CONFIG": os.path.join(WORK, "rclone.conf"),
           "RCLONE_CONFIG_CASK_TYPE": "s3",
           "RCLONE_CONFIG_CASK_PROVIDER": "Other",
           "RCLONE_CONFIG_CASK_ACCESS_KEY_ID": KEY,
           "RCLONE_CONFIG_CASK_SECRET_ACCESS_KEY": SECRET,
           "RCLONE_CONFIG_CASK_ENDPOINT": ENDPOINT,
           "RCLONE_CONFIG_CASK_FORCE_PATH_STYLE": "true"}
    open(env["RCLONE_CONFIG"], "w").close()
    src = os.path.join(WORK, "rc-src")
    make_tree(src, 2)
    rc = ["/usr/bin/rclone", "--low-level-retries", "1", "--retries", "1"]
    run(rc + ["mkdir", "cask:rclone"], env=env)
    run(rc + ["sync", src, "cask:rclone/tree"], env=env)
    back = os.path.join(WORK, "rc-back")
    run(rc + ["sync", "cask:rclone/tree", back], env=env)
    check(same_trees(src, back), "rclone there and back: trees differ")
    run(rc + ["check", src, "cask:rclone/tree"], env=env)
    run(rc + ["purge", "cask:rclone"], env=env)


def case_s3cmd():
    cfg = os.path.join(WORK, "s3cfg")
    host = ENDPOINT.split("//", 1)[1]
    with open(cfg, "w") as f:
        f.write("[default]\naccess_key = %s\nsecret_key = %s\n"
                "host_base = %s\nhost_bucket = %s\nuse_https = False\n"
                "signature_v2 = False\nbucket_location = us-east-1\n"
                % (KEY, SECRET, host, host))
    s3c = ["/usr/bin/s3cmd", "-c", cfg]
    path = os.path.join(WORK, "s3cmd.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(123456))
    run(s3c + ["mb", "s3://s3cmd"])
    run(s3c + ["put", path, "s3://s3cmd/dir/file.bin"])
    ls = run(s3c + ["ls", "--recursive", "s3://s3cmd"]).stdout
    check("s3://s3cmd/dir/file.bin" in ls and "123456" in ls, "ls: %r" % ls)
    run(s3c + ["get", "s3://s3cmd/dir/file.bin", path + ".back"])
    check(filecmp.cmp(path, path + ".back", shallow=False), "s3cmd bytes")
    run(s3c + ["del", "s3://s3cmd/dir/file.bin"])
    run(s3c + ["rb", "s3://s3cmd"])


def status_kib(pid, field):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    fail("no %s for the gateway" % field)


def case_big():
    """A 1 GiB object up and down through the gateway: both stream, so the
    gateway's peak RSS grows by far less than the object."""
    gib, block = 1 << 30, 1 << 20
    seed = os.urandom(block)

    def piece(i):
        return i.to_bytes(8, "little") + seed[8:]

    path = os.path.join(WORK, "big.bin")
    with open(path, "wb") as f:
        for i in range(gib // block):
            f.write(piece(i))
    s3 = client()
    s3.create_bucket(Bucket="large")
    pid = os.environ["S3_PID"]
    before = status_kib(pid, "VmRSS")
    # The peak from here on, not the process's whole life's.
    with open("/proc/%s/clear_refs" % pid, "w") as f:
        f.write("5")
    with open(path, "rb") as f:
        s3.put_object(Bucket="large", Key="gib", Body=f)
    os.unlink(path)
    r = s3.get_object(Bucket="large", Key="gib")
    check(r["ContentLength"] == gib, "length %d" % r["ContentLength"])
    got, i, pending = 0, 0, b""
    for chunk in r["Body"].iter_chunks(block):
        pending += chunk
        while len(pending) >= block:
            check(pending[:block] == piece(i), "block %d differs" % i)
            pending = pending[block:]
            i += 1
        got += len(chunk)
    check(got == gib and i == gib // block and not pending, "got %d" % got)
    peak = status_kib(pid, "VmHWM")
    grew = peak - before
    print("gateway RSS %d KiB before, peak %d KiB during 1 GiB up and down"
          % (before, peak))
    if os.environ.get("S3_RSS_CHECK", "1") == "1":
        check(grew < 64 * 1024, "the gateway's peak RSS grew by %d KiB" % grew)
    s3.delete_object(Bucket="large", Key="gib")
    s3.delete_bucket(Bucket="large")


CASES = {"awscli": case_awscli, "boto3": case_boto3,
         "refusals": case_refusals, "chunked": case_chunked,
         "rclone": case_rclone, "s3cmd": case_s3cmd, "big": case_big}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: s3_clients.py " + "|".join(CASES))
    CASES[sys.argv[1]]()
    print("ok", sys.argv[1], datetime.datetime.now().isoformat())
