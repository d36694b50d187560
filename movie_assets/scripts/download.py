"""Download a real MovieLens release into landing/: `python -m movie_assets.scripts.download ml-latest-small`.

The archive's size and SHA-256 are checked against the published figures before anything is unpacked.
"""

import argparse
import hashlib
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from movie_assets.resources.lakehouse import Lakehouse, default_data_dir

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
WANTED = ("ratings.csv", "movies.csv")


@dataclass(frozen=True)
class Release:
    name: str
    size: int
    sha256: str


RELEASES = {
    r.name: r
    for r in (
        Release("ml-latest-small", 978_202, "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
        Release("ml-25m", 261_978_986, "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
    )
}


class DownloadError(RuntimeError):
    pass


def fetch(url: str, target: Path, expected_size: int, progress: bool = True) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            bar = tqdm(
                total=expected_size, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=not progress
            )
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"cannot download {url} ({reason}): check the network, or use `python -m movie_assets.scripts.sample_data` "
            "for offline sample data."
        ) from None


def verify(path: Path, release: Release) -> None:
    size = path.stat().st_size
    if size != release.size:
        raise DownloadError(f"{release.name}.zip is {size:,} bytes, expected {release.size:,}: refusing it.")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != release.sha256:
        raise DownloadError(
            f"{release.name}.zip has SHA-256 {digest.hexdigest()}, expected {release.sha256}: refusing it."
        )


def unpack(archive: Path, release: Release, landing: Path) -> list[Path]:
    landing.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(archive) as zf:
        for name in WANTED:
            member = f"{release.name}/{name}"
            target = landing / name
            partial = landing / f".{name}.partial"  # the landing sensor ignores dot-files
            with zf.open(member) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)
            written.append(target)
    return written


def download(release: Release, landing: Path, base_url: str = DEFAULT_BASE_URL, progress: bool = True) -> list[Path]:
    """Download, verify and unpack ratings.csv and movies.csv of a release into `landing`."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / f"{release.name}.zip"
        fetch(f"{base_url.rstrip('/')}/{release.name}.zip", archive, release.size, progress)
        verify(archive, release)
        return unpack(archive, release, landing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", choices=sorted(RELEASES))
    parser.add_argument("--data-dir", default=None, help="data root (default $MOVIE_ASSETS_DATA_DIR or data/)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    args = parser.parse_args(argv)
    try:
        landing = Path(Lakehouse(data_dir=args.data_dir or default_data_dir()).landing)
        files = download(RELEASES[args.release], landing, args.base_url)
    except (DownloadError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("unpacked " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
