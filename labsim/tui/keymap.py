"""Every binding has an id, so a learner can move keys in keymap.toml without touching code.

`LABSIM_HOME/keymap.toml` (or the platform data dir) holds `binding-id = "key[,key]"` lines,
e.g. `scenario.run_checks = "f5,c"`; Textual's `App.set_keymap` applies them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.binding import Binding, BindingType

KEYMAP_FILE = "keymap.toml"

APP_BINDINGS: list[BindingType] = [
    Binding("q", "quit", "Quit", id="app.quit"),
    Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit_anywhere"),
    # Notifications go on ctrl+l (a terminal's "clear"), or on a click on one (Textual's Toast).
    # Not on escape: a check run, a shell or a stop ends with a notification, so escape-first
    # would turn "c, esc" into "c, esc, esc", and the next key, meant for home, would land on
    # the scenario (enter opened a transcript). Posting, a Textual app, binds no key for it.
    Binding(
        "ctrl+l",
        "dismiss_notifications",
        "Dismiss",
        show=False,
        priority=True,
        id="app.dismiss_notifications",
    ),
]

HOME_BINDINGS: list[BindingType] = [
    Binding("slash", "filter", "Filter", id="home.filter"),
    Binding("down", "to_list", "List", show=False, id="home.to_list"),
    Binding("enter", "open", "Open", id="home.open", show=True),
    Binding("escape", "clear_filter", "Clear filter", show=False, id="home.clear_filter"),
    Binding("e", "exam", "Exam", id="home.exam"),
]

# The scenario list's own Enter, shown in the footer (OptionList's hidden one would shadow home.open).
SCENARIO_LIST_BINDINGS: list[BindingType] = [
    Binding("enter", "select", "Open", id="home.list_open"),
]

SCENARIO_BINDINGS: list[BindingType] = [
    Binding("s", "shell", "Shell", id="scenario.shell"),
    Binding("c", "run_checks", "Check", id="scenario.run_checks"),
    Binding("t", "transcript", "Transcript", id="scenario.transcript"),
    Binding("h", "hint", "Hint", id="scenario.hint"),
    Binding("l", "mail_log", "Log", id="scenario.mail_log"),
    Binding("r", "reset", "Reset", id="scenario.reset"),
    Binding("v", "reveal", "Solution", id="scenario.reveal"),
    # One key, two bindings: the footer says what x will do (check_action shows one of them).
    Binding("x", "stop_lab", "Stop", id="scenario.stop_lab"),
    Binding("x", "start_lab", "Start", id="scenario.start_lab"),
    # During an exam t, h and v only say why not: out of the footer (check_action picks these then).
    Binding("t", "exam_refuse('transcript')", show=False, id="scenario.exam_transcript"),
    Binding("h", "exam_refuse('hint')", show=False, id="scenario.exam_hint"),
    Binding("v", "exam_refuse('solution')", show=False, id="scenario.exam_solution"),
    Binding("escape", "back", "Back", show=False, id="scenario.back"),
]

EXAM_BINDINGS: list[BindingType] = [
    Binding("f", "finish", "Finish exam", id="exam.finish"),
    Binding("escape", "leave", "Leave", id="exam.leave"),
]

MODAL_BINDINGS: list[BindingType] = [
    Binding("escape", "close", "Close", id="modal.close"),
    Binding("q", "close", "Close", show=False, id="modal.close_q"),
]

CONFIRM_BINDINGS: list[BindingType] = [
    Binding("y", "confirm", "Yes", id="confirm.yes"),
    Binding("n", "cancel", "No", id="confirm.no"),
    Binding("escape", "cancel", "Cancel", show=False, id="confirm.cancel"),
]


def all_binding_ids() -> set[str]:
    groups = (
        APP_BINDINGS,
        HOME_BINDINGS,
        SCENARIO_LIST_BINDINGS,
        SCENARIO_BINDINGS,
        EXAM_BINDINGS,
        MODAL_BINDINGS,
        CONFIRM_BINDINGS,
    )
    return {b.id for group in groups for b in group if isinstance(b, Binding) and b.id}


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """(keymap, problems): unknown ids and unreadable files are reported, never fatal."""
    if path is None:
        from labsim.paths import data_home

        path = data_home() / KEYMAP_FILE
    if not path.is_file():
        return {}, []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: ignored ({exc})"]
    known = all_binding_ids()
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for key, value in data.items():
        if key not in known:
            problems.append(f"{path}: unknown binding id {key!r}")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f'{path}: {key} needs a key name in quotes, e.g. "f5"')
        else:
            keymap[key] = value.strip()
    return keymap, problems
