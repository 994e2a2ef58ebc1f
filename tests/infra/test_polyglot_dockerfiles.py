"""polyglot/<language>/Dockerfile, checked against the build the tests run (no container engine
here), as tests/infra/test_compose.py checks the Python one: the same build steps and Debian
packages as tests/polyglot/implementations.py, the artefacts it ships and the command that
starts them, non-root and health-checked, the port and variables the implementation reads and
k8s/examples/polyglot sets."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from deploy.generate.k8s_polyglot import PORT, implementations
from tests.infra.test_compose import dockerfile_instructions, dockerignore_allows
from tests.infra.test_k8s_polyglot import READ_VARIABLE
from tests.polyglot.implementations import IMPLEMENTATIONS, Implementation

NAMES = sorted(IMPLEMENTATIONS)
JVM = [name for name in NAMES if "openjdk-17-jdk-headless" in IMPLEMENTATIONS[name].packages]


def sources(impl: Implementation) -> dict[str, str]:
    """The implementation's code (its `sources` globs), by path."""
    return {
        str(path): path.read_text()
        for pattern in impl.sources
        for path in impl.folder.glob(pattern)
    }


def stages(impl: Implementation) -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's instructions by stage name (`FROM image AS name`)."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for kind, arg in dockerfile_instructions(impl.folder / "Dockerfile"):
        if kind == "FROM":
            current = found.setdefault(arg.split()[-1], [])
        current.append((kind, arg))
    return found


def args(stage: list[tuple[str, str]], kind: str) -> list[str]:
    return [arg for k, arg in stage if k == kind]


