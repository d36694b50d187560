"""The Spark resource's configuration and its Java check, without starting a JVM."""

from pathlib import Path

import dagster as dg
import pytest

from movie_assets.resources import spark
from movie_assets.resources.spark import delta_packages, ensure_java, jars_dir, java_options, spark_config


def test_delta_jars_as_the_pip_helper_names_them() -> None:
    assert delta_packages() == "io.delta:delta-spark_4.2_2.13:4.4.0"


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIE_ASSETS_SPARK_MASTER", raising=False)
    conf = spark_config()
    assert conf["spark.master"] == "local[*]"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.ui.enabled"] == "false"
    monkeypatch.setenv("MOVIE_ASSETS_SPARK_MASTER", "spark://127.0.0.1:7077")
    monkeypatch.setenv("MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS", "12")
    conf = spark_config(driver_memory="6g", extra={"spark.executor.memory": "2g"})
    assert conf["spark.master"] == "spark://127.0.0.1:7077"
    assert conf["spark.sql.shuffle.partitions"] == "12"
    assert conf["spark.driver.memory"] == "6g" and conf["spark.executor.memory"] == "2g"


def test_cluster_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_ASSETS_SPARK_EXECUTOR_MEMORY", "3g")
    monkeypatch.setenv("MOVIE_ASSETS_SPARK_EXECUTOR_CORES", "2")
    monkeypatch.setenv("MOVIE_ASSETS_SPARK_CONF", '{"spark.driver.host": "10.0.0.5", "spark.cores.max": 8}')
    conf = spark_config(extra={"spark.cores.max": "4"})
    assert conf["spark.executor.memory"] == "3g" and conf["spark.executor.cores"] == "2"
    assert conf["spark.driver.host"] == "10.0.0.5"
    assert conf["spark.cores.max"] == "4"  # arguments win over the environment


@pytest.mark.parametrize("text", ["spark.cores.max=4", '["spark.cores.max"]'])
def test_extra_conf_must_be_a_json_object(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("MOVIE_ASSETS_SPARK_CONF", text)
    with pytest.raises(ValueError, match="MOVIE_ASSETS_SPARK_CONF must be a JSON object of Spark settings"):
        spark_config()


def fake_java(tmp_path: Path, version_line: str) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return home


def test_old_java_gets_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'openjdk version "11.0.2" 2019-01-15')))
    with pytest.raises(dg.Failure, match=r"^Spark needs Java 17\+ but found Java 11: install a newer JDK"):
        ensure_java()


def test_java_8_style_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'java version "1.8.0_381"')))
    with pytest.raises(dg.Failure, match="found Java 8"):
        ensure_java()


def test_no_java_gets_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(dg.Failure, match=r"^Spark needs Java 17\+ and none was found"):
        ensure_java()


def test_the_jars_installed_with_the_project_are_the_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIE_ASSETS_DELTA_JARS_DIR", raising=False)
    jars = spark_config()["spark.jars"].split(",")
    assert all(j.startswith(str(jars_dir())) for j in jars)
    assert str(jars_dir() / "delta-spark_4.2_2.13-4.4.0.jar") in jars
    assert "spark.jars.packages" not in spark_config()  # no session resolves packages


def test_missing_jars_say_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_ASSETS_DELTA_JARS_DIR", str(tmp_path))
    with pytest.raises(
        dg.Failure, match=r"^the Delta jar delta-spark_4.2_2.13-4.4.0.jar is not in .*: run `make install`"
    ):
        spark_config()
    (tmp_path / "delta-spark_4.2_2.13-4.4.0.jar").write_bytes(b"")
    (tmp_path / "a.jar").write_bytes(b"")
    assert spark_config()["spark.jars"] == f"{tmp_path}/a.jar,{tmp_path}/delta-spark_4.2_2.13-4.4.0.jar"


def test_launchpad_config_is_free_of_machine_values() -> None:
    from movie_assets.definitions import defs

    pyspark = defs().resources["pyspark"]
    assert pyspark.spark_config == {} and pyspark.master is None  # the session's settings come at start


def test_the_driver_maps_the_class_archive_only_when_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "spark-classes.jsa"
    monkeypatch.setattr(spark, "class_archive", lambda: archive)
    assert spark_config()["spark.driver.extraJavaOptions"] == java_options()
    archive.write_bytes(b"")
    conf = spark_config()
    assert conf["spark.driver.extraJavaOptions"] == (
        f"{java_options()} -XX:SharedArchiveFile={archive} -Xlog:cds=off,cds+dynamic=off"
    )
    assert conf["spark.executor.extraJavaOptions"] == java_options()  # executors elsewhere have no such file
