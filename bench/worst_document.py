#!/usr/bin/env python3
"""The slowest GraphQL document an anonymous client can send: CPU per request, measured.

Builds the release server and starts it on its defaults (embedded SQLite, 64 KiB bodies), as
an attacker would find it. Then, for each family of hostile documents below, at several sizes
up to the body limit, it sends the document repeatedly over one keep-alive connection and
reads the server's CPU time from /proc. It prints every document's figures and the worst.
Families: fragment bombs (nested and wide), huge flat selections, aliases, overlapping
fields, unknown fields (suggestions), directives, variables, operations, deep brackets,
long strings, big variables objects, introspection amplification.

    python3 bench/worst_document.py [--reps 200] [--quick]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import ROOT, Server

BODY_LIMIT = 64 * 1024
MAX_TOKENS = 2000


def fragment_bomb(levels):
    doc = "{ ...F0 }"
    for level in range(levels):
        doc += f" fragment F{level} on Query {{ ...F{level + 1} ...F{level + 1} }}"
    return doc + f" fragment F{levels} on Query {{ me {{ name }} }}"


def wide_bomb(fragments, fields):
    """Many fragments, each spreading one big fragment: the expansion is their product."""
    big = " ".join(f"f{n}: __typename" for n in range(fields))
    spreads = " ".join(f"...S{n}" for n in range(fragments))
    defs = " ".join(f"fragment S{n} on Query {{ ...Big }}" for n in range(fragments))
    return f"{{ {spreads} }} {defs} fragment Big on Query {{ {big} }}"


def fill(template, unit, limit):
    """`template` with `{}` replaced by as many copies of `unit(n)` as fit in `limit` bytes."""
    parts, size = [], len(template)
    n = 0
    while True:
        piece = unit(n) + " "
        if size + len(piece) > limit:
            break
        parts.append(piece)
        size += len(piece)
        n += 1
    return template.replace("{}", "".join(parts))


TOKEN = re.compile(r'\.\.\.|"(?:[^"\\]|\\.)*"|[_A-Za-z0-9.+-]+|[^\s,]')


def tokens(query):
    """About the server's count of a query's tokens (MAX_QUERY_TOKENS)."""
    return len(TOKEN.findall(query))


def fill_tokens(template, unit, limit):
    """`template` with as many units as keep it within `limit` tokens."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if tokens(template.replace("{}", " ".join(unit(n) for n in range(middle)))) <= limit:
            low = middle
        else:
            high = middle - 1
    return template.replace("{}", " ".join(unit(n) for n in range(low)))


