"""The object storage settings, mapped once from the standard AWS variables (the server tests: test_on_a_store.py)."""

from movie_assets.lake import storage


def test_the_aws_variables_become_s3a_settings() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "eu-west-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
        "HOME": "/root",
    }
    assert storage.spark_conf(env) == {
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.multiobjectdelete.enable": "false",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.access.key": "key",
        "spark.hadoop.fs.s3a.secret.key": "secret",
        "spark.executorEnv.AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
        "spark.executorEnv.AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
    }
    assert storage.spark_conf({"HOME": "/root"}) == {}  # AWS itself: S3A's own defaults and credential chain


def test_hadoop_and_native_schemes() -> None:
    assert storage.native_uri("s3a://lake/root/delta/x") == "s3://lake/root/delta/x"
    assert storage.native_uri("/data/delta/x") == "/data/delta/x"
    assert storage.is_uri("s3a://lake") and not storage.is_uri("/data")
