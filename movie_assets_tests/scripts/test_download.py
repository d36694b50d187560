"""The MovieLens downloader against a local HTTP server serving zips built here."""

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from movie_assets.scripts.download import RELEASES, DownloadError, Release, download

RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
MOVIES = 'movieId,title,genres\n1,"American President, The (1995)",Comedy\n'


def build_zip(folder: Path, name: str) -> Release:
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/ratings.csv", RATINGS)
        zf.writestr(f"{name}/movies.csv", MOVIES)
        zf.writestr(f"{name}/README.txt", "license")
    data = path.read_bytes()
    return Release(name, len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def test_downloads_verifies_and_unpacks(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    release = build_zip(root, "ml-test")
    files = download(release, tmp_path / "landing", base_url=url, progress=False)
    assert sorted(f.name for f in files) == ["movies.csv", "ratings.csv"]
    assert (tmp_path / "landing" / "movies.csv").read_text(encoding="utf-8") == MOVIES
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == ["movies.csv", "ratings.csv"]


def test_corrupted_archive_is_refused(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    release = build_zip(root, "ml-test")
    data = bytearray((root / "ml-test.zip").read_bytes())
    data[40] ^= 0xFF  # same size, other bytes
    (root / "ml-test.zip").write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"has SHA-256 .* expected"):
        download(release, tmp_path / "landing", base_url=url, progress=False)
    assert not (tmp_path / "landing").exists()


def test_wrong_size_is_refused(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    release = build_zip(root, "ml-test")
    with pytest.raises(DownloadError, match=r"is \d[\d,]* bytes, expected"):
        download(Release(release.name, release.size + 1, release.sha256), tmp_path / "landing", url, progress=False)


def test_offline_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"cannot download .*sample_data"):
        download(RELEASES["ml-latest-small"], tmp_path / "landing", base_url="http://127.0.0.1:9", progress=False)


def test_the_shipped_sample_is_the_release_its_readme_describes() -> None:
    """samples/ml-latest-small holds the release unchanged: the counts its README states, read from its files."""
    import csv
    import re

    from movie_assets_tests.conftest import ML_SMALL

    readme = (ML_SMALL / "README.txt").read_text(encoding="utf-8")
    stated = re.search(r"(\d+) ratings .* across (\d+) movies\. These data were created by (\d+) users", readme)
    with open(ML_SMALL / "ratings.csv", encoding="utf-8", newline="") as handle:
        ratings = list(csv.DictReader(handle))
    with open(ML_SMALL / "movies.csv", encoding="utf-8", newline="") as handle:
        movies = list(csv.DictReader(handle))
    counted = (len(ratings), len(movies), len({r["userId"] for r in ratings}))
    assert counted == tuple(int(g) for g in stated.groups()) == (100_836, 9_742, 610)
