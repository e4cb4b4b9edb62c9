"""The subscriptions file, in the layout Dovecot 2.3 writes:

    V<TAB>2
    <empty line>
    Archive
    Archive<TAB>2024

(one mailbox a line, hierarchy levels joined by TAB). The older layout, one
name a line with the storage's own separator, is read too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.storage.base import StorageError
from labsim.mailserver.storage.fsutil import atomic_write, dotlock, os_error
from labsim.mailserver.storage.names import decode_mutf7, encode_mutf7


def _decode(component: str) -> str:
    try:
        return decode_mutf7(component)
    except StorageError:
        return component


def read_subscriptions(root: LabRoot, path: Path, separator: str) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except PermissionError as exc:
        if not os.access(path.parent, os.X_OK):
            # In a directory it cannot enter, Dovecot's stat() fails first, and it says no more.
            # An internal error to the client (LSUB answers [SERVERBUG]), not [NOPERM].
            raise StorageError(f"stat({root.lab_path(path)}) failed: {exc.strerror}") from exc
        raise os_error(root, "open", path, exc) from exc
    except OSError as exc:
        raise os_error(root, "open", path, exc) from exc
    lines = data.decode("utf-8", "replace").split("\n")
    names: list[str] = []
    if lines and lines[0] == "V\t2":
        for line in lines[2:]:
            if line:
                names.append(separator.join(_decode(p) for p in line.split("\t")))
    else:
        for line in lines:
            line = line.rstrip("\r")
            if line:
                names.append(separator.join(_decode(p) for p in line.split(separator)))
    seen: set[str] = set()
    unique = []
    for n in names:
        if n not in seen:
            seen.add(n)
            unique.append(n)
    return unique


def write_subscriptions(
    root: LabRoot, path: Path, separator: str, names: list[str], uid: int, gid: int
) -> None:
    body = "".join("\t".join(encode_mutf7(p) for p in n.split(separator)) + "\n" for n in names)
    atomic_write(root, path, ("V\t2\n\n" + body).encode("utf-8"), uid, gid)


def set_subscribed(
    root: LabRoot, path: Path, separator: str, name: str, subscribed: bool, uid: int, gid: int
) -> None:
    # Nothing to change, nothing written (and no lock taken): Dovecot answers OK to UNSUBSCRIBE
    # of a name not subscribed even where it could not write the file.
    if (name in read_subscriptions(root, path, separator)) == subscribed:
        return
    with dotlock(root, path):
        names = read_subscriptions(root, path, separator)
        if subscribed and name not in names:
            names.append(name)
        elif not subscribed and name in names:
            names.remove(name)
        else:
            return
        write_subscriptions(root, path, separator, names, uid, gid)


def rename_subscriptions(
    root: LabRoot, path: Path, separator: str, old: str, new: str, uid: int, gid: int
) -> None:
    with contextlib.suppress(StorageError), dotlock(root, path):
        names = read_subscriptions(root, path, separator)
        changed = [new + n[len(old) :] if n == old or n.startswith(old + separator) else n for n in names]
        if changed != names:
            write_subscriptions(root, path, separator, changed, uid, gid)
