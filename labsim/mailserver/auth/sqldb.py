"""The sql passdb/userdb as far as the lab can see it: the auth process reading its args file.

Dovecot's auth process reads the file named by `args` (Debian's auth-sql.conf.ext points at
/etc/dovecot/dovecot-sql.conf.ext) when it starts, and dies when it cannot use it. The lab
has no SQL server and no driver plugin (Debian's dovecot-mysql, -pgsql, -sqlite), so a
readable file ends the same way a real host without those packages does: every sql passdb
or userdb is a fatal at auth start, with the sentence a learner needs to find the cause.
Observed on Debian 12's 2.3.19 (docs/dovecot-observed.md).
"""

from __future__ import annotations

import os

from labsim.mailserver.labroot import LabRoot


def sql_init_fatal(root: LabRoot, args: str) -> str:
    """The `auth: Fatal:` message of an sql passdb/userdb whose args name `args`."""
    path = args.strip()
    try:
        text = root.path(path).read_text(errors="replace")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return f"sql {path}: Can't open configuration file {path}: {reason}"
    driver = ""
    for line in text.splitlines():
        key, eq, value = line.split("#", 1)[0].partition("=")
        if eq and key.strip() == "driver":
            driver = value.strip()
    if not driver:
        return f"sql: driver not set in configuration file {path}"
    return f"sql: Unknown database driver '{driver}'"
