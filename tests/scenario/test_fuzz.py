"""Whatever a scenario file holds, validation answers with clean errors, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.scenario.check_types import CHECK_TYPES
from labsim.scenario.loader import validate_text

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "scenarios" / "_example"
EXAMPLE_TEXT = (EXAMPLE / "scenario.yaml").read_text()
SHOWN = "scenarios/fuzz/scenario.yaml"

KEYS = sorted(
    set(
        [
            "id",
            "version",
            "title",
            "objective",
            "brief",
            "tasks",
            "topics",
            "difficulty",
            "estimated_minutes",
            "personality",
            "backends",
            "setup",
            "solution",
            "hint_penalty",
            "users",
            "groups",
            "files",
            "mailboxes",
            "commands",
            "services",
            "name",
            "password",
            "uid",
            "home",
            "path",
            "content",
            "source",
            "mode",
            "owner",
            "user",
            "format",
            "location",
            "count",
            "messages",
            "folders",
            "subject",
            "from",
            "text",
            "hints",
            "checks",
            "type",
            "points",
            "params",
            "expect_fresh",
            "expect_fresh_reason",
            "penalty",
            "lands_in",
        ]
    )
    | {p.name for t in CHECK_TYPES.values() for p in t.params}
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [*CHECK_TYPES, "dovecot", "courier", "pass", "fail", "0600", "/etc/x", "../x", "~/Maildir"]
    ),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), children, max_size=6),
    ),
    max_leaves=12,
)
small_documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(KEYS), children, max_size=3)
    ),
    max_leaves=5,
)
YAML_CHARS = list("ab:-_ \n\n\t'\"[]{}&*!|>#%@`,?0123456789.~\x00\x85\ufeff\u2028é")


def assert_clean(text: str) -> None:
    scenario, issues = validate_text(text, SHOWN, EXAMPLE / "files", "fuzz")
    if scenario is None:
        assert issues, "an invalid scenario must say why"
    for issue in issues:
        assert str(issue).startswith(SHOWN)
        assert issue.line is None or issue.line >= 1
        assert "Traceback" not in str(issue)


def _dump(value: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(value, Dumper=dumper, allow_unicode=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(YAML_CHARS), max_size=120))
def test_random_text(text: str) -> None:
    assert_clean(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents(document: Any) -> None:
    assert_clean(_dump(document))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(KEYS), small_documents, max_size=6),
    st.lists(st.dictionaries(st.sampled_from(KEYS), small_documents, max_size=4), max_size=3),
)
def test_documents_shaped_like_a_scenario(top: dict[str, Any], tasks: list[Any]) -> None:
    document = {"id": "fuzz", "version": 1, "title": "t", "objective": "211.3", "brief": "b", **top}
    document["tasks"] = [
        {"id": f"t{i}", "text": "x", "hints": ["h"], "checks": [dict(task, id=f"c{i}")], **task}
        for i, task in enumerate(tasks)
    ]
    assert_clean(_dump(document))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=len(EXAMPLE_TEXT)),
    st.integers(min_value=0, max_value=40),
    st.text(alphabet=st.sampled_from(YAML_CHARS), max_size=10),
)
def test_mutated_example(start: int, length: int, insert: str) -> None:
    assert_clean(EXAMPLE_TEXT[:start] + insert + EXAMPLE_TEXT[start + length :])


def test_hostile_yaml_shapes() -> None:
    assert_clean("a: &a [*a, *a]\nid: *a\n")  # a recursive alias
    assert_clean("[" * 5000 + "]" * 5000)  # nested very deeply
    assert_clean("a:\n" + "".join(" " * i + "- \n" for i in range(0, 300, 2)))  # deep in block style
    assert_clean("id: !!python/object:os.system x\n")  # a tag that must never run anything
    assert_clean("id: !!int nope\nversion: !!float x\n")
    assert_clean("? [a, b]\n: c\n")  # a complex key
    assert_clean("<<: {id: x}\n")  # a merge key
    laughs = "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    assert_clean(laughs + "tasks: *i\n")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_in_a_file(data: bytes) -> None:
    import tempfile

    from labsim.scenario.loader import validate_scenario

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scenario.yaml"
        path.write_bytes(data)
        scenario, issues = validate_scenario(path, SHOWN)
        assert scenario is None and issues
        assert all(str(issue).startswith(SHOWN) for issue in issues)
