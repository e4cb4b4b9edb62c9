"""Run `labsim class|assignment ...` through the classroom's own parsers, as labsim/cli.py wires them."""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

from labsim.classroom.commands import add_parsers
from labsim.classroom.limits import CLASS_LABEL


def labsim(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="labsim")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def run_cli(*argv: str) -> tuple[int, str]:
    """labsim(...) with what it printed on stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = labsim(*argv)
    return code, out.getvalue()


def class_containers(client: Any, name: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"{CLASS_LABEL}={name}"}))
