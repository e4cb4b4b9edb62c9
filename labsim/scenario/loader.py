"""Load scenario.yaml into a Scenario, reporting every problem with its file and line.

The YAML is composed into nodes (not constructed into plain dicts) so each key
and value keeps the line it came from. The walk below checks the nodes against
the format in scenarios/README.md and collects all errors before giving up, so an
author fixes a file in one pass.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from labsim.scenario.check_types import CHECK_TYPES, KIND_NAMES, CheckType, ParamDecl
from labsim.scenario.errors import ScenarioError, ScenarioIssue
from labsim.scenario.model import (
    BACKENDS,
    DIFFICULTIES,
    EXPECT_FRESH,
    MAIL_FORMATS,
    PERSONALITIES,
    CheckSpec,
    FileSetup,
    GroupSetup,
    Hint,
    MailboxSetup,
    MessageSetup,
    Scenario,
    Setup,
    Solution,
    Task,
    UserSetup,
)

SCENARIO_FILE = "scenario.yaml"
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SCENARIO_ID_RE = re.compile(r"^_?[a-z0-9][a-z0-9_.-]*$")
_MODE_RE = re.compile(r"^(?:0o|0)?([0-7]{3,4})$")

_Fields = dict[str, tuple[ScalarNode, Node]]


def _line(node: Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        if node.tag == _NULL:
            return "nothing"
        text = str(node.value).replace("\n", "\\n")  # one message, one line
        return f'"{text[:40]}..."' if len(text) > 40 else f'"{text}"'
    return "something else"


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    return f" (known: {', '.join(known)})"


class _Walker:
    def __init__(self, display: str, files_dir: Path | None) -> None:
        self.display = display
        self.files_dir = files_dir
        self.issues: list[ScenarioIssue] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def error(self, node: Node | None, where: str, message: str) -> None:
        self.issues.append(ScenarioIssue(self.display, _line(node), where, message))

    # --- structure ---------------------------------------------------------

    def mapping(
        self,
        node: Node,
        where: str,
        required: tuple[str, ...],
        optional: tuple[str, ...],
        what: str = "",
        noun: str = "key",
        suffix: str = "",
    ) -> _Fields | None:
        if not isinstance(node, MappingNode):
            self.error(node, where, f"must be a mapping{what}, found {_describe(node)}")
            return None
        known = list(required + optional)
        fields: _Fields = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _NULL:
                self.error(key_node, where, f"keys must be plain words, found {_describe(key_node)}")
                continue
            key = str(key_node.value)
            if key in fields:
                first = _line(fields[key][0])
                self.error(key_node, where, f'duplicate key "{key}" (first at line {first})')
                continue
            if key not in known:
                self.error(key_node, where, f'unknown {noun} "{key}"{suffix}{_suggest(key, known)}')
                continue
            fields[key] = (key_node, value_node)
        for key in required:
            if key not in fields:
                self.error(node, where, f'missing required key "{key}"')
        return fields

    def sequence(self, node: Node, where: str, *, nonempty: str = "") -> list[Node] | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            items: list[Node] = []
        elif not isinstance(node, SequenceNode):
            self.error(node, where, f"must be a list, found {_describe(node)}")
            return None
        else:
            items = list(node.value)
        if not items and nonempty:
            self.error(node, where, nonempty)
            return None
        return items

    # --- scalars -----------------------------------------------------------

    def _construct(self, node: ScalarNode, where: str) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except Exception as exc:  # an explicit tag on a value it cannot read, e.g. `!!int abc`
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.error(node, where, f"cannot read this value: {problem}")
            return None

    def string(self, node: Node, where: str, *, allow_empty: bool = False) -> str | None:
        # Any scalar is taken as the text written, so `password: 0123` stays "0123".
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            self.error(node, where, f"must be a string, found {_describe(node)}")
            return None
        text = str(node.value)
        if node.tag not in (_STR, _INT, _FLOAT, _BOOL) and not node.tag.startswith("tag:yaml.org,2002:"):
            self.error(node, where, f"unknown YAML tag {node.tag}; write plain text")
            return None
        if not text.strip() and not allow_empty:
            self.error(node, where, "must not be empty")
            return None
        return text

    def integer(self, node: Node, where: str, *, minimum: int | None = None) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag != _INT:
            self.error(node, where, f"must be an integer, found {_describe(node)}")
            return None
        value = self._construct(node, where)
        if not isinstance(value, int):
            return None
        if minimum is not None and value < minimum:
            self.error(node, where, f"must be at least {minimum}, found {value}")
            return None
        return value

    def number(self, node: Node, where: str) -> float | None:
        if not isinstance(node, ScalarNode) or node.tag not in (_INT, _FLOAT):
            self.error(node, where, f"must be a number, found {_describe(node)}")
            return None
        value = self._construct(node, where)
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            self.error(node, where, f"must be a number, found {_describe(node)}")
            return None
        if value in (float("inf"), float("-inf")):
            self.error(node, where, "must be a finite number")
            return None
        return float(value)

    def boolean(self, node: Node, where: str) -> bool | None:
        if not isinstance(node, ScalarNode) or node.tag != _BOOL:
            self.error(node, where, f"must be true or false, found {_describe(node)}")
            return None
        value = self._construct(node, where)
        return value if isinstance(value, bool) else None

    def choice(self, node: Node, where: str, allowed: tuple[str, ...]) -> str | None:
        text = self.string(node, where)
        if text is None:
            return None
        if text not in allowed:
            self.error(node, where, f'"{text}" is not one of {", ".join(allowed)}')
            return None
        return text

    def ident(self, node: Node, where: str, pattern: re.Pattern[str] = _ID_RE) -> str | None:
        text = self.string(node, where)
        if text is None:
            return None
        if not pattern.match(text):
            self.error(
                node, where, f'"{text}" is not a valid id (use lowercase letters, digits, "-", "_" and ".")'
            )
            return None
        return text

    def strings(self, node: Node, where: str, *, nonempty: str = "") -> list[str] | None:
        items = self.sequence(node, where, nonempty=nonempty)
        if items is None:
            return None
        out: list[str] = []
        ok = True
        for i, item in enumerate(items):
            text = self.string(item, f"{where}[{i}]")
            if text is None:
                ok = False
            else:
                out.append(text)
        return out if ok else None

    def mode(self, node: Node, where: str) -> int | None:
        # Modes are octal whatever YAML thinks: 0600, "0600", 600 and 0o600 all mean rw-------.
        text = str(node.value) if isinstance(node, ScalarNode) and node.tag != _NULL else ""
        match = _MODE_RE.match(text.strip())
        if not match or node.tag not in (_INT, _STR):
            self.error(node, where, f"must be an octal file mode such as 0644, found {_describe(node)}")
            return None
        value = int(match.group(1), 8)
        if value > 0o7777:
            self.error(node, where, f"must be an octal file mode such as 0644, found {_describe(node)}")
            return None
        return value

    def abs_path(self, node: Node, where: str) -> str | None:
        text = self.string(node, where)
        if text is None:
            return None
        if not text.startswith("/"):
            self.error(
                node,
                where,
                f'"{text}" must be an absolute path in the lab, such as /etc/dovecot/dovecot.conf',
            )
            return None
        if "\0" in text or "/../" in f"{text}/":
            self.error(node, where, f'"{text}" must not contain ".." or NUL')
            return None
        return text

    # --- the document ------------------------------------------------------

    def scenario(self, root: Node, folder_name: str | None) -> Scenario | None:
        f = self.mapping(
            root,
            "",
            required=("id", "version", "title", "objective", "brief", "tasks"),
            optional=(
                "topics",
                "difficulty",
                "estimated_minutes",
                "personality",
                "backends",
                "setup",
                "solution",
                "hint_penalty",
            ),
            what=" of keys (id, title, brief, tasks, ...)",
        )
        if f is None:
            return None
        values: dict[str, Any] = {}
        if "id" in f:
            values["id"] = self.ident(f["id"][1], "id", _SCENARIO_ID_RE)
            if values["id"] and folder_name is not None and values["id"] != folder_name:
                self.error(
                    f["id"][1], "id", f'"{values["id"]}" does not match its folder name "{folder_name}"'
                )
        if "version" in f:
            values["version"] = self.string(f["version"][1], "version")
        for key in ("title", "objective", "brief"):
            if key in f:
                values[key] = self.string(f[key][1], key)
        if (
            "objective" in f
            and values.get("objective")
            and not re.match(r"^\d{3}\.\d+$", values["objective"])
        ):
            self.error(
                f["objective"][1],
                "objective",
                f'"{values["objective"]}" is not an LPI objective such as 211.3',
            )
        if "topics" in f:
            values["topics"] = self.strings(f["topics"][1], "topics")
        if "difficulty" in f:
            values["difficulty"] = self.choice(f["difficulty"][1], "difficulty", DIFFICULTIES)
        if "estimated_minutes" in f:
            values["estimated_minutes"] = self.integer(
                f["estimated_minutes"][1], "estimated_minutes", minimum=1
            )
        if "personality" in f:
            values["personality"] = self.choice(f["personality"][1], "personality", PERSONALITIES)
        if "backends" in f:
            values["backends"] = self.backends(f["backends"][1])
        if "hint_penalty" in f:
            values["hint_penalty"] = self.penalty(f["hint_penalty"][1], "hint_penalty")
        users: list[str] = []
        if "setup" in f:
            values["setup"] = self.setup(f["setup"][1], users)
        if "tasks" in f:
            values["tasks"] = self.tasks(f["tasks"][1])
        if "solution" in f:
            values["solution"] = self.solution(f["solution"][1])
        if self.issues or any(v is None for v in values.values()):
            return None
        return Scenario(**values)

    def penalty(self, node: Node, where: str) -> float | None:
        value = self.number(node, where)
        if value is not None and value < 0:
            self.error(node, where, f"must be 0 or more, found {node.value}")
            return None
        return value

    def backends(self, node: Node) -> list[str] | None:
        names = self.strings(node, "backends", nonempty="the list is empty; give local, docker or both")
        if names is None:
            return None
        seq = self.sequence(node, "backends") or []
        for i, (name, item) in enumerate(zip(names, seq, strict=False)):
            if name not in BACKENDS:
                self.error(item, f"backends[{i}]", f'"{name}" is not one of {", ".join(BACKENDS)}')
                return None
        return names

    # --- setup -------------------------------------------------------------

    def setup(self, node: Node, users: list[str]) -> Setup | None:
        f = self.mapping(node, "setup", (), ("users", "groups", "files", "mailboxes", "commands", "services"))
        if f is None:
            return None
        setup = Setup()
        ok = True
        if "users" in f:
            got = self.users(f["users"][1])
            ok &= got is not None
            setup.users = got or []
        users.extend(u.name for u in setup.users)
        if "groups" in f:
            groups = self.groups(f["groups"][1])
            ok &= groups is not None
            setup.groups = groups or []
        if "files" in f:
            files = self.files(f["files"][1], "setup.files")
            ok &= files is not None
            setup.files = files or []
        if "mailboxes" in f:
            boxes = self.mailboxes(f["mailboxes"][1], users)
            ok &= boxes is not None
            setup.mailboxes = boxes or []
        for key in ("commands", "services"):
            if key in f:
                got_list = self.strings(f[key][1], f"setup.{key}")
                ok &= got_list is not None
                setattr(setup, key, got_list or [])
        return setup if ok else None

    def users(self, node: Node) -> list[UserSetup] | None:
        items = self.sequence(node, "setup.users")
        if items is None:
            return None
        out: list[UserSetup] = []
        seen: dict[str, Node] = {}
        ok = True
        for i, item in enumerate(items):
            where = f"setup.users[{i}]"
            f = self.mapping(item, where, ("name",), ("password", "uid", "groups", "home", "shell"))
            if f is None:
                ok = False
                continue
            name = self.ident(f["name"][1], f"{where}.name") if "name" in f else None
            user = UserSetup(name=name or "")
            if name and name in seen:
                self.error(
                    f["name"][1],
                    f"{where}.name",
                    f'duplicate user "{name}" (first at line {_line(seen[name])})',
                )
                ok = False
            elif name:
                seen[name] = f["name"][1]
            else:
                ok = False
            if "password" in f:
                pw_node = f["password"][1]
                if isinstance(pw_node, ScalarNode) and pw_node.tag == _NULL:
                    user.password = None  # `password: ~` is a locked account
                else:
                    user.password = self.string(pw_node, f"{where}.password", allow_empty=True)
                    ok &= user.password is not None
            if "uid" in f:
                user.uid = self.integer(f["uid"][1], f"{where}.uid", minimum=0)
                ok &= user.uid is not None
            if "groups" in f:
                groups = self.strings(f["groups"][1], f"{where}.groups")
                ok &= groups is not None
                user.groups = groups or []
            for key in ("home", "shell"):
                if key in f:
                    path = self.abs_path(f[key][1], f"{where}.{key}")
                    ok &= path is not None
                    setattr(user, key, path)
            out.append(user)
        return out if ok else None

    def groups(self, node: Node) -> list[GroupSetup] | None:
        items = self.sequence(node, "setup.groups")
        if items is None:
            return None
        out: list[GroupSetup] = []
        ok = True
        for i, item in enumerate(items):
            where = f"setup.groups[{i}]"
            f = self.mapping(item, where, ("name",), ("gid", "members"))
            if f is None:
                ok = False
                continue
            name = self.ident(f["name"][1], f"{where}.name") if "name" in f else None
            group = GroupSetup(name=name or "")
            ok &= name is not None
            if "gid" in f:
                group.gid = self.integer(f["gid"][1], f"{where}.gid", minimum=0)
                ok &= group.gid is not None
            if "members" in f:
                members = self.strings(f["members"][1], f"{where}.members")
                ok &= members is not None
                group.members = members or []
            out.append(group)
        return out if ok else None

    def files(self, node: Node, where_list: str) -> list[FileSetup] | None:
        items = self.sequence(node, where_list)
        if items is None:
            return None
        out: list[FileSetup] = []
        ok = True
        for i, item in enumerate(items):
            where = f"{where_list}[{i}]"
            f = self.mapping(item, where, ("path",), ("content", "source", "mode", "owner", "group"))
            if f is None:
                ok = False
                continue
            path = self.abs_path(f["path"][1], f"{where}.path") if "path" in f else None
            spec = FileSetup(path=path or "")
            ok &= path is not None
            if "content" in f and "source" in f:
                self.error(f["source"][0], where, "give either content or source, not both")
                ok = False
            elif "content" not in f and "source" not in f:
                self.error(
                    item, where, 'needs "content" (the text) or "source" (a file in the files/ folder)'
                )
                ok = False
            if "content" in f:
                spec.content = self.string(f["content"][1], f"{where}.content", allow_empty=True)
                ok &= spec.content is not None
            if "source" in f and "content" not in f:
                spec.source = self.source(f["source"][1], f"{where}.source")
                ok &= spec.source is not None
            if "mode" in f:
                mode = self.mode(f["mode"][1], f"{where}.mode")
                ok &= mode is not None
                spec.mode = mode if mode is not None else spec.mode
            if "owner" in f:
                owner = self.string(f["owner"][1], f"{where}.owner")
                ok &= owner is not None
                spec.owner = owner or spec.owner
            if "group" in f:
                spec.group = self.string(f["group"][1], f"{where}.group")
                ok &= spec.group is not None
            out.append(spec)
        return out if ok else None

    def source(self, node: Node, where: str) -> str | None:
        name = self.string(node, where)
        if name is None:
            return None
        if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
            self.error(node, where, f'"{name}" must be a relative path inside the files/ folder')
            return None
        if self.files_dir is None:
            self.error(node, where, f'"{name}" cannot be read: this scenario has no folder')
            return None
        target = self.files_dir / name
        if not target.is_file():
            self.error(node, where, f'source file "files/{name}" does not exist next to {self.display}')
            return None
        return name

    def mailboxes(self, node: Node, users: list[str]) -> list[MailboxSetup] | None:
        items = self.sequence(node, "setup.mailboxes")
        if items is None:
            return None
        out: list[MailboxSetup] = []
        ok = True
        for i, item in enumerate(items):
            where = f"setup.mailboxes[{i}]"
            f = self.mapping(item, where, ("user",), ("format", "location", "count", "messages", "folders"))
            if f is None:
                ok = False
                continue
            user = self.string(f["user"][1], f"{where}.user") if "user" in f else None
            if user is not None and user not in users:
                known = ", ".join(users) if users else "none declared"
                self.error(f["user"][1], f"{where}.user", f'user "{user}" is not in setup.users ({known})')
                user = None
            box = MailboxSetup(user=user or "")
            ok &= user is not None
            if "format" in f:
                fmt = self.choice(f["format"][1], f"{where}.format", MAIL_FORMATS)
                ok &= fmt is not None
                box.format = "mbox" if fmt == "mbox" else "maildir"
            if "location" in f:
                location = self.string(f["location"][1], f"{where}.location")
                if location is not None and not location.startswith(("/", "~")):
                    self.error(f["location"][1], f"{where}.location", f'"{location}" must start with / or ~')
                    location = None
                ok &= location is not None
                box.location = location or ""
            if "count" in f:
                box.count = self.integer(f["count"][1], f"{where}.count", minimum=0)
                ok &= box.count is not None
            if "messages" in f:
                messages = self.messages(f["messages"][1], f"{where}.messages")
                ok &= messages is not None
                box.messages = messages or []
            if "folders" in f:
                folders = self.strings(f["folders"][1], f"{where}.folders")
                ok &= folders is not None
                box.folders = folders or []
            out.append(box)
        return out if ok else None

    def messages(self, node: Node, where_list: str) -> list[MessageSetup] | None:
        items = self.sequence(node, where_list)
        if items is None:
            return None
        out: list[MessageSetup] = []
        ok = True
        for i, item in enumerate(items):
            where = f"{where_list}[{i}]"
            f = self.mapping(item, where, ("subject",), ("from", "to", "date", "body"))
            if f is None:
                ok = False
                continue
            subject = self.string(f["subject"][1], f"{where}.subject") if "subject" in f else None
            message = MessageSetup(subject=subject or "")
            ok &= subject is not None
            for key, attr in (("from", "sender"), ("to", "to"), ("date", "date"), ("body", "body")):
                if key in f:
                    value = self.string(f[key][1], f"{where}.{key}", allow_empty=True)
                    ok &= value is not None
                    setattr(message, attr, value or "")
            out.append(message)
        return out if ok else None

    # --- tasks and checks --------------------------------------------------

    def tasks(self, node: Node) -> list[Task] | None:
        items = self.sequence(node, "tasks", nonempty="the list is empty; a scenario needs at least one task")
        if items is None:
            return None
        out: list[Task] = []
        task_ids: dict[str, Node] = {}
        check_ids: dict[str, Node] = {}
        ok = True
        for i, item in enumerate(items):
            where = f"tasks[{i}]"
            f = self.mapping(item, where, ("id", "text", "hints", "checks"), ("title",))
            if f is None:
                ok = False
                continue
            task_id = self.ident(f["id"][1], f"{where}.id") if "id" in f else None
            if task_id is not None and task_id in task_ids:
                self.error(
                    f["id"][1],
                    f"{where}.id",
                    f'duplicate task id "{task_id}" (first at line {_line(task_ids[task_id])})',
                )
                task_id = None
            elif task_id is not None:
                task_ids[task_id] = f["id"][1]
            text = self.string(f["text"][1], f"{where}.text") if "text" in f else None
            task = Task(id=task_id or "", text=text or "")
            ok &= task_id is not None and text is not None
            if "title" in f:
                title = self.string(f["title"][1], f"{where}.title")
                ok &= title is not None
                task.title = title or ""
            if "hints" in f:
                hints = self.hints(f["hints"][1], f"{where}.hints")
                ok &= hints is not None
                task.hints = hints or []
            if "checks" in f:
                checks = self.checks(f["checks"][1], f"{where}.checks", check_ids)
                ok &= checks is not None
                task.checks = checks or []
            out.append(task)
        return out if ok else None

    def hints(self, node: Node, where_list: str) -> list[Hint] | None:
        items = self.sequence(
            node,
            where_list,
            nonempty="the list is empty; give at least one hint, "
            "from a nudge to the last one that leads to the answer",
        )
        if items is None:
            return None
        out: list[Hint] = []
        ok = True
        for i, item in enumerate(items):
            where = f"{where_list}[{i}]"
            if isinstance(item, MappingNode):
                f = self.mapping(item, where, ("text",), ("penalty",))
                if f is None or "text" not in f:
                    ok = False
                    continue
                text = self.string(f["text"][1], f"{where}.text")
                penalty = self.penalty(f["penalty"][1], f"{where}.penalty") if "penalty" in f else None
                if text is None or ("penalty" in f and penalty is None):
                    ok = False
                    continue
                out.append(Hint(text=text, penalty=penalty))
            else:
                text = self.string(item, where)
                if text is None:
                    ok = False
                    continue
                out.append(Hint(text=text))
        return out if ok else None

    def checks(self, node: Node, where_list: str, seen: dict[str, Node]) -> list[CheckSpec] | None:
        items = self.sequence(node, where_list, nonempty="the list is empty; a task needs at least one check")
        if items is None:
            return None
        out: list[CheckSpec] = []
        ok = True
        for i, item in enumerate(items):
            where = f"{where_list}[{i}]"
            f = self.mapping(
                item,
                where,
                ("id", "type"),
                ("description", "points", "params", "expect_fresh", "expect_fresh_reason"),
            )
            if f is None:
                ok = False
                continue
            check_id = self.ident(f["id"][1], f"{where}.id") if "id" in f else None
            if check_id is not None and check_id in seen:
                self.error(
                    f["id"][1],
                    f"{where}.id",
                    f'duplicate check id "{check_id}" (first at line {_line(seen[check_id])})',
                )
                check_id = None
            elif check_id is not None:
                seen[check_id] = f["id"][1]
            ok &= check_id is not None
            check_type: CheckType | None = None
            type_name = self.string(f["type"][1], f"{where}.type") if "type" in f else None
            if type_name is not None:
                check_type = CHECK_TYPES.get(type_name)
                if check_type is None:
                    known = ", ".join(CHECK_TYPES)
                    self.error(f["type"][1], where, f'unknown check type "{type_name}" (known: {known})')
            ok &= check_type is not None
            spec = CheckSpec(id=check_id or "", type=type_name or "")
            if "description" in f:
                description = self.string(f["description"][1], f"{where}.description")
                ok &= description is not None
                spec.description = description or ""
            if "points" in f:
                points = self.number(f["points"][1], f"{where}.points")
                if points is not None and points <= 0:
                    self.error(
                        f["points"][1],
                        f"{where}.points",
                        f"must be greater than 0, found {f['points'][1].value}",
                    )
                    points = None
                ok &= points is not None
                spec.points = points if points is not None else spec.points
            if "expect_fresh" in f:
                fresh = self.choice(f["expect_fresh"][1], f"{where}.expect_fresh", EXPECT_FRESH)
                ok &= fresh is not None
                spec.expect_fresh = "pass" if fresh == "pass" else "fail"
            if "expect_fresh_reason" in f:
                reason = self.string(f["expect_fresh_reason"][1], f"{where}.expect_fresh_reason")
                ok &= reason is not None
                spec.expect_fresh_reason = reason or ""
            if spec.expect_fresh == "pass" and not spec.expect_fresh_reason:
                self.error(
                    f["expect_fresh"][1],
                    where,
                    "expect_fresh: pass needs expect_fresh_reason, "
                    "saying why the check passes on the fresh lab",
                )
                ok = False
            if check_type is not None:
                # Problems with the parameters as a whole point at the `params:` line (or the check's).
                anchor = f["params"][0] if "params" in f else item
                params = self.params(f["params"][1] if "params" in f else None, anchor, where, check_type)
                ok &= params is not None
                spec.params = params or {}
            out.append(spec)
        return out if ok else None

    def params(
        self, node: Node | None, check_node: Node, where: str, check_type: CheckType
    ) -> dict[str, Any] | None:
        where_p = f"{where}.params"
        if node is None:
            fields: _Fields = {}
            anchor: Node = check_node
        else:
            got = self.mapping(
                node,
                where_p,
                (),
                tuple(p.name for p in check_type.params),
                noun="parameter",
                suffix=f" for check type {check_type.name}",
            )
            if got is None:
                return None
            fields, anchor = got, check_node
        values, ok = self.param_values(
            fields, anchor, where_p, check_type.params, f"check type {check_type.name}"
        )
        for group in check_type.exactly_one_of:
            given = [name for name in group if name in fields]
            if len(given) != 1:
                self.error(
                    anchor, where_p, f"check type {check_type.name} needs exactly one of {', '.join(group)}"
                )
                ok = False
        for name, value, needed in check_type.needs_when:
            if name not in values or (value is not None and values[name] != value):
                continue
            for need in needed:
                if need not in fields:
                    shown = (
                        ""
                        if value is None
                        else f": {str(value).lower() if isinstance(value, bool) else value}"
                    )
                    self.error(anchor, where_p, f'{name}{shown} needs parameter "{need}"')
                    ok = False
        for group in check_type.at_least_one_of:
            if not any(name in fields for name in group):
                self.error(
                    anchor, where_p, f"check type {check_type.name} needs at least one of {', '.join(group)}"
                )
                ok = False
        return values if ok else None

    def param_values(
        self, fields: _Fields, anchor: Node, where: str, decls: tuple[ParamDecl, ...], owner: str
    ) -> tuple[dict[str, Any], bool]:
        values: dict[str, Any] = {}
        ok = True
        for decl in decls:
            if decl.name not in fields:
                if decl.required:
                    self.error(anchor, where, f'{owner} needs parameter "{decl.name}"')
                    ok = False
                continue
            value = self.param_value(fields[decl.name][1], f"{where}.{decl.name}", decl)
            if value is None:
                ok = False
            else:
                values[decl.name] = value
        return values, ok

    def param_value(self, node: Node, where: str, decl: ParamDecl) -> Any:
        kind = decl.kind
        if kind == "str":
            value: Any = self.string(node, where, allow_empty=True)
            if value is not None and decl.allowed and value not in decl.allowed:
                self.error(node, where, f'"{value}" is not one of {", ".join(decl.allowed)}')
                return None
            if value is not None and decl.name.endswith("matches"):
                try:
                    re.compile(value)
                except re.error as exc:
                    self.error(node, where, f"not a valid regular expression: {exc}")
                    return None
            return value
        if kind == "int":
            return self.integer(node, where)
        if kind == "number":
            return self.number(node, where)
        if kind == "bool":
            return self.boolean(node, where)
        if kind == "mode":
            return self.mode(node, where)
        if kind == "str_list":
            return self.strings(node, where, nonempty="the list is empty")
        if kind == "strs":
            if isinstance(node, SequenceNode):
                return self.strings(node, where, nonempty="the list is empty")
            text = self.string(node, where)
            return [text] if text is not None else None
        if kind == "int_or_str":
            if isinstance(node, ScalarNode) and node.tag == _INT:
                return self.integer(node, where)
            return self.string(node, where, allow_empty=True)
        if kind == "map":
            # Required fields are reported by param_values, in the same words as check parameters.
            f = self.mapping(node, where, (), tuple(p.name for p in decl.fields), noun="parameter")
            if f is None:
                return None
            values, ok = self.param_values(f, node, where, decl.fields, f'"{decl.name}"')
            return values if ok else None
        self.error(node, where, f"has an undeclared kind {kind!r} ({KIND_NAMES.get(kind, '?')})")
        return None

    # --- solution ----------------------------------------------------------

    def solution(self, node: Node) -> Solution | None:
        f = self.mapping(node, "solution", (), ("files", "commands"))
        if f is None:
            return None
        solution = Solution()
        ok = True
        if "files" in f:
            files = self.files(f["files"][1], "solution.files")
            ok &= files is not None
            solution.files = files or []
        if "commands" in f:
            commands = self.strings(f["commands"][1], "solution.commands")
            ok &= commands is not None
            solution.commands = commands or []
        if ok and not solution.files and not solution.commands:
            self.error(node, "solution", "is empty; give the files to write or the commands to run")
            ok = False
        return solution if ok else None


def _yaml_issue(display: str, exc: yaml.YAMLError, text: str) -> ScenarioIssue:
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    mark = problem_mark or context_mark
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):
        message = f"invalid YAML: {context}, {problem}"
    elif context:
        started = ""
        if context_mark is not None and problem_mark is not None and context_mark.line != problem_mark.line:
            started = f" started at line {context_mark.line + 1}"
        message = f"invalid YAML: {problem} ({context}{started})"
    else:
        message = f"invalid YAML: {problem}"
    if mark is not None:
        return ScenarioIssue(display, mark.line + 1, "", f"{message}, column {mark.column + 1}")
    position = getattr(exc, "position", None)
    if isinstance(position, int):  # the reader refused a character: no mark, only an offset
        line = text[:position].count("\n") + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        return ScenarioIssue(display, line, "", f"{message}, column {column}")
    return ScenarioIssue(display, None, "", message)


def _compose(text: str, display: str) -> tuple[Node | None, list[ScenarioIssue]]:
    # libyaml is some forty times faster than the pure-Python parser; nesting is bounded first,
    # because composing is recursive and a hostile file could nest ten thousand levels.
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_FAST_LOADER):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark is not None else None
                    return None, [
                        ScenarioIssue(display, line, "", f"nested more than {MAX_DEPTH} levels deep")
                    ]
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
        return yaml.compose(text, Loader=_FAST_LOADER), []
    except yaml.YAMLError as exc:
        error: yaml.YAMLError = exc
        if depth >= MAX_DEPTH or "nesting depth" in str(getattr(exc, "problem", "")):
            return None, [_yaml_issue(display, error, text)]
    # The pure-Python parser words its errors better (it names the undefined alias, the token
    # it expected); the depth seen so far is bounded, so asking it again is safe.
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        error = exc
    except RecursionError:
        pass
    return None, [_yaml_issue(display, error, text)]


def validate_text(
    text: str, display: str, files_dir: Path | None = None, folder_name: str | None = None
) -> tuple[Scenario | None, list[ScenarioIssue]]:
    """Validate scenario YAML given as text. Returns the scenario (None if invalid) and every issue."""
    root, issues = _compose(text, display)
    if issues:
        return None, issues
    if root is None:
        message = "the file is empty; a scenario needs id, title, brief and tasks"
        return None, [ScenarioIssue(display, None, "", message)]
    walker = _Walker(display, files_dir)
    try:
        scenario = walker.scenario(root, folder_name)
    except RecursionError:
        walker.error(root, "", "nested too deeply")
        scenario = None
    issues = sorted(walker.issues, key=lambda issue: issue.line or 0)
    return (scenario if not issues else None), issues


def scenario_file(path: Path) -> Path:
    """scenario.yaml of a scenario folder, or the path itself when it names a file."""
    return path / SCENARIO_FILE if path.is_dir() else path


def validate_scenario(
    path: Path | str, display: str | None = None
) -> tuple[Scenario | None, list[ScenarioIssue]]:
    """Validate scenarios/<id>/ (or its scenario.yaml). `display` is how messages name the file."""
    file = scenario_file(Path(path))
    shown = display if display is not None else str(file)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return None, [ScenarioIssue(shown, None, "", "no such file; a scenario folder holds scenario.yaml")]
    except IsADirectoryError:
        return None, [ScenarioIssue(shown, None, "", "is a directory, not a scenario.yaml")]
    except OSError as exc:
        return None, [ScenarioIssue(shown, None, "", f"cannot read: {exc.strerror or exc}")]
    if len(data) > MAX_FILE_BYTES:
        return None, [
            ScenarioIssue(shown, None, "", f"is {len(data)} bytes; a scenario.yaml may hold at most 1 MiB")
        ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [ScenarioIssue(shown, line, "", f"is not UTF-8 text (byte 0x{data[exc.start]:02x})")]
    folder = file.parent.name if file.name == SCENARIO_FILE else None
    scenario, issues = validate_text(text, shown, file.parent / "files", folder)
    if scenario is not None:
        scenario.path = file
    return scenario, issues


def load_scenario(path: Path | str, display: str | None = None) -> Scenario:
    """Load a scenario or raise ScenarioError listing every problem."""
    scenario, issues = validate_scenario(path, display)
    if scenario is None:
        raise ScenarioError(issues)
    return scenario
