"""`python -m movie_assets.scripts.class_archive ARCHIVE`: the JVM classes a run loads, archived once for every session.

A run's Spark session is a new JVM, which loads and verifies thousands of Spark classes before its first job.
Java's class data sharing maps them from an archive instead: this module starts the project's session with
`-XX:ArchiveClassesAtExit`, exercises what the graph does on a few rows (parse landing lines, write and replace
Delta rows, MERGE, read the change feed, aggregate, join, fit ALS), and the JVM writes the archive as it exits.
`make install` runs it; `resources.spark` hands the archive to every later session. Three runs each, alternated,
on 2 cores: session start 7.4-7.9 s without it, 4.6-5.3 s with it; the first Delta write of 1,000 rows 6.8-7.4 s
and 4.6-5.4 s; the first MERGE no faster. Classes from `spark.jars` (Delta's) are not archived: only the JVM's
own class loaders' classes are.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import Column, SparkSession

from movie_assets.lake import commits
from movie_assets.lake.commits import Snapshot
from movie_assets.lake.delta_tables import TableRef, read_table, table_version, write_table
from movie_assets.recommend import als
from movie_assets.resources.als_models import AlsConfig
from movie_assets.resources.spark import DeltaSparkResource, java_major_version, java_options
from movie_assets.tables import ingest, keys, ratings
from movie_assets.tables import schemas as S
from movie_assets.tables.transforms import mean_count, ratings_with_titles

RATINGS = ["1,1,4.0,100", "1,2,3.5,101", "2,1,5.0,102", '2,"3",2.0,103', "3,2,x,104", "3,3,1.0,105", ""]
LATER_RATINGS = ["1,1,2.0,200", "4,3,4.5,201"]
MOVIES = ["1,Toy Story (1995),Animation", '2,"Heat, the (1995)",Action', "3,Up (2009),Animation", "3,Up,Drama"]


def write_csv(path: Path, header: list[str], lines: list[str]) -> Path:
    path.write_text("\n".join([",".join(header), *lines]) + "\n")
    return path


def ingest_file(
    spark: SparkSession,
    path: Path,
    source: ingest.Source,
    rules: list[tuple[Column, str]],
    tables: Path,
    dedupe_key: str | None,
    first: bool,
) -> None:
    """One landing file through bronze's parse and writes: the first makes the tables, later ones replace rows."""
    targets = {ingest.KEPT: tables / source.bronze_key, ingest.QUARANTINED: tables / source.quarantine_key}
    parsed = ingest.parse_lines(spark, {str(path): path.name}, source, rules)
    ingest.write_lines(
        parsed,
        source,
        [path.name],
        dedupe_key,
        lambda kind, rows: (
            write_table(rows, str(targets[kind]))
            if first
            else commits.replace_where(str(targets[kind]), rows, {S.SOURCE_FILE: [path.name]})
        ),
    )


def exercise(spark: SparkSession, folder: Path) -> None:
    """What a run of the graph does, on a few rows."""
    landing, tables = folder / "landing", folder / "delta"
    landing.mkdir()
    header = S.header_of(S.RATINGS_CSV_SCHEMA)
    first = write_csv(landing / "ratings.csv", header, RATINGS)
    later = write_csv(landing / "ratings_later.csv", header, LATER_RATINGS)
    movies = write_csv(landing / "movies.csv", S.header_of(S.MOVIES_CSV_SCHEMA), MOVIES)
    ingest_file(spark, movies, ingest.MOVIES, ingest.movie_rules(), tables, S.MOVIE_ID, first=True)
    bronze_path, silver_path = str(tables / keys.RATINGS_BRONZE), str(tables / keys.RATINGS_SILVER)
    ingest_file(spark, first, ingest.RATINGS, ingest.rating_rules(), tables, None, first=True)
    built = TableRef(keys.RATINGS_BRONZE, bronze_path, table_version(spark, bronze_path))
    ratings.rebuild(spark, built, Snapshot.read(silver_path, keys.RATINGS_SILVER))
    ingest_file(spark, later, ingest.RATINGS, ingest.rating_rules(), tables, None, first=False)
    grown = TableRef(keys.RATINGS_BRONZE, bronze_path, table_version(spark, bronze_path))
    by_spark = ratings.Plan("merge", "the change feed read and merged by Spark", since=built.version)
    ratings.merge(lambda: spark, grown, by_spark, Snapshot.read(silver_path, keys.RATINGS_SILVER))
    silver = read_table(spark, silver_path, keys.RATINGS_SILVER)
    movies_bronze = read_table(spark, str(tables / keys.MOVIES_BRONZE), keys.MOVIES_BRONZE)
    mean_count(silver, S.USER_ID).collect()
    ratings_with_titles(silver, movies_bronze).collect()
    params = AlsConfig(rank=2, max_iter=2).params()
    als.item_factors(als.fit(silver, params), silver).collect()
    als.fit(silver, AlsConfig(rank=2, max_iter=2, implicit_prefs=True).params()).itemFactors.collect()


def build(archive: Path) -> bool:
    """Write `archive` (atomically); False, with the reason printed, when it cannot be built here."""
    if (java_major_version() or 0) < 17:
        print("no Java 17+ on PATH: Spark sessions will start without a class archive", file=sys.stderr)
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    dump = f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds=off,cds+dynamic=off"
    resource = DeltaSparkResource(spark_config={"spark.driver.extraJavaOptions": f"{java_options()} {dump}"})
    folder = Path(tempfile.mkdtemp(prefix="movie_assets-class-archive-"))
    try:
        spark = resource.spark_session
        exercise(spark, folder)
        spark.stop()
        jvm = SparkContext._gateway.proc  # type: ignore[union-attr]  # the JVM writes the archive as it exits
        jvm.stdin.close()
        jvm.wait(timeout=300)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not partial.is_file():
        print(f"the JVM wrote no class archive at {partial}: Spark sessions will start without one", file=sys.stderr)
        return False
    partial.replace(archive)
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    if build(target):
        print(f"archived the classes of a Spark session in {target} ({target.stat().st_size / 2**20:.0f} MB)")
