"""Why a server answered as it did, in a sentence a learner preparing for LPIC-2 can use.

The answers are Dovecot's own words (and Courier's where they differ); each explanation names
the setting or the place that decides, never the value the scenario wants. Courier's reasons
live in /etc/courier/ (imapd, pop3d, imapd-ssl, authdaemonrc, aliases/), so they get their own.
"""

from __future__ import annotations

# Where a learner finds a check's transcript: the app and the command line both.
TRANSCRIPT = "the check's transcript (t in the app, `labsim check --transcript`)"

# (words in the server's answer, lower case) -> what it means
REFUSALS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("plaintext authentication disallowed", "privacyrequired"),
        "Dovecot refuses a password sent in the clear on a connection that is neither TLS nor from "
        "the host to itself while disable_plaintext_auth = yes (ssl = required implies it).",
    ),
    (
        ("unsupported authentication mechanism",),
        "Dovecot offers only the mechanisms that auth_mechanisms lists.",
    ),
    (
        ("auth process broken", "temporary authentication failure", "[unavailable]"),
        "Dovecot's auth process is not working; its Fatal or Error lines in /var/log/mail.log "
        f"(`auth: Error: ...`) say why, and {TRANSCRIPT} quotes them.",
    ),
    (
        ("authenticationfailed", "authentication failed", "login failed"),
        "The server never tells a client why a login failed; /var/log/mail.log does "
        f"({TRANSCRIPT} shows its new lines).",
    ),
)


COURIER_REFUSALS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("tls handshake",),
        "Courier's couriertls reads the certificate that TLS_CERTFILE names (in /etc/courier/imapd-ssl, "
        "pop3d-ssl for POP3) at each connection; when the file is missing or unusable it ends the "
        "handshake at once (mkimapdcert and mkpop3dcert make one).",
    ),
    (
        ("authentication failed",),
        "Courier answers a failed AUTH so for a wrong password and for a mechanism authlib does "
        "not have (it takes PLAIN and LOGIN); the LOGIN FAILED line in /var/log/mail.log names the "
        "method. POP3AUTH in /etc/courier/pop3d only decides what CAPA announces.",
    ),
    (
        ("starttls required", "tls required"),
        "Courier refuses a password in the clear while IMAP_TLS_REQUIRED=1 (POP3_TLS_REQUIRED=1 for "
        "POP3) and the connection has no TLS yet.",
    ),
    (
        ("temporary problem",),
        "Courier's login programs ask courier-authdaemond for every login; when it does not answer "
        "(the log says `authdaemon: s_connect() failed`), every login ends in this temporary "
        "problem, whatever the password, until courier-authdaemon runs again. The same answer "
        "comes when the account's home does not exist (the log says `chdir(...) failed!!`).",
    ),
    (
        ("login failed",),
        "Courier never tells a client why a login failed; /var/log/mail.log does, and "
        "`authtest USER PASSWORD` shows what courier-authlib finds.",
    ),
)

# Said by the check's client, not by a server: the same for both daemons.
NOTHING_LISTENS = (
    "No daemon listens on that port: it is stopped, or its configuration names other ports; "
    "`service --status-all` and the end of /var/log/mail.log tell which."
)

# Lines only Courier says: its IMAP greeting, its POP3 greeting, its CAPA's IMPLEMENTATION, and
# its programs' names in the mail log (Dovecot's are imap-login, imap(user), ...).
COURIER_MARKS = (
    "Courier-IMAP ready",
    "+OK Hello there.",
    "IMPLEMENTATION Courier",
    " imapd: ",
    " imapd-ssl: ",
    " pop3d: ",
    " pop3d-ssl: ",
)


def is_courier(transcript: str) -> bool:
    """Whether the server in a dialogue is Courier: its reasons live in other files than Dovecot's."""
    return any(mark in transcript for mark in COURIER_MARKS)


def refusal(answer: str, courier: bool = False) -> str:
    low = answer.lower()
    if "nothing listens" in low:
        return NOTHING_LISTENS
    for words, meaning in COURIER_REFUSALS if courier else REFUSALS:
        if any(w in low for w in words):
            return meaning
    return ""


def failure(text: str, courier: bool = False) -> str:
    """' <why>' for a dialogue that broke off (a greeting of "* BYE Auth process broken", say), or ''."""
    why = refusal(text, courier)
    return f" {why}" if why else ""


def accepted(insecure: bool, transport: str) -> str:
    """A login went through that the check wanted refused."""
    if insecure and transport == "plain":
        return (
            "The password crossed a non-secure connection in the clear (from 127.0.0.2, no TLS) "
            "and was accepted."
        )
    return "The server let the login in."


def announcement(items: list[str], courier: bool = False) -> str:
    """Where the capability words a check looked for come from."""
    words = {i.upper() for i in items}
    if courier:
        return courier_announcement(words)
    notes = []
    if any(w.startswith(("AUTH=", "SASL")) for w in words):
        notes.append(
            "Dovecot announces a mechanism for each name in auth_mechanisms (the plaintext ones only "
            "where a password may be sent)."
        )
    if "LOGINDISABLED" in words:
        notes.append(
            "IMAP announces LOGINDISABLED where disable_plaintext_auth forbids a password in the clear."
        )
    if words & {"STARTTLS", "STLS"}:
        notes.append("STARTTLS (STLS in POP3) is offered only when ssl is yes or required.")
    return " ".join(notes)


