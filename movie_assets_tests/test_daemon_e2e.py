"""The real servers: `dagster dev` on 127.0.0.1, used the way people and client programs use it.

The daemon picks up landing files and refreshes everything downstream; the GraphQL API (Dagster's own client
and plain queries) shows the lineage of design.md, launches `similar_movies_job` and reports its result or its
error; the browser tests in test_ui_browser.py open the same server.
"""

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from dagster_graphql import DagsterGraphQLClient
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright
from pyspark.sql import SparkSession
from streamlit.testing.v1 import AppTest

from movie_assets.app.picker import graphql
from movie_assets.lake.delta_tables import table_version
from movie_assets_tests.servers import answers, free_port
from movie_assets_tests.test_definitions import DESIGN_LINEAGE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
APP = importlib.util.find_spec("movie_assets.app.streamlit_app").origin  # the script, not imported
NEW_RATINGS = [(9001, 1, 4.0, 1700000000), (9001, 260, 5.0, 1700000001), (9001, 296, 3.5, 1700000002)]
NEW_RATINGS += [(9002, 1, 2.0, 1700000003), (9002, 318, 4.5, 1700000004)]


def wait_for(what: str, condition: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n--- dagster dev log ---\n{tail}")
        time.sleep(2)


@pytest.fixture(scope="module")
def server(ml_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, Path]]:
    root = tmp_path_factory.mktemp("daemon")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    (root / "landing").mkdir()
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(ml_small / name, root / "landing" / name)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_DATA_DIR": str(root),
        "MOVIE_ASSETS_SENSOR_INTERVAL": "5",
        "MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS": "2",
    }
    log = root / "dagster_dev.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                "movie_assets.definitions",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the webserver, daemon, code server and runs
        )
    try:
        yield root, port, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:  # alone it stops in 3 s; after the whole file it never did within 65 s, so kill it after 10
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of the group still alive


LINEAGE_QUERY = """
query {
  assetNodes { assetKey { path } dependencyKeys { path } }
}
"""
RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      assetMaterializations {
        assetKey { path }
        metadataEntries {
          label
          ... on MarkdownMetadataEntry { mdStr }
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events { __typename ... on MessageEvent { message } ... on ErrorEvent { error { message } } }
    }
  }
}
"""
SENSOR_TICKS_QUERY = """
query ($name: String!) {
  sensorOrError(sensorSelector: {repositoryName: "__repository__", repositoryLocationName: "movie_assets.definitions",
                                 sensorName: $name}) {
    ... on Sensor { sensorState { ticks(limit: 5) { timestamp status } } }
  }
}
"""


def run_details(port: int, run_id: str) -> tuple[dict, str]:
    """The run (status, materializations with metadata) and every message and error text of its event log."""
    data = graphql(f"http://127.0.0.1:{port}", RUN_QUERY, runId=run_id)
    events = data["logsForRun"]["events"]
    text = "\n".join(e.get("message") or "" for e in events)
    text += "\n".join((e.get("error") or {}).get("message") or "" for e in events)
    return data["runOrError"], text


def answer_from_metadata(run: dict) -> tuple[int, list[tuple[int, int, str]]]:
    """(movie_id, [(rank, similar_movie_id, title)]) from the run's similar_movies materialization."""
    [event] = [m for m in run["assetMaterializations"] if m["assetKey"]["path"] == ["similar_movies"]]
    entries = {e["label"]: e for e in event["metadataEntries"]}
    lines = entries["similar_movies"]["mdStr"].splitlines()[2:]  # below the header and its rule
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return entries["movie_id"]["intValue"], [(int(c[0]), int(c[1]), c[2]) for c in cells]


@pytest.fixture(scope="module")
def client(server: tuple[Path, int, Path]) -> DagsterGraphQLClient:
    _, port, log = server
    wait_for("the webserver", lambda: answers(f"http://127.0.0.1:{port}/server_info"), 120, log)
    return DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)


def committed(root: Path, name: str) -> bool:
    """Another process writes these tables: look at the files (this process's Delta log cache would not notice)."""
    return any((root / "delta" / name / "_delta_log").glob("*.json"))


@pytest.fixture(scope="module")
def built(server: tuple[Path, int, Path], client: DagsterGraphQLClient) -> Path:
    """The daemon, with no click, took the landed sample through bronze, silver, factors and neighbours."""
    root, _, log = server
    names = ("user_movie_title_rating", "als_item_factors", "movie_neighbors")
    wait_for("bronze, silver, factors and neighbours", lambda: all(committed(root, n) for n in names), 900, log)
    return root


def sensor_ticks_after(port: int, sensor: str, since: float) -> int:
    data = graphql(f"http://127.0.0.1:{port}", SENSOR_TICKS_QUERY, name=sensor)["sensorOrError"]
    return sum(1 for t in data["sensorState"]["ticks"] if t["timestamp"] > since and t["status"] != "STARTED")


