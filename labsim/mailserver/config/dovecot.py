"""Loader for dovecot.conf (2.3 syntax and the 1.x forms study guides print).

`load()` parses (config/parser.py), reads every `key = <file`, checks what
doveconf checks over the whole configuration, and returns a DovecotConfig
that answers typed settings per protocol and the text `doveconf` prints.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re

from labsim.mailserver.config import values
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.config.model import AuthDb, DovecotSettings, InetListener, Service
from labsim.mailserver.config.parser import Parser
from labsim.mailserver.config.settings_table import (
    SECTION_DEFAULTS,
    SECTION_KINDS,
    SectionDefaults,
    defaults,
    top_types,
)
from labsim.mailserver.config.tree import Section, Setting
from labsim.mailserver.labroot import LabRoot

DEFAULT_CONFIG_PATH = "/etc/dovecot/dovecot.conf"
HIDDEN_SETTINGS = frozenset({"ssl_key", "ssl_key_password", "ssl_client_key", "ssl_dh"})
HIDDEN_TEXT = "# hidden, use -P to show it"
KNOWN_PROTOCOLS = frozenset({"imap", "pop3", "lmtp", "submission"})  # what Debian 12's packages provide
SPECIAL_USE = frozenset(
    {"\\all", "\\archive", "\\drafts", "\\flagged", "\\important", "\\junk", "\\sent", "\\trash"}
)

# DovecotSettings fields whose config value needs more than the type table gives.
_LIST_FIELDS = {"protocols", "listen", "auth_mechanisms"}
_FILE_FIELDS = {"ssl_cert": "ssl_cert_path", "ssl_key": "ssl_key_path"}


def display(typ: str, value: str) -> str:
    """A value as doveconf prints it: booleans, sizes and times normalised."""
    if value.startswith("<"):
        return value
    try:
        if typ == "bool":
            return values.parse_bool(value)[1]
        if typ == "size":
            return values.parse_size(value)[1]
        if typ == "time":
            return values.parse_time(value)[1]
        if typ in ("uint", "port"):
            return str(int(value.strip()))
    except ValueError:
        pass
    return value


def quote(value: str) -> str:
    """doveconf quotes a value only when its edges are blank."""
    if value and value != value.strip(" \t"):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _split_list(value: str) -> list[str]:
    return [item for item in value.replace(",", " ").split() if item]


class DovecotConfig:
    """A parsed, validated configuration."""

    path: str  # lab path of the main file
    files: list[str]  # every file read, main first (lab paths)

    def __init__(self, root: LabRoot, path: str, shown: str, parser: Parser) -> None:
        self.root = root
        self.path = path
        self.shown = shown  # the main file as messages name it
        self.files = parser.files
        self.tree: Section = parser.tree
        self.warnings: list[str] = parser.warnings  # without the `doveconf: Warning: ` prefix
        self._types = top_types()
        self._defaults = defaults()

    # -- lookups -----------------------------------------------------------

    def filter(self, protocol: str | None) -> Section | None:
        if not protocol:
            return None
        return self.tree.find("protocol", protocol)

    def setting(self, name: str, protocol: str | None = None) -> Setting | None:
        """The Setting that decides `name` for `protocol`, or None when the default holds."""
        flt = self.filter(protocol)
        if flt is not None and name in flt.settings:
            return flt.settings[name]
        return self.tree.settings.get(name)

    def raw(self, name: str, protocol: str | None = None) -> str:
        setting = self.setting(name, protocol)
        if setting is not None:
            return setting.value
        return self._defaults.settings.get(name, "")

    def value(self, name: str, protocol: str | None = None) -> str:
        """A setting's value as doveconf prints it (`doveconf NAME`)."""
        return display(self._types.get(name, "str"), self.raw(name, protocol))

    def known(self, name: str) -> bool:
        return name in self._types

    def _file_value(self, name: str, protocol: str | None) -> tuple[str, str | None]:
        """(text, lab path) for a setting that may be written `<path`."""
        setting = self.setting(name, protocol)
        if setting is None or not setting.file_ref:
            return self.raw(name, protocol), None
        lab = posixpath.normpath(posixpath.join(setting.base_dir, setting.value[1:].strip()))
        return setting.contents if setting.contents is not None else "", lab

    # -- typed settings ----------------------------------------------------

    def settings(self, protocol: str | None = None) -> DovecotSettings:
        """Effective settings, with the `protocol NAME { }` filter applied when given."""
        out = DovecotSettings()
        for fld in dataclasses.fields(DovecotSettings):
            name = fld.name
            typ = self._types.get(name)
            if typ is None:
                continue
            if name in _FILE_FIELDS:
                text, lab = self._file_value(name, protocol)
                setattr(out, name, text)
                setattr(out, _FILE_FIELDS[name], lab)
                continue
            setting = self.setting(name, protocol)
            raw = self.raw(name, protocol)
            if setting is not None and setting.file_ref and setting.contents is not None:
                raw = setting.contents.rstrip("\n")
            setattr(out, name, self._convert(name, typ, raw, fld.type))
        if self.raw("ssl") == "no":
            out.ssl = "no"  # a filter cannot turn SSL back on (doveconf warns about it)
        out.passdbs = self._authdbs("passdb", protocol)
        out.userdbs = self._authdbs("userdb", protocol)
        out.services = self._services(protocol)
        out.mailbox_special_use = self._special_use()
        out.values = {name: self.value(name, protocol) for name in self._types}
        return out

    @staticmethod
    def _convert(name: str, typ: str, raw: str, annotation: object) -> object:
        if name in _LIST_FIELDS:
            items = _split_list(raw)
            if name == "protocols" and items == ["none"]:
                return []
            return [i.lower() for i in items] if name == "auth_mechanisms" else items
        if str(annotation) == "str":
            return raw  # the model wants the text whatever the table says
        try:
            if typ == "bool":
                return values.parse_bool(raw)[0]
            if typ in ("uint", "port"):
                return values.parse_uint(raw)[0]
            if typ == "size":
                return values.parse_size(raw)[0]
            if typ == "time":
                seconds = values.parse_time(raw)[0]
                return float(seconds) if "float" in str(annotation) else seconds
        except ValueError:
            # Only a `<file` whose text is not of the type gets here; keep the default's meaning.
            return 0
        return raw

    def _authdbs(self, kind: str, protocol: str | None) -> list[AuthDb]:
        sections = self.tree.of_kind(kind)
        flt = self.filter(protocol)
        if flt is not None:
            sections = sections + flt.of_kind(kind)
        out: list[AuthDb] = []
        for section in sections:
            db = AuthDb(driver=section.get("driver") or "", source=(section.path, section.line))
            for key in ("args", "default_fields", "override_fields", "skip"):
                if key in section.settings:
                    setattr(db, key, section.settings[key].value)
            for key in ("result_success", "result_failure", "result_internalfail"):
                if key in section.settings:
                    setattr(db, key, section.settings[key].value)
            if "deny" in section.settings:
                db.deny = values.parse_bool(section.settings["deny"].value)[0]
            db.settings = {k: s.value for k, s in section.settings.items()}
            out.append(db)
        return out

    def _special_use(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for namespace in self.tree.of_kind("namespace"):
            prefix = namespace.get("prefix") or ""
            for mailbox in namespace.of_kind("mailbox"):
                flags = (mailbox.get("special_use") or "").split()
                if flags:
                    found[prefix + mailbox.name] = flags
        return found

    def _services(self, protocol: str | None) -> dict[str, Service]:
        merged: dict[str, Service] = {}
        for name, dflt in self._defaults.services.items():
            merged[name] = _service_from_defaults(dflt)
        scopes = [self.tree]
        flt = self.filter(protocol)
        if flt is not None:
            scopes.append(flt)
        for scope in scopes:
            for section in scope.of_kind("service"):
                service = merged.setdefault(section.name, Service(section.name))
                for key, setting in section.settings.items():
                    service.settings[key] = setting.value
                for child in section.of_kind("inet_listener"):
                    listener = service.listeners.get(child.name) or InetListener(child.name, 0)
                    if "port" in child.settings:
                        listener.port = values.parse_port(child.settings["port"].value)[0]
                    if "ssl" in child.settings:
                        listener.ssl = values.parse_bool(child.settings["ssl"].value)[0]
                    if "address" in child.settings:
                        listener.address = child.settings["address"].value
                    service.listeners[child.name] = listener
        return merged

    # -- doveconf output ---------------------------------------------------

    def dump_nondefault(self, hide: bool = True) -> list[str]:
        """The settings part of `doveconf -n`."""
        entries: list[tuple[str, int, list[str]]] = []
        for key, setting in self.tree.settings.items():
            typ = self._types.get(key, "str")
            shown = display(typ, setting.value)
            if shown == display(typ, self._defaults.settings.get(key, "")):
                continue
            entries.append((key, 0, [self._line(key, shown, hide, "")]))
        for order, section in enumerate(self.tree.sections):
            if section.kind not in FILTERS:
                block = self._dump_section(section, "", hide)
                entries.append((_sort_key(section.kind, section.name, order), order, block))
        lines = _joined(entries)
        for flt in self._filters():
            lines.extend(self._dump_section(flt, "", hide, filter_types=True))
        return lines

    def _filters(self) -> list[Section]:
        """Filter blocks in the order doveconf prints them: protocol, remote, local."""
        order = ("protocol", "remote", "local", "local_name")
        return [flt for kind in order for flt in self.tree.of_kind(kind)]

    def _line(self, key: str, shown: str, hide: bool, indent: str) -> str:
        if hide and key in HIDDEN_SETTINGS and shown:
            return f"{indent}{key} = {HIDDEN_TEXT}"
        return f"{indent}{key} = {quote(shown)}"

    def _dump_section(
        self,
        section: Section,
        indent: str,
        hide: bool,
        filter_types: bool = False,
        base: dict[str, str] | None = None,
    ) -> list[str]:
        """One section as doveconf prints it; `base` holds the values shown when nothing was set (-a)."""
        inner = indent + "  "
        written = dict(base or {})
        written.update({key: setting.value for key, setting in section.settings.items()})
        if section.kind == "namespace":
            # doveconf always shows these two for a namespace, even when empty.
            written.setdefault("location", "")
            written.setdefault("prefix", "")
        entries: list[tuple[str, int, list[str]]] = []
        for key, value in written.items():
            typ = self._types.get(key, "str") if filter_types else _section_type(section.kind, key)
            entries.append((key, 0, [self._line(key, display(typ, value), hide, inner)]))
        for order, child in enumerate(section.sections):
            child_base = SECTION_DEFAULTS.get(child.kind) if base is not None else None
            block = self._dump_section(child, inner, hide, base=child_base)
            if block:
                entries.append((_sort_key(child.kind, child.name, order), order, block))
        if not entries:
            return []  # doveconf leaves out a section with nothing in it
        return [f"{indent}{_header(section.kind, section.name)} {{", *_joined(entries), f"{indent}}}"]

    def dump_all(self, hide: bool = False) -> list[str]:
        """The settings part of `doveconf -a`: every setting with its effective value."""
        entries: list[tuple[str, int, list[str]]] = [
            (key, 0, [self._line(key, self.value(key), hide, "")]) for key in self._types
        ]
        for order, section in enumerate(self._all_services()):
            block = self._dump_section(section, "", hide, base={})
            entries.append((_sort_key("service", section.name, order), order, block))
        for order, section in enumerate(self.tree.sections):
            if section.kind not in FILTERS and section.kind != "service":
                block = self._dump_section(section, "", hide, base=SECTION_DEFAULTS.get(section.kind, {}))
                entries.append((_sort_key(section.kind, section.name, order), order, block))
        lines = _joined(entries)
        for flt in self._filters():
            lines.extend(self._dump_section(flt, "", hide, filter_types=True))
        return lines

    def _all_services(self) -> list[Section]:
        """Built-in services with the configured ones laid over them, as Section trees."""
        out: list[Section] = []
        configured = {s.name: s for s in self.tree.of_kind("service")}
        names = list(self._defaults.services) + [n for n in configured if n not in self._defaults.services]
        for name in names:
            section = Section("service", name)
            dflt = self._defaults.services.get(name)
            base = dflt.settings if dflt is not None else SECTION_DEFAULTS["service"]
            section.settings = {k: Setting(k, v, "", 0) for k, v in base.items()}
            if dflt is not None:
                for dchild in dflt.children:
                    child = Section(dchild.kind, dchild.name)
                    child.settings = {k: Setting(k, v, "", 0) for k, v in dchild.settings.items()}
                    section.sections.append(child)
            mine = configured.get(name)
            if mine is not None:
                section.settings.update(mine.settings)
                for cchild in mine.sections:
                    target = section.find(cchild.kind, cchild.name)
                    if target is None:
                        target = Section(cchild.kind, cchild.name)
                        target.settings = {
                            k: Setting(k, v, "", 0) for k, v in SECTION_DEFAULTS.get(cchild.kind, {}).items()
                        }
                        section.sections.append(target)
                    target.settings.update(cchild.settings)
            out.append(section)
        return out


FILTERS = ("protocol", "local", "remote", "local_name")


def _escape_name(name: str) -> str:
    # doveconf sorts on its internal keys, where a section name is escaped;
    # that is why `anvil-auth-penalty` prints before `anvil`, `Sent` before `Sent Messages`.
    return (
        name.replace("\\", "\\\\")
        .replace(" ", "\\_")
        .replace("/", "\\|")
        .replace("=", "\\e")
        .replace(",", "\\c")
    )


def _sort_key(kind: str, name: str, order: int) -> str:
    if kind in ("passdb", "userdb") or not name:
        # Unnamed list items keep the order they were written in.
        return f"{kind}/{order:06d}/"
    return f"{kind}/{_escape_name(name)}/"


def _joined(entries: list[tuple[str, int, list[str]]]) -> list[str]:
    lines: list[str] = []
    for _key, _order, block in sorted(entries, key=lambda e: (e[0], e[1])):
        lines.extend(block)
    return lines


def _header(kind: str, name: str) -> str:
    if not name or kind in ("passdb", "userdb"):
        return kind
    return f"{kind} " + (f'"{name}"' if " " in name else name)


def _section_type(kind: str, key: str) -> str:
    types = SECTION_KINDS.get(kind)
    if types is None or types.types is None:
        return "str"
    return types.types.get(key, "str")


def _service_from_defaults(dflt: SectionDefaults) -> Service:
    service = Service(dflt.name, settings=dict(dflt.settings))
    for child in dflt.children:
        if child.kind != "inet_listener":
            continue
        port = int(child.settings.get("port", "0") or 0)
        ssl = child.settings.get("ssl") == "yes"
        service.listeners[child.name] = InetListener(child.name, port, ssl, child.settings.get("address", ""))
    return service


def _read_file_refs(root: LabRoot, tree: Section) -> None:
    for section in tree.walk():
        for setting in section.settings.values():
            if not setting.file_ref:
                continue
            written = setting.value[1:].strip()
            lab = posixpath.normpath(posixpath.join(setting.base_dir, written))
            # Messages name a relative file joined to the naming file's directory, unnormalised.
            named = posixpath.join(posixpath.dirname(setting.path), written)
            host = root.path(lab)
            try:
                if host.is_dir():
                    raise ConfigError(
                        f"{setting.key}: read({named}) failed: Is a directory", setting.path, setting.line
                    )
                data = host.read_bytes()
            except (OSError, ValueError) as exc:
                # ValueError: a NUL byte in the name, which no file can have.
                strerror = exc.strerror if isinstance(exc, OSError) else None
                reason = f"{setting.key}: Can't open file {named}: {strerror or 'No such file or directory'}"
                raise ConfigError(reason, setting.path, setting.line) from None
            setting.contents = data.decode("utf-8", "replace")


class SettingsCheckError(ConfigError):
    """A whole-configuration error; most are also logged as `doveconf: Error: REASON` first."""

    def __init__(self, reason: str, path: str, error_line: bool = True) -> None:
        super().__init__(reason, path)
        self.error_line = error_line
        self.also: list[SettingsCheckError] = []  # further failed checks, logged as Errors too

    def error_lines(self) -> list[str]:
        """The `Error:` lines doveconf logs before the Fatal one (without the program prefix)."""
        return [e.reason for e in (self, *self.also) if e.error_line]


def _ssl_filter_warnings(parser: Parser) -> None:
    if (parser.tree.get("ssl") or defaults().settings["ssl"]) != "no":
        return
    for section in parser.tree.sections:
        value = section.get("ssl") if section.kind in FILTERS else None
        if value is not None and value != "no":
            parser.warnings.append(
                f"SSL is disabled because global ssl=no, ignoring ssl={value} for subsection"
            )


def _check_whole(tree: Section, shown: str) -> None:
    """What doveconf checks once everything is parsed (errors without a line).

    doveconf logs every failed check as an Error and dies with the first one;
    the first error raised carries the rest in `also`.
    """
    found: list[SettingsCheckError] = []
    scopes = [tree, *tree.of_kind("protocol")]
    for scope in scopes:
        for kind in ("passdb", "userdb"):
            for section in scope.of_kind(kind):
                if not section.get("driver"):
                    found.append(SettingsCheckError(f"{kind} is missing driver", shown))
    verbose_passwords = tree.get("auth_verbose_passwords")
    if verbose_passwords is not None:
        mode, colon, count = verbose_passwords.partition(":")
        if mode not in ("no", "yes", "plain", "sha1"):
            found.append(SettingsCheckError("auth_verbose_passwords: Invalid value", shown))
        elif colon and not count.isdigit():
            found.append(
                SettingsCheckError(f"auth_verbose_passwords: Invalid truncation number: '{count}'", shown)
            )
    for scope in [tree, *(s for s in tree.sections if s.kind in FILTERS)]:
        protocols = (scope.get("protocols") or "").split()
        unknown = [w for w in protocols if w not in KNOWN_PROTOCOLS] if protocols != ["none"] else []
        if unknown:
            found.append(SettingsCheckError(f"protocols: Unknown protocol: {unknown[0]}", shown))
    for scope in scopes:
        uidl = scope.get("pop3_uidl_format")
        if uidl is not None and not re.search(r"%[^%]", uidl.replace("%%", "")):
            reason = "pop3_uidl_format setting doesn't contain any %% variables."
            found.append(SettingsCheckError(reason, shown, error_line=scope is tree))
    for namespace in tree.of_kind("namespace"):
        if len(namespace.get("separator") or "") > 1:
            # A broken namespace stops the checks of its mailboxes.
            prefix = namespace.get("prefix") or ""
            reason = f"Namespace '{prefix}': Hierarchy separator must be only one character long"
            found.append(SettingsCheckError(reason, shown))
            continue
        for mailbox in namespace.of_kind("mailbox"):
            bad = [w for w in (mailbox.get("special_use") or "").split() if w.lower() not in SPECIAL_USE]
            if bad:
                found.append(
                    SettingsCheckError(f"mailbox {mailbox.name}: unknown special_use: {bad[0]}", shown)
                )
    if any(not s.name for s in tree.of_kind("service")):
        found.append(SettingsCheckError(f"Service #{len(defaults().services)} is missing name", shown))
    if found:
        found[0].also = found[1:]
        raise found[0]


def load(
    root: LabRoot,
    path: str = DEFAULT_CONFIG_PATH,
    *,
    read_files: bool = True,
    shown: str | None = None,
    check: bool = True,
    warnings: list[str] | None = None,
    partial: bool = False,
) -> DovecotConfig:
    """Read and validate; raises ConfigError (file, line, reason) on any problem.

    `read_files=False` leaves `key = <file` unread, as `doveconf -n` does.
    `shown` is how messages name the main file (default: `path`).
    `check=False` skips the whole-configuration checks (doveconf -n still prints what it parsed).
    `partial=True` returns what was parsed even when a `}` is missing (for doveconf -n's dump).
    `warnings`, when given, receives each warning as it is found, so a caller can print the
    warnings doveconf prints before a fatal error (they are also on the returned config).
    """
    lab_path = posixpath.normpath(posixpath.join("/", path))
    parser = Parser(root, warnings)
    parser.parse_main(lab_path, shown or path, allow_open=partial)
    _ssl_filter_warnings(parser)
    if check:
        _check_whole(parser.tree, shown or path)
    if read_files:
        _read_file_refs(root, parser.tree)
    return DovecotConfig(root, lab_path, shown or path, parser)


def defaults_only(root: LabRoot, path: str = DEFAULT_CONFIG_PATH, shown: str | None = None) -> DovecotConfig:
    """Dovecot's built-in defaults, as `doveconf -d` shows them: no file is read, so a broken
    or missing configuration does not matter."""
    lab_path = posixpath.normpath(posixpath.join("/", path))
    return DovecotConfig(root, lab_path, shown or path, Parser(root))