def permission_denied(logged: str) -> str:
    """' <why>' after a quoted log line that says a user's own mail was out of reach, or ''."""
    if "Permission denied" not in logged or "euid=" not in logged:
        return ""
    return (
        " Dovecot opens a user's mail with that user's own uid (the euid in the line), not root's: "
        "the mail files and folders must be the user's."
    )


def courier_announcement(words: set[str]) -> str:
    notes = []
    if any(w.startswith(("AUTH=", "SASL")) for w in words):
        notes.append(
            "Courier's pop3d announces SASL with the mechanisms POP3AUTH lists in /etc/courier/pop3d "
            "(POP3AUTH_TLS after STLS); imapd announces the AUTH= words of IMAP_CAPABILITY "
            "(IMAP_CAPABILITY_TLS after STARTTLS). The daemons read these files when they start."
        )
    if "LOGINDISABLED" in words:
        notes.append("Courier-IMAP announces LOGINDISABLED while IMAP_TLS_REQUIRED=1 and TLS is not active.")
    if words & {"STARTTLS", "STLS"}:
        notes.append(
            "Courier offers STARTTLS (STLS in POP3) when IMAPDSTARTTLS (POP3_STARTTLS) is YES in "
            "imapd-ssl (pop3d-ssl) and the certificate TLS_CERTFILE names is there."
        )
    return " ".join(notes)


# What a Courier variable decides, for a `setting` check on one of its files.
COURIER_SETTINGS = {
    "IMAPDSTART": "The init script starts imapd only when IMAPDSTART is YES in /etc/courier/imapd.",
    "POP3DSTART": "The init script starts pop3d only when POP3DSTART is YES in /etc/courier/pop3d.",
    "IMAPDSSLSTART": "The init script starts imapd-ssl only when IMAPDSSLSTART is YES in imapd-ssl.",
    "POP3DSSLSTART": "The init script starts pop3d-ssl only when POP3DSSLSTART is YES in pop3d-ssl.",
    "MAXPERIP": "MAXPERIP caps the connections from one IP address (MAXDAEMONS the daemon as a whole); "
    "couriertcpd reads it when the daemon starts.",
    "MAXDAEMONS": "MAXDAEMONS caps the daemon's connections as a whole (MAXPERIP those from one address).",
    "POP3AUTH": "POP3AUTH lists the SASL mechanisms pop3d offers before TLS (POP3AUTH_TLS after STLS); "
    "an empty list leaves USER and PASS alone.",
    "IMAP_TLS_REQUIRED": "With IMAP_TLS_REQUIRED=1 imapd refuses LOGIN until STARTTLS has run.",
    "POP3_TLS_REQUIRED": "With POP3_TLS_REQUIRED=1 pop3d refuses USER and PASS until STLS has run.",
    "TLS_CERTFILE": "TLS_CERTFILE names the one file that holds the certificate and its private key; "
    "mkimapdcert (mkpop3dcert) writes it.",
    "authmodulelist": "courier-authdaemond tries the modules authmodulelist names, in order, and reads "
    "authdaemonrc when it starts.",
}


def courier_setting(name: str) -> str:
    return COURIER_SETTINGS.get(name, "")


def authtest_failed(output: str) -> str:
    """authtest's refusal says nothing about the cause; what decides is authdaemonrc's module list."""
    if "Authentication FAILED" not in output:
        return ""
    if "s_connect() failed" in output:
        return (
            "authtest could not reach courier-authdaemond at all (s_connect failed): the "
            "authentication daemon is not running, so no Courier login can succeed either."
        )
    return (
        "authtest asks courier-authdaemond, which tries each module authmodulelist names in "
        "/etc/courier/authdaemonrc, in order; none of them accepted this user and password "
        "(authuserdb knows only what makeuserdb compiled into userdb.dat)."
    )


def dump_shows(command: str) -> str:
    if "makealiases -dump" not in command:
        return ""
    return (
        "`makealiases -dump` prints /etc/courier/aliases.dat, the compiled aliases delivery reads, "
        "not the text files under /etc/courier/aliases/."
    )


def discarded() -> str:
    return (
        "Courier throws away mail for an alias that lists no address: the stock aliases/system leaves "
        "`postmaster:` empty, so the mail of every alias that ends there is lost."
    )


def bounced(address: str, answer: str, aliases_dat: str) -> str:
    """Why Courier bounced a local address: no account and no alias that delivery can see.

    aliases_dat says what is known of the compiled database: "missing", "stale:<file>" or "".
    """
    if "550" not in answer or "unknown" not in answer.lower():
        return ""
    local = address.split("@", 1)[0]
    if local.lower() == "root":
        why = "Courier never delivers mail to root: an alias must send it on to a person"
    else:
        why = f"{local} is neither a mail account nor an alias delivery knows"
    why += ", and delivery reads aliases only from /etc/courier/aliases.dat, which makealiases compiles."
    if aliases_dat == "missing":
        why += " There is no aliases.dat yet."
    elif aliases_dat.startswith("stale:"):
        why += f" aliases.dat is older than {aliases_dat[6:]}: the edit is not compiled."
    return why
