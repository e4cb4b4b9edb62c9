"""A class's labs through the Lab interface: bring them up, look at them, check them, take them down.

One lab per student and scenario, with the id `class-<class>-<student>-<scenario>`
(its container is `labsim-<that id>`). Bringing a class up is idempotent: a
lab that runs is kept as it is (the student's work with it), a stopped one
is started, one whose container vanished is made again, and what an
interrupted `up` left half-made is repaired: a lab whose services never
started gets them started, a lab folder without its record (beside a
container of the same name, maybe) is replaced. Labs come up in a bounded
pool of threads, as many at once as the engine and 2 cores bear; Ctrl+C
stops after the labs in progress.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labsim.checks.result import CheckResult
from labsim.checks.runner import run_scenario
from labsim.classroom.board import BOARD_FILE, Board
from labsim.classroom.errors import ClassError, ClassUsageError
from labsim.classroom.limits import CLASS_LABEL, Limits, class_labels
from labsim.classroom.roster import Student
from labsim.classroom.store import ClassRecord, ClassStore, check_class_name, write_json_atomic
from labsim.lab.from_scenario import lab_spec
from labsim.lab.local import LocalLab
from labsim.lab.model import STATE_FILE, Lab, LabError
from labsim.lab.registry import LabRegistry
from labsim.scenario.errors import ScenarioError, ScenarioNotFound
from labsim.scenario.model import Scenario
from labsim.scenario.registry import ScenarioRegistry

BACKENDS = ("docker", "local")
DEFAULT_WORKERS = 4
HINTS_FILE = "hints.json"
# Set in a lab's state once `class up` started its services: a running lab without it was cut off
# half-way (Ctrl+C, a crash) and gets its services started on the next `up`, instead of "kept".
STARTED_KEY = "class_started"


@dataclass
class UpEvent:
    """One lab done while a class comes up (for progress lines)."""

    done: int
    total: int
    student: str
    scenario: str
    lab_id: str
    action: str  # created, started, kept, recreated, failed
    seconds: float
    error: str = ""


@dataclass
class LabRow:
    student: Student
    scenario: str
    lab_id: str
    state: str  # running, stopped, missing, absent (never created), unknown (engine error)
    server: str  # running, stopped, -
    detail: str = ""


class UpInterrupted(KeyboardInterrupt):
    """Ctrl+C during `up`: the labs in progress were finished, the others not begun."""

    def __init__(self, events: list[UpEvent], total: int) -> None:
        super().__init__()
        self.events = events
        self.total = total


def _remove_leftover_dir(lab_dir: Path) -> None:
    """A lab folder without its record; a local one may hold a server a cut-off start left running."""
    if (lab_dir / "root").is_dir():
        with contextlib.suppress(Exception):  # without a record its units are all we know of it
            LocalLab(lab_dir, {}).stop()
    shutil.rmtree(lab_dir, ignore_errors=True)


def _unknown_scenario(wanted: str, registry: ScenarioRegistry) -> str:
    known = [f.name for f in registry.folders()]
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    close += [k for k in known if wanted and wanted in k and k not in close]
    if close:
        return (
            f'no scenario "{wanted}"; did you mean {" or ".join(close[:3])}? (`labsim list` shows them all)'
        )
    return f'no scenario "{wanted}" in {registry.root}; `labsim list` shows the {len(known)} there are'


def load_scenarios(ids: list[str], root: str = "") -> dict[str, Scenario]:
    registry = ScenarioRegistry(Path(root) if root else None)
    found: dict[str, Scenario] = {}
    for sid in ids:
        try:
            found[sid] = registry.get(sid)
        except ScenarioNotFound:
            raise ClassUsageError(_unknown_scenario(sid, registry)) from None
        except ScenarioError as exc:
            first = exc.issues[0] if exc.issues else "unknown problem"
            raise ClassError(f"scenario {sid} has errors ({first}); `labsim validate` lists them") from None
    return found


class ClassService:
    """The labs of one class. Thread-safe enough for a pool: each call works on one lab."""

    def __init__(
        self,
        record: ClassRecord,
        store: ClassStore | None = None,
        registry: LabRegistry | None = None,
        client: Any = None,
    ) -> None:
        self.record = record
        self.store = store or ClassStore()
        self.registry = registry or LabRegistry()
        self._client = client
        self._client_lock = threading.Lock()
        self._local_lock = threading.Lock()  # local labs pick free port bases: one at a time
        self._hints_lock = threading.Lock()
        self._scenarios: dict[str, Scenario] | None = None
        self.board = Board(self.store.dir(record.name) / BOARD_FILE)

    # --- plumbing ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from labsim.lab import docker_backend

                self._client = docker_backend.connect()
            return self._client

    @property
    def scenarios(self) -> dict[str, Scenario]:
        if self._scenarios is None:
            self._scenarios = load_scenarios(self.record.scenarios, self.record.scenarios_root)
        return self._scenarios

    def scenario(self, sid: str) -> Scenario:
        if sid not in self.record.scenarios:
            raise ClassError(
                f"class {self.name} has no scenario {sid!r} ({', '.join(self.record.scenarios)})"
            )
        return self.scenarios[sid]

    def roster(self) -> list[Student]:
        return list(self.record.students)

    def scenario_list(self) -> list[Scenario]:
        return [self.scenarios[sid] for sid in self.record.scenarios]

    def _docker_lab(self, lab_dir: Path, state: dict[str, Any], student: str, scenario: str) -> Lab:
        from labsim.lab.docker_backend import DockerLab

        # Labels and limits live in the lab's state: DockerLab gives them to the container, again on a reset.
        state.setdefault("labels", class_labels(self.name, student, scenario))
        state.setdefault("limits", self.record.limits.docker_kwargs())
        return DockerLab(lab_dir, state, client=self.client)

    def lab(self, student: str, scenario: str) -> Lab:
        """The lab of one student for one scenario (a LabError when it was never made)."""
        self.record.student(student)
        lab = self.registry.get(self.record.lab_id(student, scenario))
        if lab.backend_name == "docker":
            return self._docker_lab(lab.lab_dir, lab.state, student, scenario)
        return lab

    def _lab_exists(self, lab_id: str) -> bool:
        return (self.registry.lab_dir(lab_id) / STATE_FILE).is_file()

    # --- up ------------------------------------------------------------------------------

    def _create(self, student: Student, scenario: Scenario) -> Lab:
        lab_id = self.record.lab_id(student.id, scenario.id)
        lab_dir = self.registry.lab_dir(lab_id)
        state: dict[str, Any] = {"backend_reason": f"class {self.name}"}
        lab: Lab
        if self.record.backend == "docker":
            lab = self._docker_lab(lab_dir, state, student.id, scenario.id)
        else:
            lab = LocalLab(lab_dir, state)
        try:
            lab.create(lab_spec(scenario))
        except BaseException:
            try:
                lab.destroy()
            except Exception:
                lab.remove_lab_dir()
            raise
        lab.state.update({"scenario": scenario.id, "class": self.name, "student": student.id})
        lab.save_state()
        return lab

    def ensure_lab(self, student: Student, scenario: Scenario) -> str:
        """Make sure the lab runs; returns what was done: created, started, kept or recreated."""
        if self.record.backend == "local":
            # Local labs choose (and on start may move) free port bases by looking at their siblings:
            # two at once could pick the same one.
            with self._local_lock:
                return self._ensure_lab(student, scenario)
        return self._ensure_lab(student, scenario)

    def _ensure_lab(self, student: Student, scenario: Scenario) -> str:
        lab_id = self.record.lab_id(student.id, scenario.id)
        action = "created"
        if self._lab_exists(lab_id):
            lab = self.lab(student.id, scenario.id)
            status = lab.status()
            if status.state == "running" and lab.state.get(STARTED_KEY):
                return "kept"  # its server may be down on purpose: the student is fixing it
            if status.state in ("running", "stopped"):
                # stopped, or running but cut off before its services were started: make it work
                self._start(lab)
                return "started"
            lab.destroy()
            action = "recreated"
        elif self._clear_leftovers(lab_id):
            action = "recreated"
        lab = self._create(student, scenario)
        self._start(lab)
        return action

    def _start(self, lab: Lab) -> None:
        lab.start()  # a server that refuses to start is the scenario's business, not an error here
        lab.state[STARTED_KEY] = True
        lab.save_state()

    def _clear_leftovers(self, lab_id: str) -> bool:
        """What a cut-off `up` left of a lab without its record: the folder, and a container of the
        lab's name (`Conflict. The container name ... is already in use` otherwise). Nobody could
        work in it yet (the commands find labs by their record), so it is replaced, not adopted."""
        found = False
        if self.record.backend == "docker":
            import docker

            try:
                self.client.api.remove_container(f"labsim-{lab_id}", force=True)
                found = True
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                raise LabError(
                    f"the Docker engine refused to remove the leftover container of {lab_id}: {exc}"
                ) from None
        lab_dir = self.registry.lab_dir(lab_id)
        if lab_dir.is_dir() and not (lab_dir / STATE_FILE).exists():
            _remove_leftover_dir(lab_dir)
            found = True
        return found

    def up(
        self, workers: int = DEFAULT_WORKERS, progress: Callable[[UpEvent], None] | None = None
    ) -> list[UpEvent]:
        scenarios = self.scenarios
        if self.record.backend == "docker":
            from labsim.lab.docker_backend import require_image

            require_image(self.client)
        pairs = self.record.pairs()
        total = len(pairs)
        events: list[UpEvent] = []
        lock = threading.Lock()

        def one(student: Student, sid: str) -> UpEvent:
            started = time.monotonic()
            lab_id = self.record.lab_id(student.id, sid)
            try:
                action, error = self.ensure_lab(student, scenarios[sid]), ""
            except (LabError, ClassError) as exc:
                action, error = "failed", str(exc)
            except Exception as exc:  # one broken lab never stops the class
                action, error = "failed", f"{type(exc).__name__}: {exc}"
            with lock:
                event = UpEvent(
                    len(events) + 1, total, student.id, sid, lab_id, action, time.monotonic() - started, error
                )
                events.append(event)
                if progress is not None:
                    progress(event)
            return event

        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            futures = [pool.submit(one, s, sid) for s, sid in pairs]
            for f in as_completed(futures):
                f.result()
        except KeyboardInterrupt:
            # Leaving a `with` block would wait for every queued lab (all 200 of them): drop the queue,
            # let the labs in progress finish (half-made ones would need repairing), then stop.
            pool.shutdown(wait=True, cancel_futures=True)
            with lock:
                raise UpInterrupted(list(events), total) from None
        finally:
            pool.shutdown(wait=True)
        return events

    # --- looking at labs ---------------------------------------------------------------

    def status_row(self, student: Student, sid: str) -> LabRow:
        lab_id = self.record.lab_id(student.id, sid)
        if not self._lab_exists(lab_id):
            return LabRow(student, sid, lab_id, "absent", "-", "never created; run `labsim class up` again")
        try:
            status = self.lab(student.id, sid).status()
        except LabError as exc:
            return LabRow(student, sid, lab_id, "unknown", "?", str(exc))
        server = "-" if status.state == "missing" else ("running" if status.server_running else "stopped")
        return LabRow(student, sid, lab_id, status.state, server, status.detail)

    def status(self, workers: int = DEFAULT_WORKERS) -> list[LabRow]:
        pairs = self.record.pairs()
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return list(pool.map(lambda p: self.status_row(*p), pairs))

    def check(self, student: str, scenario: str, now: float | None = None) -> list[CheckResult]:
        """Run the scenario's checks in the student's lab and note the results on the board."""
        results = list(run_scenario(self.lab(student, scenario), self.scenario(scenario)))
        self.board.record(student, scenario, results, now)
        self.board.save()  # so `class grade` knows since when, even while the dashboard runs
        return results

    def mail_log(self, student: str, scenario: str, lines: int = 200) -> list[str]:
        log = self.lab(student, scenario).logs(follow=False)
        try:
            return list(log)[-lines:]
        finally:
            log.close()

    def attach(self, student: str, scenario: str | None = None) -> int:
        sid = scenario or self.record.scenarios[0]
        return self.lab(student, sid).shell()

    # --- hints ----------------------------------------------------------------------------

    @property
    def _hints_path(self) -> Path:
        return self.store.dir(self.name) / HINTS_FILE

    def _hints(self) -> dict[str, dict[str, dict[str, int]]]:
        try:
            data = json.loads(self._hints_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def hints_taken(self, student: str, scenario: str) -> dict[str, int]:
        """How many hints of each task the student was shown (graduated: the first n)."""
        raw = self._hints().get(student, {}).get(scenario, {})
        return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def take_hint(self, student: str, scenario: str, task_id: str | None = None) -> tuple[str, int, str]:
        """Show the next hint of a task (the first one with hints left) and record it.

        Returns (task id, hint number from 1, text)."""
        self.record.student(student)
        sc = self.scenario(scenario)
        with self._hints_lock:
            data = self._hints()
            taken = data.setdefault(student, {}).setdefault(scenario, {})
            tasks = [t for t in sc.tasks if task_id in (None, t.id)]
            if not tasks:
                raise ClassError(f"scenario {scenario} has no task {task_id!r}")
            for task in tasks:
                shown = int(taken.get(task.id, 0))
                if shown < len(task.hints):
                    taken[task.id] = shown + 1
                    write_json_atomic(self._hints_path, data)
                    return task.id, shown + 1, task.hints[shown].text
        raise ClassError(
            f"no hints left for {student} in {scenario}" + (f" task {task_id}" if task_id else "")
        )

    def created_at(self, student: str, scenario: str) -> float | None:
        try:
            value = self.registry.get(self.record.lab_id(student, scenario)).state.get("created")
        except LabError:
            return None
        return float(value) if value else None

    # --- down ----------------------------------------------------------------------------

    def down(
        self, workers: int = DEFAULT_WORKERS, progress: Callable[[str], None] | None = None
    ) -> list[str]:
        """Remove exactly this class's labs (their containers and lab dirs) and its record."""
        removed: list[str] = []
        lock = threading.Lock()

        def one(student: Student, sid: str) -> None:
            lab_id = self.record.lab_id(student.id, sid)
            if not self._lab_exists(lab_id):
                # A folder a cut-off `up` left without its record: its container (if any) goes with
                # the label sweep below.
                lab_dir = self.registry.lab_dir(lab_id)
                if lab_dir.is_dir():
                    _remove_leftover_dir(lab_dir)
                    with lock:
                        removed.append(lab_id)
                        if progress is not None:
                            progress(lab_id)
                return
            self.lab(student.id, sid).destroy()
            with lock:
                removed.append(lab_id)
                if progress is not None:
                    progress(lab_id)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for f in [pool.submit(one, s, sid) for s, sid in self.record.pairs()]:
                f.result()
        if self.record.backend == "docker":
            removed.extend(self._sweep_containers(progress))
        self.store.remove(self.name)
        return removed

    def _sweep_containers(self, progress: Callable[[str], None] | None) -> list[str]:
        """Containers labelled with this class that no lab dir names (a crash while coming up)."""
        import docker

        found = self.client.api.containers(all=True, filters={"label": f"{CLASS_LABEL}={self.name}"})
        names = []
        for entry in found:
            if (entry.get("Labels") or {}).get(CLASS_LABEL) != self.name:
                continue
            name = (entry.get("Names") or ["/" + entry["Id"][:12]])[0].lstrip("/")
            try:
                self.client.api.remove_container(entry["Id"], force=True)
            except docker.errors.NotFound:
                continue
            names.append(name)
            if progress is not None:
                progress(name)
        return names


