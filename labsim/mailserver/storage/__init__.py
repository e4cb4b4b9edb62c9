"""Mail storage: Maildir and mbox behind one mailbox interface."""
