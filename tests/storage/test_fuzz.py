"""Hostile bytes in mail files never raise anything but StorageError."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.mailserver.storage.base import MailStorage, StorageError
from labsim.mailserver.storage.maildir_files import Uidlist
from labsim.mailserver.storage.mbox_format import parse_mbox
from tests.labroot_builder import LabBuilder

FROM = b"From sender@example.com Tue Nov 14 22:13:20 2023\n"

pieces = st.sampled_from(
    [
        FROM,
        b"From \n",
        b"\n",
        b">From x\n",
        b"Status: RO\n",
        b"X-Status: AFTD\n",
        b"X-UID: 4294967296\n",
        b"X-UID: 2\n",
        b"X-IMAPbase: 1 2 kw\n",
        b"X-IMAPbase: 99999999999 x\n",
        b"X-IMAP: 5 0000000003\n",
        b"Content-Length: 5\n",
        b"Content-Length: 99999999999999\n",
        b"X-Keywords: \xff\xfe\n",
        b"Subject: x\n",
        b"\r\n",
        b" continued\n",
    ]
)
mbox_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(pieces, st.binary(max_size=12)), max_size=25).map(b"".join),
    st.lists(st.one_of(pieces, st.binary(max_size=12)), max_size=25).map(lambda p: FROM + b"".join(p)),
)


@settings(max_examples=300, deadline=None)
@given(mbox_bytes)
def test_parse_mbox_only_storage_errors(data: bytes) -> None:
    try:
        msgs = parse_mbox(data)
    except StorageError:
        return
    for m in msgs:
        out = m.client_bytes()
        assert b"\n" not in out.replace(b"\r\n", b"")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mbox_bytes)
def test_mbox_mailbox_survives_anything(
    storage_for: Callable[[str], MailStorage], lab: LabBuilder, data: bytes
) -> None:
    lab.write("/var/mail/alice", data, mode=0o600)
    storage = storage_for("mbox:~/mail:INBOX=/var/mail/%u")
    try:
        box = storage.open("INBOX")
        for m in box.messages:
            assert len(box.read(m)) == m.size
            box.set_flags(m, {"\\Seen"})
        uids = [m.uid for m in box.messages]
        assert uids == sorted(set(uids))
        box.expunge(uids[:1])
        again = storage.open("INBOX")
        assert [m.uid for m in again.messages] == uids[1:]
        assert all("\\Seen" in m.flags for m in again.messages)
    except StorageError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: ("3 V1 N2 G\n" + t).encode()))
def test_uidlist_parse_never_raises(data: bytes) -> None:
    ul = Uidlist.parse(data)
    if ul is not None:
        assert ul.uidvalidity > 0
        assert all(r.uid < ul.nextuid for r in ul.records.values())


fname_chars = st.characters(exclude_characters="/\x00", exclude_categories=["Cs"])
maildir_names = st.lists(
    st.tuples(
        st.sampled_from(["cur", "new"]),
        st.one_of(
            st.text(fname_chars, min_size=1, max_size=30),
            st.builds(
                lambda b, i: f"{b}:2,{i}",
                st.text(fname_chars, min_size=1, max_size=10),
                st.text(max_size=6, alphabet="DFPRSTabz:,"),
            ),
            st.builds(lambda n: f"1700.M1P1.host,S={n},W={n}", st.integers(0, 10**12)),
        ),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=maildir_names, uidlist=st.binary(max_size=80))
def test_maildir_survives_odd_files(
    storage_for: Callable[[str], MailStorage], lab: LabBuilder, names: list[tuple[str, str]], uidlist: bytes
) -> None:
    import shutil

    base = lab.root.path("/home/alice/Maildir")
    shutil.rmtree(base, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        (base / sub).mkdir(parents=True)
    for sub, name in names:
        if name in (".", "..") or len(name.encode()) > 200:
            continue
        (base / sub / name).write_bytes(b"Subject: x\n\nbody\n")
    (base / "dovecot-uidlist").write_bytes(uidlist)
    try:
        box = storage_for("maildir:~/Maildir").open("INBOX")
        uids = [m.uid for m in box.messages]
        assert uids == sorted(set(uids))
        for m in box.messages:
            box.read(m)
            box.set_flags(m, {"\\Seen", "kw"})
        box.expunge(uids[:1])
        again = storage_for("maildir:~/Maildir").open("INBOX")
        assert [m.uid for m in again.messages] == [
            u for u in uids[1:] if u in {m.uid for m in again.messages}
        ]
    except StorageError:
        pass
