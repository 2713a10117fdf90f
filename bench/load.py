#!/usr/bin/env python3
"""Load benchmark: the release server under wrk, side by side with PostgreSQL's own limit.

Seeds 100,000 customers into a PostgreSQL database of its own, starts the release build of the
server against it, and drives each scenario with wrk over loopback (a warm-up, then --seconds
measured), checking every response (HTTP 200, no errors, the requested id in the answer).

Each scenario has a yardstick: pgbench (prepared statements) running the statements the
server runs for it (bench/*.sql: the primary-key select, the customer joined with its
session for `me`, the insert, the guarded update; the update also against the least SQL that
does it, one plain UPDATE). Rounds interleave: in each round, for each scenario, the
yardstick at every connection count, then the server at every connection count. A figure is
the median over the rounds of the per-round ratio, so a neighbour's burst on a shared machine
does not decide it: throughput against the yardstick's *best* rate over the connection counts
(pgbench itself degrades past a few connections per core), and p99 against the yardstick's
p99 at the same connection count. Where the two cores went is reported per request: the load
generator's CPU (wrk, pgbench), the server's, and PostgreSQL's (all its processes, from
/proc). p99 is also given over the mean latency (connections / throughput for closed-loop
clients), the tail's own shape. Logins are measured once, against cores x one core's bcrypt
rate, and reads again while logins saturate bcrypt. It stops everything it started and drops
its database.

    python3 bench/load.py [--rounds 3] [--seconds 10] [--connections 16,64]
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import (BINARY, FIRST_NAME, LAST_NAME, ROOT, Server, argument_parser, children_cpu_seconds,
                    postgres_cpu_seconds, psql, with_database)

HERE = os.path.dirname(os.path.abspath(__file__))
DATABASE = "customer_api_bench_load"
ROWS = 100_000
PASSWORD = "a password of a customer"
LOGIN_CUSTOMERS = 1000
TOKEN_CUSTOMERS = 1000

SEED = f"""
INSERT INTO customers (id, name, email, phone, address, created_at, updated_at)
SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       first || ' ' || last,
       lower(first) || '.' || lower(replace(last, ' ', '')) || i || '@example' || (i % 97) || '.com',
       '+1 (555) ' || lpad((i % 1000)::text, 3, '0') || '-' || lpad((i % 10000)::text, 4, '0'),
       jsonb_build_object('line1', i || ' Main Street', 'city', city, 'postalCode', lpad((i % 99999)::text, 5, '0'),
                          'country', country),
       at, at
