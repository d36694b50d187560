"""Servers the end-to-end tests start on 127.0.0.1: a free port, whether a URL answers yet, PostgreSQL."""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """True once `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def postgres_program(name: str) -> str:
    """A PostgreSQL server program, from Debian's packages (`make postgres` installs them where missing)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make postgres` (Debian's postgresql).")
    return found[-1]


@contextlib.contextmanager
def postgres_server() -> Iterator[dict[str, str]]:
    """A PostgreSQL server on 127.0.0.1 over a new cluster in a temporary folder, run as the postgres user (it
    refuses root), in its own process group, stopped with it; yields the DAGSTER_POSTGRES_* settings."""
    folder = Path(tempfile.mkdtemp(prefix="movie_assets-postgres-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    init = [postgres_program("initdb"), "-D", str(data), "-U", "dagster", "-A", "trust", "-E", "UTF8", "--no-sync"]
    subprocess.run([*as_postgres, *init], check=True, capture_output=True)
    server = [postgres_program("postgres"), "-D", str(data), "-h", HOST, "-p", str(port), "-k", str(folder)]
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(
            [*as_postgres, *server, "-c", "fsync=off"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        create = [postgres_program("createdb"), "-h", HOST, "-p", str(port), "-U", "dagster", "dagster"]
        deadline = time.monotonic() + 60
        while subprocess.run([*as_postgres, *create], capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield {
            "DAGSTER_POSTGRES_HOST": HOST,
            "DAGSTER_POSTGRES_PORT": str(port),
            "DAGSTER_POSTGRES_USER": "dagster",
            "DAGSTER_POSTGRES_PASSWORD": "dagster",  # trust authentication on loopback: not checked
            "DAGSTER_POSTGRES_DB": "dagster",
        }
    finally:
        os.killpg(process.pid, signal.SIGINT)  # the server's fast shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
