"""Local Spark listens on the loopback address only: nothing of a run is reachable from another host."""

import os
from pathlib import Path

from pyspark.sql import SparkSession


def listening(pid: int) -> set[str]:
    """The addresses the process's TCP sockets listen on, read from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address = bytes.fromhex(fields[1].split(":")[0])
                found.add(".".join(str(b) for b in reversed(address[-4:])))  # IPv4 or v4-mapped IPv6
    return found


def test_the_jvm_listens_on_loopback_only(spark: SparkSession) -> None:
    spark.range(1000).selectExpr("sum(id)").collect()  # a job: the block manager and task scheduler are up
    pid = spark.sparkContext._gateway.proc.pid
    addresses = listening(pid)
    assert addresses == {"127.0.0.1"}, addresses
