"""Ctrl+C during a reset: the lab is built again whole before the interrupt is let through."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from labsim.lab.model import STATE_FILE
from labsim.lab.registry import LabRegistry
from tests.lab.conftest import small_spec


def test_ctrl_c_in_the_middle_of_a_reset_leaves_a_whole_lab(tmp_path: Path) -> None:
    marker = tmp_path / "interrupt-now"
    spec = small_spec("interrupted")
    # A real SIGINT to labsim itself, sent from inside the rebuild (after the old lab was wiped):
    # the setup command signals its parent, the process running the reset.
    spec.commands = [
        f"if [ -f {shlex.quote(str(marker))} ]; then kill -INT $PPID; fi",
        "echo built > etc/last",  # relative: the local sandbox has no chroot,
    ]
    lab = LabRegistry(tmp_path / "home").create(spec, backend="local")
    try:
        lab.write_file("/etc/dovecot/local.conf", "# the learner's work\n")
        marker.touch()
        with pytest.raises(KeyboardInterrupt):
            lab.reset(confirm=True)
        # Everything after the signal still ran: the last setup command and the fresh /etc record.
        assert lab.read_file("/etc/last") == b"built\n"
        assert "/etc/last" in LabRegistry(tmp_path / "home").get(lab.lab_id).state["etc_manifest"]
        assert (lab.lab_dir / STATE_FILE).is_file()
        saved = next((lab.lab_dir / "backups").iterdir()) / "etc/dovecot/local.conf"
        assert saved.read_text() == "# the learner's work\n"
    finally:
        lab.destroy()
