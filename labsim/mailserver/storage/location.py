"""mail_location: parse, expand (%u %n %d %h ~), autodetect when empty."""

from __future__ import annotations

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import MailStorage


def open_storage(
    root: LabRoot,
    location: str,
    user: UserInfo,
    log: DovecotLog,
    settings: DovecotSettings,
    log_prefix: str = "",
) -> MailStorage:
    """The user's storage; `location` is userinfo.mail or settings.mail_location."""
    raise NotImplementedError
