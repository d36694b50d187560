"""Servers the end-to-end tests start on 127.0.0.1: a free port, whether a URL answers yet, PostgreSQL."""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from pyarrow import fs

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


def stop_group(process: subprocess.Popen, sig: int, timeout: float = 30) -> None:
    """End a server started in its own process group: `sig` to the group, SIGKILL if it outlives `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
        stop_group(process, signal.SIGINT)  # the server's fast shutdown
        shutil.rmtree(folder, ignore_errors=True)


S3PROXY = Path(sys.prefix) / "servers" / "s3proxy-2.6.0-jar-with-dependencies.jar"  # `make test-deploy` puts it
S3_KEY, S3_SECRET = "movie-assets", "movie-assets-secret"


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[dict[str, str]]:
    """s3proxy (an S3-compatible server on the Java here, keeping objects in memory) on 127.0.0.1, in its own
    process group, stopped with it, with `bucket` created; yields the standard AWS variables that reach it."""
    if not S3PROXY.exists():
        raise RuntimeError(f"{S3PROXY} is missing: run `make test-deploy`, which resolves s3proxy with Maven.")
    folder, port = Path(tempfile.mkdtemp(prefix="movie_assets-s3-")), free_port()
    (folder / "s3proxy.conf").write_text(
        f"s3proxy.endpoint=http://{HOST}:{port}\ns3proxy.authorization=aws-v2-or-v4\n"
        f"s3proxy.identity={S3_KEY}\ns3proxy.credential={S3_SECRET}\n"
        # The in-memory store keeps keys as given; s3proxy's folder-backed stores answer a HEAD of `a/b` with the
        # folder `a/b/`, which Hadoop's S3A then takes for a file.
        f"jclouds.provider=transient\njclouds.identity={S3_KEY}\njclouds.credential={S3_SECRET}\n"
    )
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(
            ["java", "-jar", str(S3PROXY), "--properties", str(folder / "s3proxy.conf")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    env = {
        "AWS_ENDPOINT_URL": f"http://{HOST}:{port}",
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
    }
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"s3proxy did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        store = fs.S3FileSystem(
            endpoint_override=env["AWS_ENDPOINT_URL"], access_key=S3_KEY, secret_key=S3_SECRET,
            region="us-east-1", scheme="http", allow_bucket_creation=True,
        )  # fmt: skip
        store.create_dir(bucket)
        yield env
    finally:
        stop_group(process, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0
