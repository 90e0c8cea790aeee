"""docker-compose.yml, read as Docker Compose would (no Docker here): the services, their order,
their health checks, and that the file holds no secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.chat.settings import DiscordSettings
from bot.cli import build_parser
from bot.settings import Settings
from bot.sources.search.config import KEY_ENV_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ROLES = ("migrate", "gateway", "worker")
SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "KEY")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _load() -> dict[str, Any]:
    """The compose file, merge keys (`<<: *anchor`) resolved."""
    data = YAML(typ="safe", pure=True).load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed docker-compose.yml."""
    return _load()


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation, for the forms this file uses."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        # ":-" and ":?" treat an empty variable as unset; "-" and "?" only an unset one.
        present = bool(env.get(name)) if op in (":-", ":?") else name in env
        if present:
            return env[name]
        if op is None:
            return ""
        if op.endswith("?"):
            raise ValueError(arg or f"{name} is required")
        return str(arg)

    return _VARIABLE.sub(one, value)


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a map"
    return env


def test_the_services_are_there(compose: dict[str, Any]) -> None:
    """A database, a one-shot migrate, one gateway and the workers; nothing else."""
    assert set(compose["services"]) == {"db", *ROLES}


def test_the_database_is_the_official_image_on_a_named_volume(compose: dict[str, Any]) -> None:
    """PostgreSQL 12 or newer from the official image; its data on a declared named volume;
    its port not published."""
    db = compose["services"]["db"]
    image, _, tag = db["image"].partition(":")
    assert image == "postgres"
    assert int(tag.split("-")[0].split(".")[0]) >= 12
    sources = [v.split(":")[0] for v in db["volumes"]]
    assert "pgdata" in sources and "pgdata" in compose["volumes"]
    assert "ports" not in db