def open_class(name: str | None = None, store: ClassStore | None = None) -> ClassService:
    store = store or ClassStore()
    return ClassService(store.resolve(name), store)


def merge_roster(record: ClassRecord, students: list[Student], scenario_ids: list[str]) -> str:
    """Fold a roster into an existing class: students and scenarios are added, none removed (their
    labs hold work), a changed name follows the roster. Returns one line saying what changed, or ""
    when the roster matches: reusing a class name is never a silent merge."""
    known = {s.id: s for s in record.students}
    added = [s for s in students if s.id not in known]
    renamed = [(known[s.id].name, s) for s in students if s.id in known and known[s.id].name != s.name]
    kept = [s.id for s in record.students if s.id not in {n.id for n in students}]
    new_scenarios = [sid for sid in dict.fromkeys(scenario_ids) if sid not in record.scenarios]
    names = {s.id: s.name for _, s in renamed}
    record.students = [Student(s.id, names.get(s.id, s.name)) for s in record.students] + added
    record.scenarios += new_scenarios
    parts = []
    if added:
        parts.append(f"added {len(added)} student(s): {', '.join(s.id for s in added)}")
    if new_scenarios:
        parts.append(f"added scenario(s) {', '.join(new_scenarios)}")
    if renamed:
        parts.append("renamed " + ", ".join(f"{s.id} ({old!r} -> {s.name!r})" for old, s in renamed))
    if kept:
        parts.append(f"kept {len(kept)} student(s) not in this roster, with their labs: {', '.join(kept)}")
    if not parts:
        return ""
    return f"class {record.name} already exists; " + "; ".join(parts)


