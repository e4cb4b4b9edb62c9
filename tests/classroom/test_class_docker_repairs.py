"""A class of two on Docker after an instructor's bad day: labs stopped, gone, cut off half-way.

`class grade` starts a stopped lab with its mail server, and says which labs could not be checked;
`class up` repairs what an interrupted `up` left; `class down` clears the leftovers; a CPU share the
engine does not have is refused before any lab is made. One test, one class, so a parallel run never
starts a second class of containers on a 2-core machine.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest

from labsim.classroom.service import STARTED_KEY, open_class
from labsim.lab.from_scenario import apply_solution
from labsim.lab.model import STATE_FILE
from tests.classroom.cli_driver import class_containers, labsim, run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCENARIO = "dovecot-maildir"


def test_grade_and_up_repair_a_class_on_docker(
    docker_client: Any, lab_image: str, labsim_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "r" + uuid.uuid4().hex[:8]
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nann,Ann\nbob,Bob\n")
    up = [
        "class",
        "up",
        "--roster",
        str(roster),
        "--scenario",
        SCENARIO,
        "--name",
        name,
        "--backend",
        "docker",
    ]
    try:
        # --cpus above what the engine has: one sentence, status 2, before anything is recorded or made.
        ncpu = int(docker_client.info()["NCPU"])
        assert labsim(*up, "--cpus", str(ncpu + 1)) == 2
        err = capsys.readouterr().err
        assert err == (
            f"labsim: --cpus {ncpu + 1} is more than the {ncpu} CPU(s) the Docker engine has;"
            f" give at most {ncpu} (a share like 0.5 is half a core)\n"
        )
        assert class_containers(docker_client, name) == [] and not (labsim_home / "classes" / name).exists()

        code, out = run_cli(*up)
        assert code == 0 and out.count(" created in ") == 2, out + capsys.readouterr().err
        service = open_class(name)
        ann, bob = service.lab("ann", SCENARIO), service.lab("bob", SCENARIO)

        # --- grade: ann solved it and then stopped her lab; bob's container was removed -------------------
        apply_solution(ann, service.scenario(SCENARIO))
        ann.stop()
        docker_client.containers.get(bob.container_name).remove(force=True)
        capsys.readouterr()
        out_dir = tmp_path / "grades"
        code, out = run_cli("class", "grade", "--out", str(out_dir), "--name", name)
        err = capsys.readouterr().err
        assert code == 1, out + err  # a lab could not be checked
        with open(out_dir / "gradebook.csv", newline="") as f:
            book = {r["student"]: r for r in csv.DictReader(f)}
        assert (book["ann"]["points"], book["ann"]["lab_error"]) == ("5", "")  # her server was started too
        gone = f"the container of lab {bob.lab_id} is gone; reset or recreate the lab"
        assert (book["bob"]["points"], book["bob"]["lab_error"]) == ("0", gone)
        assert f"bob {SCENARIO}: the lab could not be checked: {gone}" in err

        # --- up again: bob's lab is made again, ann's (running, with her work) kept ---------------------
        code, out = run_cli(*up)
        assert code == 0, out
        assert "ann  dovecot-maildir  kept in " in out and "bob  dovecot-maildir  recreated in " in out

        # --- an `up` cut off half-way: ann's services never started, bob's record never written ---------
        assert service.lab("ann", SCENARIO).exec(["service", "dovecot", "stop"]).ok
        ann = service.lab("ann", SCENARIO)
        ann.state.pop(STARTED_KEY)
        ann.save_state()
        bob_dir = service.registry.lab_dir(service.record.lab_id("bob", SCENARIO))
        (bob_dir / STATE_FILE).unlink()  # its container still runs under the lab's name
        code, out = run_cli(*up)
        assert code == 0, out + capsys.readouterr().err  # not "Conflict ... already in use"
        assert "ann  dovecot-maildir  started in " in out and "bob  dovecot-maildir  recreated in " in out
        code, out = run_cli("class", "status", "--name", name)
        rows = [line.split() for line in out.splitlines()[2:4]]
        assert [(r[0], r[-2], r[-1]) for r in rows] == [
            ("ann", "running", "running"),
            ("bob", "running", "running"),
        ]
        assert open_class(name).lab("ann", SCENARIO).exec(["test", "-d", "/home/alice/Maildir"]).ok

        # --- down: a folder without its record and its container go too ---------------------------------
        (bob_dir / STATE_FILE).unlink()
        code, out = run_cli("class", "down", "--name", name, "--yes")
        assert code == 0, out
        assert class_containers(docker_client, name) == []
        assert not any((labsim_home / "labs").glob(f"class-{name}-*"))
    finally:
        for c in class_containers(docker_client, name):
            c.remove(force=True)
