#!/usr/bin/env python3
"""Live updates under load: memory per idle subscriber, fan-out latency, cost to reads.

Seeds 10,000 customers into a PostgreSQL database of its own and starts the release server
on it. Then, in one run:
  1. reads alone: wrk, the `read` scenario of load.py (customer by id), 16 connections;
  2. --subscribers graphql-transport-ws connections (bench/live/subscribers.mjs, Node), one
     subscription each: --target of them to one customer, the rest to other customers; the
     server's resident memory before and after, per idle subscriber;
  3. --updates updates of that customer, one at a time: the time from the mutation's answer
     (the write has committed) to the --target-th subscriber's message, p50 and p99;
  4. reads again while that customer is updated --rate times a second (each update a message
     to every target subscriber).
It stops everything it started and drops its database.

    (cd bench/live && npm ci) && python3 bench/live.py [--subscribers 10000] [--target 1000]
"""

import json
import os
import resource
import secrets
import statistics
import subprocess
import sys

from common import argument_parser, BINARY, ROOT, Server, psql, with_database
from load import SEED, wrk

HERE = os.path.dirname(os.path.abspath(__file__))
DATABASE = "customer_api_bench_live"
ROWS = 10_000


def customer_id(n):
    return f"00000000-0000-7000-8000-{n:012x}"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mib(server):
    for line in open(f"/proc/{server.process.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--target", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=20)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(HERE, "live", "node_modules")):
        raise SystemExit("run `npm ci` in bench/live first")
    # Ten thousand sockets on each side.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    url = with_database(args.admin_url, DATABASE)
    env = dict(os.environ, DATABASE_URL=url, JWT_SECRET=secrets.token_hex(32), RUST_LOG="warn",
               MAX_CONNECTIONS_PER_CLIENT=str(args.subscribers + 100))
    psql(args.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(args.admin_url, f"CREATE DATABASE {DATABASE}")
    server, node = None, None
    try:
        subprocess.run([BINARY, "migrate"], env=env, check=True, capture_output=True)
        psql(url, SEED.replace("ROWS", str(ROWS)))
        admin = subprocess.run([BINARY, "token", "--admin", "--ttl", "2h"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        server = Server(env)
        wrk_env = dict(os.environ, ROWS=str(ROWS), ADMIN_TOKEN=admin, BENCH_DATA=HERE)
        wrk(server.port, "read", 16, 3, wrk_env)
        cpu_before = server.cpu_seconds()
        alone = wrk(server.port, "read", 16, args.seconds, wrk_env)
        alone_cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / alone["requests"]
        print(f"reads alone: {alone['rps']:.0f} req/s, p99 {alone['p99_ms']:.2f} ms, "
              f"errors {alone['bad'] + alone['socket_errors']}", flush=True)

        before = rss_mib(server)
        others = ",".join(customer_id(n) for n in range(2, 1002))
        node = subprocess.Popen(
            ["node", os.path.join(HERE, "live", "subscribers.mjs")], text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=dict(os.environ, API=f"http://127.0.0.1:{server.port}/graphql", ADMIN_TOKEN=admin,
                     SUBSCRIBERS=str(args.subscribers), TARGET_SUBSCRIBERS=str(args.target),
                     TARGET_ID=customer_id(1), OTHER_IDS=others))

        def report():
            line = node.stdout.readline()
            if not line:
                raise SystemExit("the subscribers' process ended")
            result = json.loads(line)
            if result.get("bad"):
                raise SystemExit(f"unexpected messages or closes: {result}")
            return result

        ready = report()["ready"]
        after = rss_mib(server)
        per = (after - before) * 1024 / ready
        print(f"{ready} idle subscribers: server RSS {before:.1f} -> {after:.1f} MiB, "
              f"{per:.1f} KiB per subscriber", flush=True)

        node.stdin.write(f"latency {args.updates}\n")
        node.stdin.flush()
        latency = report()["latency"]
        commit, send = latency["fromCommit"], latency["fromSend"]
        print(f"update -> message at all {args.target} subscribers of the customer "
              f"({args.updates} updates): from commit p50 {percentile(commit, 50):.1f} ms, "
              f"p99 {percentile(commit, 99):.1f} ms; from sending the mutation p50 "
              f"{percentile(send, 50):.1f} ms, p99 {percentile(send, 99):.1f} ms", flush=True)

        node.stdin.write(f"flow {args.seconds + 1} {args.rate}\n")
        node.stdin.flush()
        cpu_before = server.cpu_seconds()
        during = wrk(server.port, "read", 16, args.seconds, wrk_env)
        flow = report()["flow"]
        cpu = server.cpu_seconds() - cpu_before
        messages = flow["updates"] * args.target
        reads_cpu = alone_cpu_ms * during["requests"] / 1000
        print(f"server CPU during the flow {cpu:.1f} s; less the reads at their CPU cost alone, "
              f"{(cpu - reads_cpu) * 1e6 / messages:.1f} µs per message", flush=True)
        print(f"reads during {flow['updates']} updates ({messages} messages): {during['rps']:.0f} req/s "
              f"({during['rps'] / alone['rps']:.2f} x alone), p99 {during['p99_ms']:.2f} ms "
              f"({during['p99_ms'] / alone['p99_ms']:.2f} x), errors "
              f"{during['bad'] + during['socket_errors']}", flush=True)
        print(f"peak server RSS {server.peak_rss_mib():.1f} MiB; median update round trip "
              f"{statistics.median(send):.1f} ms")
        node.stdin.write("quit\n")
        node.stdin.flush()
        node.wait(timeout=60)
    finally:
        if node and node.poll() is None:
            node.kill()
        if server:
            server.stop()
        psql(args.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
