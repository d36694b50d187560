"""`user_movie_title_rating`, kept like `ratings_silver`: the ratings silver changed are merged in, with titles.

The table is every current rating left-joined to its movie's title. Its commit records the versions of
`ratings_silver` and `movies_bronze` it reflects. When only ratings were inserted or updated since (silver
merged new files), those rows are joined to the titles and merged on (userId, movieId): a MERGE of a few
thousand rows instead of rewriting every rating. A silver rebuild (rows removed) or changed titles rebuild it;
a new movies_bronze version with the same titles (bronze rewrites the movies on every run) does not.
"""

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from movie_assets.lake import commits, delta_rs
from movie_assets.lake.commits import Snapshot
from movie_assets.lake.delta_rs import data_version
from movie_assets.lake.delta_tables import TableRef
from movie_assets.tables import schemas as S
from movie_assets.tables.ratings import (
    CHANGE_FEED_ERRORS,
    CHANGE_TYPE,
    CHANGED,
    COMMIT_VERSION,
    MERGES,
    SILVER_VERSION,
    Plan,
    Spark,
    catch_up,
    changes,
    unique_pairs,
)
from movie_assets.tables.transforms import TITLE_COLUMNS, ratings_with_titles

MOVIES_VERSION = "movies_bronze_version"


def plan(spark: Spark, table: DeltaTable | None, ratings: TableRef, movies: TableRef, full_refresh: bool) -> Plan:
    """Merge when silver only inserted or updated ratings since `table` (as read) was built, with the same titles."""
    if full_refresh:
        return Plan("rebuild", "full_refresh was asked")
    if table is None:
        return Plan("rebuild", "user_movie_title_rating does not exist yet")
    built = data_version(table)[1]  # maintenance commits skipped
    since, titles = built.get(SILVER_VERSION), built.get(MOVIES_VERSION)
    if since is None or titles is None:
        return Plan("rebuild", "user_movie_title_rating does not record the versions it reflects")
    if titles != movies.version and not same_titles(spark(), movies, titles):
        return Plan("rebuild", f"movies_bronze's titles changed since v{titles}")
    if since == ratings.version:
        return Plan("current", f"already reflects ratings_silver v{since} and movies_bronze v{titles}")
    return catch_up(ratings, since, MERGES, spark)


def same_titles(spark: SparkSession, movies: TableRef, version: int) -> bool:
    """Whether movies_bronze holds the same (movieId, title) rows as at `version`: bronze rewrites the movies
    table on every run, so a new version often has the same titles (62k rows at 25M: a second to compare)."""
    columns = [S.MOVIE_ID, S.TITLE]
    try:
        before = TableRef(movies.name, movies.path, version).read(spark).select(columns)
        now = movies.read(spark).select(columns)
        return before.exceptAll(now).isEmpty() and now.exceptAll(before).isEmpty()
    except CHANGE_FEED_ERRORS:  # that version is vacuumed: compare nothing, rebuild
        return False


def refresh(
    spark: Spark, table: Snapshot, ratings: TableRef, movies: TableRef, full_refresh: bool
) -> tuple[Plan, dict[str, int]]:
    """Plan from `table` as read and carry the plan out; with a merge, Delta's row counts."""
    step = plan(spark, table.table, ratings, movies, full_refresh)
    stamp = {SILVER_VERSION: ratings.version, MOVIES_VERSION: movies.version}
    if step.mode == "rebuild":
        commits.overwrite(table, ratings_with_titles(ratings.read(spark()), movies.read(spark())), stamp)
    if step.mode != "merge":
        return step, {}
    on = list(S.RATING_KEY)
    assert step.since is not None, "a merge plan records the version it merges from"
    if step.changes is None:  # more than the driver takes: Spark reads silver's feed and MERGEs
        rows = ratings_with_titles(latest(changes(spark(), ratings, step.since)), movies.read(spark()))
        return step, commits.merge(table, rows, on, stamp, range_key=S.USER_ID)
    # A few thousand rows and the titles (62k at 25M), all through the driver; delta-rs MERGEs as for silver.
    titles = delta_rs.table_rows(movies, [S.MOVIE_ID, S.TITLE])
    changed = step.changes.filter(pc.is_in(step.changes[CHANGE_TYPE], pa.array(CHANGED)))
    if unique_pairs(changed):  # each pair's one change is its latest: the left join alone, in Arrow
        batch = changed.join(titles, S.MOVIE_ID, join_type="left outer").select(TITLE_COLUMNS)
    else:
        feed = spark().createDataFrame(step.changes)
        batch = ratings_with_titles(latest(feed), spark().createDataFrame(titles)).toArrow()
    return step, commits.merge(table, batch, on, stamp, range_key=S.USER_ID)


def latest(feed: DataFrame) -> DataFrame:
    """Each changed (userId, movieId)'s rating after the last change in silver's `feed`."""
    changed = feed.where(F.col(CHANGE_TYPE).isin(CHANGED))
    last = Window.partitionBy(*S.RATING_KEY).orderBy(F.desc(COMMIT_VERSION))
    return changed.withColumn("_n", F.row_number().over(last)).where(F.col("_n") == 1)
