"""The shell-style parser of /etc/courier files and the typed daemon settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.mailserver.config.courier import (
    CourierConfigError,
    MissingConfig,
    load_authdaemonrc,
    load_daemon,
    parse_ports,
    parse_shell,
)
from labsim.mailserver.courier.install import install_defaults
from labsim.mailserver.labroot import LabRoot


def test_expansion_of_earlier_variable_inside_double_quotes() -> None:
    v = parse_shell(
        'IMAP_CAPABILITY="IMAP4rev1 UIDPLUS IDLE"\nIMAP_CAPABILITY_TLS="$IMAP_CAPABILITY AUTH=PLAIN"\n', "/f"
    )
    assert v.values["IMAP_CAPABILITY_TLS"] == "IMAP4rev1 UIDPLUS IDLE AUTH=PLAIN"
    assert v.where["IMAP_CAPABILITY_TLS"] == ("/f", 2)


def test_braces_single_quotes_escapes_and_undefined() -> None:
    text = 'A=one\nB=${A}two\nC=\'$A stays\'\nD="a \\"q\\" \\$A"\nE=$UNSET\nF=x\\ y\n'
    v = parse_shell(text, "/f").values
    assert v == {"A": "one", "B": "onetwo", "C": "$A stays", "D": 'a "q" $A', "E": "", "F": "x y"}


def test_comments_and_backslash_continuation() -> None:
    text = '# comment\nA=1 # trailing comment\nB="x \\\ny"\nC=ab\\\ncd\nD=a#b\n'
    v = parse_shell(text, "/f")
    assert v.values == {"A": "1", "B": "x y", "C": "abcd", "D": "a#b"}
    assert v.where["C"] == ("/f", 5)


def test_multiline_double_quoted_value_and_line_numbers_after_it() -> None:
    v = parse_shell('A="line1\nline2"\nB=2\n', "/f")
    assert v.values["A"] == "line1\nline2"
    assert v.where["B"] == ("/f", 3)


def test_several_assignments_on_one_line_and_export() -> None:
    v = parse_shell("A=1 B=2; export C=3\nexport A\n", "/f")
    assert v.values == {"A": "1", "B": "2", "C": "3"}
    assert v.warnings == []


def test_unterminated_quote_is_dash_syntax_error() -> None:
    with pytest.raises(CourierConfigError) as exc:
        parse_shell('A=1\nB="open\n', "/etc/courier/imapd", argv0="/usr/sbin/imapd")
    assert str(exc.value) == (
        "/usr/sbin/imapd: 3: /etc/courier/imapd: Syntax error: Unterminated quoted string"
    )


def test_unterminated_single_quote() -> None:
    with pytest.raises(CourierConfigError) as exc:
        parse_shell("A='x\n\n", "/f")
    assert exc.value.message == "Syntax error: Unterminated quoted string"


def test_space_around_equals_is_a_command_not_found_warning() -> None:
    v = parse_shell("A=1\nMAXPERIP = 20\n", "/etc/courier/imapd")
    assert v.values == {"A": "1"}
    assert v.warnings == ["sh: 2: /etc/courier/imapd: MAXPERIP: not found"]


def test_command_substitution_refused_with_location() -> None:
    with pytest.raises(CourierConfigError) as exc:
        parse_shell("A=1\nB=$(hostname)\n", "/f")
    assert exc.value.line == 2


def test_bad_substitution() -> None:
    with pytest.raises(CourierConfigError) as exc:
        parse_shell("A=${1x}\n", "/f")
    assert exc.value.message == "${1x}: Bad substitution"


def test_unexpected_operator() -> None:
    with pytest.raises(CourierConfigError) as exc:
        parse_shell("A=1\n| B=2\n", "/f")
    assert str(exc.value) == 'sh: 2: /f: Syntax error: "|" unexpected'


def test_parse_ports() -> None:
    assert parse_ports("143", 143) == [("", 143)]
    assert parse_ports("127.0.0.1.143,::1.1143", 143) == [("127.0.0.1", 143), ("::1", 1143)]
    assert parse_ports("", 993) == [("", 993)]
    assert parse_ports("x", 993) == []


def _lab(tmp_path: Path) -> LabRoot:
    root = LabRoot(tmp_path)
    install_defaults(root)
    return root


def test_debian_like_defaults_load(tmp_path: Path) -> None:
    root = _lab(tmp_path)
    imapd = load_daemon(root, "imapd")
    assert imapd.start and imapd.starttls and not imapd.ssl
    assert imapd.ports == [("", 143)]
    assert imapd.maxperip == 20
    assert imapd.maildirpath == "Maildir"
    assert imapd.capability_tls == imapd.capability + " AUTH=PLAIN"
    assert imapd.tls_certfile == "/etc/courier/imapd.pem"
    assert imapd.tls_protocol == "TLSv1.2+"
    ssl = load_daemon(root, "imapd-ssl")
    assert ssl.ssl and ssl.start and ssl.ports == [("", 993)]
    pop = load_daemon(root, "pop3d")
    assert pop.start and pop.maxperip == 4 and pop.ports == [("", 110)]
    assert load_daemon(root, "pop3d-ssl").ports == [("", 995)]
    rc = load_authdaemonrc(root)
    assert rc.modules == ["authpam"] and rc.debug_login == 0


def test_imapd_wins_over_imapd_ssl_for_the_plain_daemon(tmp_path: Path) -> None:
    root = _lab(tmp_path)
    path = root.path("/etc/courier/imapd")
    path.write_text(path.read_text() + "IMAPDSTART=NO\nMAXPERIP=3\n")
    assert load_daemon(root, "imapd").start is False
    assert load_daemon(root, "imapd").maxperip == 3


def test_missing_file_reads_as_the_init_script_says(tmp_path: Path) -> None:
    root = _lab(tmp_path)
    root.path("/etc/courier/imapd-ssl").unlink()
    with pytest.raises(MissingConfig) as exc:
        load_daemon(root, "imapd")
    assert str(exc.value) == "/etc/courier/imapd-ssl does not exist, forgot make install-configure?"


_WORD = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_parser_never_crashes(text: str) -> None:
    try:
        v = parse_shell(text, "/f")
    except CourierConfigError as exc:
        assert exc.path == "/f" and exc.line >= 1
        return
    assert all(isinstance(x, str) for x in v.values.values())


@settings(max_examples=200, deadline=None)
@given(_WORD)
def test_fuzz_single_quoted_values_round_trip(value: str) -> None:
    quoted = "'" + value.replace("'", "'\\''") + "'"
    assert parse_shell(f"V={quoted}\n", "/f").values["V"] == value


@settings(max_examples=200, deadline=None)
@given(_WORD)
def test_fuzz_double_quoted_values_round_trip(value: str) -> None:
    escaped = "".join("\\" + c if c in '"\\$`' else c for c in value)
    assert parse_shell(f'V="{escaped}"\n', "/f").values["V"] == value


def test_missing_plain_file_is_reported_first(tmp_path: Path) -> None:
    root = LabRoot(tmp_path)
    with pytest.raises(MissingConfig) as exc:
        load_daemon(root, "imapd-ssl")
    assert exc.value.lab_path == "/etc/courier/imapd"


# --- differential: our parser against dash itself ---------------------------------------

_NAMES = ("A", "B", "C")
_PLAIN = st.text(alphabet="abcXYZ019_.,:=+-/@%", min_size=1, max_size=6)
_INNER = st.text(alphabet="ab c#;|&()<>*?~!'=", max_size=6)


def _piece(draw: st.DrawFn, earlier: list[str]) -> str:
    kinds = ["plain", "single", "double", "escape"]
    if earlier:
        kinds += ["var", "bracevar", "dqvar"]
    kind = draw(st.sampled_from(kinds))
    if kind == "plain":
        return draw(_PLAIN)
    if kind == "single":
        return "'" + draw(_INNER).replace("'", "") + "'"
    if kind == "double":
        text = draw(_INNER)
        return '"' + "".join("\\" + c if c in '"\\$`' else c for c in text) + '"'
    if kind == "escape":
        return "\\" + draw(st.sampled_from(list(" #;'\"$ab")))
    name = draw(st.sampled_from(earlier))
    if kind == "var":
        return "$" + name
    if kind == "bracevar":
        return "${" + name + "}"
    return '"x $' + name + " ${" + name + '}y"'


@st.composite
def _scripts(draw: st.DrawFn) -> str:
    lines: list[str] = []
    earlier: list[str] = []
    for name in _NAMES:
        pieces = [_piece(draw, earlier) for _ in range(draw(st.integers(1, 4)))]
        if draw(st.booleans()) and len(pieces) > 1:
            pieces.insert(1, "\\\n")  # a backslash continuation inside the word
        comment = draw(st.sampled_from(["", " # note", "  #x'\""]))
        lines.append(f"{name}={''.join(pieces)}{comment}")
        earlier.append(name)
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(not Path("/bin/sh").resolve().name.startswith("dash"), reason="needs dash as /bin/sh")
@settings(max_examples=60, deadline=None)
@given(_scripts())
def test_parser_agrees_with_dash(tmp_path_factory: pytest.TempPathFactory, script: str) -> None:
    import subprocess

    path = tmp_path_factory.mktemp("sh") / "conf"
    path.write_text(script)
    out = subprocess.run(
        ["/bin/sh", "-c", '. "$1" && printf "%s\\0" "$A" "$B" "$C"', "sh", str(path)],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=10,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    expected = out.stdout.decode().split("\0")[:3]
    got = parse_shell(script, "/f").values
    assert [got[n] for n in _NAMES] == expected


@pytest.mark.skipif(not Path("/bin/sh").resolve().name.startswith("dash"), reason="needs dash as /bin/sh")
@pytest.mark.parametrize(
    "script",
    ['A=1\nB="x\n', "A='x\n\n\nB=2\n", 'A=1\n\nB="a\\\n b\nC=3\n', "A=1\n| B=2\n", "A=1;;\n", "&& A=1\n"],
)
def test_syntax_errors_read_as_dash_says(tmp_path: Path, script: str) -> None:
    import subprocess

    path = tmp_path / "imapd"
    path.write_text(script)
    out = subprocess.run(
        ["/bin/sh", "-c", '. "$1"', "sh", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode != 0
    with pytest.raises(CourierConfigError) as exc:
        parse_shell(script, str(path))
    assert out.stderr == f"{exc.value}\n"


@pytest.mark.skipif(not Path("/bin/sh").resolve().name.startswith("dash"), reason="needs dash as /bin/sh")
@pytest.mark.parametrize(
    "script",
    [
        "A=1 | B=2\nC=3\n",
        "A=1 &\nB=2\n",
        "A=1 && B=2 || C=3\n",
        "A=1 nosuchcmd\nB=2\n",
        "A=1 >/dev/null\nB=$A\n",
        "export A=5 B\nC=$A$B\n",
        "A=1;B=2;C=3\n",
    ],
)
def test_command_lists_agree_with_dash(tmp_path: Path, script: str) -> None:
    import subprocess

    path = tmp_path / "conf"
    path.write_text(script)
    out = subprocess.run(
        ["/bin/sh", "-c", '. "$1"; printf "%s\\0" "${A-unset}" "${B-unset}" "${C-unset}"', "sh", str(path)],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    got = parse_shell(script, "/f").values
    assert [got.get(n, "unset") for n in _NAMES] == out.stdout.decode().split("\0")[:3]
