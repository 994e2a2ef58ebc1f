"""docker-compose.yml and the Dockerfile, checked against the code (no container engine here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from deploy.container.entrypoint import CERTIFICATES, EDGE
from servicekit.web.ports import PORTS, path_of, port_env_var
from servicekit.web.procfile import bind_of
from tests.infra import fleet

ROOT = fleet.ROOT
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def app_services(compose: dict) -> dict[str, dict]:
    """Containers built from our Dockerfile."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with nothing set in the shell: the default."""
    return re.sub(r"\$\{[A-Za-z_]\w*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def test_compose_file_matches_the_compose_spec_schema():
    result = subprocess.run(
        [
            str(fleet.VENV_BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_procfile_process_has_a_container_running_it(compose):
    commands = {svc["command"][0] for svc in app_services(compose).values()}
    missing = set(fleet.procfile()) - commands
    assert not missing, (
        f"Procfile processes with no container in docker-compose.yml: {sorted(missing)}"
    )


def test_every_container_command_is_a_procfile_process_that_can_start(compose):
    processes = fleet.procfile()
    problems = []
    for name, svc in app_services(compose).items():
        command = svc["command"]
        if command[0] in ("manage", EDGE, CERTIFICATES):  # the image's own commands
            continue
        if command[0] not in fleet.known_processes():
            problems.append(f"{name} runs {command[0]!r}, which the Procfile does not define")
        elif command[0] in processes:
            problems += fleet.command_problems(command[0], processes[command[0]])
    assert not problems


def test_every_settings_module_is_deployed_and_each_container_uses_its_process_settings(compose):
    processes = fleet.procfile()
    modules = fleet.settings_modules()
    used, problems = set(), []
    for name, svc in app_services(compose).items():
        module = env_of(svc).get("DJANGO_SETTINGS_MODULE")
        if svc["command"] == [CERTIFICATES]:
            continue  # no Django: the fleet's CA and certificates
        if module not in modules:
            problems.append(f"{name}: DJANGO_SETTINGS_MODULE={module!r} is not a settings module")
            continue
        used.add(module)
        inferred = fleet.settings_module_of_command(processes.get(svc["command"][0], ""))
        if inferred and inferred != module:
            problems.append(f"{name}: runs {inferred} but DJANGO_SETTINGS_MODULE={module}")
    problems += [f"no container uses {m}" for m in sorted(set(modules) - used)]
    assert not problems


def test_every_variable_the_settings_require_is_set_and_every_set_one_is_read(compose):
    modules = fleet.settings_modules()
    problems = []
    for name, svc in app_services(compose).items():
        env = env_of(svc)
        module = env.get("DJANGO_SETTINGS_MODULE")
        if module not in modules:
            continue  # reported by the test above
        reads = fleet.settings_reads(module)
        missing = sorted(v for v in reads.required if not interpolate(env.get(v, "")))
        problems += [f"{name}: {module} requires {v}, which is not set" for v in missing]
        unknown = sorted(v for v in env if not fleet.is_known_env(v))
        problems += [f"{name}: sets {v}, which no code reads (typo?)" for v in unknown]
    assert not problems


def test_http_containers_listen_on_the_port_map(compose):
    problems = []
    for name, command in fleet.procfile().items():
        bind = bind_of(command)
        if bind is None:
            continue
        if name not in PORTS:
            problems.append(
                f"Procfile process {name} listens but is not in servicekit/web/ports.py"
            )
            continue
        expected = f"${{{port_env_var(name)}:-{PORTS[name]}}}"
        if bind[1] != expected:
            problems.append(f"Procfile {name} binds port {bind[1]}, expected {expected}")
    for name, svc in app_services(compose).items():
        process = svc["command"][0]
        process = "proxy" if process == EDGE else process  # nginx serves the proxy's port
        env = env_of(svc)
        if process in PORTS and env.get(port_env_var(process), str(PORTS[process])) != str(
            PORTS[process]
        ):
            problems.append(f"{name}: {port_env_var(process)} overrides the port map")
        for mapping in svc.get("ports", []):
            interface, _, rest = str(mapping).partition(":")
            host, _, container = rest.rpartition(":")
            if interface != "127.0.0.1":
                problems.append(f"{name}: publishes {mapping} beyond the loopback interface")
            elif (
                process not in PORTS
                or int(container) != PORTS[process]
                or int(host) != PORTS[process]
            ):
                problems.append(f"{name}: publishes {mapping}, port map says {PORTS.get(process)}")
    assert not problems


def test_backing_containers_publish_on_loopback_only(compose):
    # The laptop defaults (secret key, admin token, guest passwords) stay on this machine.
    for name, svc in compose["services"].items():
        for mapping in svc.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping}"


def test_each_service_has_its_own_database_and_role(compose):
    by_module: dict[str, set[tuple[str, str]]] = {}
    for svc in app_services(compose).values():
        env = env_of(svc)
        module = env.get("DJANGO_SETTINGS_MODULE", "")
        if module in fleet.settings_modules() and (url := env.get(fleet.database_var(module))):
            parsed = urlparse(interpolate(url))
            by_module.setdefault(env["DJANGO_SETTINGS_MODULE"], set()).add(
                (parsed.username or "", parsed.path.lstrip("/"))
            )
    created = env_of(compose["services"]["postgres"])["POSTGRES_SERVICE_DATABASES"].split()
    problems, owners = [], {}
    for module, databases in by_module.items():
        if len(databases) != 1:
            problems.append(f"{module} containers disagree on their database: {databases}")
        for user, database in databases:
            if user != database:
                problems.append(f"{module} connects to {database} as {user}, not its own role")
            if database not in created:
                problems.append(f"database {database} is not created by deploy/postgres")
            if owners.setdefault(database, module) != module:
                problems.append(f"{module} shares database {database} with {owners[database]}")
    assert not problems


def test_start_order_waits_on_health(compose):
    services = compose["services"]
    problems = []
    for name, svc in app_services(compose).items():
        depends = svc.get("depends_on") or {}
        if svc["command"] == [CERTIFICATES]:
            continue  # needs nothing running: it writes files on a volume
        if not isinstance(depends, dict) or not depends:
            problems.append(f"{name}: depends_on with conditions is required")
            continue
        for target, rule in depends.items():
            condition = rule.get("condition")
            target_svc = services[target]
            # Our image has a HEALTHCHECK of its own.
            if condition == "service_healthy" and not ({"healthcheck", "build"} & set(target_svc)):
                problems.append(f"{name} waits for {target} to be healthy; it has no healthcheck")
            if condition == "service_started":
                problems.append(f"{name}: starts once {target} merely started")
    assert not problems


def test_bind_mounted_files_exist(compose):
    missing = []
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./") and not (ROOT / source).exists():
                missing.append(f"{name}: {source}")
    assert not missing


def test_compose_prometheus_scrapes_every_http_container_on_its_metrics_path(compose):
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    path_of_target = {
        target: job.get("metrics_path", "/metrics")
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    problems = []
    for name, svc in app_services(compose).items():
        process = svc["command"][0]
        if process not in PORTS:
            continue
        target = f"{name}:{PORTS[process]}"
        if path_of_target.get(target) != path_of(process, "metrics"):
            problems.append(f"{target} scraped at {path_of_target.get(target)}")
    assert not problems


# --- Dockerfile ---


def dockerfile_instructions(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    text = path.read_text().replace("\\\n", " ")
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_is_multi_stage_non_root_health_checked_and_locked():
    instructions = dockerfile_instructions()
    kinds = [kind for kind, _ in instructions]
    assert kinds.count("FROM") >= 2
    users = [arg for kind, arg in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in kinds
    assert any(kind == "RUN" and "-c requirements.lock" in arg for kind, arg in instructions)
    entrypoint = next(arg for kind, arg in instructions if kind == "ENTRYPOINT")
    for path in re.findall(r"/app/([\w/.-]+\.py)", entrypoint):
        assert (ROOT / path).exists(), path


def dockerignore_allows(
    path: str, ignore: Path = ROOT / ".dockerignore", *, default: bool = False
) -> bool:
    allowed = default
    for raw in ignore.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if pattern == "**" or path == pattern or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


def test_dockerfile_copies_every_package_and_the_context_lets_them_through():
    copied = []
    for kind, arg in dockerfile_instructions():
        if kind == "COPY" and "--from" not in arg:
            words = [w for w in arg.split() if not w.startswith("--")]
            copied += [w.rstrip("/") for w in words[:-1]]
    problems = [f"COPY {src}: missing" for src in copied if not (ROOT / src).exists()]
    problems += [
        f"COPY {src}: excluded by .dockerignore" for src in copied if not dockerignore_allows(src)
    ]
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.findall(r'"([a-z_]+)\*"', pyproject)
    problems += [f"package {p} is not copied into the image" for p in packages if p not in copied]
    assert "Procfile" in copied
    assert not problems


# --- database per service, migrations, shared files, addresses ---


def test_every_service_with_a_database_is_migrated_before_its_processes_start(compose):
    problems = []
    services = app_services(compose)
    for module in fleet.database_modules():
        mine = {
            n: s for n, s in services.items() if env_of(s).get("DJANGO_SETTINGS_MODULE") == module
        }
        migrate = [n for n, s in mine.items() if s["command"][:2] == ["manage", "migrate"]]
        if len(migrate) != 1:
            problems.append(f"{module}: {len(migrate)} migrate containers, expected one")
            continue
        url = env_of(mine[migrate[0]]).get(fleet.database_var(module))
        if mine[migrate[0]].get("restart") != "no":
            problems.append(f"{migrate[0]}: a one-shot container must not restart")
        for name, svc in mine.items():
            if name == migrate[0]:
                continue
            if env_of(svc).get(fleet.database_var(module)) != url:
                problems.append(f"{name}: migrates one database, runs on another")
            rule = (svc.get("depends_on") or {}).get(migrate[0], {})
            if rule.get("condition") != "service_completed_successfully":
                problems.append(f"{name}: starts before {migrate[0]} completed")
    assert not problems


def test_ownership_file_is_one_volume_shared_by_every_service_with_a_database(compose):
    modules = set(fleet.database_modules())
    sources, problems = set(), []
    for name, svc in app_services(compose).items():
        if env_of(svc).get("DJANGO_SETTINGS_MODULE") not in modules:
            continue
        path = env_of(svc).get("OWNERSHIP_FILE", "")
        folder = path.rpartition("/")[0]
        mounts = [str(v).split(":") for v in svc.get("volumes", [])]
        source = next((m[0] for m in mounts if len(m) > 1 and m[1] == folder), None)
        if not path or source is None:
            problems.append(f"{name}: OWNERSHIP_FILE={path!r} is not on a mounted volume")
            continue
        if source not in (compose.get("volumes") or {}):
            problems.append(f"{name}: {source} is not a named (shared, writable) volume")
        sources.add((source, path))
    if len(sources) > 1:
        problems.append(f"services read different ownership files: {sorted(sources)}")
    assert not problems


def http_address_problems(compose: dict, name: str, var: str, url: str) -> list[str]:
    """`url` must name a container that runs an HTTP process, on its port-map port."""
    parsed = urlparse(interpolate(url))
    target = compose["services"].get(parsed.hostname or "")
    if target is None or "build" not in target:
        return [f"{name}: {var}={url} names no app container"]
    process = target["command"][0]
    if process not in PORTS or parsed.port != PORTS[process]:
        return [f"{name}: {var}={url}, but {parsed.hostname} listens on {PORTS.get(process)}"]
    return []


def test_urls_between_containers_name_a_container_on_its_port_map_port(compose):
    problems = []
    for name, svc in app_services(compose).items():
        for var, value in env_of(svc).items():
            host = urlparse(interpolate(value)).hostname if "://" in value else None
            if host in app_services(compose):
                problems += http_address_problems(compose, name, var, value)
    assert not problems


def test_proxy_reaches_every_upstream_of_the_route_table_and_services_the_jwks(compose):
    table = yaml.safe_load(fleet.ROUTES_TABLE.read_text())
    problems = []
    for name, svc in app_services(compose).items():
        env = env_of(svc)
        if svc["command"][0] in ("proxy", EDGE):  # nginx exports the same table
            for upstream, spec in table["upstreams"].items():
                for instance in spec.get("instances", []):
                    for var in re.findall(r"\$\{(\w+)", str(instance)):
                        target = urlparse(interpolate(env.get(var, ""))).hostname
                        runs = compose["services"].get(target or "", {}).get("command", [None])
                        if runs[0] != upstream:
                            problems.append(f"{name}: {var} does not reach {upstream}")
        module = env.get("DJANGO_SETTINGS_MODULE", "")
        if module in fleet.settings_modules() and "JWKS_URL" in fleet.settings_reads(module).all:
            jwks = urlparse(env.get("JWKS_URL", ""))
            runs = compose["services"].get(jwks.hostname or "", {}).get("command", [None])
            if runs[0] != "monolith" or jwks.path != "/.well-known/jwks.json":
                problems.append(f"{name}: JWKS_URL={env.get('JWKS_URL')!r} is not the monolith's")
    assert not problems


def test_the_demo_data_is_seeded_once_after_the_monoliths_migrations(compose):
    services = app_services(compose)
    seeds = {n: s for n, s in services.items() if s["command"] == ["manage", "seed_demo"]}
    assert list(seeds) == ["monolith-seed"], list(seeds)
    seed = seeds["monolith-seed"]
    assert seed["restart"] == "no"
    assert env_of(seed) == env_of(services["monolith"])
    after = seed["depends_on"]["monolith-migrate"]["condition"]
    assert after == "service_completed_successfully"


# --- the edge: nginx fed the route table, the Python proxy behind it (issue 16) ---


def test_the_edge_serves_the_proxys_port_with_nginx_fed_the_proxys_live_table(compose):
    services = app_services(compose)
    edge, proxy = services["edge"], services["proxy"]
    edge_env, proxy_env = env_of(edge), env_of(proxy)
    port = PORTS["proxy"]
    # the public port is nginx's; the Python proxy is reached by name only
    assert edge["ports"] == [f"127.0.0.1:{port}:{port}"] and "ports" not in proxy
    assert edge_env["STRANGLER_NGINX_LISTEN"] == f"0.0.0.0:{port}"
    assert edge_env["STRANGLER_NGINX_COMPARATOR"] == f"http://proxy:{port}"
    assert edge["depends_on"]["proxy"] == {"condition": "service_healthy"}
    # nginx is exported with the proxy's own settings: same upstreams, body limit, admin paths
    assert {k: v for k, v in edge_env.items() if not k.startswith("STRANGLER_NGINX_")} == {
        k: v for k, v in proxy_env.items() if k != "STRANGLER_NGINX_ACCESS_LOG"
    }
    # the proxy's data folder, on one named volume, holds the live table (the proxy writes it,
    # the edge follows it) and nginx's folder: nginx.conf and its access log (the proxy's
    # lifecycle gates read it), as `make run --plane nginx` lays them out
    folder = proxy_env["STRANGLER_DATA_DIR"]
    assert "STRANGLER_ROUTES_FILE" not in proxy_env  # the table is `routes.yaml` in there
    for name in ("edge", "proxy"):
        mounts = [str(v).split(":") for v in services[name]["volumes"]]
        assert [m[0] for m in mounts if m[1] == folder] == ["proxy-data"], name
    assert "proxy-data" in compose["volumes"]
    assert edge_env["STRANGLER_NGINX_CONF"] == f"{folder}/nginx/nginx.conf"
    assert proxy_env["STRANGLER_NGINX_ACCESS_LOG"] == f"{folder}/nginx/access.log"
    assert "STRANGLER_NGINX_CONF" not in proxy_env  # one writer of nginx.conf: the edge


def test_the_image_carries_debians_nginx_and_a_folder_for_the_edge_volume(compose):
    runs = " ".join(arg for kind, arg in dockerfile_instructions() if kind == "RUN")
    assert "apt-get install" in runs and "nginx-light" in runs
    folder = env_of(app_services(compose)["proxy"])["STRANGLER_DATA_DIR"]
    assert re.search(rf"chown app:app [^&]*{re.escape(folder)}\b", runs), folder
