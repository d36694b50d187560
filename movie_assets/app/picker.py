"""What the movie-picker app needs, without Streamlit: title search, stored answers, and runs launched through
Dagster's GraphQL API. Tables are read with delta-rs (`deltalake`), so the app starts no JVM."""

import json
import os
import time
import unicodedata
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from deltalake import DeltaTable

from movie_assets.lake.delta_rs import data_version, open_table, rows_where
from movie_assets.lake.delta_tables import MissingTableError
from movie_assets.resources.lakehouse import Lakehouse, default_data_dir
from movie_assets.tables import schemas as S

DAGSTER_URL_ENV = "MOVIE_ASSETS_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
JOB = "similar_movies_job"
ANSWER_COLUMNS = [S.RANK, S.SIMILAR_MOVIE_ID, S.TITLE, S.GENRES, S.SIMILARITY]


def fold(text: str) -> str:
    """Lower case without accents: "Amélie" -> "amelie"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str
    genres: str


class Catalog:
    """Every movie, searchable by title: case- and accent-insensitive, every word of the query a part of it."""

    def __init__(self, movies: list[Movie]) -> None:
        self.movies = sorted(movies, key=lambda m: m.title)
        self._folded = [fold(m.title) for m in self.movies]
        self.by_id = {m.movie_id: m for m in self.movies}

    def search(self, query: str, limit: int = 50) -> list[Movie]:
        words = fold(query).split()
        if not words:
            return []
        hits = [i for i, title in enumerate(self._folded) if all(w in title for w in words)]
        phrase = " ".join(words)
        hits.sort(key=lambda i: not self._folded[i].startswith(phrase))  # stable: alphabetical within each
        return [self.movies[i] for i in hits[:limit]]


@dataclass(frozen=True)
class Answer:
    movie_id: int
    rows: list[dict[str, Any]]
    source: str


class Store:
    """The lakehouse's tables, read-only."""

    def __init__(self, data_dir: str | None = None) -> None:
        self.lakehouse = Lakehouse(data_dir=data_dir or default_data_dir())

    def _table(self, name: str) -> DeltaTable | None:
        try:
            return open_table(self.lakehouse.table_path(name), name)
        except MissingTableError:
            return None

    def _neighbors_current(self) -> bool:
        """movie_neighbors was ranked from the factors as they are now (its commit records their version)."""
        neighbors, factors = self._table("movie_neighbors"), self._table("als_item_factors")
        if neighbors is None or factors is None:
            return False
        return data_version(neighbors)[1].get("als_item_factors_version") == data_version(factors)[0]

    def catalog(self) -> Catalog:
        table = self._table("movies_bronze")
        if table is None:
            raise LookupError("movies_bronze is not materialized yet: materialize it in the Dagster UI first.")
        rows = table.to_pyarrow_table(columns=[S.MOVIE_ID, S.TITLE, S.GENRES]).to_pylist()
        return Catalog([Movie(r[S.MOVIE_ID], r[S.TITLE], r[S.GENRES]) for r in rows])

    def _rows(self, name: str, movie_id: int) -> list[dict[str, Any]]:
        table = self._table(name)
        if table is None:
            return []
        found = rows_where(table, S.QUERY_MOVIE_ID, [movie_id])
        return sorted(found.to_pylist(), key=lambda r: r[S.RANK])

    def answer(self, movie_id: int, k: int, catalog: Catalog) -> Answer | None:
        """The stored answer: movie_neighbors when it is current, else a similar_movies answer."""
        if self._neighbors_current():
            rows = self._rows("movie_neighbors", movie_id)
            if len(rows) >= k:
                for row in rows:
                    movie = catalog.by_id.get(row[S.SIMILAR_MOVIE_ID])
                    row[S.TITLE], row[S.GENRES] = (movie.title, movie.genres) if movie else (None, None)
                return Answer(movie_id, [{c: r[c] for c in ANSWER_COLUMNS} for r in rows[:k]], "movie_neighbors")
        rows = self._rows("similar_movies", movie_id)
        if len(rows) >= k:
            return Answer(movie_id, [{c: r[c] for c in ANSWER_COLUMNS} for r in rows[:k]], "similar_movies")
        return None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    message: str


FAILURE_QUERY = """
query ($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on ErrorEvent { error { message } } } }
  }
}
"""


def dagster_url() -> str:
    return os.environ.get(DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL).rstrip("/")


def graphql_client(url: str) -> DagsterGraphQLClient:
    scheme, _, rest = url.partition("://")
    host, _, port = rest.partition(":")
    return DagsterGraphQLClient(host, port_number=int(port) if port else None, use_https=scheme == "https")


def graphql(url: str, query: str, **variables: object) -> dict:
    """A plain GraphQL query, for what the client has no method for."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"Dagster's GraphQL API at {url} refused the query: {answer['errors'][0]['message']}")
    return answer["data"]


def launch(url: str, movie_id: int, k: int) -> str:
    """Launch similar_movies_job for the movie; the run id, or an error that says what to do."""
    config = {"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": k}}}}
    try:
        return graphql_client(url).submit_job_execution(JOB, run_config=config)
    except (DagsterGraphQLClientError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if reason.startswith("Exception occured during execution of query"):  # the client's word for "no answer"
            reason = "no answer"
        raise RuntimeError(f"could not launch {JOB} at {url} ({reason}): is `make dev` running?") from err


def wait(url: str, run_id: str, on_status: Callable[[str], None], timeout: float = 900) -> RunOutcome:
    """Poll the run until it ends; a failed run's outcome carries the step's error message."""
    client = graphql_client(url)
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status != last:
            on_status(status)
            last = status
        if status == "SUCCESS":
            return RunOutcome(run_id, status, "")
        if status in {"FAILURE", "CANCELED"}:
            events = graphql(url, FAILURE_QUERY, runId=run_id)["logsForRun"]["events"]
            errors = [e["error"]["message"].strip() for e in events if e.get("error")]
            return RunOutcome(run_id, status, errors[0] if errors else f"run {run_id} ended: {status}")
        time.sleep(1)
    return RunOutcome(run_id, "TIMEOUT", f"run {run_id} did not end within {timeout:.0f} s: see the Dagster UI")
