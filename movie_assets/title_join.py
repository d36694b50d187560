"""`user_movie_title_rating`, kept like `ratings_silver`: the ratings silver changed are merged in, with titles.

The table is every current rating left-joined to its movie's title. Its commit records the versions of
`ratings_silver` and `movies_bronze` it reflects. When only ratings were inserted or updated since (silver
merged new files), those rows are joined to the titles and merged on (userId, movieId): a MERGE of a few
thousand rows instead of rewriting every rating. A silver rebuild (rows removed) or changed titles rebuild it;
a new movies_bronze version with the same titles (bronze rewrites the movies on every run) does not.
"""

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from movie_assets import delta_rs, keys
from movie_assets import schemas as S
from movie_assets.delta_rs import data_version, open_table
from movie_assets.delta_tables import MissingTableError, TableRef, merge_rows, write_table
from movie_assets.ratings import (
    CHANGE_FEED_ERRORS,
    CHANGE_TYPE,
    SILVER_VERSION,
    SMALL_BATCH,
    Plan,
    changes,
    condition,
)
from movie_assets.transforms import ratings_with_titles

MOVIES_VERSION = "movies_bronze_version"
COMMIT_VERSION = "_commit_version"


def plan(spark: SparkSession, path: str, ratings: TableRef, movies: TableRef, full_refresh: bool) -> Plan:
    """Merge when silver only inserted or updated ratings since the table was built, with the same titles."""
    if full_refresh:
        return Plan("rebuild", "full_refresh was asked")
    try:
        built = data_version(open_table(path, keys.USER_MOVIE_TITLE_RATING))[1]  # maintenance commits skipped
    except MissingTableError:
        return Plan("rebuild", "user_movie_title_rating does not exist yet")
    since, titles = built.get(SILVER_VERSION), built.get(MOVIES_VERSION)
    if since is None or titles is None:
        return Plan("rebuild", "user_movie_title_rating does not record the versions it reflects")
    if titles != movies.version and not same_titles(spark, movies, titles):
        return Plan("rebuild", f"movies_bronze's titles changed since v{titles}")
    if since == ratings.version:
        return Plan("current", f"already reflects ratings_silver v{since} and movies_bronze v{titles}")
    if since > ratings.version:
        return Plan("rebuild", f"reflects ratings_silver v{since}, newer than v{ratings.version}")
    try:
        removed = changes(spark, ratings, since).where(F.col(CHANGE_TYPE) == "delete").limit(1).count()
    except CHANGE_FEED_ERRORS as err:
        return Plan("rebuild", f"ratings_silver's changes since v{since} cannot be read ({condition(err)})")
    if removed:
        return Plan("rebuild", f"ratings_silver was rebuilt since v{since}")
    return Plan("merge", f"ratings_silver only inserted or updated ratings since v{since}", since)


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


def refresh(spark: SparkSession, path: str, ratings: TableRef, movies: TableRef, step: Plan) -> dict[str, int]:
    """Carry out `step`; with a merge, Delta's row counts."""
    stamp = {SILVER_VERSION: ratings.version, MOVIES_VERSION: movies.version}
    titles = movies.read(spark)
    if step.mode == "rebuild":
        write_table(ratings_with_titles(ratings.read(spark), titles), path, user_metadata=stamp)
    if step.mode != "merge":
        return {}
    changed = changes(spark, ratings, step.since).where(F.col(CHANGE_TYPE).isin("insert", "update_postimage"))
    latest = Window.partitionBy(S.USER_ID, S.MOVIE_ID).orderBy(F.desc(COMMIT_VERSION))
    current = changed.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1)
    keys, rows = [S.USER_ID, S.MOVIE_ID], ratings_with_titles(current, titles)
    batch = rows.limit(SMALL_BATCH + 1).toArrow()  # a small batch is merged by delta-rs, as silver's (ratings.py)
    if batch.num_rows <= SMALL_BATCH:
        return delta_rs.merge_rows(path, batch, keys, stamp, range_key=S.USER_ID)
    return merge_rows(rows, path, keys, stamp, range_key=S.USER_ID)
