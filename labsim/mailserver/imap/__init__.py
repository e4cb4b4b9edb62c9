"""IMAP4rev1 server side: parser, session state machine, FETCH rendering."""
