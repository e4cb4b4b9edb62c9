"""dovecot.conf 2.3 syntax -> a Section tree, with doveconf's errors and warnings.

Handles comments, quoting, line continuation, sections and their merging,
`!include`/`!include_try` (relative to the including file, globs sorted),
`key = $key more` self-references, `key = <file`, protocol/local/remote
filters, and the conversions doveconf makes for 1.x-era settings (each one
announced by a warning in doveconf's words).
"""

from __future__ import annotations

import glob
import posixpath
from dataclasses import dataclass, field

from labsim.mailserver.config import values
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.config.settings_table import (
    FILTER_KINDS,
    FOREIGN_SETTINGS,
    SECTION_KINDS,
    TOP_SECTIONS,
    defaults,
    top_types,
)
from labsim.mailserver.config.tree import Section, Setting
from labsim.mailserver.labroot import LabRoot

MAX_INCLUDE_DEPTH = 20
# Settings the auth process owns besides auth_*: local/remote blocks may not set them.
AUTH_PROCESS_SETTINGS = frozenset(
    {
        "base_dir",
        "verbose_proctitle",
        "first_valid_uid",
        "last_valid_uid",
        "first_valid_gid",
        "last_valid_gid",
        "ssl_client_ca_dir",
        "ssl_client_ca_file",
    }
)
# 1.x names doveconf drops without a word when they are empty.
DROPPED_WHEN_EMPTY = frozenset({"ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_listen"})
NOTE_WARNING = "NOTE: You can get a new clean config file with: doveconf -Pn > dovecot-new.conf"


@dataclass
class _Frame:
    mode: str  # "root", "filter", "section", "subfilter", "auth1x", "socket", "client", "ignore"
    section: Section  # where settings land (for auth1x and ignore: the enclosing scope)
    kind: str
    path: str
    line: int
    # 1.x `socket listen { client { path mode user group } }`: settings seen before `path`
    pending: dict[str, Setting] = field(default_factory=dict)
    listener: Section | None = None


def check_value(typ: str, value: str) -> None:
    """Raise ValueError with doveconf's reason when `value` is not a valid `typ`."""
    if typ == "bool":
        values.parse_bool(value)
    elif typ == "uint":
        values.parse_uint(value)
    elif typ == "size":
        values.parse_size(value)
    elif typ == "time":
        values.parse_time(value)
    elif typ == "port":
        values.parse_port(value)
    elif typ == "octal":
        values.parse_octal(value)
    elif typ.startswith("enum:") and value not in typ.split(":")[1:]:
        raise ValueError(f"Invalid value: {value}")


def _unquote(text: str) -> tuple[str, bool]:
    """A possibly quoted token; returns (text, was_quoted). Anything after the closing quote is dropped."""
    if text[:1] not in ('"', "'"):
        return text, False
    quote = text[0]
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), True
        out.append(ch)
        i += 1
    # No closing quote: doveconf takes the text as written.
    return text, False