FROM (
  SELECT i,
         {FIRST_NAME} AS first,
         {LAST_NAME} AS last,
         (ARRAY['Springfield','Portland','Austin','Denver','Boston','Seattle','Toronto','Berlin'])[1 + i % 8] AS city,
         (ARRAY['US','US','US','US','US','US','CA','DE'])[1 + i % 8] AS country,
         timestamptz '2026-01-01' + i * interval '61 seconds' AS at
  FROM generate_series(1, ROWS) AS i
) AS seed;
ANALYZE customers;
"""




def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session_id(n):
    return f"00000000-0000-7000-9000-{n:012x}"


def customer_token(secret, customer_id, session):
    """A customer's access token as the server signs them (HS256), naming a session seeded in
    the database: minted here to skip 1,000 logins."""
    now = int(time.time())
    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    claims = b64(json.dumps({"sub": customer_id, "role": "customer", "iat": now, "exp": now + 7200,
                             "iss": "customer-api", "sid": session}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


def customer_id(n):
    return f"00000000-0000-7000-8000-{n:012x}"


def wrk(port, scenario, connections, seconds, env):
    threads = min(connections, os.cpu_count())
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "60s",
               "--latency", "-s", os.path.join(HERE, "load.lua"), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, env=dict(env, SCENARIO=scenario), check=True,
                            capture_output=True, text=True).stdout
    result = json.loads(re.search(r"^RESULT (.*)$", output, re.M).group(1))
    # Answered requests per second; logins shed as busy are not answers (reported apart).
    result["rps"] = (result["requests"] - result["shed"]) / result["seconds"]
    return result


class CpuMeter:
    """CPU milliseconds per request spent by the load generator (this script's children), the
    server (when there is one) and PostgreSQL, from a start to a number of requests: where
    the two cores went."""

    def __init__(self, server=None):
        self.server = server
        self.start = (children_cpu_seconds(), server.cpu_seconds() if server else 0.0,
                      postgres_cpu_seconds())

    def per_request(self, requests):
        now = (children_cpu_seconds(), self.server.cpu_seconds() if self.server else 0.0,
               postgres_cpu_seconds())
        client, server, postgres = ((after - before) * 1000 / max(requests, 1)
                                    for after, before in zip(now, self.start))
        return {"client_cpu_ms": client, "cpu_ms_per_request": server, "postgres_cpu_ms": postgres}


def measure(server, scenario, connections, args, env):
    # bcrypt needs no warm-up, and a warm-up's unfinished logins would queue ahead of the run.
    if scenario != "login":
        wrk(server.port, scenario, connections, args.warmup, env)
    meter = CpuMeter(server)
    result = wrk(server.port, scenario, connections, args.seconds, env)
    result.update(meter.per_request(result["requests"]))
    result["peak_rss_mib"] = server.peak_rss_mib()
    return result


# Each scenario's yardstick(s): pgbench scripts (with weights, `file@weight`).
YARDSTICKS = {
    "read": {"same SQL": ["pk_select.sql"]},
    "me": {"same SQL": ["session_select.sql"]},
    "create": {"same SQL": ["insert.sql"]},
    "update": {"same SQL": ["update_same.sql"], "one UPDATE": ["update_best.sql"]},
    "mix": {"same SQL": ["pk_select.sql@9", "update_same.sql@1"]},
}


def pgbench(database, scripts, connections, seconds):
    """pgbench's rate, p99 latency (ms) and CPU per transaction for `scripts` at `connections`
    clients, over the ids and sessions of `database`."""
    with tempfile.TemporaryDirectory(prefix="customer-api-pgbench-") as logs:
        command = ["pgbench", "-n", "-M", "prepared", "-c", str(connections),
                   "-j", str(min(connections, 2)), "-T", str(seconds),
                   "-l", "--sampling-rate", "0.2", "--log-prefix", os.path.join(logs, "tx"),
                   "-D", f"rows={database.rows}", "-D", f"sessions={database.sessions}"]
        for script in scripts:
            command += ["-f", os.path.join(HERE, script)]
        meter = CpuMeter()
        output = subprocess.run(command + [database.url], check=True, capture_output=True, text=True).stdout
        transactions = int(re.search(r"number of transactions actually processed: (\d+)", output).group(1))
        latencies = sorted(int(line.split()[2]) for name in os.listdir(logs)
                           for line in open(os.path.join(logs, name)))
    p99 = latencies[int(0.99 * (len(latencies) - 1))] / 1000 if latencies else float("nan")
    result = {"rps": float(re.search(r"tps = ([\d.]+)", output).group(1)), "p99_ms": p99}
    result.update(meter.per_request(transactions))
    return result


def bcrypt_rate(cost):
    output = subprocess.run(["cargo", "bench", "-q", "--bench", "bcrypt_rate", "--", str(cost)], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    return float(re.search(r"BCRYPT_VERIFY_PER_SEC ([\d.]+)", output).group(1))


AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"


def set_autogroup(value):
    """Linux's autogroup shares CPU per session before it looks at thread priorities, which
    hides the low priority of the server's bcrypt threads from PostgreSQL (another session)
    on this shared machine. Servers run it off; so does this benchmark, restoring it after."""
    try:
        with open(AUTOGROUP) as f:
            before = f.read().strip()
        with open(AUTOGROUP, "w") as f:
            f.write(value)
        return before
    except OSError:
        print(f"note: cannot set {AUTOGROUP}; bcrypt priority may not show across processes")
        return None


class LoadDatabase:
    """A database of its own seeded with `rows` customers, the shared hash for logins, sessions
    and minted tokens for `me`, with the settings for the server and for wrk; dropped on exit."""

    def __init__(self, admin_url, rows, server_env=""):
        self.admin_url, self.rows = admin_url, rows
        self.url = with_database(admin_url, DATABASE)
        secret = secrets.token_hex(32)
        self.env = dict(os.environ, DATABASE_URL=self.url, JWT_SECRET=secret, RUST_LOG="warn")
        self.env.update(kv.split("=", 1) for kv in server_env.split(",") if kv)
        self.data = tempfile.mkdtemp(prefix="customer-api-bench-")
        self.secret = secret

    def __enter__(self):
        psql(self.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        psql(self.admin_url, f"CREATE DATABASE {DATABASE}")
        env, url = self.env, self.url
        subprocess.run([BINARY, "migrate"], env=env, check=True, capture_output=True)
        psql(url, SEED.replace("ROWS", str(self.rows)))
        admin = subprocess.run([BINARY, "token", "--admin", "--ttl", "2h"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        server = Server(env)
        try:
            # One real bcrypt hash at the default cost, shared by the customers that log in.
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}/graphql", method="POST",
                headers={"content-type": "application/json", "authorization": f"Bearer {admin}"},
                data=json.dumps({"query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customerId } }",
                                 "variables": {"i": {"name": "Hash Source", "email": "hash@bench.example",
                                                     "password": PASSWORD}}}).encode())
            urllib.request.urlopen(request).read()
        finally:
            server.stop()
        psql(url, f"""UPDATE customers SET password_hash = (SELECT password_hash FROM customers
                      WHERE email = 'hash@bench.example') WHERE id IN (SELECT id FROM customers
                      WHERE email LIKE '%@example%' ORDER BY id LIMIT {LOGIN_CUSTOMERS})""")
        with open(os.path.join(self.data, "logins.txt"), "w") as f:
            f.write(psql(url, f"SELECT id || ' ' || email FROM customers WHERE email LIKE '%@example%' "
                              f"ORDER BY id LIMIT {LOGIN_CUSTOMERS}") + "\n")
        # One session per token customer, as a login makes it.
        self.sessions = tokens = min(TOKEN_CUSTOMERS, self.rows // 97)
        psql(url, f"""INSERT INTO sessions (id, customer_id, refresh_hash, created_at, last_used_at, expires_at)
                      SELECT ('00000000-0000-7000-9000-' || lpad(to_hex(n), 12, '0'))::uuid,
                             ('00000000-0000-7000-8000-' || lpad(to_hex(n * 97), 12, '0'))::uuid,
                             sha256(n::text::bytea), now(), now(), now() + interval '1 day'
                      FROM generate_series(1, {tokens}) AS n""")
        with open(os.path.join(self.data, "tokens.txt"), "w") as f:
            for n in range(1, tokens + 1):
                token = customer_token(self.secret, customer_id(n * 97), session_id(n))
                f.write(f"{customer_id(n * 97)} {token}\n")
        self.wrk_env = dict(os.environ, ROWS=str(self.rows), ADMIN_TOKEN=admin, PASSWORD=PASSWORD,
                            BENCH_DATA=self.data)
        return self

    def __exit__(self, *_):
        shutil.rmtree(self.data, ignore_errors=True)
        psql(self.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def require_tools():
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install {tool} (pgbench: postgresql-client)")
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)


def served(database, scenario, connections, args):
    """The server, started afresh, under `scenario` at `connections`."""
    server = Server(database.env)
    try:
        return measure(server, scenario, connections, args, database.wrk_env)
    finally:
        server.stop()


def cpu_line(figures):
    return "CPU ms/req: " + ", ".join(f"{name} {median(f[key] for f in figures):.3f}" for name, key in (
        ("client", "client_cpu_ms"), ("server", "cpu_ms_per_request"), ("PostgreSQL", "postgres_cpu_ms"))
        if any(f[key] for f in figures))


median = statistics.median


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--scenarios", default="read,me,create,update,login,mix")
    parser.add_argument("--server-env", default="", help="extra KEY=VALUE settings, comma-separated")
    args = parser.parse_args()
    require_tools()
    autogroup = set_autogroup("0")
    try:
        with LoadDatabase(args.admin_url, ROWS, args.server_env) as database:
            run(database, args)
    finally:
        if autogroup is not None:
            set_autogroup(autogroup)


def run(database, args):
    connections = [int(c) for c in args.connections.split(",")]
    scenarios = args.scenarios.split(",")
    # rounds[r][(scenario, c)] = the server; yards[r][(scenario, yardstick, c)] = pgbench
    rounds, yards = [], []
    for round_number in range(1, args.rounds + 1):
        by_server, by_pgbench = {}, {}
        for scenario in scenarios:
            if scenario == "login":
                continue
            for name, scripts in YARDSTICKS[scenario].items():
                for c in connections:
                    by_pgbench[(scenario, name, c)] = pgbench(database, scripts, c, args.seconds)
            for c in connections:
                by_server[(scenario, c)] = served(database, scenario, c, args)
        rounds.append(by_server)
        yards.append(by_pgbench)
        print(f"round {round_number} of {args.rounds} done", flush=True)

    for scenario in scenarios:
        if scenario == "login":
            continue
        for c in connections:
            runs = [r[(scenario, c)] for r in rounds]
            # Closed-loop clients: latency = connections / throughput on average, so p99 over
            # that mean is the tail's own shape, whatever the throughput.
            shape = median(run["p99_ms"] / (1000 * c / run["rps"]) for run in runs)
            print(f"{scenario:>7} c={c:<3} {median(r['rps'] for r in runs):8.0f} req/s  "
                  f"p50 {median(r['p50_ms'] for r in runs):6.2f} ms  "
                  f"p99 {median(r['p99_ms'] for r in runs):7.2f} ms ({shape:.2f} x mean)  "
                  f"errors {sum(r['bad'] + r['socket_errors'] for r in runs)}  "
                  f"RSS {max(r['peak_rss_mib'] for r in runs):5.1f} MiB  {cpu_line(runs)}")
            for name in YARDSTICKS[scenario]:
                best = [max(y[(scenario, name, k)]["rps"] for k in connections) for y in yards]
                ratio = median(run["rps"] / b for run, b in zip(runs, best))
                same_c = [y[(scenario, name, c)] for y in yards]
                tail = median(run["p99_ms"] / y["p99_ms"] for run, y in zip(runs, same_c))
                shape = median(y["p99_ms"] / (1000 * c / y["rps"]) for y in same_c)
                print(f"{'':>13}vs pgbench {name}: {ratio:.2f} x its best {median(best):.0f}/s; "
                      f"p99 {tail:.2f} x its {median(y['p99_ms'] for y in same_c):.2f} ms "
                      f"({shape:.2f} x mean) at c={c}, {median(y['rps'] for y in same_c):.0f}/s, "
                      f"{cpu_line(same_c)}", flush=True)

    if "login" in scenarios:
        bcrypt_per_core = bcrypt_rate(12)
        cores = os.cpu_count()
        for c in connections:
            result = served(database, "login", c, args)
            ratio = result["rps"] / (cores * bcrypt_per_core)
            print(f"  login c={c:<3} {result['rps']:8.2f} req/s  p50 {result['p50_ms']:6.0f} ms  "
                  f"p99 {result['p99_ms']:7.0f} ms  errors {result['bad'] + result['socket_errors']}  "
                  f"shed as busy {result['shed'] / result['seconds']:.1f}/s  "
                  f"{ratio:.2f} x {cores} x {bcrypt_per_core:.2f} bcrypt/s", flush=True)

    # Reads while logins saturate bcrypt, against reads alone.
    if "read" in scenarios and "login" in scenarios:
        server = Server(database.env)
        try:
            alone = measure(server, "read", 16, args, database.wrk_env)
            login = subprocess.Popen(["wrk", "-t", "2", "-c", "16", "-d", f"{args.seconds + args.warmup + 5}s",
                                      "--timeout", "60s", "-s", os.path.join(HERE, "load.lua"),
                                      f"http://127.0.0.1:{server.port}"],
                                     env=dict(database.wrk_env, SCENARIO="login"), stdout=subprocess.DEVNULL)
            time.sleep(2)
            during = measure(server, "read", 16, args, database.wrk_env)
            login.wait()
        finally:
            server.stop()
        ratio = during["p99_ms"] / alone["p99_ms"]
        print(f"reads c=16 p99 alone {alone['p99_ms']:.2f} ms, during logins {during['p99_ms']:.2f} ms "
              f"({ratio:.2f} x; target at most 3 x), {during['rps']:.0f} req/s during logins")


if __name__ == "__main__":
    sys.exit(main())
