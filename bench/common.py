"""What the benchmarks share: psql, database URLs, free ports, and realistic names."""

import socket
import subprocess

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
