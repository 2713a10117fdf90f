#!/usr/bin/env python3
"""Reads before and after: this build against an earlier revision's, interleaved.

Builds the earlier revision (default: 403d33c, the last commit before the hostile-clients,
sessions, client and live-update work) in a git worktree under target/before/, gives each
build a database of its own migrated by that build and seeded with the same 100,000
customers (bench/load.py's seed), and drives `customer(customerId)` as an admin with wrk
(bench/load.lua, every response checked) at 16 and 64 connections: before, after, before,
after... for --rounds rounds, each server started afresh. It reports the medians and the
median of the per-round ratios after/before. `me` is not compared: before, it read the
customer alone; now it checks the session in the same statement (bench/load.py measures it
against pgbench running that statement).

    python3 bench/before_after.py [--revision 403d33c] [--rounds 3] [--seconds 10]
"""

import os
import subprocess

from common import argument_parser, BINARY, ROOT, Server, psql, with_database
from load import SEED, measure, median, require_tools, set_autogroup

WORKTREE = os.path.join(ROOT, "target", "before", "src")
TARGET = os.path.join(ROOT, "target", "before", "target")
ROWS = 100_000


def build_before(revision):
    """The earlier revision's release binary, built in a worktree of its own (a separate
    target directory: its dependency versions differ)."""
    if os.path.isdir(WORKTREE):
        subprocess.run(["git", "-C", WORKTREE, "checkout", "-q", "--detach", revision], check=True)
    else:
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "-q", "--detach", WORKTREE, revision], check=True)
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=WORKTREE, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=TARGET))
    return os.path.join(TARGET, "release", "customer-api")


class Build:
    """One binary with its own seeded database, and the settings for it and for wrk."""

    def __init__(self, name, binary, admin_url):
        self.name, self.binary, self.admin_url = name, binary, admin_url
        self.database = f"customer_api_bench_{name}"
        url = with_database(admin_url, self.database)
        self.env = dict(os.environ, DATABASE_URL=url, JWT_SECRET="a" * 64, RUST_LOG="warn")
        psql(admin_url, f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        psql(admin_url, f"CREATE DATABASE {self.database}")
        subprocess.run([binary, "migrate"], env=self.env, check=True, capture_output=True)
        psql(url, SEED.replace("ROWS", str(ROWS)))
        admin = subprocess.run([binary, "token", "--admin", "--ttl", "2h"], env=self.env, check=True,
                               capture_output=True, text=True).stdout.strip()
        self.wrk_env = dict(os.environ, ROWS=str(ROWS), ADMIN_TOKEN=admin)

    def read(self, connections, args):
        server = Server(self.env, binary=self.binary)
        try:
            return measure(server, "read", connections, args, self.wrk_env)
        finally:
            server.stop()

    def drop(self):
        psql(self.admin_url, f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--revision", default="403d33c")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", default="16,64")
    args = parser.parse_args()
    require_tools()
    before_binary = build_before(args.revision)
    connections = [int(c) for c in args.connections.split(",")]
    builds = []
    autogroup = set_autogroup("0")
    try:
        builds = [Build("before", before_binary, args.admin_url), Build("after", BINARY, args.admin_url)]
        runs = {(b.name, c): [] for b in builds for c in connections}
        for round_number in range(1, args.rounds + 1):
            for c in connections:
                for build in builds:
                    runs[(build.name, c)].append(build.read(c, args))
            print(f"round {round_number} of {args.rounds} done", flush=True)
        for c in connections:
            for build in builds:
                r = runs[(build.name, c)]
                print(f"{build.name:>6} c={c:<3} {median(x['rps'] for x in r):8.0f} req/s  "
                      f"p99 {median(x['p99_ms'] for x in r):6.2f} ms  errors {sum(x['bad'] for x in r)}  "
                      f"server CPU {median(x['cpu_ms_per_request'] for x in r):.3f} ms/req")
            ratio = median(a["rps"] / b["rps"] for a, b in zip(runs[("after", c)], runs[("before", c)]))
            tail = median(a["p99_ms"] / b["p99_ms"] for a, b in zip(runs[("after", c)], runs[("before", c)]))
            print(f"   c={c:<3} after/before: throughput {ratio:.2f} x, p99 {tail:.2f} x", flush=True)
    finally:
        if autogroup is not None:
            set_autogroup(autogroup)
        for build in builds:
            build.drop()


if __name__ == "__main__":
    main()