def test_api_lineage_is_the_design(server: tuple[Path, int, Path], client: DagsterGraphQLClient) -> None:
    nodes = graphql(f"http://127.0.0.1:{server[1]}", LINEAGE_QUERY)["assetNodes"]
    upstream = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert upstream == DESIGN_LINEAGE


def test_landing_to_factors_with_no_click(
    server: tuple[Path, int, Path], built: Path, client: DagsterGraphQLClient, spark: SparkSession
) -> None:
    root, port, log = server
    table = lambda name: str(root / "delta" / name)  # noqa: E731
    count = lambda name: spark.read.format("delta").load(table(name)).count()  # noqa: E731
    assert count("ratings_bronze") == count("ratings_silver") == count("user_movie_title_rating") == 100_836

    run_id = client.submit_job_execution(
        "similar_movies_job", run_config={"ops": {"similar_movies": {"config": {"movie_id": 1, "k": 5}}}}
    )
    wait_for("the answer for movie 1", lambda: client.get_run_status(run_id).value == "SUCCESS", 300, log)
    # The answer in the run's metadata is the answer in the table.
    movie_id, from_metadata = answer_from_metadata(run_details(port, run_id)[0])
    rows = spark.read.format("delta").load(table("similar_movies")).where("movie_id = 1").orderBy("rank").collect()
    assert movie_id == 1 and len(rows) == 5
    assert from_metadata == [(r["rank"], r.similar_movie_id, r.title) for r in rows]
    answers_version = table_version(spark, table("similar_movies"))
    factors_version = table_version(spark, table("als_item_factors"))

    lines = "".join(f"{u},{m},{r},{t}\n" for u, m, r, t in NEW_RATINGS)
    staged = root / "landing" / ".ratings_new.csv.partial"
    staged.write_text("userId,movieId,rating,timestamp\n" + lines)
    staged.rename(root / "landing" / "ratings_new.csv")
    wait_for(
        "the new ratings in bronze and silver, new factors and a recomputed answer",
        lambda: (
            count("ratings_bronze") == 100_836 + len(NEW_RATINGS)
            and count("user_movie_title_rating") == 100_836 + len(NEW_RATINGS)
            and table_version(spark, table("als_item_factors")) > factors_version
            and table_version(spark, table("similar_movies")) > answers_version
        ),
        600,
        log,
    )
    assert count("similar_movies") == 5

    versions = {
        n: table_version(spark, table(n))
        for n in ("ratings_bronze", "user_mean_count_silver", "movie_mean_count_silver")
    }
    shutil.copy(root / "landing" / "ratings_new.csv", root / "landing" / "ratings_new.csv.copy")
    os.replace(
        root / "landing" / "ratings_new.csv.copy", root / "landing" / "ratings_new.csv"
    )  # same content, new mtime
    since = time.time()
    wait_for("two sensor ticks", lambda: sensor_ticks_after(port, "landing_sensor", since) >= 2, 120, log)
    assert {n: table_version(spark, table(n)) for n in versions} == versions
    assert count("ratings_bronze") == 100_836 + len(NEW_RATINGS)


def test_api_bad_movie_id_fails_with_the_asset_message(
    server: tuple[Path, int, Path], built: Path, client: DagsterGraphQLClient
) -> None:
    _, port, log = server
    run_id = client.submit_job_execution(
        "similar_movies_job", run_config={"ops": {"similar_movies": {"config": {"movie_id": 999999999}}}}
    )
    wait_for("the run to fail", lambda: client.get_run_status(run_id).value == "FAILURE", 300, log)
    run, messages = run_details(port, run_id)
    assert run["status"] == "FAILURE"
    assert "movie_id 999999999 is not in movies_bronze: pick a movieId from movies.csv." in messages


