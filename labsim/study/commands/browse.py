"""`labsim list` and `labsim status`: the scenarios with their progress, and the labs' state."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from labsim.grading.progress import ScenarioProgress
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import Scenario
from labsim.study.commands.common import EXIT_OK, err, scenario, session
from labsim.study.rows import GROUPS, ScenarioRow, progress_state
from labsim.study.session import StudySession

WELL_KNOWN = (("IMAP", 143), ("POP3", 110), ("IMAPS", 993), ("POP3S", 995))


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def progress_dict(progress: ScenarioProgress) -> dict[str, Any]:
    return {
        "state": progress_state(progress),
        "attempts": progress.attempts,
        "runs": progress.runs,
        "best_score": progress.best_score,
        "max_score": progress.max_score,
        "completed": progress.completed,
        "solved_by_solution": progress.solved_by_solution,
        "hints_taken": progress.hints_taken,
        "time_spent_s": round(progress.time_spent_s, 1),
    }


def progress_text(progress: ScenarioProgress) -> str:
    state = progress_state(progress)
    if progress.best_score is not None:
        state += f", best {_pts(progress.best_score)}/{_pts(progress.max_score)}"
    if progress.solved_by_solution:
        state += ", solution used"
    if progress.hints_taken:
        state += f", {progress.hints_taken} hint{'s' if progress.hints_taken != 1 else ''}"
    return state


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


# --- list --------------------------------------------------------------------------------------


def _row_dict(row: ScenarioRow) -> dict[str, Any]:
    s = row.scenario
    return {
        "id": s.id,
        "title": s.title,
        "group": row.group,
        "personality": s.personality,
        "difficulty": s.difficulty,
        "estimated_minutes": s.estimated_minutes,
        "backends": list(s.backends),
        "max_points": s.max_points,
        "progress": progress_dict(row.progress),
    }


def cmd_list(args: argparse.Namespace) -> int:
    study = session(args)
    rows = study.scenarios()
    # A scenario folder with errors is left out of the list; say so, or it seems to have vanished.
    broken = [e.id for e in study.scenario_registry.entries() if not e.valid]
    if broken:
        err(f"not listed, with errors: {', '.join(broken)}; `labsim validate` says what is wrong")
    if args.json:
        print(json.dumps([_row_dict(row) for row in rows], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("no scenarios found (LABSIM_SCENARIOS may point elsewhere); `labsim validate` says why")
        return EXIT_OK
    table: list[tuple[str, ...]] = [("ID", "TITLE", "LEVEL", "TIME", "PROGRESS")]
    for group in [*GROUPS, *sorted({r.group for r in rows} - set(GROUPS))]:
        mine = [r for r in rows if r.group == group]
        if not mine:
            continue
        table.append((f"{group}:", "", "", "", ""))
        for r in mine:
            s = r.scenario
            table.append(
                (f"  {s.id}", s.title, s.difficulty, f"{s.estimated_minutes}m", progress_text(r.progress))
            )
    for line in _table(table):
        print(line)
    print("\nstart one with: labsim start ID")
    return EXIT_OK


# --- status ------------------------------------------------------------------------------------


def ports(backend: str, port_base: int) -> str:
    if backend == "docker":
        return "inside the lab: " + ", ".join(f"{name} {port}" for name, port in WELL_KNOWN)
    return ", ".join(f"{name} 127.0.0.1:{port_base + port}" for name, port in WELL_KNOWN)


def lab_dict(lab: Lab) -> dict[str, Any]:
    out: dict[str, Any] = {"id": lab.lab_id, "backend": lab.backend_name}
    try:
        status = lab.status()
    except LabError as exc:  # e.g. the Docker engine does not answer
        return {**out, "state": "unknown", "server_running": None, "detail": str(exc)}
    out |= {"state": status.state, "server_running": status.server_running}
    if status.state != "missing":
        out["ports"] = ports(status.backend, status.port_base)
    root = getattr(lab, "root", None)
    if root is not None:
        out["root"] = str(root)
    if status.detail:
        out["detail"] = status.detail
    return out


def unit_states(lab: Lab) -> dict[str, bool]:
    """Each mail service of the lab and whether it runs, as `service --status-all` in the lab says:
    a Courier lab has several, and "the mail server" alone would say too little."""
    try:
        listed = lab.exec(["service", "--status-all"], timeout=15)
    except LabError:
        return {}
    states = {}
    for line in listed.output.splitlines():
        m = re.match(r"\s*\[ ([+-]) \]\s+(\S+)", line)
        if m:
            states[m.group(2)] = m.group(1) == "+"
    return states


def _one(study: StudySession, scen: Scenario) -> dict[str, Any]:
    lab = study.find_lab(scen)
    data = None if lab is None else lab_dict(lab)
    if lab is not None and data is not None and data.get("state") == "running":
        data["services"] = unit_states(lab)
    return {
        "scenario": scen.id,
        "title": scen.title,
        "lab": data,
        "progress": progress_dict(study.progress(scen)),
        "hints_taken": study.hints_taken(scen),
    }


def _print_one(data: dict[str, Any]) -> None:
    lines = [("scenario", f"{data['scenario']} ({data['title']})")]
    lab = data["lab"]
    if lab is None:
        lines.append(("lab", f"none yet; start one with: labsim start {data['scenario']}"))
    else:
        lines.append(("lab", f"{lab['id']} ({lab['backend']} backend)"))
        server = {True: "running", False: "stopped", None: "unknown"}[lab["server_running"]]
        lines.append(("state", f"{lab['state']}, mail server {server}"))
        units = lab.get("services") or {}
        if len(units) > 1:  # Courier: each daemon is a service of its own
            lines.append(
                ("services", ", ".join(f"{n} {'running' if up else 'stopped'}" for n, up in units.items()))
            )
        for key in ("ports", "root", "detail"):
            if lab.get(key):
                lines.append((key, lab[key]))
    p = data["progress"]
    best = "" if p["best_score"] is None else f", best {_pts(p['best_score'])}/{_pts(p['max_score'])}"
    lines.append(("progress", f"{p['state']}{best}; {p['attempts']} attempt(s), {p['runs']} check run(s)"))
    if data["hints_taken"]:
        taken = ", ".join(f"{task} {n}" for task, n in data["hints_taken"].items())
        lines.append(("hints", taken))
    if p["solved_by_solution"]:
        lines.append(("solution", "applied (that attempt does not count for the best score)"))
    for key, value in lines:
        print(f"{key + ':':<10}{value}")


def cmd_status(args: argparse.Namespace) -> int:
    study = session(args)
    if args.scenario:
        data = _one(study, scenario(study, args.scenario))
        if args.json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            _print_one(data)
        return EXIT_OK
    labs = [_lab_row(lab) for lab in study.labs.list()]
    for damaged in study.labs.damaged():
        # Not hidden: the learner's files are in it, and `labsim start SCENARIO` gets it back.
        err(f"{damaged}; `labsim start SCENARIO` rebuilds its state")
    if args.json:
        print(json.dumps(labs, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not labs:
        print("no labs yet; start one with: labsim start ID (`labsim list` shows the scenarios)")
        return EXIT_OK
    table: list[tuple[str, ...]] = [("SCENARIO", "LAB", "BACKEND", "STATE", "SERVER")]
    for row in labs:
        server = {True: "running", False: "stopped", None: "?"}[row["server_running"]]
        table.append((row["scenario"], row["id"], row["backend"], row["state"], server))
    for line in _table(table):
        print(line)
    return EXIT_OK


def _lab_row(lab: Lab) -> dict[str, Any]:
    scenario_id = str(lab.state.get("scenario") or lab.spec.name)
    return {"scenario": scenario_id, **lab_dict(lab)}
