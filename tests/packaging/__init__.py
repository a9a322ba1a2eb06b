"""Acceptance of the packaged register (the .deb), as root on Debian."""
