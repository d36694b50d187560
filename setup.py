from setuptools import find_packages, setup

# The pinned stack. dagster-pyspark pins dagster exactly, so the three dagster packages move together.
# delta-spark 4.4.0: its Python code is identical to 4.4.1 but its JVM jars (io.delta:delta-spark_4.2_2.13)
# are published; 4.4.1's are not, so Spark could not fetch them on first start.
setup(
    name="movie_assets",
    version="0.1.0",
    packages=find_packages(exclude=["movie_assets_tests*"]),
    package_data={"movie_assets": ["resources/log4j2.properties"]},
    python_requires=">=3.11",
    # `movie-assets ask 260`: an answer from a shell, a failure's one-sentence reason as the last line.
    entry_points={"console_scripts": ["movie-assets=movie_assets.app.cli:main"]},
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-pyspark==0.29.27",
        "pyspark==4.2.0",
        "delta-spark==4.4.0",
        "numpy>=1.26",
        "pyarrow>=15",
        "threadpoolctl>=3",
        # The serving steps read and write their small tables with delta-rs: an answer starts no JVM.
        "deltalake>=1.0",
    ],
    extras_require={
        # The movie-picker app: launches runs through GraphQL (it reads the tables with delta-rs, like the serving
        # steps).
        # pandas < 3: what pyspark 4.2 supports (streamlit alone would take 3.x).
        "app": ["streamlit>=1.40", "pandas<3", "dagster-graphql==1.13.27"],
        # Tests cover the app too; Playwright drives Debian's Chromium (it downloads no browser of its own).
        # A team's Dagster instance on PostgreSQL (deploy/dagster-postgres.yaml).
        "postgres": ["dagster-postgres==0.29.27"],
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.6",  # make test runs two workers
            "hypothesis>=6.100",  # the engines' equivalence, property-based
            "ruff>=0.6",
            "mypy>=1.10",  # make lint: the package type-checked, the engine seam strictly
            "playwright>=1.50",
            "streamlit>=1.40",
            "pandas<3",
            "dagster-graphql==1.13.27",
            "dagster-dg-cli==1.13.27",  # `dg check defs` in make test
            "dagster-postgres==0.29.27",  # the deployment tier runs the daemon and webserver on PostgreSQL
        ],
    },
)
