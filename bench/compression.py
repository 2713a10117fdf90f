#!/usr/bin/env python3
"""Response compression: bytes on the wire, and the server's CPU per answer, by coding.

Starts the release server on an embedded SQLite database of its own holding 100 customers
(realistic names, phones, addresses). For three answers (one customer, under the 1 KiB
threshold; a page of 100 customers; GraphiQL's introspection of the schema) it fetches each
as identity, gzip and brotli over GET and checks the answer (HTTP 200, data and no errors;
gzip decoded to the same JSON; the coding the server names), then drives each with wrk
(2 threads, 8 connections, --seconds) and reads the server's CPU time from /proc. Identity
in the same run is the yardstick: the extra CPU per answer is what compression costs. It
stops the server and removes its data folder. (The API tests decode brotli too.)

    python3 bench/compression.py [--seconds 5]
"""

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

from common import BINARY, ROOT, Server

SECRET = "compression-benchmark-secret-of-32-bytes-or-more"
CODINGS = ["identity", "gzip", "br"]
PAGE = ("{ customers(first: 100) { edges { node { id customerId name email phone "
        "address { line1 city postalCode country } createdAt updatedAt } } pageInfo { endCursor hasNextPage } } }")


def graphql(server, query, token, coding="identity", variables=None):
    """GET /graphql: (status, content-encoding, body as sent)."""
    params = {"query": query}
    if variables:
        params["variables"] = json.dumps(variables)
    connection = server.connection()
    connection.request("GET", "/graphql?" + urllib.parse.urlencode(params),
                       headers={"authorization": f"Bearer {token}", "accept-encoding": coding})
    response = connection.getresponse()
    return response.status, response.getheader("content-encoding"), response.read()


def seed(server, token):
    mutation = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customerId } }"
    first = ["Ada", "Grace", "Linus", "Barbara", "Alan", "Edsger", "Donald", "Frances", "Ken", "Margaret"]
    last = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Turing", "Dijkstra", "Knuth", "Allen", "Thompson"]
    ids = []
    for i in range(100):
        name = f"{first[i % 10]} {last[i % 9]}"
        body = json.dumps({"query": mutation, "variables": {"i": {
            "name": name, "email": f"{name.split()[0].lower()}.{i}@example{i % 7}.com",
            "phone": f"+1 (555) {i:03d}-{(i * 37) % 10000:04d}",
            "address": {"line1": f"{i} Main Street", "city": "Springfield", "postalCode": f"{i:05d}",
                        "country": "US"}}}})
        connection = server.connection()
        connection.request("POST", "/graphql", body=body, headers={
            "content-type": "application/json", "authorization": f"Bearer {token}"})
        answer = json.loads(connection.getresponse().read())
        ids.append(answer["data"]["createCustomer"]["customerId"])
    return ids


def wrk(server, path, token, coding, seconds):
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", "8", "-d", f"{seconds}s", "-H", f"Authorization: Bearer {token}",
         "-H", f"Accept-Encoding: {coding}", f"http://127.0.0.1:{server.port}{path}"],
        check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw failures:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return requests, float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    data = tempfile.mkdtemp(prefix="customer-api-compression-")
    env = dict(os.environ, DATA_DIR=data, JWT_SECRET=SECRET, RUST_LOG="warn")
    env.pop("DATABASE_URL", None)
    server = None
    try:
        token = subprocess.run([BINARY, "token", "--admin", "--ttl", "1h"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        server = Server(env)
        ids = seed(server, token)
        introspection = open(os.path.join(ROOT, "tests", "api", "introspection.graphql")).read()
        answers = [
            ("one customer", "query($id: ID!) { customer(customerId: $id) { customerId name email phone } }",
             {"id": ids[0]}),
            ("100 customers", PAGE, None),
            ("introspection", introspection, None),
        ]
        print(f"{'answer':<15} {'coding':<9} {'bytes':>7} {'ratio':>6} {'req/s':>7} {'CPU ms/req':>10} "
              f"{'extra CPU':>9}")
        for name, query, variables in answers:
            params = {"query": query, **({"variables": json.dumps(variables)} if variables else {})}
            path = "/graphql?" + urllib.parse.urlencode(params)
            plain = None
            baseline_cpu = None
            for coding in CODINGS:
                status, encoding, body = graphql(server, query, token, coding, variables)
                if status != 200:
                    raise SystemExit(f"{name}: HTTP {status}")
                if coding == "identity":
                    plain = body
                    answer = json.loads(body)
                    if "errors" in answer or not answer.get("data"):
                        raise SystemExit(f"{name}: {body[:300]!r}")
                elif len(plain) >= 1024 and encoding != coding:
                    raise SystemExit(f"{name}: asked for {coding}, got {encoding}")
                elif encoding == "gzip" and gzip.decompress(body) != plain:
                    raise SystemExit(f"{name}: gzip does not decode to the answer")
                cpu_before = server.cpu_seconds()
                requests, rate = wrk(server, path, token, coding, args.seconds)
                cpu = (server.cpu_seconds() - cpu_before) * 1000 / requests
                baseline_cpu = cpu if coding == "identity" else baseline_cpu
                extra = "" if coding == "identity" else f"{cpu - baseline_cpu:+.3f}"
                print(f"{name:<15} {encoding or 'identity':<9} {len(body):>7} {len(plain) / len(body):>5.1f}x "
                      f"{rate:>7.0f} {cpu:>10.3f} {extra:>9}", flush=True)
    finally:
        if server:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
