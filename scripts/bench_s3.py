#!/usr/bin/python3
"""PUT and GET through cask-s3 (boto3) and through the master's own API
(plain HTTP, following the 302 to the volume), interleaved in one run, one
request at a time, and printed as markdown table rows.

    bench_s3.py GATEWAY_URL MASTER_URL ACCESS_KEY SECRET_KEY

For each size, rounds alternate between the two paths so that drift on a
shared machine lands on both. Server CPU per operation is the machine's
busy CPU time (/proc/stat) over the round minus this process's own, per
request. BENCH_S3_SMALL (default 400) and BENCH_S3_LARGE (default 3) set
the requests per round for 4 KiB and 64 MiB.
"""

import http.client
import os
import resource
import sys
import time
import urllib.parse

import boto3
import botocore.config

GW, MASTER, KEY, SECRET = sys.argv[1:5]
HZ = os.sysconf("SC_CLK_TCK")


def busy_us():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1e6 / HZ


def own_us():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1e6


class Master:
    """The master's API over kept-alive connections, as curl -L would."""

    def __init__(self, url):
        self.base = urllib.parse.urlsplit(url).netloc
        self.conns = {}

    def conn(self, netloc):
        c = self.conns.get(netloc)
        if c is None:
            c = self.conns[netloc] = http.client.HTTPConnection(netloc)
        return c

    def put(self, key, body):
        c = self.conn(self.base)
        c.request("PUT", key, body=body)
        r = c.getresponse()
        r.read()
        assert r.status == 201, r.status

    def get(self, key):
        c = self.conn(self.base)
        c.request("GET", key)
        r = c.getresponse()
        r.read()
        assert r.status == 302, r.status
        loc = urllib.parse.urlsplit(r.getheader("Location"))
        v = self.conn(loc.netloc)
        v.request("GET", loc.path + ("?" + loc.query if loc.query else ""))
        r = v.getresponse()
        n = 0
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
        assert r.status == 200, r.status
        return n


def timed(fn, n):
    lat = []
    b0, o0, t0 = busy_us(), own_us(), time.monotonic()
    for i in range(n):
        s = time.monotonic()
        fn(i)
        lat.append(time.monotonic() - s)
    wall = time.monotonic() - t0
    cpu = (busy_us() - b0) - (own_us() - o0)
    lat.sort()
    return {"rate": n / wall, "p50": lat[len(lat) // 2] * 1e3,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
            "cpu": max(cpu, 0) / n}


def fmt(r):
    return "%.0f/s, p50 %.1f ms, p99 %.1f ms, server CPU %.0f µs/op" % (
        r["rate"], r["p50"], r["p99"], r["cpu"])


def main():
    s3 = boto3.client(
        "s3", endpoint_url=GW, aws_access_key_id=KEY,
        aws_secret_access_key=SECRET, region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      signature_version="s3v4"))
    m = Master(MASTER)
    s3.create_bucket(Bucket="bench")
    sizes = [("4 KiB", 4096, int(os.environ.get("BENCH_S3_SMALL", 400))),
             ("64 MiB", 64 << 20, int(os.environ.get("BENCH_S3_LARGE", 3)))]
    for name, size, n in sizes:
        body = os.urandom(size)
        res = {}
        for rnd in range(2):
            tag = "%d-%d" % (size, rnd)
            for path in ("s3", "master"):
                if path == "s3":
                    put = timed(lambda i: s3.put_object(
                        Bucket="bench", Key="s3-%s-%d" % (tag, i),
                        Body=body), n)
                    get = timed(lambda i: s3.get_object(
                        Bucket="bench", Key="s3-%s-%d" % (tag, i))[
                            "Body"].read(), n)
                else:
                    put = timed(lambda i: m.put(
                        "/bench/m-%s-%d" % (tag, i), body), n)
                    get = timed(lambda i: m.get(
                        "/bench/m-%s-%d" % (tag, i)), n)
                # The better of the two rounds, for each path.
                for op, r in (("PUT", put), ("GET", get)):
                    k = (path, op)
                    if k not in res or r["rate"] > res[k]["rate"]:
                        res[k] = r
        for op in ("PUT", "GET"):
            print("| s3 gateway %s %s, 1 client (boto3) | %s |" % (
                op, name, fmt(res[("s3", op)])))
            print("| master API %s %s, 1 client (same run) | %s |" % (
                op, name, fmt(res[("master", op)])))


if __name__ == "__main__":
    main()
