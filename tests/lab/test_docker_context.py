"""The Docker engine is chosen as the docker CLI chooses it: DOCKER_HOST, DOCKER_CONTEXT, current context."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from labsim.lab import docker_context
from labsim.lab.docker_backend import connect
from labsim.lab.model import LabError
from tests.lab.conftest import TEST_PREFIX

SOCKET = "unix:///var/run/docker.sock"


def write_context(config: Path, name: str, host: str) -> None:
    """A context as `docker context create` stores it."""
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}}))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    for var in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    return cfg


def test_the_order_the_cli_uses(config: Path) -> None:
    write_context(config, "classroom", "tcp://10.0.0.5:2375")
    write_context(config, "other", "ssh://teacher@lab")
    env = {"DOCKER_CONFIG": str(config)}
    assert docker_context.resolve(env) is None  # nothing set: the default engine
    (config / "config.json").write_text(json.dumps({"currentContext": "other"}))
    endpoint = docker_context.resolve(env)
    assert endpoint is not None and (endpoint.context, endpoint.host) == ("other", "ssh://teacher@lab")
    endpoint = docker_context.resolve({**env, "DOCKER_CONTEXT": "classroom"})
    assert endpoint is not None and endpoint.where == "tcp://10.0.0.5:2375 (docker context classroom)"
    assert docker_context.resolve({**env, "DOCKER_CONTEXT": "classroom", "DOCKER_HOST": SOCKET}) is None
    assert docker_context.resolve({**env, "DOCKER_CONTEXT": "default"}) is None


def test_an_unknown_context_is_one_sentence(config: Path) -> None:
    with pytest.raises(LabError) as exc:
        docker_context.resolve({"DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "nowhere"})
    assert str(exc.value) == (
        'there is no Docker context "nowhere" (DOCKER_CONTEXT); `docker context ls` lists the ones there are'
    )
    (config / "config.json").write_text("{not json")
    assert docker_context.current_context_name({"DOCKER_CONFIG": str(config)}) == "default"


def test_connect_goes_where_the_context_points(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_context(config, "gone", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    with pytest.raises(LabError) as exc:
        connect(timeout=5)
    assert str(exc.value) == (
        "no Docker engine answers at unix:///nonexistent/docker.sock (docker context gone) "
        "(No such file or directory); use the local backend instead"
    )


@pytest.fixture
def cli_context(config: Path, docker_client: Any) -> Any:
    """`docker context create labsim-test` in a private DOCKER_CONFIG, removed afterwards."""
    env = dict(os.environ, DOCKER_CONFIG=str(config))
    env.pop("DOCKER_CONTEXT", None)
    subprocess.run(
        ["docker", "context", "create", "labsim-test", "--docker", f"host={SOCKET}"],
        env=env,
        check=True,
        capture_output=True,
    )
    yield env
    subprocess.run(["docker", "context", "rm", "-f", "labsim-test"], env=env, capture_output=True)


@pytest.mark.docker
def test_docker_host_named_explicitly(monkeypatch: pytest.MonkeyPatch, docker_client: Any) -> None:
    if not Path("/var/run/docker.sock").exists():
        pytest.skip("the engine here is not on /var/run/docker.sock")
    monkeypatch.setenv("DOCKER_HOST", SOCKET)
    monkeypatch.setenv("DOCKER_CONTEXT", "no-such-context")  # DOCKER_HOST wins, as with the CLI
    client = connect()
    assert client.api.base_url == "http+docker://localhost"
    assert client.version()["ApiVersion"] == docker_client.version()["ApiVersion"]


@pytest.mark.docker
def test_a_lab_through_a_docker_context(
    cli_context: dict[str, str], tmp_path: Path, lab_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path("/var/run/docker.sock").exists():
        pytest.skip("the engine here is not on /var/run/docker.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "labsim-test")
    assert docker_context.resolve() == docker_context.Endpoint("labsim-test", SOCKET)
    assert connect().ping() is True
    env = dict(cli_context, DOCKER_CONTEXT="labsim-test", LABSIM_HOME=str(tmp_path / "home"))
    name = TEST_PREFIX + uuid.uuid4().hex[:8]
    labsim = [sys.executable, "-m", "labsim.cli", "lab"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*labsim, *args], env=env, capture_output=True, text=True, timeout=120)

    r = run("create", "dovecot-pop3", "--backend", "docker", "--id", name, "--start")
    try:
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0].startswith(f"created lab {name} on the docker backend")
        assert r.stdout.splitlines()[-1] == (
            f"lab {name} is running; mail server ports: "
            "inside the lab: IMAP 143, POP3 110, IMAPS 993, POP3S 995"
        )
        assert run("exec", name, "--", "stat", "-c", "%U:%G %a", "/var/mail").stdout == "root:mail 2775\n"
        assert run("list").stdout.splitlines()[1].split() == [
            name,
            "dovecot-pop3",
            "docker",
            "running",
            "running",
        ]
        # The docker CLI (used for shells) follows the same context.
        shown = subprocess.run(
            ["docker", "ps", "--filter", f"label=org.labsim.lab={name}", "--format", "{{.Names}}"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert shown.stdout == f"labsim-{name}\n"
        # The engine gone: an existing Docker lab cannot move, so the advice differs.
        env["DOCKER_CONTEXT"] = "gone"
        write_context(Path(env["DOCKER_CONFIG"]), "gone", "unix:///nonexistent/docker.sock")
        r = run("status", name)
        assert r.returncode == 1
        assert r.stderr == (
            "labsim: no Docker engine answers at unix:///nonexistent/docker.sock (docker context gone) "
            f"(No such file or directory); lab {name} runs in Docker: start the engine, "
            "or create a new lab with --backend local\n"
        )
    finally:
        env["DOCKER_CONTEXT"] = "labsim-test"
        assert run("destroy", name, "--yes").returncode == 0
