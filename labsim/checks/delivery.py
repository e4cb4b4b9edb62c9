"""delivery: a message sent to an address arrives in a user's folder (needs the Courier MTA work)."""

from __future__ import annotations

from labsim.checks.base import verdict
from labsim.checks.result import CheckResult
from labsim.lab.model import Lab
from labsim.scenario.model import CheckSpec


def delivery(lab: Lab, spec: CheckSpec) -> CheckResult:
    result = verdict(
        spec,
        False,
        "Delivery checks are not available until the Courier delivery work lands; "
        "this check cannot pass yet.",
    )
    result.error = "the delivery check is not implemented yet"
    return result