def readme_block(language: str, containing: str) -> str:
    """The README's fenced `language` block that contains `containing`."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```", (REPO / "README.md").read_text(), re.M | re.S)
    [block] = [b for b in blocks if containing in b]
    return block


def test_the_readme_ask_commands_against_the_server(
    server: tuple[Path, int, Path], built: Path, client: DagsterGraphQLClient, spark: SparkSession
) -> None:
    """The Launchpad YAML through the API, and the CLI command as printed (it runs on the server's instance)."""
    root, port, log = server
    run_config = yaml.safe_load(readme_block("yaml", "similar_movies:"))
    run_id = client.submit_job_execution("similar_movies_job", run_config=run_config)
    wait_for("the Launchpad's run", lambda: client.get_run_status(run_id).value == "SUCCESS", 300, log)

    command = readme_block("bash", "movie-assets ask")
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home"), "MOVIE_ASSETS_DATA_DIR": str(root)}
    done = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [cli_run] = re.findall(r"^run ([0-9a-f-]{36}): the 10 movies most like", done.stdout, re.M)
    assert run_details(port, cli_run)[0]["status"] == "SUCCESS"  # the server's UI lists the CLI's run
    movie_id = int(re.search(r"ask (\d+)", command).group(1))
    answer = spark.read.format("delta").load(str(root / "delta" / "similar_movies")).where(f"movie_id = {movie_id}")
    assert answer.count() == 10


def test_app_launches_the_job_when_no_answer_is_stored(
    server: tuple[Path, int, Path],
    built: Path,
    client: DagsterGraphQLClient,
    spark: SparkSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, port, _ = server
    monkeypatch.setenv("MOVIE_ASSETS_DATA_DIR", str(root))
    monkeypatch.setenv("MOVIE_ASSETS_DAGSTER_URL", f"http://127.0.0.1:{port}")
    app = AppTest.from_file(APP, default_timeout=600)
    app.run()
    app.text_input(key="query").input("matrix, the").run()
    assert app.selectbox(key="movie").value.title == "Matrix, The (1999)"
    app.slider(key="k").set_value(60).run()  # more than movie_neighbors keeps: only a run can answer
    assert not app.dataframe
    app.button(key="launch").click().run()
    assert not app.error, app.error[0].value
    shown = app.dataframe[0].value
    want = spark.read.format("delta").load(str(root / "delta" / "similar_movies"))
    want = want.where("movie_id = 2571").orderBy("rank").collect()
    assert len(want) == 60
    assert shown["similar_movie_id"].tolist() == [r.similar_movie_id for r in want]
    assert shown["similarity"].tolist() == pytest.approx([r.similarity for r in want], abs=1e-12)


BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium, driven by Playwright (make test installs it when it can)."""
    executable = shutil.which("chromium")
    if executable is None:
        message = "Chromium is not installed: `apt-get install chromium` (make test does when it can)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: browser tests must run)")
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: MOVIE_ASSETS_SCREENSHOTS (docs/ for the README), else a temp folder."""
    folder = Path(os.environ.get("MOVIE_ASSETS_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_ui_asset_graph_and_launchpad(
    server: tuple[Path, int, Path], client: DagsterGraphQLClient, browser: object, screenshots: Path
) -> None:
    _, port, _ = server
    width, height = 2400, 2400  # large enough for the whole expanded graph with full names
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"http://127.0.0.1:{port}/asset-groups")
    page.get_by_text("Materialize all").wait_for(timeout=60_000)
    with contextlib.suppress(PlaywrightTimeout):  # a new instance greets with a newsletter dialog
        page.get_by_role("button", name="Skip").click(timeout=5_000)
    page.mouse.click(width - 400, height - 300, button="right")  # the graph's context menu
    page.get_by_role("menuitem", name="Expand all groups").click(timeout=30_000)
    page.reload()  # the expanded groups are remembered, and the graph is laid out again to fit
    for name in DESIGN_LINEAGE:
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        assert page.get_by_text(name, exact=True).first.is_visible()
    for _ in range(2):
        page.mouse.click(width - 28, height - 148)  # the zoom-out button, bottom right
        page.wait_for_timeout(400)
    page.wait_for_timeout(1500)
    page.screenshot(path=screenshots / "lineage.png")

    page.goto(f"http://127.0.0.1:{port}/locations/movie_assets.definitions/jobs/similar_movies_job/playground")
    page.locator(".CodeMirror").first.wait_for(timeout=60_000)
    assert page.get_by_text("similar_movies_job").first.is_visible()
    editor = page.locator(".CodeMirror").first.inner_text()
    assert "similar_movies:" in editor and "movie_id" in editor, editor
    assert "movie_id: 1" in editor and "k: 10" in editor
    assert "spark.jars" not in editor and "data_dir" not in editor  # no machine-specific resource values
    page.screenshot(path=screenshots / "launchpad.png")
    page.close()
    assert (screenshots / "lineage.png").stat().st_size > 10_000


def test_app_in_the_browser(server: tuple[Path, int, Path], built: Path, browser: object, screenshots: Path) -> None:
    root, port, log = server
    app_port = free_port()
    env = {**os.environ, "MOVIE_ASSETS_DATA_DIR": str(root), "MOVIE_ASSETS_DAGSTER_URL": f"http://127.0.0.1:{port}"}
    command = [sys.executable, "-m", "streamlit", "run", APP, "--server.address", "127.0.0.1", "--server.port",
               str(app_port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    try:
        wait_for("the app", lambda: answers(f"http://127.0.0.1:{app_port}/_stcore/health"), 60, log)
        page = browser.new_page(viewport={"width": 1200, "height": 1100})
        page.goto(f"http://127.0.0.1:{app_port}/")
        search = page.get_by_label("Search a movie by title")
        search.wait_for(timeout=60_000)
        search.fill("toy story")
        search.press("Enter")
        page.get_by_text("Most like Toy Story (1995)").wait_for(timeout=60_000)
        page.get_by_text("From the movie_neighbors table").wait_for(timeout=30_000)
        table = page.locator("[data-testid='stDataFrame']").first
        table.wait_for(timeout=30_000)
        assert table.is_visible()
        page.wait_for_timeout(1000)
        page.screenshot(path=screenshots / "movie_picker.png")
        page.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
