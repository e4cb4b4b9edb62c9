"""A scenario's setup as a LabSpec, so that `LabRegistry().create(lab_spec(scenario))` builds its lab."""

from __future__ import annotations

from labsim.lab.model import (
    ExecResult,
    FileSpec,
    GroupSpec,
    Lab,
    LabError,
    LabSpec,
    MailboxSpec,
    MessageSpec,
    UserSpec,
)
from labsim.scenario.model import FileSetup, Scenario

# Services Lab.start() starts, per personality: what Debian starts after installing the packages.
SERVICES = {"dovecot": ["dovecot"], "courier": ["courier-authdaemon", "courier-imap", "courier-pop"]}


def _file(scenario: Scenario, f: FileSetup) -> FileSpec:
    content = f.content
    if content is None:
        if not f.source or scenario.files_dir is None:
            raise LabError(f"scenario {scenario.id}: file {f.path} has neither content nor a source to copy")
        source = (scenario.files_dir / f.source).resolve()
        if scenario.files_dir.resolve() not in source.parents:
            raise LabError(f"scenario {scenario.id}: file source {f.source!r} is outside its files/ folder")
        try:
            content = source.read_text()
        except OSError as exc:
            raise LabError(f"scenario {scenario.id}: cannot read {source}: {exc.strerror}") from exc
    return FileSpec(f.path, content, f.mode, f.owner, f.group)


def lab_spec(scenario: Scenario) -> LabSpec:
    setup = scenario.setup
    mailboxes = []
    for m in setup.mailboxes:
        generated = (m.count or 0) if m.messages else (3 if m.count is None else m.count)
        custom = [MessageSpec(x.subject, x.sender, x.to, x.date, x.body) for x in m.messages]
        mailboxes.append(
            MailboxSpec(m.user, generated, m.format, m.location, custom=custom, folders=list(m.folders))
        )
    return LabSpec(
        name=scenario.id,
        users=[UserSpec(u.name, u.password, u.uid, u.home, u.shell, list(u.groups)) for u in setup.users],
        groups=[GroupSpec(g.name, g.gid, list(g.members)) for g in setup.groups],
        files=[_file(scenario, f) for f in setup.files],
        mailboxes=mailboxes,
        commands=list(setup.commands),
        dovecot_defaults=scenario.personality == "dovecot",
        courier_defaults=scenario.personality == "courier",
        services=list(setup.services) or SERVICES.get(scenario.personality, []),
    )


def apply_solution(lab: Lab, scenario: Scenario) -> list[ExecResult]:
    """Do what the scenario's reference solution does: write its files, then run its commands."""
    for f in scenario.solution.files:
        spec = _file(scenario, f)
        lab.write_file(
            spec.path, spec.content, spec.mode, spec.owner + (f":{spec.group}" if spec.group else "")
        )
    return [lab.exec(["sh", "-c", line]) for line in scenario.solution.commands]
