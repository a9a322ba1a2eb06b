"""Shtrih-M protocol v1 (serial or TCP): link layer, commands, error codes, device emulator, serial tap."""

# Both command sets register themselves with `commands.decode_request` on import: the FFD 1.2 one
# (commands) and the legacy one (legacy), whichever module a caller imports first.
from drivers.shtrih import legacy as legacy
