"""The data root: created when missing, refused with one line when it cannot be used."""

from pathlib import Path

import pytest

from movie_assets.resources.lakehouse import Lakehouse


def test_layout_under_the_root(tmp_path: Path) -> None:
    lakehouse = Lakehouse(data_dir=str(tmp_path / "new" / "root"))
    assert lakehouse.landing == str(tmp_path / "new" / "root" / "landing")
    assert lakehouse.table_path("ratings_bronze") == str(tmp_path / "new" / "root" / "delta" / "ratings_bronze")
    assert (tmp_path / "new" / "root").is_dir()


def test_uri_roots_are_kept_as_given() -> None:
    assert Lakehouse(data_dir="s3a://bucket/movies/").table_path("x") == "s3a://bucket/movies/delta/x"
    assert Lakehouse(data_dir="abfss://c@acct.dfs.core.windows.net/m").model_path("als").endswith("/m/models/als")


def test_a_store_root_keeps_landing_under_it(tmp_path: Path) -> None:
    assert Lakehouse(data_dir="s3a://bucket/movies/").landing == "s3a://bucket/movies/landing"
    lakehouse = Lakehouse(data_dir="s3a://bucket/movies", landing_dir=str(tmp_path / "landing"))
    assert lakehouse.landing == str(tmp_path / "landing") and (tmp_path / "landing").is_dir()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: (p / "file").write_text("x") and str(p / "file"), "is a file, not a folder"),
        (lambda p: (p / "file").write_text("x") and str(p / "file" / "below"), "cannot create data root"),
        (lambda p: "  ", "is empty"),
    ],
)
def test_unusable_roots_are_refused(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _ = Lakehouse(data_dir=make(tmp_path)).root
