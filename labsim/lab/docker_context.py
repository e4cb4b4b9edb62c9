"""Which Docker engine to talk to, chosen the way the docker CLI chooses it.

DOCKER_HOST wins; then the context named by DOCKER_CONTEXT; then the
`currentContext` of config.json (what `docker context use` writes); else the
default engine. A context is read from the CLI's own store,
`$DOCKER_CONFIG/contexts/meta/<sha256 of its name>/meta.json` (DOCKER_CONFIG
defaults to ~/.docker), with its TLS files beside it under `contexts/tls/`.
We read the store ourselves because older docker SDKs ignore DOCKER_CONTEXT.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labsim.lab.model import LabError


@dataclass
class Endpoint:
    context: str
    host: str
    skip_tls_verify: bool = False
    tls_dir: Path | None = None  # holds ca.pem, cert.pem, key.pem when the context has them

    @property
    def where(self) -> str:
        return f"{self.host} (docker context {self.context})"

    def tls_config(self) -> Any:
        """A docker.tls.TLSConfig for a context with TLS files, else None."""
        if self.tls_dir is None:
            return None
        from docker.tls import TLSConfig

        ca, cert, key = (self.tls_dir / n for n in ("ca.pem", "cert.pem", "key.pem"))
        return TLSConfig(
            client_cert=(str(cert), str(key)) if cert.is_file() and key.is_file() else None,
            ca_cert=str(ca) if ca.is_file() else None,
            verify=not self.skip_tls_verify,
        )


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")


def current_context_name(env: Mapping[str, str] = os.environ) -> str:
    named = env.get("DOCKER_CONTEXT", "").strip()
    if named:
        return named
    try:
        data = json.loads((config_dir(env) / "config.json").read_text())
    except (OSError, ValueError):
        return "default"
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else "default"


def context_endpoint(name: str, env: Mapping[str, str] = os.environ) -> Endpoint:
    digest = hashlib.sha256(name.encode()).hexdigest()
    store = config_dir(env) / "contexts"
    meta = store / "meta" / digest / "meta.json"
    source = "DOCKER_CONTEXT" if env.get("DOCKER_CONTEXT", "").strip() else "the current context"
    try:
        data = json.loads(meta.read_text())
    except FileNotFoundError as exc:
        raise LabError(
            f'there is no Docker context "{name}" ({source}); `docker context ls` lists the ones there are'
        ) from exc
    except (OSError, ValueError) as exc:
        raise LabError(f'the Docker context "{name}" is unreadable ({meta})') from exc
    docker = (data.get("Endpoints") or {}).get("docker") if isinstance(data, dict) else None
    host = docker.get("Host") if isinstance(docker, dict) else None
    if not isinstance(host, str) or not host:
        raise LabError(f'the Docker context "{name}" names no Docker engine (no docker host in {meta})')
    tls_dir = store / "tls" / digest / "docker"
    return Endpoint(
        context=name,
        host=host,
        skip_tls_verify=bool(docker.get("SkipTLSVerify")) if isinstance(docker, dict) else False,
        tls_dir=tls_dir if tls_dir.is_dir() else None,
    )


def resolve(env: Mapping[str, str] = os.environ) -> Endpoint | None:
    """The context endpoint to use, or None for the SDK's own choice (DOCKER_HOST or the default engine)."""
    if env.get("DOCKER_HOST"):
        return None
    name = current_context_name(env)
    if name == "default":
        return None
    return context_endpoint(name, env)
