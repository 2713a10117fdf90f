"""What the benchmarks share: the release server, psql, database URLs, free ports, and
realistic names."""

import argparse
import http.client
import os
import resource
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "customer-api")

# SQL expressions picking a first and a last name for row number i.
FIRST_NAME = ("(ARRAY['Ada','Grace','Linus','Barbara','Alan','Edsger','Donald','Frances','Ken','Margaret',"
              "'Dennis','Radia','John','Hedy','Tim','Sophie','Guido','Anita','Bjarne','Karen'])[1 + i % 20]")
LAST_NAME = ("(ARRAY['Lovelace','Hopper','Torvalds','Liskov','Turing','Dijkstra','Knuth','Allen','Thompson',"
             "'Hamilton','Ritchie','Perlman','McCarthy','Lamarr','Berners-Lee','Wilson','van Rossum',"
             "'Borg','Stroustrup','Jones','Smith','Garcia','Nguyen','Okafor','Schmidt'])[1 + (i / 20) % 25]")


def psql(url, sql):
    result = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
                            check=True, capture_output=True, text=True)
    return result.stdout.strip()


def with_database(url, name):
    """`url` with its database replaced by `name`."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The release server (`cargo build --release` first), or another build's `binary`, on a
    free loopback port with the settings in `env` (under `wrapper`, a command prefix, if
    given), ready once /readyz answers 200; its CPU time and peak memory are read from
    /proc."""

    def __init__(self, env, binary=BINARY, wrapper=()):
        self.port = free_port()
        self.process = subprocess.Popen([*wrapper, binary, "serve"], env=dict(env, BIND=f"127.0.0.1:{self.port}"),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            if self.process.poll() is not None:
                raise SystemExit("the server exited during start-up")
            try:
                connection = self.connection()
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("the server did not become ready")

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def cpu_seconds(self):
        fields = open(f"/proc/{self.process.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def _stat(pid):
    """The fields of /proc/<pid>/stat after the command name."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def postgres_cpu_seconds():
    """CPU time of the local PostgreSQL: its live processes, and through the postmaster's
    children counters the backends that have already exited (a pgbench run's connections end
    before it is read). Zero when PostgreSQL runs elsewhere."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if _comm(entry) != "postgres":
                continue
            fields = _stat(entry)
            ticks += int(fields[11]) + int(fields[12])
            if _comm(fields[1]) != "postgres":  # the postmaster: add its reaped backends
                ticks += int(fields[13]) + int(fields[14])
        except (OSError, IndexError):
            continue  # a backend that ended while being read is counted by the postmaster
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """CPU time of this script's finished child processes (wrk, pgbench)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def argument_parser(doc):
    """A script's arguments: its docstring's first line as description, and the PostgreSQL
    server to make its databases on (--admin-url, or BENCH_DATABASE_URL)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--admin-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return parser
