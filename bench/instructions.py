#!/usr/bin/env python3
"""Instructions per read, this build against an earlier revision's, counted by callgrind.

Throughput on this shared 2-core machine moves by several percent from run to run, which
hides a regression of a few percent. valgrind's callgrind counts the instructions the
server executes instead, and that count repeats whatever else the machine does. Each build
(the earlier one built by bench/before_after.py's rules, under target/before/) serves its
own database seeded with the same customers; after a warm-up, `--requests` reads of
`customer(customerId)` as an admin are sent over one keep-alive connection, with
instrumentation on for those only. It prints the instructions per read, of the whole server
process and by where they were spent (by crate, from callgrind's per-function self cost),
before and after. Kernel time (system calls, scheduling) is not in these counts.

    python3 bench/instructions.py [--revision 403d33c] [--requests 2000]
"""

import collections
import json
import os
import random
import re
import subprocess
import tempfile

from before_after import Build, build_before, ROWS
from common import argument_parser, BINARY, Server
from load import customer_id

READ = ("query($id: ID!) { customer(customerId: $id) { customerId name email phone "
        "address { city country } createdAt } }")


def reads(server, token, count):
    connection = server.connection()
    for _ in range(count):
        wanted = customer_id(random.randint(1, ROWS))
        body = json.dumps({"query": READ, "variables": {"id": wanted}})
        connection.request("POST", "/graphql", body, {"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {token}"})
        answer = connection.getresponse().read()
        if wanted.encode() not in answer:
            raise SystemExit(f"unexpected answer: {answer[:300]!r}")
    connection.close()


# The C code linked in, by the prefixes of its function names.
C_LIBRARIES = (("libpq", ("pq", "PQ", "appendBinaryPQ", "enlargePQ", "resetPQ", "pgconn", "pgtls")),
               ("openssl", ("SSL", "ssl", "tls", "EVP", "evp", "CRYPTO", "ossl", "OSSL", "OPENSSL", "ERR_",
                            "gcm", "aesni", "_aesni", "generic_aes", "WPACKET", "wpacket", "bio_", "BIO_")),
               ("ring", ("ring_core",)),
               ("mimalloc", ("mi_", "_mi_")))


def where(function, library):
    """Where a function's instructions belong: its crate (for `<T as Trait>::f` with a generic
    `T`, the trait's), or the C library it comes from."""
    if "libc.so" in library:
        return "libc"
    name = re.sub(r"^(<|&|mut |dyn )+", "", function)
    name = re.sub(r"^[A-Z]\w? as ", "", name)
    if "::" in name:
        return name.split("::", 1)[0]
    for owner, prefixes in C_LIBRARIES:
        if name.startswith(prefixes):
            return owner
    return "other"


def count(build, args):
    """Instructions per read: the total and by crate."""
    out = tempfile.NamedTemporaryFile(prefix=f"callgrind-{build.name}-", delete=False).name
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    server = Server(build.env, binary=build.binary, wrapper=wrapper)
    token = build.wrk_env["ADMIN_TOKEN"]
    try:
        reads(server, token, args.warmup)
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(server.process.pid)], check=True, capture_output=True)
        reads(server, token, args.requests)
        subprocess.run([*control, "-i", "off", str(server.process.pid)], check=True, capture_output=True)
    finally:
        server.stop()
    annotated = subprocess.run(["callgrind_annotate", "--threshold=100", out], check=True,
                               capture_output=True, text=True).stdout
    os.unlink(out)
    total = int(re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", annotated, re.M)
                .group(1).replace(",", ""))
    by_crate = collections.Counter()
    for line in annotated.splitlines():
        match = re.match(r"^\s*([\d,]+) \([\d. ]+%\)\s+\S+?:(.*?)(?: \[(.*)\])?$", line)
        if match:
            crate = where(match.group(2), match.group(3) or "")
            by_crate[crate] += int(match.group(1).replace(",", ""))
    return total / args.requests, {k: v / args.requests for k, v in by_crate.items()}


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--revision", default="403d33c")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    builds = [Build("before", build_before(args.revision), args.admin_url),
              Build("after", BINARY, args.admin_url)]
    try:
        counted = {build.name: count(build, args) for build in builds}
    finally:
        for build in builds:
            build.drop()
    (before, before_crates), (after, after_crates) = counted["before"], counted["after"]
    print(f"instructions per read: before {before:,.0f}, after {after:,.0f} ({after / before:.3f} x)")
    crates = sorted(set(before_crates) | set(after_crates),
                    key=lambda c: -abs(after_crates.get(c, 0) - before_crates.get(c, 0)))
    print(f"{'where':<28} {'before':>10} {'after':>10} {'change':>10}")
    for crate in crates[:25]:
        b, a = before_crates.get(crate, 0), after_crates.get(crate, 0)
        print(f"{crate:<28} {b:>10,.0f} {a:>10,.0f} {a - b:>+10,.0f}")


if __name__ == "__main__":
    main()
