"""A real Spark standalone cluster on 127.0.0.1, started with the launcher classes shipped inside pyspark."""

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyspark

from movie_assets_tests.servers import HOST, free_port


@dataclass(frozen=True)
class StandaloneCluster:
    master_url: str
    ui_url: str
    logs: Path

    def state(self) -> dict:
        """The master's own view: workers, cores, running and completed applications."""
        with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=5) as response:
            return json.load(response)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted(self.logs.glob("*.log"))
        )


def _stop(process: subprocess.Popen) -> None:
    """End the process group (a worker's executors run in its group), politely first."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def standalone_cluster(
    folder: Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 120
) -> Iterator[StandaloneCluster]:
    """One master and `workers` workers with bounded cores and memory; every process is ended on exit."""
    spark_home = Path(pyspark.__file__).parent
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": HOST, "SPARK_NO_DAEMONIZE": "1"}
    port, ui_port = free_port(), free_port()
    cluster = StandaloneCluster(f"spark://{HOST}:{port}", f"http://{HOST}:{ui_port}", logs)
    processes: list[subprocess.Popen] = []

    def launch(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "wb") as log:
            command = [str(spark_home / "bin" / "spark-class"), *args]
            processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )

    def wait_for(what: str, ready: Callable[[dict], bool]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready(cluster.state()):
                    return
            except OSError:
                pass
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a cluster process exited while waiting for {what}:\n{cluster.log_tail()}")
            time.sleep(0.5)
        raise TimeoutError(f"no {what} after {timeout:.0f} s:\n{cluster.log_tail()}")

    try:
        launch("master", "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
               "--webui-port", str(ui_port))  # fmt: skip
        wait_for("master", lambda state: state.get("status") == "ALIVE")
        for i in range(workers):
            work_dir = folder / f"worker-{i}"
            launch(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", "--host", HOST, "--cores", str(cores),
                   "--memory", memory, "--webui-port", str(free_port()), "--work-dir", str(work_dir),
                   cluster.master_url)  # fmt: skip
        wait_for(f"{workers} alive workers", lambda state: state.get("aliveworkers") == workers)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop(process)
