"""labsim: a hands-on lab simulator for LPIC-2 objective 211.3."""

__version__ = "0.1.0"
