"""Linux-PAM return codes, their messages, and the names `[value=action]` uses."""

from __future__ import annotations

# Return codes, numbered as in Linux-PAM's <security/_pam_types.h>.
PAM_SUCCESS = 0
PAM_OPEN_ERR = 1
PAM_SYMBOL_ERR = 2
PAM_SERVICE_ERR = 3
PAM_SYSTEM_ERR = 4
PAM_BUF_ERR = 5
PAM_PERM_DENIED = 6
PAM_AUTH_ERR = 7
PAM_CRED_INSUFFICIENT = 8
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10
PAM_MAXTRIES = 11
PAM_NEW_AUTHTOK_REQD = 12
PAM_ACCT_EXPIRED = 13
PAM_SESSION_ERR = 14
PAM_CRED_UNAVAIL = 15
PAM_CRED_EXPIRED = 16
PAM_CRED_ERR = 17
PAM_AUTHTOK_ERR = 20
PAM_IGNORE = 25
PAM_ABORT = 26
PAM_AUTHTOK_EXPIRED = 27
PAM_MODULE_UNKNOWN = 28
RETURN_VALUES = 32

# A broken line or an empty stack fails with this, as in libpam.
MUST_FAIL = PAM_PERM_DENIED

STRERROR = [
    "Success",
    "Failed to load module",
    "Symbol not found",
    "Error in service module",
    "System error",
    "Memory buffer error",
    "Permission denied",
    "Authentication failure",
    "Insufficient credentials to access authentication data",
    "Authentication service cannot retrieve authentication info",
    "User not known to the underlying authentication module",
    "Have exhausted maximum number of retries for service",
    "Authentication token is no longer valid; new one required",
    "User account has expired",
    "Cannot make/remove an entry for the specified session",
    "Authentication service cannot retrieve user credentials",
    "User credentials expired",
    "Failure setting user credentials",
    "No module specific data is present",
    "Conversation error",
    "Authentication token manipulation error",
    "Authentication information cannot be recovered",
    "Authentication token lock busy",
    "Authentication token aging disabled",
    "Failed preliminary check by password service",
    "The return value should be ignored by PAM dispatch",
    "Critical error - immediate abort",
    "Authentication token expired",
    "Module is unknown",
    "Bad item passed to pam_*_item()",
    "Conversation is waiting for event",
    "Application needs to call libpam again",
]

# The names `[value=action]` accepts, index = return code.
RETURN_NAMES = [
    "success", "open_err", "symbol_err", "service_err", "system_err", "buf_err", "perm_denied",
    "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown", "maxtries",
    "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail", "cred_expired", "cred_err",
    "no_module_data", "conv_err", "authtok_err", "authtok_recover_err", "authtok_lock_busy",
    "authtok_disable_aging", "try_again", "ignore", "abort", "authtok_expired", "module_unknown",
    "bad_item", "conv_again", "incomplete",
]  # fmt: skip


def strerror(code: int) -> str:
    return STRERROR[code] if 0 <= code < len(STRERROR) else f"Unknown PAM error {code}"


TYPES = ("auth", "account", "password", "session")
