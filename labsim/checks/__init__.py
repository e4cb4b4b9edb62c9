"""Checks: named probes run inside a lab, each giving a CheckResult."""

from labsim.checks.result import CheckResult

__all__ = ["CheckResult"]
