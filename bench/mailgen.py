"""Realistic test mail for the benchmark: plain and multipart messages of 1-50 KB,
written once as a Maildir and once as an mbox holding the same messages."""

from __future__ import annotations

import base64
import os
import random
import time
from email.utils import formatdate
from pathlib import Path

_WORDS_TEXT = (
    "the quick brown fox jumps over lazy dog mail server dovecot imap pop3 maildir mbox "
    "configuration lab exam objective learner instructor message folder index cache "
    "protocol greeting capability login select fetch flags size uid list retr quit"
)
WORDS = _WORDS_TEXT.split()

SENDERS = ["alice@example.com", "bob@example.org", "carol@example.net", "dave@lists.example.com"]


_CORPUS: list[bytes] = []


def _corpus(rng: random.Random) -> list[bytes]:
    """A few thousand lines of prose to cut messages from (drawing every word
    anew made generating 10,000 messages take half a minute)."""
    if not _CORPUS:
        for _ in range(4000):
            line = " ".join(rng.choices(WORDS, k=rng.randint(6, 11)))
            if rng.random() < 0.02:
                line = "From " + line  # mbox must quote these as >From
            _CORPUS.append(line.encode() + b"\n")
    return _CORPUS


def _text(rng: random.Random, size: int) -> bytes:
    """About `size` bytes of prose in lines of up to 72 characters."""
    corpus = _corpus(rng)
    out: list[bytes] = []
    total = 0
    while total < size:
        start = rng.randrange(len(corpus) - 50)
        for line in corpus[start : start + 50]:
            out.append(line)
            total += len(line)
            if total >= size:
                break
    return b"".join(out)


def _headers(rng: random.Random, i: int, date: float, extra: str = "") -> bytes:
    sender = rng.choice(SENDERS)
    hops = "".join(
        f"Received: from relay{h}.example.com (relay{h}.example.com [192.0.2.{h + 1}])\n"
        f"\tby mx.example.com with ESMTPS id {rng.getrandbits(40):x}; {formatdate(date - h)}\n"
        for h in range(rng.randint(1, 4))
    )
    return (
        f"Return-Path: <{sender}>\n{hops}"
        f"Message-ID: <{i}.{rng.getrandbits(32):x}@example.com>\n"
        f"Date: {formatdate(date)}\nFrom: {sender}\nTo: tester@example.com\n"
        f"Subject: benchmark message {i} about {rng.choice(WORDS)}\n"
        f"MIME-Version: 1.0\n{extra}"
    ).encode()


def make_message(rng: random.Random, i: int, date: float) -> bytes:
    """One message with LF line ends; sizes spread from 1 KB to 50 KB, small ones
    commoner, as in a real mailbox. One in five is multipart with an attachment."""
    target = int(1024 * 50 ** rng.random())
    if rng.random() < 0.2 and target > 4096:
        boundary = f"=_b{rng.getrandbits(48):x}"
        body_len = min(2048, target // 3)
        attachment = base64.encodebytes(rng.randbytes(max(0, (target - body_len - 1500) * 3 // 4)))
        head = _headers(rng, i, date, f'Content-Type: multipart/mixed; boundary="{boundary}"\n')
        parts = (
            b"\nThis is a multi-part message in MIME format.\n\n"
            + f"--{boundary}\n".encode()
            + b"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n"
            + _text(rng, body_len)
            + f"\n--{boundary}\n".encode()
            + b'Content-Type: application/octet-stream; name="data.bin"\n'
            + b"Content-Transfer-Encoding: base64\n"
            + b'Content-Disposition: attachment; filename="data.bin"\n\n'
            + attachment
            + f"\n--{boundary}--\n".encode()
        )
        return head + parts
    head = _headers(rng, i, date, "Content-Type: text/plain; charset=us-ascii\n")
    return head + b"\n" + _text(rng, max(200, target - len(head)))


def generate(count: int, seed: int = 211) -> list[tuple[float, bytes]]:
    rng = random.Random(seed)
    start = time.time() - count * 60 - 86400
    return [(start + i * 60, make_message(rng, i, start + i * 60)) for i in range(1, count + 1)]


def write_maildir(path: Path, messages: list[tuple[float, bytes]]) -> None:
    """Messages already in cur/, most of them \\Seen, named as a delivery agent
    names them (`,S=` but no `,W=`: both servers compute the CRLF size once)."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(len(messages))
    for i, (date, data) in enumerate(messages, 1):
        flags = "S" if rng.random() < 0.8 else ""
        if rng.random() < 0.05:
            flags = "FS" if flags else "F"
        name = f"{int(date)}.M{i}P{1000 + i}.bench,S={len(data)}:2,{flags}"
        file = path / "cur" / name
        file.write_bytes(data)
        os.utime(file, (date, date))


def _mbox_quote(body: bytes) -> bytes:
    lines = body.split(b"\n")
    return b"\n".join(b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in lines)


def write_mbox(path: Path, messages: list[tuple[float, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for date, data in messages:
            stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(date))
            f.write(f"From alice@example.com {stamp}\n".encode())
            f.write(_mbox_quote(data))
            f.write(b"\n")
