"""ATOL: driver v10 JSON tasks, the web server API, the proxy the POS talks to, and an emulator."""
