"""`doveadm log errors|find|reopen|test` for the lab.

Real Dovecot's log process keeps the last 1,000 warnings and errors (and
fatals, panics) it was sent since the server started, and `doveadm log
errors` reads them from <base_dir>/log-errors. The lab's server has no log
process: the same lines are in its log (log_path, or /var/log/mail.log in
syslog's form), so they are read back from there, from the server's last
`starting up` line on, and shown as the log process shows them:
`Dec 06 16:25:26 Error: auth: <text>`. What doveadm itself logs never passes
the log process, so its lines are left out.
"""

from __future__ import annotations

import re
import sys
import time

from labsim.mailserver.log import SYSLOG_FILE, DovecotLog
from labsim.mailserver.tools.doveadm import (
    EX_OK,
    EX_USAGE,
    Context,
    _base_dir,
    _Fail,
    _fatal,
    _getopt,
    _master_pid,
    _no_arguments,
)

LOG_USAGE = (
    "usage: doveadm [-Dv] [-f <formatter>] log <command> [<args>]\n"
    "  errors       [-s <min_timestamp>]\n"
    "  find         [<dir>]\n"
    "  reopen       \n"
    "  test         \n"
)
ERROR_LEVELS = ("Warning", "Error", "Fatal", "Panic")
FIND_LEVELS = ("Debug", "Info", "Warning", "Error", "Fatal")
KEEP = 1000  # the log process's error buffer holds this many
SYSLOG_DIR = "/var/log"

_TS = r"(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)"
_LEVEL = r"(?P<level>Debug|Info|Warning|Error|Fatal|Panic)"
# `<ts> <prefix>: <Level>: <text>` (log_path) and `<ts> <host> <ident>: <prefix>: [<Level>: ]<text>` (syslog).
_FILE_LINE = re.compile(rf"^{_TS} (?P<prefix>[^ :]+): {_LEVEL}: (?P<text>.*)$")
_SYSLOG_LINE = re.compile(rf"^{_TS} \S+ [^ :]+: (?P<prefix>[^ :]+): (?:{_LEVEL}: )?(?P<text>.*)$")
_STARTUP = re.compile(r"master: (?:Info: )?Dovecot v\S+ .*starting up")


def run(ctx: Context, args: list[str]) -> int:
    sub, rest = (args[0], args[1:]) if args else ("", [])
    if sub == "errors":
        return cmd_errors(ctx, rest)
    if sub == "find":
        return cmd_find(ctx, rest)
    if sub == "reopen":
        return cmd_reopen(ctx, rest)
    if sub == "test":
        return cmd_test(ctx, rest)
    sys.stderr.write(LOG_USAGE)
    return EX_USAGE


def cmd_errors(ctx: Context, args: list[str]) -> int:
    opts, words = _getopt("errors", args, "s:")
    if words:
        raise _Fail(EX_USAGE, f"Error: Extraneous arguments found: {' '.join(words)}")
    since_text = next((v for k, v in reversed(opts) if k == "s"), "0")
    since = int(since_text) if since_text.isdigit() else 0  # doveadm reads a bad number as 0
    base_dir = _base_dir(ctx)
    if _master_pid(ctx) is None:
        socket_path = f"{base_dir}/log-errors"
        why = "Connection refused" if ctx.root.path(socket_path).exists() else "No such file or directory"
        raise _fatal(f"net_connect_unix({socket_path}) failed: {why}")
    for stamp, level, prefix, text in logged_errors(ctx)[-KEEP:]:
        if _epoch(stamp) >= since:
            print(f"{stamp} {level}: {prefix}: {text}")
    return EX_OK


def logged_errors(ctx: Context) -> list[tuple[str, str, str, str]]:
    """(timestamp, level, prefix, text) of the warnings and worse the running server has logged."""
    settings = ctx.settings()
    target = settings.log_path or "syslog"
    syslog = target == "syslog"
    if target.startswith("/dev/"):
        return []  # stderr and the like: nothing to read back
    try:
        data = ctx.root.path(SYSLOG_FILE if syslog else target).read_bytes()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    start = max((i for i, line in enumerate(lines) if _STARTUP.search(line)), default=-1)
    out: list[tuple[str, str, str, str]] = []
    pattern = _SYSLOG_LINE if syslog else _FILE_LINE
    for line in lines[start + 1 :]:
        m = pattern.match(line)
        if m is None or not m.group("level") or m.group("level") not in ERROR_LEVELS:
            continue
        if m.group("prefix").startswith("doveadm"):
            continue  # doveadm logs straight to the file, past the log process
        out.append((m.group("ts"), m.group("level"), m.group("prefix"), m.group("text")))
    return out


def _epoch(stamp: str) -> int:
    """A log timestamp (no year) as seconds since the epoch: this year, or last year if in the future."""
    now = time.time()
    year = time.localtime(now).tm_year
    try:
        parsed = time.mktime(time.strptime(f"{year} {stamp}", "%Y %b %d %H:%M:%S"))
        if parsed > now + 86400:
            parsed = time.mktime(time.strptime(f"{year - 1} {stamp}", "%Y %b %d %H:%M:%S"))
    except (ValueError, OverflowError):
        return 0
    return int(parsed)


def cmd_find(ctx: Context, args: list[str]) -> int:
    _opts, words = _getopt("find", args, "")
    if len(words) > 1:
        raise _Fail(EX_USAGE, f"Error: Extraneous arguments found: {' '.join(words[1:])}")
    settings = ctx.settings()
    log_path = settings.log_path or "syslog"
    if log_path != "syslog":
        info = settings.info_log_path or log_path
        where = {"Debug": settings.debug_log_path or info, "Info": info}
        for level in FIND_LEVELS:
            print(f"{level}: {where.get(level, log_path)}")
        return EX_OK
    # With syslog, the real doveadm looks for its test lines in the files under the directory;
    # the lab's syslog is /var/log/mail.log, which gets every level.
    directory = words[0] if words else SYSLOG_DIR
    print(f"Looking for log files from {directory}")
    found = directory.rstrip("/") == SYSLOG_DIR and ctx.root.path(SYSLOG_FILE).exists()
    for level in FIND_LEVELS:
        print(f"{level}: {SYSLOG_FILE if found else 'Not found'}")
    return EX_OK


def cmd_reopen(ctx: Context, args: list[str]) -> int:
    _no_arguments("reopen", args)
    if _master_pid(ctx) is None:
        raise _fatal(f"Dovecot is not running (read from {_base_dir(ctx)}/master.pid)")
    return EX_OK  # the lab's server opens its log for every line: nothing to reopen


def cmd_test(ctx: Context, args: list[str]) -> int:
    _no_arguments("test", args)
    settings = ctx.settings()
    log = DovecotLog(ctx.root, stderr=None)
    log.configure(settings.log_path, settings.info_log_path, settings.debug_log_path)
    now = int(time.time())
    for level in FIND_LEVELS:
        log.log(level, "doveadm", f"This is Dovecot's {level.lower()} log ({now})")
    return EX_OK
