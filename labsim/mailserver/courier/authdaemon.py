"""authdaemond as the lab has it: the authdaemonrc courier-authdaemon loaded when it last started.

Courier's login programs and authtest ask the running authdaemond over its socket: an edit to
authdaemonrc counts only after `service courier-authdaemon restart`, and nothing authenticates
while it is stopped (`authdaemon: s_connect() failed`). The lab has no authdaemond process, so
the service shim copies authdaemonrc aside when the unit starts or reloads, and records whether
it runs; logins and authtest read both. Without the unit's record (a bare
`labsim-mailserver --personality courier`), authdaemonrc itself is what authdaemond loaded.
"""

from __future__ import annotations

import json
import os

from labsim.mailserver.labroot import LabRoot

AUTHDAEMONRC = "/etc/courier/authdaemonrc"
STATE_DIR = "/var/lib/labsim"
UNIT_STATE = f"{STATE_DIR}/courier-authdaemon.service.json"  # tools/service.py's Unit.state_file
LOADED_RC = "/var/lib/labsim/courier-authdaemon.authdaemonrc"
# What a login program logs when authdaemond is not running, around its LOGIN FAILED line.
NO_SOCKET = "authdaemon: s_connect() failed: No such file or directory"
AUTH_ERROR = "authentication error: No such file or directory"


def unit_state(root: LabRoot) -> dict[str, object] | None:
    """The unit's record, or None when no unit manages authdaemond in this lab."""
    try:
        data = json.loads(root.path(UNIT_STATE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running(root: LabRoot) -> bool:
    state = unit_state(root)
    if state is None:
        # Never started. In a lab whose units the shim runs, that means not running (a lab may
        # start only courier-imap); a bare server with no units has its authdaemond built in.
        return not _units_recorded(root)
    return bool(state.get("active")) and not state.get("stopped")


def _units_recorded(root: LabRoot) -> bool:
    try:
        return any(p.name.endswith(".service.json") for p in root.path(STATE_DIR).iterdir())
    except OSError:
        return False


def loaded_path(root: LabRoot) -> str:
    """Where to read the authdaemonrc authdaemond runs with (lab path)."""
    if unit_state(root) is not None and root.path(LOADED_RC).is_file():
        return LOADED_RC
    return AUTHDAEMONRC


def record_start(root: LabRoot) -> None:
    """courier-authdaemon (re)started: what authdaemonrc says now is what it runs with."""
    target = root.path(LOADED_RC)
    try:
        data = root.path(AUTHDAEMONRC).read_bytes()
    except OSError:
        target.unlink(missing_ok=True)  # nothing to load: the modules list is empty
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def fingerprint(root: LabRoot) -> tuple[object, ...]:
    """Changes whenever what a login would be answered with may have. Asked at every login, so
    it only stats: the unit's record (rewritten at each start and stop), the copy it loaded, the
    file itself (a bare server's), and the record directory (a unit's first record appears)."""
    out: list[object] = []
    for path in (UNIT_STATE, LOADED_RC, AUTHDAEMONRC, STATE_DIR):
        try:
            st = root.path(path).stat()
            out += [st.st_mtime_ns, st.st_size, st.st_ino]
        except OSError:
            out += [None]
    return tuple(out)
