"""Shtrih-M protocol v1 (serial or TCP): link layer, commands, error codes, device emulator, serial tap."""
