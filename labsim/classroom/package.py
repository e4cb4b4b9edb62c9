"""An assignment file: scenarios and a manifest in one zip, made by `labsim assignment pack`.

    manifest.json            labsim version, each scenario's id, version and checks hash,
                             and a hash of the checks code that graded them
    scenarios/<id>/...       each scenario folder as it was packed, without its solution:
                             the `solution:` section of scenario.yaml and files/ only it uses
                             stay with the instructor (grading and hints need neither)

A student's labsim unpacks it once (under the user data dir, by the file's
own hash) and refuses a file whose scenarios do not match its manifest.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import labsim.checks
from labsim import __version__, paths
from labsim.classroom.errors import ClassError
from labsim.classroom.outpath import check_out_file
from labsim.scenario.errors import ScenarioError
from labsim.scenario.loader import SCENARIO_FILE, load_scenario
from labsim.scenario.model import Scenario

MANIFEST = "manifest.json"
FORMAT = "labsim-assignment"
FORMAT_VERSION = 1
MAX_MEMBER_BYTES = 16 * 1024 * 1024


def checks_code_hash() -> str:
    """A hash of the checks' Python code: two grades with the same hash were judged by the same probes."""
    root = Path(labsim.checks.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(folder: Path) -> Scenario:
    try:
        return load_scenario(folder)
    except ScenarioError as exc:
        first = exc.issues[0] if exc.issues else "unknown problem"
        more = (
            f" (and {len(exc.issues) - 1} more; `labsim validate` lists them)" if len(exc.issues) > 1 else ""
        )
        raise ClassError(f"{first}{more}") from None


def _members(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in p.parts)
    )


_TOP_KEY = re.compile(r"^[^\s#]")


