"""Run `labsim class|assignment ...` through the classroom's own parsers, as labsim/cli.py wires them."""

from __future__ import annotations

import argparse

from labsim.classroom.commands import add_parsers


def labsim(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="labsim")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code