def commands(stage: list[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Each RUN's commands (split at `&&`), as words."""
    return [tuple(shlex.split(part)) for run in args(stage, "RUN") for part in run.split("&&")]


def env(stage: list[tuple[str, str]]) -> dict[str, str]:
    found = {}
    for line in args(stage, "ENV"):
        found |= dict(word.split("=", 1) for word in shlex.split(line))
    return found


def exec_form(text: str) -> list[str]:
    return json.loads(text) if text.startswith("[") else shlex.split(text)


def test_every_implementation_has_a_dockerfile_and_every_dockerfile_an_implementation():
    assert implementations() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_builds_in_a_stage_ships_from_another_non_root_health_checked(name):
    found = stages(IMPLEMENTATIONS[name])
    assert list(found) == ["build", "runtime"]
    runtime = found["runtime"]
    users = args(runtime, "USER")
    assert users and users[-1] not in ("root", "0")
    healthcheck = args(runtime, "HEALTHCHECK")
    assert len(healthcheck) == 1 and " CMD " in f" {healthcheck[0]}"
    assert args(runtime, "CMD")


@pytest.mark.parametrize("name", NAMES)
def test_the_build_stage_runs_the_tests_build_with_the_same_debian_packages(name):
    impl = IMPLEMENTATIONS[name]
    build = stages(impl)["build"]
    run = commands(build)
    installed = {
        word
        for command in run
        if command[:2] == ("apt-get", "install")
        for word in command[2:]
        if not word.startswith("-")
    }
    assert installed == set(impl.packages)
    for command in impl.build:
        if command[0] == "env":  # Go: the variables as the stage's ENV
            variables = dict(word.split("=", 1) for word in command[1:] if "=" in word)
            command = command[len(variables) + 1 :]
            assert {k: v for k, v in variables.items() if k != "GOCACHE"}.items() <= env(
                build
            ).items()
        # npm's log level is the tests' choice (quiet output), not the build's
        assert tuple(w for w in command if not w.startswith("--loglevel")) in run, command
    if impl.ship:
        assert tuple(w for w in impl.ship if w != "--silent") in run


@pytest.mark.parametrize("name", NAMES)
def test_what_is_copied_in_exists_and_the_context_lets_it_through(name):
    impl = IMPLEMENTATIONS[name]
    ignore = impl.folder / ".dockerignore"
    problems = []
    for kind, arg in dockerfile_instructions(impl.folder / "Dockerfile"):
        if kind != "COPY" or "--from" in arg:
            continue
        for source in [w.rstrip("/") for w in arg.split() if not w.startswith("--")][:-1]:
            if not (impl.folder / source).exists():
                problems.append(f"COPY {source}: missing")
            elif ignore.exists() and not dockerignore_allows(source, ignore, default=True):
                problems.append(f"COPY {source}: excluded by .dockerignore")
    # what the tests build into the folder stays out of the context (the image builds its own)
    for artefact in impl.artefacts:
        top = artefact.split("/")[0]
        if (impl.folder / top).is_dir() and ignore.exists():
            assert not dockerignore_allows(top, ignore, default=True), f"{top} is sent"
    assert not problems


@pytest.mark.parametrize("name", NAMES)
def test_the_runtime_ships_the_artefacts_and_starts_them_as_the_tests_do(name):
    impl = IMPLEMENTATIONS[name]
    runtime = stages(impl)["runtime"]
    shipped = {}  # the path in the image -> the artefact built
    workdir = "/"
    for kind, arg in runtime:
        if kind == "WORKDIR":
            workdir = arg.rstrip("/") + "/"
        if kind == "COPY" and arg.startswith("--from=build"):
            source, target = arg.split()[1:]
            target = target if target.startswith("/") else workdir + target.removeprefix("./")
            if target.endswith("/"):
                target += source.rsplit("/", 1)[1]
            shipped[target.rstrip("/")] = source.removeprefix("/app/")
    assert sorted(shipped.values()) == sorted(impl.artefacts)
    # the command names what was shipped where the tests' command names the built artefact
    command = exec_form(args(runtime, "CMD")[-1])
    assert len(command) == len(impl.start)
    for word, started in zip(command, impl.start, strict=True):
        if started in impl.artefacts:
            path = word if word.startswith("/") else workdir + word
            found = on_path(path, shipped, env(runtime).get("PATH", "/usr/local/bin:/usr/bin"))
            assert shipped.get(found) == started, (word, started)
        else:
            assert word == started


def on_path(word: str, shipped: dict[str, str], path: str) -> str:
    """A bare command is looked up on PATH among the shipped files (as the image's shell would)."""
    if "/" in word.removeprefix("/"):
        return word
    for folder in path.split(":"):
        if f"{folder}/{word.lstrip('/')}" in shipped:
            return f"{folder}/{word.lstrip('/')}"
    return word


@pytest.mark.parametrize("name", NAMES)
def test_the_port_and_variables_are_the_ones_read_and_the_ones_kubernetes_uses(name):
    impl = IMPLEMENTATIONS[name]
    runtime = stages(impl)["runtime"]
    variables = {k: v for k, v in env(runtime).items() if READ_VARIABLE.fullmatch(k)}
    code = sources(impl)
    assert set(variables) <= {v for text in code.values() for v in READ_VARIABLE.findall(text)}
    assert variables["CATALOG_READS_HOST"] == "0.0.0.0"  # every interface, in a container
    assert args(runtime, "EXPOSE") == [variables["CATALOG_READS_PORT"]] == [str(PORT)]
    # the health check asks the port it serves on (a URL), or the implementation's own
    # `healthcheck` command, which reads CATALOG_READS_PORT
    check = exec_form(args(runtime, "HEALTHCHECK")[0].split(" CMD ", 1)[1].strip())
    ports = re.findall(r"//127\.0\.0\.1:(\d+)/readyz", " ".join(check))
    if ports:
        assert ports == [str(PORT)]
    else:
        assert check[-1] == "healthcheck"
        handled = [
            path for path, text in code.items() if '"healthcheck"' in text and "_PORT" in text
        ]
        assert handled, f"{name}: no source answers `healthcheck` on CATALOG_READS_PORT"


@pytest.mark.parametrize("name", JVM)
def test_a_jvm_runtime_is_the_jre_of_the_jdk_it_was_built_with(name):
    impl = IMPLEMENTATIONS[name]
    jdks = [p for p in impl.packages if re.fullmatch(r"openjdk-\d+-jdk-headless", p)]
    runtime = commands(stages(impl)["runtime"])
    installed = {w for c in runtime if c[:2] == ("apt-get", "install") for w in c[2:]}
    assert {p for p in installed if not p.startswith("-")} == {jdks[0].replace("-jdk-", "-jre-")}
