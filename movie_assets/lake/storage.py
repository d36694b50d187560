"""Object storage settings, in one place: the standard AWS variables, as Spark's S3A connector reads them.

delta-rs and pyarrow read the same variables themselves (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP); delta-rs commits to S3 with conditional writes
(If-None-Match), so on a store that makes them atomic (AWS S3 and the Versity S3 Gateway of the tests do;
s3proxy does not) two writers never both commit one version. Spark's S3A connector is given them here:
the endpoint with path-style access and one object per DELETE (what S3-compatible stores serve: s3proxy
refuses the checksum header current SDKs put on a bulk delete), plain http when AWS_ALLOW_HTTP is true, the
region, and the key pair. The AWS SDK's checksum settings (AWS_REQUEST_CHECKSUM_CALCULATION,
AWS_RESPONSE_CHECKSUM_VALIDATION: WHEN_REQUIRED for stores that reject the SDK's default checksums) are
environment variables the SDK reads itself: they are passed on to the executors.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, cast

from pyarrow import fs

SDK_VARIABLES = ("AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION")
HADOOP_SCHEMES = {"s3a://": "s3://", "s3n://": "s3://"}  # Hadoop's names for what delta-rs and Arrow call s3://
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(path: str) -> bool:
    return bool(_URI.match(path))


def native_uri(path: str) -> str:
    """A path as delta-rs and pyarrow take it: Hadoop's s3a:// is their s3://; anything else unchanged."""
    for hadoop, native in HADOOP_SCHEMES.items():
        if path.startswith(hadoop):
            return native + path.removeprefix(hadoop)
    return path


def spark_conf(env: Mapping[str, str]) -> dict[str, str]:
    """Spark settings for S3A from the AWS variables in `env` (none when none is set)."""
    conf: dict[str, str] = {}
    if endpoint := env.get("AWS_ENDPOINT_URL"):  # an S3-compatible store: path-style, one object per DELETE
        conf |= {
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.multiobjectdelete.enable": "false",
        }
    if env.get("AWS_ALLOW_HTTP", "").lower() == "true":
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
    if region := env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"):
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        conf |= {
            "spark.hadoop.fs.s3a.access.key": env["AWS_ACCESS_KEY_ID"],
            "spark.hadoop.fs.s3a.secret.key": env["AWS_SECRET_ACCESS_KEY"],
        }
    conf |= {f"spark.executorEnv.{name}": env[name] for name in SDK_VARIABLES if env.get(name)}
    return conf


@dataclass(frozen=True)
class Entry:
    """A file in a folder or under a store prefix: its path as given (s3a:// stays s3a://), size and mtime."""

    path: str
    name: str
    size: int
    mtime_ns: int


def _located(path: str) -> tuple[fs.FileSystem, str]:
    """pyarrow's filesystem for a local path or a store URI, and the path within it."""
    if is_uri(path):
        located: tuple[fs.FileSystem, str] = fs.FileSystem.from_uri(native_uri(path))
        return located
    return fs.LocalFileSystem(), path


def _entry(path: str, info: fs.FileInfo) -> Entry:
    return Entry(path, info.base_name, int(info.size or 0), int(info.mtime_ns or 0))


def is_folder(path: str) -> bool:
    """A local folder, or a store prefix with objects under it."""
    filesystem, inner = _located(path)
    return bool(filesystem.get_file_info(inner).type == fs.FileType.Directory)


def files_in(folder: str) -> list[Entry]:
    """The files directly in `folder` (a local folder or a store prefix), by name; none when it does not exist."""
    filesystem, inner = _located(folder)
    selector = fs.FileSelector(inner, allow_not_found=True, recursive=False)
    infos = [i for i in filesystem.get_file_info(selector) if i.type == fs.FileType.File]
    return [_entry(f"{folder.rstrip('/')}/{i.base_name}", i) for i in sorted(infos, key=lambda i: i.base_name)]


def stat(path: str) -> Entry:
    filesystem, inner = _located(path)
    info = filesystem.get_file_info(inner)
    if info.type != fs.FileType.File:
        raise FileNotFoundError(f"no file at {path}")
    return _entry(path, info)


def open_bytes(path: str) -> IO[bytes]:
    """A local file or a store object, to read as a stream of bytes."""
    filesystem, inner = _located(path)
    return cast(IO[bytes], filesystem.open_input_stream(inner, compression=None))  # the bytes as stored