def test_the_database_healthcheck_uses_pg_isready(compose: dict[str, Any]) -> None:
    """The others wait for a database that answers, not one that merely started."""
    test = compose["services"]["db"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(test)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_runs_the_image_with_its_subcommand(compose: dict[str, Any], role: str) -> None:
    """Built from the repository's Dockerfile; the command is the role's real subcommand."""
    service = compose["services"][role]
    assert service["build"] == "."
    assert service["command"] == [role]
    args = build_parser().parse_args(service["command"])
    assert args.command == role


def test_the_image_installs_the_postgres_extra() -> None:
    """The Dockerfile installs the `postgres` extra: psycopg is in the image."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"pip install .*\.\[[a-z,]*\bpostgres\b[a-z,]*\]", dockerfile)


def test_migrate_runs_once_after_the_database_and_before_the_rest(
    compose: dict[str, Any],
) -> None:
    """migrate waits for a healthy database; gateway and workers wait for migrate to finish."""
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    for role in ("gateway", "worker"):
        needs = services[role]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", role
        assert needs["db"]["condition"] == "service_healthy", role


def test_one_gateway_and_a_scalable_number_of_workers(compose: dict[str, Any]) -> None:
    """Workers are replicas (WORKERS, default 2); the gateway is never replicated and no
    service pins a container name (which would forbid --scale)."""
    services = compose["services"]
    replicas = services["worker"]["deploy"]["replicas"]
    assert int(_interpolate(str(replicas), {})) == 2
    assert int(_interpolate(str(replicas), {"WORKERS": "5"})) == 5
    assert services["gateway"].get("deploy", {}).get("replicas", 1) == 1
    assert all("container_name" not in s for s in services.values())


@pytest.mark.parametrize("role", ["gateway", "worker"])
def test_long_running_roles_have_a_health_check_on_their_own_heartbeat(
    compose: dict[str, Any], role: str
) -> None:
    """`signalwatch health` reads a heartbeat file outside the shared volume: one live
    process must not keep another container looking healthy."""
    service = compose["services"][role]
    assert service["healthcheck"]["test"][:3] == ["CMD", "signalwatch", "health"]
    heartbeat = _environment(service)["SIGNALWATCH_HEARTBEAT_FILE"]
    shared = {v.split(":")[1] for v in service["volumes"]}
    assert not any(heartbeat.startswith(path.rstrip("/") + "/") for path in shared)


def test_gateway_and_workers_share_the_watchlist(compose: dict[str, Any]) -> None:
    """The watchlist the gateway edits sits on a named volume the workers mount too."""
    services = compose["services"]
    gateway, worker = services["gateway"], services["worker"]
    path = _environment(gateway)["SIGNALWATCH_WATCHLIST"]
    assert _environment(worker)["SIGNALWATCH_WATCHLIST"] == path
    mounts = {tuple(v.split(":")[:2]) for v in gateway["volumes"]}
    assert mounts == {tuple(v.split(":")[:2]) for v in worker["volumes"]}
    assert any(
        path.startswith(target + "/") and name in compose["volumes"] for name, target in mounts
    )


def test_every_role_uses_postgresql_without_a_password_in_the_url(
    compose: dict[str, Any],
) -> None:
    """SIGNALWATCH_DB names the db service; the password comes from the environment."""
    for role in ROLES:
        env = _environment(compose["services"][role])
        url = env["SIGNALWATCH_DB"]
        assert url.startswith("postgresql://") and "@db:5432/" in url, role
        assert not re.search(r"://[^/@]*:[^/@]*@", url), f"{role}: a password in the URL"


def test_no_secret_values_in_the_file(compose: dict[str, Any]) -> None:
    """Every variable that names a token, password, key or secret is passed through from the
    environment (`${VAR…}` or left empty), never written down."""
    seen = []
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if not any(word in key for word in SECRET_WORDS):
                continue
            seen.append(key)
            if value is None:
                continue
            assert isinstance(value, str) and re.fullmatch(_VARIABLE, value), f"{name}: {key}"
            default = _VARIABLE.fullmatch(value)
            assert default is not None
            assert default["op"] in (None, ":?", "?") or not default["arg"], f"{name}: {key}"
    assert "SIGNALWATCH_DISCORD_TOKEN" in seen and "POSTGRES_PASSWORD" in seen


def test_the_token_goes_to_the_gateway_only(compose: dict[str, Any]) -> None:
    """Only the gateway talks to Discord; a worker never holds the token."""
    services = compose["services"]
    assert _environment(services["gateway"])["SIGNALWATCH_DISCORD_TOKEN"] == (
        "${SIGNALWATCH_DISCORD_TOKEN:-}"
    )
    for role in ("migrate", "worker"):
        assert "SIGNALWATCH_DISCORD_TOKEN" not in _environment(services[role])


def test_ids_left_unset_are_not_set_empty(compose: dict[str, Any]) -> None:
    """Discord ids are passed through only when set: an empty id is not a valid integer."""
    env = _environment(compose["services"]["gateway"])
    for key in ("SIGNALWATCH_DISCORD_CHANNEL", "SIGNALWATCH_DISCORD_ADMIN_CHANNEL"):
        assert key in env and env[key] is None


def test_every_signalwatch_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    """A misspelt setting would be ignored silently: each SIGNALWATCH_ name is one we read."""
    known = {f"SIGNALWATCH_{name.upper()}" for name in Settings.model_fields}
    for field in DiscordSettings.model_fields.values():
        alias = field.validation_alias
        names = getattr(alias, "choices", [alias])
        known |= {str(n) for n in names}
    known |= set(KEY_ENV_DEFAULTS.values())
    for name, service in compose["services"].items():
        for key in _environment(service):
            if key.startswith("SIGNALWATCH_"):
                assert key in known, f"{name}: {key} is not a signalwatch setting"


def test_a_missing_database_password_stops_compose_with_a_message(
    compose: dict[str, Any],
) -> None:
    """`${POSTGRES_PASSWORD:?…}`: compose refuses to start without one, saying which."""
    value = _environment(compose["services"]["db"])["POSTGRES_PASSWORD"]
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        _interpolate(value, {})
    assert _interpolate(value, {"POSTGRES_PASSWORD": "pw"}) == "pw"