def check_cpus(client: Any, limits: Limits) -> None:
    """A CPU share above what the engine has is refused by Docker at each container's start: say it
    once, before any lab is made."""
    try:
        ncpu = int(client.info().get("NCPU", 0))
    except Exception:  # an engine that does not say: Docker itself will refuse a share too big
        return
    if ncpu and limits.cpus > ncpu:
        raise ClassUsageError(
            f"--cpus {limits.cpus:g} is more than the {ncpu} CPU(s) the Docker engine has;"
            f" give at most {ncpu} (a share like 0.5 is half a core)"
        )


def prepare_class(
    name: str,
    students: list[Student],
    scenario_ids: list[str],
    backend: str = "docker",
    limits: Limits | None = None,
    store: ClassStore | None = None,
    scenarios_root: str = "",
) -> tuple[ClassService, list[str]]:
    """The class record for `up`: a new one, or an existing one with new students and scenarios added.

    Returns the service and notes to show (what was kept from before)."""
    store = store or ClassStore()
    check_class_name(name)
    if backend not in BACKENDS:
        raise ClassError(f"unknown backend {backend!r} for a class: use docker or local")
    if not scenario_ids:
        raise ClassError("a class needs at least one scenario: --scenario ID")
    for scenario in load_scenarios(scenario_ids, scenarios_root).values():  # fail before writing anything
        if backend not in scenario.backends:
            raise ClassError(
                f"scenario {scenario.id} runs only on the {' and '.join(scenario.backends)} backend,"
                f" not on {backend}"
            )
    notes: list[str] = []
    if store.exists(name):
        record = store.load(name)
        if record.backend != backend:
            notes.append(f"class {name} runs on the {record.backend} backend; it stays there")
        merged = merge_roster(record, students, scenario_ids)
        if merged:
            notes.append(merged)
        if limits is not None:
            record.limits = limits
    else:
        record = ClassRecord(
            name,
            list(dict.fromkeys(scenario_ids)),
            students,
            backend,
            limits or Limits(),
            scenarios_root,
        )
    client = None
    if record.backend == "docker":
        # An engine that does not answer (or lacks the image) is refused before the class is recorded.
        from labsim.lab.docker_backend import connect, require_image

        client = connect()
        require_image(client)
        check_cpus(client, record.limits)
    store.save(record)
    return ClassService(record, store, client=client), notes
