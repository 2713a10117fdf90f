#!/usr/bin/env python3
"""Benchmark of the admins' `customers` listing on PostgreSQL at a million rows.

Seeds a database of its own with 1,000,000 customers, starts the release build of the server
against it, and reports the median time (over --runs requests, over HTTP on loopback) of:
the first page, page 5,000 (reached by walking cursors), a search for a rare substring and an
exact-email filter; then prints PostgreSQL's plan for each query. It fails when page 5,000 takes
more than twice page 1, or when the search plan scans the table. It stops the server and drops
its database when done (--keep keeps the database for another run).

    python3 bench/listing.py [--admin-url postgres://postgres@127.0.0.1:5432/postgres]
"""

import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import time

from common import argument_parser, BINARY, FIRST_NAME, LAST_NAME, ROOT, Server, psql, with_database
DATABASE = "customer_api_bench_listing"
RARE = "zqxj"

PAGE = """query($first: Int, $after: String, $filter: CustomerFilter) {
  customers(first: $first, after: $after, filter: $filter) {
    edges { cursor node { customerId name email createdAt } }
    pageInfo { hasNextPage endCursor } } }"""

SEED = f"""
INSERT INTO customers (id, name, email, phone, address, created_at, updated_at)
SELECT gen_random_uuid(),
       first || ' ' || last,
       lower(first) || '.' || lower(last) || i || '@example' || (i % 97) || '.com',
       '+1 555 ' || lpad((i % 10000)::text, 4, '0'),
       jsonb_build_object('city', city, 'country', 'US'),
       at, at
FROM (
  SELECT i,
         {FIRST_NAME} AS first,
         {LAST_NAME} AS last,
         (ARRAY['Springfield','Portland','Austin','Denver','Boston','Seattle'])[1 + i % 6] AS city,
         timestamptz '2026-01-01' + i * interval '7 seconds' + (i % 1000) * interval '1 microsecond' AS at
  FROM generate_series(1, ROWS) AS i
) AS seed;
-- A handful of customers with a substring no one else has.
UPDATE customers SET name = name || ' {RARE.capitalize()}'
WHERE id IN (SELECT id FROM customers ORDER BY created_at LIMIT 3 OFFSET 500000);
ANALYZE customers;
"""





class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}

    def page(self, **variables):
        body = json.dumps({"query": PAGE, "variables": variables})
        started = time.perf_counter()
        self.conn.request("POST", "/graphql", body, self.headers)
        response = json.loads(self.conn.getresponse().read())
        elapsed = time.perf_counter() - started
        if "errors" in response:
            raise SystemExit(f"request failed: {response['errors']}")
        return response["data"]["customers"], elapsed

    def median_ms(self, runs, **variables):
        self.page(**variables)  # warm-up
        return statistics.median(self.page(**variables)[1] for _ in range(runs)) * 1000


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    url = with_database(args.admin_url, DATABASE)
    env = dict(os.environ, DATABASE_URL=url, JWT_SECRET=secrets.token_hex(32), RUST_LOG="warn")
    exists = psql(args.admin_url, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
    seeded = exists and args.keep and psql(url, "SELECT count(*) FROM customers") == str(args.rows)
    if not seeded:
        psql(args.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        psql(args.admin_url, f"CREATE DATABASE {DATABASE}")
        subprocess.run([BINARY, "migrate"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        psql(url, SEED.replace("ROWS", str(args.rows)))
        print(f"seeded {args.rows:,} customers in {time.perf_counter() - started:.0f} s")

    server = Server(env)
    try:
        token = subprocess.run([BINARY, "token", "--admin"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        client = Client(server.port, token)

        # Walk to the cursor that ends page 4,999 of 20 (position 99,980), 100 rows a step.
        after, walked = None, 0
        while walked < 99_980:
            step = min(100, 99_980 - walked)
            page, _ = client.page(first=step, after=after)
            after, walked = page["pageInfo"]["endCursor"], walked + step
        email = psql(url, "SELECT upper(email) FROM customers ORDER BY created_at LIMIT 1 OFFSET 123456")
        results = {
            "page 1 (first: 20)": client.median_ms(args.runs, first=20),
            "page 5,000 (first: 20, after: cursor)": client.median_ms(args.runs, first=20, after=after),
            f"search \"{RARE}\" (3 matches)": client.median_ms(args.runs, first=20, filter={"search": RARE}),
            "exact email (other case)": client.median_ms(args.runs, first=20, filter={"email": email}),
        }
        found, _ = client.page(first=20, filter={"search": RARE})
        assert len(found["edges"]) == 3, found
    finally:
        server.stop()

    print(f"\nmedian of {args.runs} requests over HTTP, {args.rows:,} customers:")
    for name, ms in results.items():
        print(f"  {name:<40} {ms:8.2f} ms")

    position = psql(url, "SELECT created_at || '|' || id FROM customers "
                         "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET 99979")
    created_at, last_id = position.split("|")
    select = "SELECT * FROM customers WHERE {} ORDER BY created_at DESC, id DESC LIMIT 21"
    plans = {
        "page 5,000": select.format(f"created_at <= '{created_at}' AND "
                                    f"(created_at < '{created_at}' OR id < '{last_id}')"),
        "search": select.format(f"(name ILIKE '%{RARE}%' ESCAPE '\\' OR email ILIKE '%{RARE}%' ESCAPE '\\')"),
        "exact email": select.format(f"lower(email) = lower('{email}')"),
    }
    failures = []
    for name, sql in plans.items():
        plan = psql(url, f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}")
        print(f"\nplan, {name}:\n" + "\n".join("  " + line for line in plan.splitlines()))
        if "Seq Scan on customers" in plan:
            failures.append(f"the {name} query scans the table")
    ratio = results["page 5,000 (first: 20, after: cursor)"] / results["page 1 (first: 20)"]
    print(f"\npage 5,000 / page 1: {ratio:.2f} (must be at most 2)")
    if ratio > 2:
        failures.append("page 5,000 costs more than twice page 1")

    if not args.keep:
        psql(args.admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))
    print("ok")


if __name__ == "__main__":
    sys.exit(main())