class Parser:
    def __init__(self, root: LabRoot, warnings: list[str] | None = None) -> None:
        self.root = root
        self.tree = Section("")
        self.warnings: list[str] = warnings if warnings is not None else []
        self.files: list[str] = []
        self._stack: list[_Frame] = [_Frame("root", self.tree, "", "", 0)]
        self._including: list[str] = []
        self._noted = False
        self._filter_first: dict[str, tuple[str, int]] = {}
        self._types = top_types()

    # -- files -------------------------------------------------------------

    def parse_main(self, lab_path: str, shown: str, allow_open: bool = False) -> Section:
        """Parse the main file; `allow_open` keeps what was read when a `}` is missing."""
        self._parse_file(lab_path, shown, None)
        if len(self._stack) > 1 and not allow_open:
            frame = self._stack[-1]
            raise ConfigError(f"Missing '}}' (section started at {frame.path}:{frame.line})", shown)
        return self.tree

    def _read(self, lab_path: str, shown: str, where: tuple[str, int] | None) -> str:
        host = self.root.path(lab_path)
        try:
            data = host.read_bytes()
        except (OSError, ValueError) as exc:
            strerror = exc.strerror if isinstance(exc, OSError) else None
            reason = f"open({shown}) failed: {strerror or 'No such file or directory'}"
            if where is None:
                raise ConfigError(reason) from None
            raise ConfigError(reason, where[0], where[1]) from None
        return data.decode("utf-8", "replace")

    def _parse_file(self, lab_path: str, shown: str, where: tuple[str, int] | None) -> None:
        if lab_path in self._including:
            assert where is not None
            raise ConfigError(f"Recursive include file: {shown}", where[0], where[1])
        if len(self._including) >= MAX_INCLUDE_DEPTH:
            assert where is not None
            raise ConfigError(f"Too deep include nesting: {shown}", where[0], where[1])
        text = self._read(lab_path, shown, where)
        self.files.append(lab_path)
        self._including.append(lab_path)
        try:
            self._parse_text(text, lab_path, shown)
        finally:
            self._including.pop()

    def _parse_text(self, text: str, lab_path: str, shown: str) -> None:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline ending the last line does not start another
        i = 0
        while i < len(lines):
            line = lines[i].strip(" \t\r")
            i += 1
            # A trailing backslash joins the next line (its indentation dropped); messages
            # then name the line where the joined text ends, as doveconf does.
            while line.endswith("\\") and i < len(lines):
                line = line[:-1] + lines[i].strip(" \t\r")
                i += 1
            lineno = i
            if line.endswith("\\"):
                continue  # continued past the end of the file: doveconf drops the line
            if not line or line.startswith("#"):
                continue
            self._parse_line(line, lab_path, shown, lineno)

    # -- one line ----------------------------------------------------------

    def _parse_line(self, line: str, lab_path: str, shown: str, lineno: int) -> None:
        if line.startswith("!include"):
            word, _, arg = line.partition(" ")
            if word in ("!include", "!include_try"):
                self._include(arg.strip(), word == "!include_try", lab_path, shown, lineno)
                return
        if line.startswith("}"):
            if len(self._stack) == 1:
                raise ConfigError("Unexpected '}'", shown, lineno)
            self._stack.pop()
            return
        if line.startswith("="):
            raise ConfigError("Missing key name ('=' at the beginning of line)", shown, lineno)
        end = 0
        while end < len(line) and line[end] not in " \t={":
            end += 1
        key = line[:end]
        rest = line[end:].lstrip(" \t")
        if rest.startswith("="):
            value, quoted = self._value(rest[1:].lstrip(" \t"), shown, lineno)
            self._set(key, value, quoted, shown, lineno, lab_path)
            return
        self._open_section(key, rest, shown, lineno)

    def _value(self, raw: str, shown: str, lineno: int) -> tuple[str, bool]:
        value, quoted = _unquote(raw)
        if quoted:
            return value, True
        hash_at = value.find("#")
        if hash_at >= 0:
            if hash_at > 0 and value[hash_at - 1] not in " \t":
                self.warnings.append(
                    f"Configuration file {shown} line {lineno}: Ambiguous '#' character in line, "
                    "treating it as comment. Add a space before it to remove this warning."
                )
            value = value[:hash_at]
        return value.rstrip(" \t"), False

    def _include(self, arg: str, optional: bool, lab_path: str, shown: str, lineno: int) -> None:
        target, _ = _unquote(arg)
        if target.startswith("/"):
            lab_pattern, shown_pattern = posixpath.normpath(target), target
        else:
            lab_pattern = posixpath.normpath(posixpath.join(posixpath.dirname(lab_path), target))
            shown_pattern = posixpath.join(posixpath.dirname(shown), target)
        base = glob.escape(str(self.root.root).rstrip("/"))
        matches: list[str] = []
        for host in sorted(glob.glob(base + lab_pattern)):
            try:
                matches.append(self.root.lab_path(host))
            except ValueError:
                continue
        matches = [m for m in matches if self.root.path(m).is_file() or not glob.has_magic(target)]
        if not matches:
            if optional:
                return
            raise ConfigError("No matches", shown, lineno)
        pattern_dir = posixpath.dirname(lab_pattern)
        for match in matches:
            shown_match = posixpath.join(
                posixpath.dirname(shown_pattern), posixpath.relpath(match, pattern_dir)
            )
            self._parse_file(match, shown_match, (shown, lineno))

    # -- sections ----------------------------------------------------------

    def _error_prefix(self) -> str:
        return "".join(f"{f.kind} {{ " for f in self._stack if f.mode == "section")

    def _open_section(self, kind: str, rest: str, shown: str, lineno: int) -> None:
        brace = rest.find("{")
        if brace < 0:
            raise ConfigError("Expecting '{'", shown, lineno)
        after = rest[brace + 1 :].strip(" \t")
        if after and not after.startswith("#"):
            raise ConfigError("Garbage after '{'", shown, lineno)
        name, _ = _unquote(rest[:brace].strip(" \t"))
        frame = self._stack[-1]

        if frame.mode == "ignore":
            self._stack.append(_Frame("ignore", frame.section, kind, shown, lineno))
            return
        if frame.mode == "auth1x":
            if kind in ("passdb", "userdb"):
                driver = name
                self._obsolete(
                    shown, lineno, f"{kind} {driver} {{}} has been replaced by {kind} {{ driver={driver} }}"
                )
                section = Section(kind, "", shown, lineno)
                section.settings["driver"] = Setting("driver", driver, shown, lineno)
                frame.section.sections.append(section)
                self._stack.append(_Frame("section", section, kind, shown, lineno))
            elif kind == "socket":
                self._stack.append(_Frame("socket", frame.section, kind, shown, lineno))
            else:
                # Other 1.x auth sub-blocks have no 2.3 meaning; doveconf drops them silently.
                self._stack.append(_Frame("ignore", frame.section, kind, shown, lineno))
            return
        if frame.mode == "socket":
            # `socket listen { client { path = X } }` becomes service auth { unix_listener X { } };
            # doveconf drops the master socket.
            mode = "client" if kind == "client" else "ignore"
            self._stack.append(_Frame(mode, frame.section, kind, shown, lineno))
            return
        if frame.mode == "client":
            self._stack.append(_Frame("ignore", frame.section, kind, shown, lineno))
            return

        if frame.mode in ("root", "filter"):
            if kind in FILTER_KINDS and frame.kind == "protocol":
                if kind == "protocol":
                    raise ConfigError("Nested protocol { protocol { .. } } block not allowed", shown, lineno)
                raise ConfigError(
                    f"protocol {{ {kind} {{ .. }} }} not allowed "
                    f"(use {kind} {{ protocol {{ .. }} }} instead)",
                    shown,
                    lineno,
                )
            if kind in FILTER_KINDS:
                section = self._child(frame.section, kind, name, shown, lineno, merge=True)
                self._stack.append(_Frame("filter", section, kind, shown, lineno))
                return
            if kind == "auth":
                self._obsolete(
                    shown,
                    lineno,
                    "add auth_ prefix to all settings inside auth {} "
                    "and remove the auth {} section completely",
                )
                self._stack.append(_Frame("auth1x", frame.section, kind, shown, lineno))
                return
            allowed: tuple[str, ...] = TOP_SECTIONS
        else:
            if kind in FILTER_KINDS:
                # doveconf lets a filter block open inside any section; what it holds is
                # still judged as the enclosing section's settings.
                section = self._child(frame.section, kind, name, shown, lineno, merge=True)
                self._stack.append(_Frame("subfilter", section, frame.kind, shown, lineno))
                return
            if SECTION_KINDS[frame.kind].types is None:
                raise ConfigError("Section not allowed here", shown, lineno)
            allowed = SECTION_KINDS[frame.kind].children
        if kind not in allowed:
            raise ConfigError(f"Unknown setting: {self._error_prefix()}{kind} {{ {kind}", shown, lineno)
        if frame.kind in ("local", "remote") and kind in ("passdb", "userdb"):
            raise ConfigError(
                f"Auth settings not supported inside local/remote blocks: {kind}", shown, lineno
            )
        if kind in ("passdb", "userdb"):
            section = self._authdb(frame.section, kind, name, shown, lineno)
        else:
            merge = bool(name) or SECTION_KINDS[kind].merge_unnamed
            section = self._child(frame.section, kind, name, shown, lineno, merge=merge)
        self._stack.append(_Frame("section", section, kind, shown, lineno))

    @staticmethod
    def _child(parent: Section, kind: str, name: str, shown: str, lineno: int, *, merge: bool) -> Section:
        if merge:
            found = parent.find(kind, name)
            if found is not None:
                return found
        section = Section(kind, name, shown, lineno)
        parent.sections.append(section)
        return section

    @staticmethod
    def _authdb(parent: Section, kind: str, name: str, shown: str, lineno: int) -> Section:
        # passdb/userdb blocks are a list; only a named one merges with its namesake.
        if name:
            for section in parent.of_kind(kind):
                if section.get("name") == name:
                    return section
        section = Section(kind, "", shown, lineno)
        if name:
            section.settings["name"] = Setting("name", name, shown, lineno)
        parent.sections.append(section)
        return section

    # -- settings ----------------------------------------------------------

    def _obsolete(self, shown: str, lineno: int, message: str) -> None:
        if not self._noted:
            self.warnings.append(NOTE_WARNING)
            self._noted = True
        self.warnings.append(f"Obsolete setting in {shown}:{lineno}: {message}")

    def _set(self, key: str, value: str, quoted: bool, shown: str, lineno: int, lab_path: str) -> None:
        frame = self._stack[-1]
        if frame.mode in ("ignore", "socket"):
            return
        if frame.mode == "client":
            self._socket_client(frame, key, value, shown, lineno)
            return
        if frame.mode == "auth1x":
            if not quoted and value[:1] in ("<", "$"):
                # doveconf converts only plain values; anything else meets the 2.3 table as written.
                raise ConfigError(f"Unknown setting: {key}", shown, lineno)
            if key == "user":
                self._obsolete(shown, lineno, "auth_user has been replaced by service auth { user }")
                service = self._child(frame.section, "service", "auth", shown, lineno, merge=True)
                service.settings["user"] = Setting("user", value, shown, lineno)
                return
            prefixed = key if key.startswith("auth_") else f"auth_{key}"
            self._set_top(frame, prefixed, value, quoted, shown, lineno, lab_path)
            return
        if frame.mode in ("root", "filter"):
            self._set_top(frame, key, value, quoted, shown, lineno, lab_path)
            return
        types = SECTION_KINDS[frame.kind].types
        if types is not None and key not in types:
            raise ConfigError(f"Unknown setting: {self._error_prefix()}{key}", shown, lineno)
        typ = "str" if types is None else types[key]
        current = frame.section.get(key) or ""
        self._store(frame.section, key, value, quoted, typ, current, shown, lineno, lab_path)

    def _socket_client(self, frame: _Frame, key: str, value: str, shown: str, lineno: int) -> None:
        if key == "path":
            service = self._child(self.tree, "service", "auth", shown, lineno, merge=True)
            frame.listener = self._child(service, "unix_listener", value, shown, lineno, merge=True)
            frame.listener.settings.update(frame.pending)
            frame.pending.clear()
        elif key in ("mode", "user", "group"):
            setting = Setting(key, value, shown, lineno)
            if frame.listener is not None:
                frame.listener.settings[key] = setting
            else:
                frame.pending[key] = setting

    def _store(
        self,
        section: Section,
        key: str,
        value: str,
        quoted: bool,
        typ: str,
        current: str,
        shown: str,
        lineno: int,
        lab_path: str,
    ) -> None:
        ref = "$" + key
        if not quoted and value.startswith(ref) and value[len(ref) : len(ref) + 1] in ("", " "):
            value = current + value[len(ref) :]
        file_ref = not quoted and value.startswith("<")
        # doveconf checks the text as written, so `<file` only suits string settings.
        try:
            check_value(typ, value)
        except ValueError as exc:
            raise ConfigError(str(exc), shown, lineno) from None
        section.settings[key] = Setting(
            key, value, shown, lineno, file_ref, None, posixpath.dirname(lab_path)
        )

    def _set_top(
        self, frame: _Frame, key: str, value: str, quoted: bool, shown: str, lineno: int, lab_path: str
    ) -> None:
        ref = "$" + key
        self_ref = not quoted and value.startswith(ref) and value[len(ref) : len(ref) + 1] in ("", " ")
        if self_ref and key not in self._types:
            raise ConfigError(f"Unknown variable: {ref}", shown, lineno)
        plain = quoted or value[:1] not in ("<", "$")
        if plain and self._convert_obsolete(frame, key, value, quoted, shown, lineno, lab_path):
            return
        hint = FOREIGN_SETTINGS.get(key)
        if hint is not None:
            raise ConfigError(f"Unknown setting: {key} ({hint})", shown, lineno)
        typ = self._types.get(key)
        if typ is None:
            raise ConfigError(f"Unknown setting: {key}", shown, lineno)
        if frame.kind in ("local", "remote") and (key.startswith("auth_") or key in AUTH_PROCESS_SETTINGS):
            try:
                check_value(typ, value)
            except ValueError as exc:
                raise ConfigError(str(exc), shown, lineno) from None
            raise ConfigError(f"Auth settings not supported inside local/remote blocks: {key}", shown, lineno)
        section = frame.section
        if section is self.tree:
            current = self.tree.get(key)
            first = self._filter_first.get(key)
            if first is not None:
                fp, fl = first
                self.warnings.append(
                    f"{shown} line {lineno}: Global setting {key} won't change the setting inside an earlier "
                    f"filter at {fp} line {fl} (if this is intentional, avoid this warning by moving the "
                    f"global setting before {fp} line {fl})"
                )
        else:
            current = section.get(key)
            if current is None:
                current = self.tree.get(key)
            self._filter_first.setdefault(key, (shown, lineno))
        if current is None:
            current = defaults().settings.get(key, "")
        self._store(section, key, value, quoted, typ, current, shown, lineno, lab_path)

    def _convert_obsolete(
        self, frame: _Frame, key: str, value: str, quoted: bool, shown: str, lineno: int, lab_path: str
    ) -> bool:
        """Rewrite a 1.x-era setting the way doveconf does; True when `key` was one."""
        if key in DROPPED_WHEN_EMPTY and not value:
            return True  # doveconf drops an empty one without a word
        protocol = frame.section.name if frame.kind == "protocol" else ""
        if key == "protocols":
            return self._convert_protocols(frame, value, quoted, shown, lineno, lab_path)
        if key == "ssl_disable":
            self._obsolete(shown, lineno, "ssl_disable has been renamed to ssl")
            # yes/no flip; anything else goes to `ssl` as written and fails there.
            flipped = {"yes": "no", "no": "yes"}.get(value, value)
            self._set_top(frame, "ssl", flipped, False, shown, lineno, lab_path)
            return True
        renamed = {"ssl_cert_file": "ssl_cert", "ssl_key_file": "ssl_key", "ssl_ca_file": "ssl_ca"}
        if key in renamed:
            new = renamed[key]
            self._obsolete(shown, lineno, f"{key} has been replaced by {new} = <file")
            self._set_top(frame, new, "<" + value, False, shown, lineno, lab_path)
            return True
        if key == "login_dir":
            self._obsolete(shown, lineno, "login_dir has been removed")
            return True
        if key == "ssl_parameters_regenerate":
            self._obsolete(shown, lineno, "ssl_parameters_regenerate is no longer needed")
            return True
        if key == "login_process_per_connection":
            self._obsolete(
                shown, lineno, "login_process_per_connection has been replaced by service { service_count }"
            )
            try:
                per_conn = values.parse_bool(value)[0] if value else True  # empty reads as yes
            except ValueError as exc:
                raise ConfigError(str(exc), shown, lineno) from None
            for proto in (protocol,) if protocol else ("imap", "pop3"):
                service = self._child(self.tree, "service", f"{proto}-login", shown, lineno, merge=True)
                service.settings["service_count"] = Setting(
                    "service_count", "1" if per_conn else "0", shown, lineno
                )
            return True
        if key == "ssl_listen":
            self._obsolete(
                shown,
                lineno,
                "protocol { ssl_listen } has been replaced by service { inet_listener { address } }",
            )
            for proto in (protocol,) if protocol else ("imap", "pop3"):
                self._listener_address(self.tree, proto, f"{proto}s", value, shown, lineno)
            return True
        if key == "listen" and (value or frame.mode == "filter"):
            # An empty listen inside a filter is dropped without a word.
            return self._convert_listen(frame, value, quoted, shown, lineno, lab_path) if value else True
        return False

    def _convert_protocols(
        self, frame: _Frame, value: str, quoted: bool, shown: str, lineno: int, lab_path: str
    ) -> bool:
        """1.x `protocols` names as doveconf 2.3 rewrites them.

        `imaps`/`pop3s` next to their plain protocol are dropped; alone, the plain one is added at
        the end and its non-SSL listener closed (port 0) where the setting stands, so the server
        still offers only the SSL port, as the 1.x line meant."""
        words = value.split()
        kept: list[str] = []
        for word in words:
            if word in ("imaps", "pop3s"):
                continue
            if word == "managesieve":
                self._obsolete(shown, lineno, "protocols=managesieve has been renamed to protocols=sieve")
                word = "sieve"
            kept.append(word)
        for proto in ("imap", "pop3"):
            if f"{proto}s" not in words:
                continue
            if proto in words:
                self._obsolete(shown, lineno, f"'{proto}s' protocol is no longer necessary, remove it")
                continue
            self._obsolete(
                shown,
                lineno,
                f"'{proto}s' protocol can no longer be specified (use protocols={proto}). to disable "
                f"non-ssl {proto}, use service {proto}-login {{ inet_listener {proto} {{ port=0 }} }}",
            )
            kept.append(proto)
            listener = self._listener_address(frame.section, proto, proto, None, shown, lineno)
            listener.settings["port"] = Setting("port", "0", shown, lineno)
        if kept == words:
            return False
        self._set_top(frame, "protocols", " ".join(kept), quoted, shown, lineno, lab_path)
        return True

    def _convert_listen(
        self, frame: _Frame, value: str, quoted: bool, shown: str, lineno: int, lab_path: str
    ) -> bool:
        """1.x `listen = addr:port`, and `listen` inside a filter, as doveconf rewrites them."""
        in_filter = frame.mode == "filter"
        protocols = [frame.section.name] if frame.kind == "protocol" else ["imap", "pop3"]
        protocols = [p for p in protocols if p in ("imap", "pop3")]
        if in_filter and frame.kind != "protocol":
            protocols = []  # a local/remote listen has no listener to move to
        address, port = value, None
        if value.startswith("[") and "]:" in value:
            address, _, port = value.rpartition(":")
        elif value.count(":") == 1:
            address, _, port = value.partition(":")
        if port is None and not in_filter:
            return False
        if port is not None:
            self._obsolete(
                shown, lineno, "listen=..:port has been replaced by service { inet_listener { port } }"
            )
            for proto in protocols if port.isdigit() else []:
                listener = self._listener_address(self.tree, proto, proto, None, shown, lineno)
                listener.settings["port"] = Setting("port", port, shown, lineno)
        if in_filter:
            self._obsolete(
                shown,
                lineno,
                "protocol { listen } has been replaced by service { inet_listener { address } }",
            )
            for proto in protocols:
                self._listener_address(self.tree, proto, proto, address, shown, lineno)
            return True
        self._set_top(frame, "listen", address, quoted, shown, lineno, lab_path)
        return True

    def _listener_address(
        self, scope: Section, proto: str, listener: str, address: str | None, shown: str, lineno: int
    ) -> Section:
        service = self._child(scope, "service", f"{proto}-login", shown, lineno, merge=True)
        inet = self._child(service, "inet_listener", listener, shown, lineno, merge=True)
        if address is not None:
            inet.settings["address"] = Setting("address", address, shown, lineno)
        return inet


def parse(root: LabRoot, lab_path: str, shown: str | None = None) -> Parser:
    parser = Parser(root)
    parser.parse_main(lab_path, shown or lab_path)
    return parser
