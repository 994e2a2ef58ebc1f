import pytest

from servicekit.web.env import (
    DATABASE_POOL_SIZE,
    ImproperlyConfiguredEnv,
    broker_url,
    database_config,
    env_bool,
    secret_key,
)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(ImproperlyConfiguredEnv, match="DJANGO_SECRET_KEY"):
        secret_key(production=True, environ={"STRANGLER_DATA_DIR": str(tmp_path)})


def test_local_secret_key_is_made_once_and_kept(tmp_path):
    environ = {"STRANGLER_DATA_DIR": str(tmp_path)}
    assert secret_key(production=False, environ=environ) == secret_key(
        production=False, environ=environ
    )
    assert len(secret_key(production=False, environ=environ)) > 40


def test_env_bool_refuses_garbage():
    with pytest.raises(ImproperlyConfiguredEnv, match="FLAG"):
        env_bool("FLAG", False, environ={"FLAG": "perhaps"})
    assert env_bool("FLAG", False, environ={"FLAG": "yes"}) is True


def test_database_defaults_to_a_sqlite_file_per_service(tmp_path):
    config = database_config(service="catalog", environ={"STRANGLER_DATA_DIR": str(tmp_path)})
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "catalog" / "db.sqlite3")


def test_database_url_names_the_server_each_service_has_a_database_on(tmp_path):
    config = database_config(
        service="catalog",
        environ={
            "STRANGLER_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://u@db:5432/strangler",
        },
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["NAME"]) == ("db", "strangler_catalog")


def test_broker_defaults_to_filesystem():
    assert broker_url(environ={}) == "filesystem://"
    assert broker_url(environ={"CELERY_BROKER_URL": "amqp://x//"}) == "amqp://x//"


def _postgres(**environ: str) -> dict:
    return database_config(
        service="catalog", environ={"DATABASE_URL": "postgres://u@db:5432/strangler", **environ}
    )


def test_postgres_gets_a_pool_bounding_the_process_connections():
    config = _postgres()
    assert config["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
    assert config["OPTIONS"]["pool"] == {
        "min_size": 0,
        "max_size": DATABASE_POOL_SIZE,
        "timeout": 5.0,
        "max_idle": 60.0,
    }
    tuned = _postgres(DATABASE_POOL_SIZE="6", DATABASE_POOL_TIMEOUT="1.5")["OPTIONS"]["pool"]
    assert (tuned["max_size"], tuned["timeout"]) == (6, 1.5)


def test_pool_size_zero_keeps_one_persistent_connection_per_thread():
    config = _postgres(DATABASE_POOL_SIZE="0")
    assert "pool" not in config.get("OPTIONS", {})
    assert config["CONN_MAX_AGE"] == 60


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_POOL_SIZE", "-1"),
        ("DATABASE_POOL_SIZE", "two"),
        ("DATABASE_POOL_TIMEOUT", "0"),
        ("DATABASE_POOL_MAX_IDLE", "-5"),
        ("DATABASE_POOL_TIMEOUT", "nan"),
    ],
)
def test_a_bad_pool_setting_is_refused_by_name(name, value):
    with pytest.raises(ImproperlyConfiguredEnv, match=name):
        _postgres(**{name: value})


def test_sqlite_has_no_pool(tmp_path):
    config = database_config(
        service="catalog", environ={"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    )
    assert "pool" not in config["OPTIONS"]
