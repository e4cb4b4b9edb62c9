"""The reference POP3/IMAP server and the lab-side tools.

Everything under this package runs inside the lab (the Docker image installs
it), so it imports nothing but the Python standard library and itself.
"""

DOVECOT_VERSION = "2.3.19.1"
DOVECOT_BUILD = "9b53102964"
PIGEONHOLE_VERSION = "0.5.19 (4eae2f79)"
