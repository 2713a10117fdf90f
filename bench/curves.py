#!/usr/bin/env python3
"""Scaling curves: reads against connections and table size, with PostgreSQL's own limit.

For 10,000, 100,000 and 1,000,000 customers (seeded as bench/load.py seeds them), it drives
`customer(customerId)` as an admin at 1, 4, 16, 64 and 256 connections with wrk, each through a
freshly started release server, and runs pgbench's same primary-key select
(bench/pk_select.sql) at the same connection counts, where PostgreSQL's max_connections allows.
It writes the figures to bench/results/curves.json and draws two charts, throughput and p99
against connections (bench/results/scaling-connections.png) and against rows
(bench/results/scaling-rows.png).

    pip install -r bench/requirements.txt     # matplotlib
    python3 bench/curves.py [--seconds 8]
"""

import datetime
import json
import os
import platform

from common import argument_parser, psql
from load import LoadDatabase, median, pgbench, require_tools, served, set_autogroup

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
ROWS = [10_000, 100_000, 1_000_000]
CONNECTIONS = [1, 4, 16, 64, 256]
# pgbench holds one PostgreSQL connection per client; leave room for the superuser's slots.
RESERVED_CONNECTIONS = 10


def measure_all(args):
    max_connections = int(psql(args.admin_url, "SHOW max_connections"))
    figures = []
    for rows in ROWS:
        with LoadDatabase(args.admin_url, rows) as database:
            for c in CONNECTIONS:
                server = [served(database, "read", c, args) for _ in range(args.repeat)]
                point = {"rows": rows, "connections": c,
                         "server_rps": median(s["rps"] for s in server),
                         "server_p99_ms": median(s["p99_ms"] for s in server),
                         "errors": sum(s["bad"] + s["socket_errors"] for s in server),
                         "server_cpu_ms": median(s["cpu_ms_per_request"] for s in server),
                         "postgres_cpu_ms": median(s["postgres_cpu_ms"] for s in server)}
                if c <= max_connections - RESERVED_CONNECTIONS:
                    yard = [pgbench(database, ["pk_select.sql"], c, args.seconds) for _ in range(args.repeat)]
                    point["pgbench_rps"] = median(y["rps"] for y in yard)
                    point["pgbench_p99_ms"] = median(y["p99_ms"] for y in yard)
                figures.append(point)
                print(json.dumps(point), flush=True)
    return {"date": datetime.date.today().isoformat(), "machine": machine(),
            "max_connections": max_connections, "seconds": args.seconds, "points": figures}


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({model}), {memory / 2**20:.0f} GiB, {platform.system()} {platform.release()}"


def draw(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = results["points"]
    subtitle = f"{results['machine']}; {results['date']}; server, PostgreSQL and load generator share the cores"

    def series(x_key, group_key, group, y_key):
        chosen = sorted((p for p in points if p[group_key] == group and y_key in p), key=lambda p: p[x_key])
        return [p[x_key] for p in chosen], [p[y_key] for p in chosen]

    charts = [("connections", "rows", ROWS, lambda rows: f"{rows:,} rows", "scaling-connections.png",
               "concurrent connections"),
              ("rows", "connections", CONNECTIONS, lambda c: f"{c} conns", "scaling-rows.png", "customers in the table")]
    for x_key, group_key, groups, label, name, x_label in charts:
        figure, (throughput, tail) = plt.subplots(1, 2, figsize=(13, 5))
        for index, group in enumerate(groups):
            colour = f"C{index}"
            for prefix, style, who in (("server", "-o", "server"), ("pgbench", "--s", "pgbench")):
                xs, ys = series(x_key, group_key, group, f"{prefix}_rps")
                throughput.plot(xs, ys, style, color=colour, label=f"{who}, {label(group)}")
                xs, ys = series(x_key, group_key, group, f"{prefix}_p99_ms")
                tail.plot(xs, ys, style, color=colour, label=f"{who}, {label(group)}")
        for axis, y_label in ((throughput, "requests per second"), (tail, "p99 latency (ms)")):
            axis.set_xscale("log")
            axis.set_xlabel(x_label)
            axis.set_ylabel(y_label)
            axis.grid(True, which="both", alpha=0.3)
            axis.set_xticks(sorted({p[x_key] for p in points}))
            axis.get_xaxis().set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        tail.set_yscale("log")
        throughput.set_ylim(bottom=0)
        handles, labels = throughput.get_legend_handles_labels()
        figure.legend(handles, labels, loc="lower center", ncol=len(groups), fontsize=8)
        figure.suptitle(f"customer(customerId) through the server (solid) and pgbench's same select (dashed)\n{subtitle}",
                        fontsize=9)
        figure.tight_layout(rect=(0, 0.12, 1, 1))
        figure.savefig(os.path.join(RESULTS, name), dpi=90)
        plt.close(figure)


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per point (the median is drawn)")
    parser.add_argument("--draw-only", action="store_true", help="redraw from bench/results/curves.json")
    args = parser.parse_args()
    try:
        import matplotlib  # noqa: F401  (fail before minutes of measuring, not after)
    except ImportError:
        raise SystemExit("matplotlib is missing: pip install -r bench/requirements.txt")
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "curves.json")
    if args.draw_only:
        with open(path) as f:
            results = json.load(f)
    else:
        require_tools()
        autogroup = set_autogroup("0")
        try:
            results = measure_all(args)
        finally:
            if autogroup is not None:
                set_autogroup(autogroup)
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
    draw(results)
    print(f"charts in {RESULTS}")


if __name__ == "__main__":
    main()