def documents(limit, max_tokens):
    """(name, body) pairs: every hostile document, its JSON body at most `limit` bytes; the
    families with a size knob at several byte sizes and just within the token limit."""
    room = limit - 200  # the JSON envelope
    docs = []
    for levels in (10, 20, 31, 40, 1000):
        docs.append((f"fragment bomb, {levels} levels", fragment_bomb(levels)))
    for fragments, fields in ((50, 900), (400, 100), (1000, 40)):
        docs.append((f"wide bomb, {fragments} x {fields}", wide_bomb(fragments, fields)))
    families = [
        ("flat fields", "{ {} }", lambda n: "a"),
        ("aliased __typename", "{ {} }", lambda n: f"a{n}:__typename"),
        ("unknown fields", "{ {} }", lambda n: f"nam{n}"),
        ("overlapping aliases", "{ me { {} } }", lambda n: f"x:{'name' if n % 2 else 'email'}"),
        ("directives", "{ __typename {} }", lambda n: "@skip(if:false)"),
        ("variables", "query({}) { __typename }", lambda n: f"$v{n}:Int"),
        ("operations", "{}", lambda n: f"query Q{n}{{__typename}}"),
        ("fragments", "{ __typename } {}", lambda n: f"fragment G{n} on Query{{__typename}}"),
        ("many arguments", "{ me({}) { name } }", lambda n: f"a{n}:1"),
        ("nested lists", "{ me(x: {}) { name } }", lambda n: "[1,[2,[3,[4]]]]"),
    ]
    for family, template, unit in families:
        query = fill_tokens(template, unit, max_tokens)
        docs.append((f"{family}, {tokens(query)} tokens", query))
    for size in (room // 8, room // 2, room):
        docs.append((f"flat fields, {size} B", fill("{ {} }", lambda n: "a", size)))
        docs.append((f"aliased __typename, {size} B", fill("{ {} }", lambda n: f"a{n}:__typename", size)))
        docs.append((f"unknown fields, {size} B", fill("{ {} }", lambda n: f"nam{n}", size)))
        docs.append((f"overlapping aliases, {size} B", fill("{ me { {} } }", lambda n: f"x:{'name' if n % 2 else 'email'}", size)))
        docs.append((f"directives, {size} B", fill("{ __typename {} }", lambda n: "@skip(if:false)", size)))
        docs.append((f"variables, {size} B", fill("query({}) { __typename }", lambda n: f"$v{n}:Int", size)))
        docs.append((f"operations, {size} B", fill("{}", lambda n: f"query Q{n}{{__typename}}", size)))
        docs.append((f"fragments, {size} B", fill("{ __typename } {}", lambda n: f"fragment G{n} on Query{{__typename}}", size)))
        docs.append((f"deep brackets, {size} B", "{ me(x: " + "[" * (size - 20) + ") { name } }"))
        docs.append((f"deep selections, {size} B", "{" + " a {" * ((size - 4) // 4) + "}" * ((size - 4) // 4) + "}"))
        docs.append((f"long string, {size} B", '{ customer(customerId: "' + "x" * (size - 40) + '") { name } }'))
        docs.append((f"many arguments, {size} B", fill("{ me({}) { name } }", lambda n: f"a{n}:1", size)))
    intro = "__schema { types { name fields { name args { name type { name } } type { name ofType { name } } } } }"
    for copies in (1, 4, 12, 40):
        aliased = " ".join(f"i{n}: {intro}" for n in range(copies))
        docs.append((f"introspection x {copies}", f"{{ {aliased} }}"))
    bodies = []
    for name, query in docs:
        body = json.dumps({"query": query})
        if len(body) <= limit:
            bodies.append((name, body.encode()))
    # A small document with a big variables object, and deeply nested variables.
    keys = fill("{}", lambda n: f'"k{n}":{n},', room - 100).rstrip(", ")
    bodies.append(("variables object, many keys",
                   ('{"query":"query($f: CustomerFilter) { __typename }","variables":{"f":{' + keys + '}}}').encode()))
    nested = "[" * 5000 + "]" * 5000
    bodies.append(("variables nested 5000 deep", ('{"query":"{ __typename }","variables":{"x":' + nested + '}}').encode()))
    return bodies


def measure(server, body, reps):
    """(status, code, response bytes, wall ms per request, server CPU ms per request)."""
    connection = server.connection()
    headers = {"content-type": "application/json"}

    def send():
        connection.request("POST", "/graphql", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    status, answer = send()  # warm-up, and the answer to report
    try:
        code = json.loads(answer)["errors"][0]["extensions"]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        code = "ok"
    cpu, started = server.cpu_seconds(), time.perf_counter()
    for _ in range(reps):
        send()
    wall = (time.perf_counter() - started) * 1000 / reps
    cpu = (server.cpu_seconds() - cpu) * 1000 / reps
    connection.close()
    return status, code, len(answer), wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="requests per document")
    parser.add_argument("--quick", action="store_true", help="20 requests per document")
    args = parser.parse_args()
    reps = 20 if args.quick else args.reps
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    data = tempfile.mkdtemp(prefix="customer-api-worst-")
    env = dict(os.environ, DATA_DIR=data, RUST_LOG="warn")
    env.pop("DATABASE_URL", None)
    server = Server(env)
    rows = []
    try:
        baseline = measure(server, json.dumps({"query": "{ __typename }"}).encode(), reps)
        print(f"{'document':<40} {'bytes':>6} {'status':>6} {'code':<26} {'answer':>8} {'wall ms':>8} {'CPU ms':>7}")
        print(f"{'baseline: { __typename }':<40} {'':>6} {baseline[0]:>6} {baseline[1]:<26} "
              f"{baseline[2]:>8} {baseline[3]:8.3f} {baseline[4]:7.3f}")
        for name, body in documents(BODY_LIMIT, MAX_TOKENS):
            status, code, answer, wall, cpu = measure(server, body, reps)
            rows.append((cpu, wall, name))
            print(f"{name:<40} {len(body):>6} {status:>6} {code:<26} {answer:>8} {wall:8.3f} {cpu:7.3f}",
                  flush=True)
        health = server.connection()
        health.request("GET", "/healthz")
        assert health.getresponse().status == 200, "the server stopped answering"
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    cpu, wall, name = max(rows)
    print(f"\nworst: {name}: {cpu:.3f} ms CPU, {wall:.3f} ms wall per request "
          f"({reps} requests each, release build, {os.cpu_count()} cores)")


if __name__ == "__main__":
    sys.exit(main())
