# Every target creates and uses the virtualenv in .venv; nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MOVIE_ASSETS_DATA_DIR ?= data
SCALE ?= small
DAGSTER_HOME ?= $(abspath $(MOVIE_ASSETS_DATA_DIR))/dagster_home

.PHONY: install java chromium postgres home test test-fast test-deploy demo dev app bench lint sample clean

JARS := $(VENV)/delta-jars
JARS_STAMP := $(JARS)/.resolved

$(STAMP): setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The Delta and S3A jars, once, into the virtualenv: Maven checks every checksum (-C), retries, and a lock keeps two
# installs from writing the same folder. Every Spark session then uses these files; none resolves packages.
# Spark's own jars already hold Netty and SLF4J: the copies these depend on are left out.
$(JARS_STAMP): deploy/delta-jars.pom.xml | $(STAMP)
	@command -v mvn >/dev/null || { echo "resolving the Delta jars needs Maven: install it (apt-get install maven) and run make install again."; exit 1; }
	@mkdir -p $(JARS)
	@flock $(JARS).lock sh -c 'for try in 1 2 3; do \
	  mvn -B -q -C -Dstyle.color=never -f deploy/delta-jars.pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(JARS)) \
	    -DincludeScope=runtime -DexcludeGroupIds=org.apache.spark,org.scala-lang,io.netty,org.slf4j && exit 0; \
	  echo "Maven could not resolve the Delta jars (try $$try of 3)"; sleep 5; done; \
	  echo "error: the jars of deploy/delta-jars.pom.xml could not be resolved into $(JARS) (see Maven'"'"'s message above): check the network or ~/.m2/settings.xml, then run make install again."; exit 1'
	@touch $@

# The classes a Spark session loads, archived once for Java's class data sharing
# (movie_assets/scripts/class_archive.py): every later session maps them instead of loading them, and starts
# seconds sooner. Without Java it is skipped.
# It is rebuilt when the session's JVM options (resources/spark.py) change.
ARCHIVE := $(VENV)/spark-classes.jsa
$(ARCHIVE): $(STAMP) $(JARS_STAMP) movie_assets/scripts/class_archive.py movie_assets/resources/spark.py
	@echo "archiving the classes of a Spark session (about a minute, once)"
	@$(BIN)/python -m movie_assets.scripts.class_archive $@ > $(VENV)/class-archive.log 2>&1 || { cat $(VENV)/class-archive.log; exit 1; }
	@tail -n 1 $(VENV)/class-archive.log

install: $(STAMP) $(JARS_STAMP) $(ARCHIVE)

# The S3-compatible server the deployment tier starts on 127.0.0.1: the Versity S3 Gateway (Apache 2.0), built
# once from the Go module proxy. Its posix backend publishes a conditional write under a lock, so racing commits
# to one Delta version have exactly one winner, as on AWS S3.
VERSITYGW := $(VENV)/servers/versitygw
$(VERSITYGW): | $(STAMP)
	@command -v go >/dev/null || { echo "building the S3 test server needs Go 1.25 or newer on PATH: install it, then run make test-deploy again."; exit 1; }
	@mkdir -p $(dir $@)
	@echo "building the Versity S3 Gateway (about two minutes, once)"
	@GOBIN=$(abspath $(dir $@)) go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 || \
	  { echo "error: github.com/versity/versitygw@v1.8.0 could not be built: check the network or GOPROXY, then run make test-deploy again."; exit 1; }

java:
	@java -version >/dev/null 2>&1 || { echo "Spark needs Java 17+ and 'java' is not on PATH: install OpenJDK 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME."; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); [ "$${v:-0}" -ge 17 ] || { echo "Spark needs Java 17+, found Java $$v: install OpenJDK 17 or set JAVA_HOME."; exit 1; }

# The browser tests drive Debian's Chromium; install it when missing and this user can (root or sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "chromium is missing and cannot be installed here: browser tests will skip (and fail under CI=true)"; exit 0; fi; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q chromium >/dev/null 2>&1; } || \
	  echo "apt-get could not install chromium: browser tests will skip (and fail under CI=true)"; }

# The deployment tier starts PostgreSQL from Debian's packages (as the postgres user); install them when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "PostgreSQL's server is missing and cannot be installed here: install Debian's postgresql"; exit 1; fi; \
	  $$SUDO apt-get install -y -q postgresql >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q postgresql >/dev/null 2>&1; } || \
	  { echo "apt-get could not install postgresql"; exit 1; }; }

home:
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp deploy/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# Two pytest-xdist workers, each given whole files in the order conftest.py sets (the longest first); a
# test file, or one test, runs alone with plain `.venv/bin/pytest PATH`.
test: install java chromium lint
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not deploy"

# A team's deployment: the webserver and daemon on a PostgreSQL instance, the lakehouse on an S3 server and a Spark
# standalone cluster, each started by the tests on 127.0.0.1; two workers, whole files each (the store's file on
# one, the others on the other).
test-deploy: install java postgres $(VERSITYGW)
	$(BIN)/pytest -m deploy -n 2 --dist loadfile --no-loadscope-reorder

# Unit tests only (no real servers, no large tables): a minute or two, serially (two workers, each
# starting its own Spark session, took longer).
test-fast: install java lint
	$(BIN)/pytest -m "not e2e and not slow" --hypothesis-profile=fast

demo: install java home
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/python -m movie_assets.scripts.demo

dev: install java home
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -h 127.0.0.1 -p 3000

app: install
	$(BIN)/streamlit run movie_assets/app/streamlit_app.py --server.address 127.0.0.1 --server.port 8501 \
	  --server.headless true --browser.gatherUsageStats false

bench: install java
	$(BIN)/python -m benchmarks.run --scale $(SCALE) $(if $(ONLY),--only $(ONLY))

sample: install
	$(BIN)/python -m movie_assets.scripts.sample_data

lint: install
	$(BIN)/ruff check movie_assets movie_assets_tests benchmarks
	$(BIN)/ruff format --check movie_assets movie_assets_tests benchmarks
	$(BIN)/mypy movie_assets
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
