"""Running the cloud's ASGI app under uvicorn, with one or many worker processes.

Why not `uvicorn.run(..., workers=N)`: with N > 1 uvicorn binds the listening socket itself with `proto` 0
(Kludex/uvicorn#3149, open). Accepted sockets inherit that `proto`, and asyncio turns on TCP_NODELAY only
for sockets that say `IPPROTO_TCP`, so Nagle's algorithm stays on and every keep-alive response after the
first waits ~40 ms for the client's delayed ACK. Here the listener is rebuilt from its descriptor, which
lets Python read the real protocol back from the kernel (SO_PROTOCOL), so workers accept with TCP_NODELAY
as a single process does.
"""

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


class TcpNoDelayConfig(uvicorn.Config):
    """uvicorn's Config whose bound TCP listener reports IPPROTO_TCP (see the module's docstring)."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            # family/type/proto are read back from the descriptor when only `fileno` is given.
            sock = socket.socket(fileno=sock.detach())
            sock.set_inheritable(True)
        return sock


# uvicorn's supervisor kills a worker that has not answered its health ping within 5 s; importing the app
# on a busy or slow host can take longer, and the worker was then killed and restarted for ever.
WORKER_HEALTHCHECK_S = 30


def serve(app: str, *, workers: int, **options: Any) -> None:
    """Serve `app` (an import string) like `uvicorn.run`, with TCP_NODELAY on every accepted connection."""
    options.setdefault("timeout_worker_healthcheck", WORKER_HEALTHCHECK_S)
    config = TcpNoDelayConfig(app, workers=workers, **options)
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
