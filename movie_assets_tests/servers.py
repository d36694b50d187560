"""Servers the end-to-end tests start on 127.0.0.1 (a free port, whether a URL answers yet, PostgreSQL, an S3 server)
and how a test reaches a data root on the store: its landing folder, a file put there, a table's rows."""

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

from deltalake import DeltaTable
from pyarrow import fs

from movie_assets.lake import storage

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


VERSITYGW = Path(sys.prefix) / "servers" / "versitygw"  # `make test-deploy` builds it
S3_KEY, S3_SECRET = "movie-assets", "movie-assets-secret"


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[dict[str, str]]:
    """The Versity S3 Gateway over a temporary folder (its posix backend: an object is a file, and a conditional
    write is checked and published under a lock, so of writers racing for one key exactly one wins) on
    127.0.0.1, in its own process group, stopped with it, with `bucket` created; yields the standard AWS
    variables that reach it."""
    if not VERSITYGW.exists():
        raise RuntimeError(f"{VERSITYGW} is missing: run `make test-deploy`, which builds the Versity S3 Gateway.")
    folder, port = Path(tempfile.mkdtemp(prefix="movie_assets-s3-")), free_port()
    (folder / "objects" / bucket).mkdir(parents=True)  # a folder at the top is a bucket
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(
            [str(VERSITYGW), "--access", S3_KEY, "--secret", S3_SECRET, "--port", f"{HOST}:{port}", "--quiet",
             "posix", str(folder / "objects")],
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
                raise RuntimeError(f"versitygw did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield env
    finally:
        stop_group(process, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


def store_filesystem(env: dict[str, str]) -> fs.S3FileSystem:
    """pyarrow's filesystem on the server `env` (s3_server's variables) reaches."""
    return fs.S3FileSystem(
        endpoint_override=env["AWS_ENDPOINT_URL"], access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"], region=env["AWS_REGION"], scheme="http",
    )  # fmt: skip


def landing(env: dict[str, str], root: str) -> tuple[fs.FileSystem, str]:
    """The landing folder of a local root or of a store root (s3a://bucket/prefix), as a pyarrow filesystem."""
    if root.startswith("s3a://"):
        return store_filesystem(env), f"{root.removeprefix('s3a://')}/landing"
    (Path(root) / "landing").mkdir(parents=True, exist_ok=True)
    return fs.LocalFileSystem(), f"{root}/landing"


def put(env: dict[str, str], root: str, name: str, data: bytes) -> None:
    """A file into landing (a new object, or a replaced one)."""
    filesystem, folder = landing(env, root)
    with filesystem.open_output_stream(f"{folder}/{name}") as out:
        out.write(data)


def rows(env: dict[str, str], root: str, table: str) -> list[tuple]:
    """A table's rows through delta-rs (s3a:// read as s3://, credentials from the AWS variables), in one order,
    without the time of ingestion."""
    data = DeltaTable(f"{storage.native_uri(root)}/delta/{table}", storage_options=env).to_pyarrow_table()
    data = data.drop_columns([c for c in ("ingested_at",) if c in data.column_names])
    return sorted(zip(*data.to_pydict().values(), strict=True), key=repr)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0
