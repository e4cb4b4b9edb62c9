"""Configuration loaders: Dovecot's dovecot.conf (and later Courier's files)."""

from labsim.mailserver.config.errors import ConfigError

__all__ = ["ConfigError"]