def strip_solution(text: str) -> str:
    """scenario.yaml without its top-level `solution:` section, the rest kept as written (comments,
    order, line breaks). The section runs to the next top-level key."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    inside = False
    for line in lines:
        if _TOP_KEY.match(line):
            inside = line.startswith("solution:")
        if not inside:
            out.append(line)
    return "".join(out)


def _solution_only_files(scenario: Scenario) -> set[str]:
    """files/ members only the solution reads (the setup's own files stay: the lab is made from them)."""
    setup = {f.source for f in scenario.setup.files if f.source}
    return {f.source for f in scenario.solution.files if f.source and f.source not in setup}


def _stripped_yaml(folder: Path, scenario: Scenario) -> str:
    text = strip_solution((folder / SCENARIO_FILE).read_text(encoding="utf-8"))
    # The stripped file must still be the same scenario (same checks, hints, setup), without a solution.
    with tempfile.TemporaryDirectory(prefix=".labsim-pack-") as tmp:
        copy = Path(tmp) / scenario.id
        shutil.copytree(folder, copy)
        (copy / SCENARIO_FILE).write_text(text, encoding="utf-8")
        try:
            again = load_scenario(copy)
        except ScenarioError as exc:
            first = exc.issues[0] if exc.issues else "it no longer loads"
            raise ClassError(f"{folder}: cannot pack it without its solution section ({first})") from None
    if again.checks_hash() != scenario.checks_hash() or again.solution.files or again.solution.commands:
        raise ClassError(f"{folder}: cannot pack it without its solution section (it changed what is graded)")
    return text


def pack(folders: list[Path], out: Path) -> dict[str, Any]:
    """Validate the scenario folders and write them with a manifest to `out`; returns the manifest."""
    if not folders:
        raise ClassError("give at least one scenario folder to pack")
    check_out_file(out, "the assignment file")  # before anything is validated or written
    scenarios: list[tuple[Path, Scenario]] = []
    for folder in folders:
        if folder.name == SCENARIO_FILE:
            folder = folder.parent
        if not (folder / SCENARIO_FILE).is_file():
            raise ClassError(f"{folder}: not a scenario folder (it has no {SCENARIO_FILE})")
        scenario = _load(folder)
        if any(s.id == scenario.id for _, s in scenarios):
            raise ClassError(f"{folder}: scenario {scenario.id} is already in the assignment")
        scenarios.append((folder, scenario))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "labsim_version": __version__,
        "checks_code_hash": checks_code_hash(),
        "packed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "scenarios": [
            {
                "id": s.id,
                "version": s.version,
                "title": s.title,
                "checks_hash": s.checks_hash(),
                "max_points": s.max_points,
            }
            for _, s in scenarios
        ],
    }
    tmp = out.with_name(out.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            for folder, s in scenarios:
                hidden = {f"files/{name}" for name in _solution_only_files(s)}
                for path in _members(folder):
                    member = path.relative_to(folder).as_posix()
                    if member in hidden:
                        continue
                    if member == SCENARIO_FILE:
                        z.writestr(f"scenarios/{s.id}/{member}", _stripped_yaml(folder, s))
                    else:
                        z.write(path, f"scenarios/{s.id}/{member}")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ClassError(f"cannot write the assignment file {out}: {exc.strerror or exc}") from None
    return manifest


@dataclass
class Assignment:
    file: Path
    digest: str  # sha256 of the file
    manifest: dict[str, Any]
    scenarios: list[Scenario]

    @property
    def short(self) -> str:
        return self.digest[:8]

    @property
    def packed_checks_code(self) -> str:
        return str(self.manifest.get("checks_code_hash", ""))

    def lab_id(self, scenario: Scenario) -> str:
        return f"assignment-{self.short}-{scenario.id}"


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in name


def _extract(file: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(file) as z:
            names = z.namelist()
            if MANIFEST not in names:
                raise ClassError(
                    f"{file}: not a labsim assignment (no {MANIFEST}); make one with `labsim assignment pack`"
                )
            for info in z.infolist():
                if not _safe_name(info.filename) or info.file_size > MAX_MEMBER_BYTES:
                    raise ClassError(
                        f"{file}: refusing the member {info.filename!r} (outside the assignment or too big)"
                    )
            tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
            try:
                z.extractall(tmp)
                tmp.replace(dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except zipfile.BadZipFile:
        raise ClassError(f"{file}: not a labsim assignment (not a zip file)") from None
    except FileNotFoundError:
        raise ClassError(f"{file}: no such assignment file") from None


def open_assignment(file: Path, home: Path | None = None) -> Assignment:
    """Unpack (once) and check an assignment file."""
    try:
        digest = file_digest(file)
    except FileNotFoundError:
        raise ClassError(f"{file}: no such assignment file") from None
    except OSError as exc:
        raise ClassError(f"{file}: cannot read it ({exc.strerror})") from None
    dest = (home or paths.data_home()) / "assignments" / digest[:16]
    if not (dest / MANIFEST).is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        _extract(file, dest)
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClassError(f"{file}: its {MANIFEST} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ClassError(f"{file}: not a labsim assignment (its {MANIFEST} has another format)")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ClassError(f"{file}: made by a newer labsim ({manifest.get('labsim_version')}); upgrade labsim")
    scenarios = []
    for entry in manifest.get("scenarios") or []:
        sid = str(entry.get("id", ""))
        folder = dest / "scenarios" / sid
        if not sid or not _safe_name(sid) or not (folder / SCENARIO_FILE).is_file():
            raise ClassError(f"{file}: the manifest names scenario {sid!r}, which is not in the file")
        scenario = _load(folder)
        if scenario.checks_hash() != entry.get("checks_hash") or scenario.version != str(
            entry.get("version")
        ):
            raise ClassError(
                f"{file}: scenario {sid} does not match the manifest (changed after packing); "
                "ask for a new copy"
            )
        scenarios.append(scenario)
    if not scenarios:
        raise ClassError(f"{file}: the assignment holds no scenario")
    return Assignment(file, digest, manifest, scenarios)
