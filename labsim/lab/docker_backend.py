"""The Docker backend: one container per lab, from the lab image, with no network.

The learner and the checkers work inside the container (`docker exec`),
where the server listens on the container's own loopback on the real ports.
Files go in and out as tar streams, so setup needs no shell in the image.
Every container carries the label `org.labsim.lab=<id>`, which is how
`labsim prune` finds them, and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shlex
import subprocess
import tarfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from labsim.lab import docker_context
from labsim.lab.model import MAIL_LOG, ExecResult, Lab, LabError, LabSpec, LabStatus
from labsim.lab.setup import apply_spec, lookup_group, lookup_user

IMAGE = "labsim-lab:latest"
LABEL = "org.labsim.lab"
MEM_LIMIT = "512m"
PIDS_LIMIT = 512
HOSTNAME = "mail"
SUGGEST_LOCAL = "use the local backend instead"


def connect(timeout: int = 30) -> Any:
    """A client that answers, or a LabError in one sentence.

    The engine is chosen as the docker CLI chooses it (docker_context.py): DOCKER_HOST, then
    DOCKER_CONTEXT, then the current context, else the local socket."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise LabError(f"the docker Python package is missing; {SUGGEST_LOCAL}") from exc
    endpoint = docker_context.resolve()
    where = endpoint.where if endpoint else os.environ.get("DOCKER_HOST") or "the local socket"
    try:
        if endpoint is not None:
            tls = endpoint.tls_config() or False
            client = docker.DockerClient(base_url=endpoint.host, tls=tls, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        raise LabError(
            f"no Docker engine answers at {where} ({_engine_reason(exc)}); {SUGGEST_LOCAL}"
        ) from exc
    return client


def _engine_reason(exc: BaseException) -> str:
    """The system's own words for why the engine did not answer (a missing socket, a refusal), when
    the SDK wraps them in layers of exceptions; else the first line of its message."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return str(exc).split("\n")[0][:200]


def require_image(client: Any, image: str = IMAGE) -> None:
    try:
        client.images.get(image)
    except Exception as exc:
        raise LabError(
            f"the Docker engine has no {image} image (build it with containers/build.sh); {SUGGEST_LOCAL}"
        ) from exc


class DockerFS:
    """LabFS over a container: reads come out with get_archive, writes go in as one tar."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.pending: dict[str, tarfile.TarInfo] = {}
        self.data: dict[str, bytes] = {}

    def read(self, path: str) -> bytes | None:
        if path in self.data:
            return self.data[path]
        try:
            return read_from_container(self.container, path)
        except LabError:
            return None

    def write(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, int(time.time())
        self.pending.pop(path, None)  # keep the order of the last write
        self.pending[path] = info
        self.data[path] = data

    def mkdir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        info = tarfile.TarInfo(path.strip("/"))
        info.type, info.mode, info.uid, info.gid, info.mtime = (
            tarfile.DIRTYPE,
            mode,
            uid,
            gid,
            int(time.time()),
        )
        if path not in self.pending:
            self.pending[path] = info

    def flush(self) -> None:
        if not self.pending:
            return
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, info in self.pending.items():
                tar.addfile(info, io.BytesIO(self.data[path]) if info.isreg() else None)
        if not self.container.put_archive("/", buf.getvalue()):
            raise LabError("the Docker engine refused the lab's files")
        self.pending.clear()
        self.data.clear()


def read_from_container(container: Any, path: str) -> bytes:
    try:
        stream, _ = container.get_archive(path)
        raw = b"".join(stream)
    except Exception as exc:
        raise LabError(f"cannot read {path} in the lab container: {_short(exc)}") from exc
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar:
            if member.isreg():
                f = tar.extractfile(member)
                if f is not None:
                    return f.read()
            raise LabError(f"cannot read {path} in the lab container: not a regular file")
    raise LabError(f"cannot read {path} in the lab container: empty archive")


def _short(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).split("\n")[0][:200]


# The docker SDK's names for the limits a lab's state may set.
CONTAINER_LIMITS = ("mem_limit", "memswap_limit", "pids_limit", "nano_cpus")


class DockerLab(Lab):
    backend_name = "docker"

    def __init__(self, lab_dir: Path, state: dict[str, Any] | None = None, client: Any = None) -> None:
        super().__init__(lab_dir, state)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    @property
    def container_name(self) -> str:
        return f"labsim-{self.lab_id}"

    def container(self) -> Any:
        import docker

        try:
            return self.client.containers.get(self.state.get("container_id") or self.container_name)
        except docker.errors.NotFound as exc:
            raise LabError(f"the container of lab {self.lab_id} is gone; reset or recreate the lab") from exc
        except docker.errors.APIError as exc:
            raise LabError(f"the Docker engine refused to look up lab {self.lab_id}: {_short(exc)}") from exc

    def _running_container(self, with_services: bool = True) -> Any:
        """The lab's container, started when it was stopped.

        A stopped lab is one whose services were stopped with it (`stop()`), and the container's
        init starts none of them. So whoever needs it running (checks, grading, a shell, a file
        read) gets it as `start()` leaves it: with its services started, else a check would find
        nothing listening where the learner's server ran. `start()` starts them itself."""
        c = self.container()
        if c.status != "running":
            try:
                c.start()
                c.reload()
            except Exception as exc:
                raise LabError(f"the container of lab {self.lab_id} does not start: {_short(exc)}") from exc
            if with_services:
                self._start_services()
        return c

    def _start_services(self) -> ExecResult:
        outputs, code = [], 0
        for name in self.spec.services:
            result = self.service("start", name)
            outputs.append(result.output)
            code = code or result.code
        return ExecResult(code, "".join(outputs))

    def container_limits(self) -> dict[str, Any]:
        """The resource limits for the container: the defaults, or what the lab's state asks for
        (a classroom lab sets its own; being in the state, they survive a reset)."""
        limits: dict[str, Any] = {"mem_limit": MEM_LIMIT, "pids_limit": PIDS_LIMIT}
        wanted = self.state.get("limits", {})
        limits.update({k: v for k, v in wanted.items() if k in CONTAINER_LIMITS})
        return limits

    # --- lifecycle ---
    def create(self, spec: LabSpec) -> None:
        image = self.state.get("image", IMAGE)
        require_image(self.client, image)
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        self.state["spec"] = spec.to_dict()
        self.state.setdefault("created", time.time())
        self.state["image"] = image
        try:
            container = self.client.containers.run(
                image,
                detach=True,
                name=self.container_name,
                hostname=HOSTNAME,
                network_mode="none",
                privileged=False,
                init=True,  # reaps the server when it exits, so "stopped" really is stopped
                **self.container_limits(),
                labels={**self.state.get("labels", {}), LABEL: self.lab_id},
            )
        except Exception as exc:
            raise LabError(f"the Docker engine refused to start the lab container: {_short(exc)}") from exc
        self.state["container_id"] = container.id
        self.save_state()
        fs = DockerFS(container)
        apply_spec(fs, spec)
        fs.flush()
        for line in spec.commands:
            result = self.exec(["sh", "-c", line])
            if not result.ok:
                raise LabError(
                    f"setup command {line!r} failed with exit {result.code}: {result.output.strip()}"
                )
        self.record_fresh_etc()

    def start(self) -> ExecResult:
        self._running_container(with_services=False)
        return self._start_services()

    def stop(self) -> None:
        try:
            c = self.container()
        except LabError:
            return
        if c.status == "running":
            for name in self.spec.services:
                self.service("stop", name)
            c.stop(timeout=5)

    def destroy(self) -> None:
        self._wipe()
        self.remove_lab_dir()

    def _wipe(self) -> None:
        try:
            self.container().remove(force=True)
        except LabError:
            pass
        except Exception as exc:
            raise LabError(f"the Docker engine refused to remove lab {self.lab_id}: {_short(exc)}") from exc
        self.state.pop("container_id", None)

    def status(self) -> LabStatus:
        self.client  # noqa: B018 - an engine that does not answer is an error, not a missing lab
        try:
            c = self.container()
        except LabError as exc:
            return LabStatus(self.lab_id, "docker", "missing", detail=str(exc))
        if c.status != "running":
            return LabStatus(self.lab_id, "docker", "stopped", detail=f"container {c.status}")
        show = ["systemctl", "show", "-p", "ActiveState,MainPID", "--value", self.main_service]
        values = self.exec(show).output.split()
        active = values[:1] == ["active"]
        pid = int(values[1]) if len(values) > 1 and values[1].isdigit() and values[1] != "0" else None
        return LabStatus(
            self.lab_id, "docker", "running", active, pid, 0, self.state.get("backend_reason", "")
        )

    # --- inside the lab ---
    def exec(self, argv: list[str], timeout: float = 60.0, input: str | None = None) -> ExecResult:
        c = self._running_container()
        cmd = ["timeout", "-k", "2", str(max(1, int(timeout))), *argv]
        if input is not None:
            tmp = f"/tmp/.labsim-stdin-{time.time_ns()}"
            fs = DockerFS(c)
            fs.write(tmp, input.encode(), 0o600)
            fs.flush()
            cmd = ["sh", "-c", f'f={shlex.quote(tmp)}; "$@" < "$f"; s=$?; rm -f "$f"; exit $s', "sh", *cmd]
        try:
            code, output = c.exec_run(cmd, environment={"LANG": "C.UTF-8"}, workdir="/")
        except Exception as exc:
            raise LabError(f"cannot run {argv[0]} in lab {self.lab_id}: {_short(exc)}") from exc
        text = output.decode("utf-8", "replace") if output else ""
        if code in (126, 127) and ("executable file not found" in text or "failed to run command" in text):
            text = f"{argv[0]}: command not found\n"
            code = 127
        return ExecResult(int(code), text)

    def docker_cli(self) -> list[str]:
        return ["docker", "exec", "-it", "-e", "LANG=C.UTF-8", self._running_container().id]

    def spawn(self, argv: list[str], timeout: float = 30.0) -> Any:
        import pexpect

        cli = self.docker_cli()
        return pexpect.spawn(cli[0], [*cli[1:], *argv], timeout=timeout, encoding="utf-8")

    def read_file(self, path: str) -> bytes:
        return read_from_container(self._running_container(), path)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644, owner: str = "root") -> None:
        raw = data.encode() if isinstance(data, str) else data
        fs = DockerFS(self._running_container())
        user, _, group = owner.partition(":")
        uid, gid = 0, 0
        if user not in ("", "root"):
            uid, gid, _ = lookup_user(fs, user)
        if group:
            gid = lookup_group(fs, group)
        fs.write(path, raw, mode, uid, gid)
        fs.flush()

    def shell(self) -> int:
        cli = self.docker_cli()
        try:
            return subprocess.call([*cli, "bash", "-l"])
        except OSError as exc:
            raise LabError(
                f"the docker command is needed for a shell in lab {self.lab_id}: {exc.strerror}"
            ) from exc

    def logs(
        self, path: str = MAIL_LOG, follow: bool = True, poll: float = 0.2
    ) -> Generator[str, None, None]:
        c = self._running_container()
        if not follow:
            try:
                text = read_from_container(c, path).decode("utf-8", "replace")
            except LabError:
                return
            yield from text.splitlines()
            return
        # The shell reports tail's pid first, so closing the iterator can stop it inside the container.
        script = 'echo "labsim-tail-pid $$"; exec tail -n +1 -F "$0" 2>/dev/null'
        _, stream = c.exec_run(["sh", "-c", script, path], stream=True)
        pending, tail_pid = "", ""
        try:
            for chunk in stream:
                pending += chunk.decode("utf-8", "replace")
                *lines, pending = pending.split("\n")
                for line in lines:
                    if not tail_pid and line.startswith("labsim-tail-pid "):
                        tail_pid = line.split()[1]
                        continue
                    yield line
        finally:
            if tail_pid.isdigit():
                with contextlib.suppress(Exception):
                    c.exec_run(["kill", tail_pid])

    def etc_files(self) -> dict[str, bytes]:
        try:
            stream, _ = self._running_container().get_archive("/etc")
            raw = b"".join(stream)
        except Exception as exc:
            raise LabError(f"cannot read /etc of lab {self.lab_id}: {_short(exc)}") from exc
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar:
                if member.isreg():
                    f = tar.extractfile(member)
                    if f is not None:
                        files[posixpath.join("/", member.name)] = f.read()
        return files


def prune(client: Any = None, only_prefix: str = "") -> list[str]:
    """Remove every container labelled as a labsim lab; returns their names.

    only_prefix narrows it to labs whose id starts with it (tests sharing an
    engine with other runs use it); the CLI removes them all. The low-level
    listing is used because it needs no per-container lookup that a
    container vanishing meanwhile would break.
    """
    import docker

    client = client or connect()
    removed = []
    try:
        found = client.api.containers(all=True, filters={"label": LABEL})
    except docker.errors.APIError as exc:
        raise LabError(f"the Docker engine refused to list containers: {_short(exc)}") from exc
    for entry in found:
        if not (entry.get("Labels") or {}).get(LABEL, "").startswith(only_prefix):
            continue
        name = (entry.get("Names") or ["/" + entry["Id"][:12]])[0].lstrip("/")
        try:
            client.api.remove_container(entry["Id"], force=True)
        except docker.errors.NotFound:
            continue  # removed by someone else meanwhile
        except docker.errors.APIError as exc:
            raise LabError(f"the Docker engine refused to remove {name}: {_short(exc)}") from exc
        removed.append(name)
    return removed
