"""userdb drivers: passwd, passwd-file, static, sql (a start-up fatal); and the mail-process UID checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from labsim.mailserver.auth import unixdb
from labsim.mailserver.auth.passdb import PassdbInitError, parse_args, parse_fields, read_passwd_file
from labsim.mailserver.auth.request import AuthLogger, Lookup
from labsim.mailserver.auth.sqldb import sql_init_fatal
from labsim.mailserver.auth.vars import expand
from labsim.mailserver.config.model import AuthDb, DovecotSettings
from labsim.mailserver.labroot import LabRoot


@dataclass
class UserdbAnswer:
    found: bool
    fields: dict[str, str] = field(default_factory=dict)  # uid, gid, home, mail, ... as Dovecot names them
    failed: bool = False  # internal failure (bad config), not "unknown user"


NO_VARIABLE_PATHS = "User iteration isn't currently supported with %variable paths"


class Userdb:
    driver = ""
    # Whether `doveadm user '*'` can list this userdb's users (Dovecot's iterate_init).
    can_iterate = False

    def __init__(self, db: AuthDb, root: LabRoot, log: AuthLogger) -> None:
        self.db = db
        self.root = root
        self.log = log
        self.opts, self.words = parse_args(db.args)

    def lookup(self, lookup: Lookup) -> UserdbAnswer:
        raise NotImplementedError

    def iterate(self, settings: DovecotSettings, mask: str, alone: bool) -> tuple[list[str], bool]:
        """(user names in the userdb's own order, False when the listing failed and was logged).

        `mask` is only what the request is named in log lines (the auth process gets the mask as
        its user); `alone` is true when this is the only userdb configured.
        """
        return [], False

    def _iter_error(self, mask: str, message: str) -> None:
        # Iteration runs in an auth-worker, which names the request after the mask.
        prefix, head = self.log.worker_prefix()
        self.log.error(f"{head}{self.driver}({mask}): {message}", prefix)


class PasswdUserdb(Userdb):
    driver = "passwd"
    can_iterate = True

    def iterate(self, settings: DovecotSettings, mask: str, alone: bool) -> tuple[list[str], bool]:
        # getpwent() order; accounts outside the valid UID/GID ranges are daemons, not mail users.
        return [pw.name for pw in unixdb.read_passwd(self.root) if _valid_ids(settings, pw.uid, pw.gid)], True

    def lookup(self, lookup: Lookup) -> UserdbAnswer:
        pw = unixdb.getpwnam(self.root, lookup.user)
        if pw is None:
            self.log.info(self.driver, lookup, "unknown user")
            return UserdbAnswer(False)
        return UserdbAnswer(
            True, {"system_groups_user": pw.name, "uid": str(pw.uid), "gid": str(pw.gid), "home": pw.home}
        )


class PasswdFileUserdb(Userdb):
    driver = "passwd-file"
    can_iterate = True

    def iterate(self, settings: DovecotSettings, mask: str, alone: bool) -> tuple[list[str], bool]:
        path = self.words[-1] if self.words else ""
        if _has_variables(path):
            self._iter_error(
                mask, "passwd-file: User iteration isn't currently supported with %variable paths"
            )
            return [], False
        path = path.replace("%%", "%")
        try:
            data = self.root.path(path).read_bytes()
        except OSError as exc:
            # Dovecot 2.3.19 prints a stale errno here; the lab says what really went wrong.
            self._iter_error(mask, f"open({path}) failed: {exc.strerror or exc}")
            return [], False
        names: list[str] = []
        for line in data.decode("utf-8", "surrogateescape").split("\n"):
            line = line.removesuffix("\r")
            if not line or line[0] in ":#":
                continue  # no user name, or a comment
            if not alone and line.count(":") < 2:
                # A passdb-only line (user:password) is skipped when other userdbs could answer.
                continue
            names.append(line.split(":", 1)[0])
        return names, True

    def lookup(self, lookup: Lookup) -> UserdbAnswer:
        if not self.words:
            self.log.error("passwd-file: no passwd file given in args")
            return UserdbAnswer(False, failed=True)
        path = expand(self.words[-1], lookup.vars())
        users = read_passwd_file(self.root, path, self.log)
        if users is None:
            return UserdbAnswer(False, failed=True)
        name = expand(self.opts.get("username_format", "%u"), lookup.vars())
        self.log.dbg(self.driver, lookup, f"lookup: user={name} file={path}")
        entry = users.get(name)
        if entry is None:
            self.log.info(self.driver, lookup, "unknown user")
            return UserdbAnswer(False)
        out: dict[str, str] = {}
        if entry.uid:
            out["uid"] = str(unixdb.resolve_uid(self.root, entry.uid))
        if entry.gid:
            out["gid"] = str(unixdb.resolve_gid(self.root, entry.gid))
        if entry.home:
            out["home"] = entry.home
        _, userdb_fields = parse_fields(entry.extra)
        out.update(userdb_fields)
        return UserdbAnswer(True, out)


class StaticUserdb(Userdb):
    driver = "static"

    @property
    def allow_all_users(self) -> bool:
        return self.opts.get("allow_all_users", "no").lower() in ("yes", "y")

    def lookup(self, lookup: Lookup) -> UserdbAnswer:
        out: dict[str, str] = {}
        for tok in expand(self.db.args, lookup.vars()).split():
            key, eq, value = tok.partition("=")
            if not eq or key == "allow_all_users":
                continue
            if key == "uid":
                uid = unixdb.resolve_uid(self.root, value)
                if uid is None:
                    self.log.error(f"userdb static: Invalid uid: {value}")
                    return UserdbAnswer(False, failed=True)
                value = str(uid)
            elif key == "gid":
                gid = unixdb.resolve_gid(self.root, value)
                if gid is None:
                    self.log.error(f"userdb static: Invalid gid: {value}")
                    return UserdbAnswer(False, failed=True)
                value = str(gid)
            out[key] = value
        return UserdbAnswer(True, out)


class SqlUserdb(Userdb):
    """Like the sql passdb: the lab has no SQL driver, so starting one is the auth fatal."""

    driver = "sql"

    def __init__(self, db: AuthDb, root: LabRoot, log: AuthLogger) -> None:
        super().__init__(db, root, log)
        raise PassdbInitError(sql_init_fatal(root, db.args))


DRIVERS: dict[str, type[Userdb]] = {
    "passwd": PasswdUserdb,
    "passwd-file": PasswdFileUserdb,
    "static": StaticUserdb,
    "sql": SqlUserdb,
}


def create(db: AuthDb, root: LabRoot, log: AuthLogger) -> Userdb:
    return DRIVERS[db.driver.lower()](db, root, log)


def _has_variables(path: str) -> bool:
    """A %variable in a passwd-file path (`%%` is a plain percent sign)."""
    i = 0
    while i < len(path) - 1:
        if path[i] == "%":
            if path[i + 1] != "%":
                return True
            i += 1
        i += 1
    return False


def _valid_ids(settings: DovecotSettings, uid: int, gid: int) -> bool:
    """first_valid_uid..last_valid_uid and the same for GIDs (a last_* of 0 means no limit)."""
    if uid < settings.first_valid_uid or (settings.last_valid_uid and uid > settings.last_valid_uid):
        return False
    return not (gid < settings.first_valid_gid or (settings.last_valid_gid and gid > settings.last_valid_gid))


def mail_access_error(settings: DovecotSettings, uid: int, gid: int) -> str | None:
    """What the mail process (imap, pop3) logs when it refuses a userdb answer."""
    if uid == 0:
        return "Invalid settings in userdb: userdb returned 0 as uid"
    if uid < 0:
        return "Invalid settings in userdb: userdb didn't return uid (and mail_uid isn't set)"
    if uid < settings.first_valid_uid:
        return (
            f"Mail access for users with UID {uid} not permitted "
            "(see first_valid_uid in config file, uid from userdb lookup)."
        )
    if settings.last_valid_uid and uid > settings.last_valid_uid:
        return (
            f"Mail access for users with UID {uid} not permitted "
            "(see last_valid_uid in config file, uid from userdb lookup)."
        )
    if gid < 0:
        return "Invalid settings in userdb: userdb didn't return gid (and mail_gid isn't set)"
    if gid < settings.first_valid_gid:
        return (
            f"Mail access for users with GID {gid} not permitted "
            "(see first_valid_gid in config file, gid from userdb lookup)."
        )
    if settings.last_valid_gid and gid > settings.last_valid_gid:
        return (
            f"Mail access for users with GID {gid} not permitted "
            "(see last_valid_gid in config file, gid from userdb lookup)."
        )
    return None
