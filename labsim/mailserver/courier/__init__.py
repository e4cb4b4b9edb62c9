"""The Courier personality: courier-imap, courier-pop, authlib, aliases and local delivery."""
