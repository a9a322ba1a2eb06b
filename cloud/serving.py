"""Running the cloud's ASGI app under uvicorn, with one or many worker processes.

Why not `uvicorn.run(..., workers=N)`: with N > 1 uvicorn binds the listening socket itself with `proto` 0
(Kludex/uvicorn#3149, open). Accepted sockets inherit that `proto`, and asyncio turns on TCP_NODELAY only
for sockets that say `IPPROTO_TCP`, so Nagle's algorithm stays on and every keep-alive response after the
first waits ~40 ms for the client's delayed ACK. Here the listener is rebuilt from its descriptor, which
lets Python read the real protocol back from the kernel (SO_PROTOCOL), so workers accept with TCP_NODELAY
as a single process does.

Why each worker listens on a socket of its own (Linux): on one shared listener the worker whose event loop
wakes first accepts every connection waiting (asyncio and libuv both accept until the queue is empty), so a
burst of keep-alive connections, such as a reverse proxy's upstream pool, lands on one worker while the
others idle. Measured with 16 connections on 2 workers: one worker took all 16 in some runs and the cloud
served half the requests it could. With SO_REUSEPORT the kernel spreads new connections over the workers'
sockets by their addresses, as nginx's `reuseport` does.
"""

import socket
import sys
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


def reuse_port_socket(config: uvicorn.Config) -> socket.socket:
    """A TCP listener on the config's host and port that other listeners of this user may share
    (SO_REUSEPORT), for one worker."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((config.host, config.port))
        sock.listen(config.backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ReusePortWorkers(Multiprocess):
    """uvicorn's supervisor (restarts, health pings, signals), each worker given a listener of its own on
    the same port (see the module's docstring). The supervisor closes its copy of a worker's socket once
    the worker has started: multiprocessing duplicates the descriptor when it hands it over, and a copy
    left open here would keep a dead worker's socket in the kernel's group, its share of new connections
    waiting for an accept that never comes."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._handed_over: list[socket.socket] = []
        super().__init__(config, sockets=[])

    @property
    def sockets(self) -> list[socket.socket]:
        """A new worker's listener: every `Process(config, self.sockets)` of the supervisor asks for one."""
        sock = reuse_port_socket(self.config)
        self._handed_over.append(sock)
        return [sock]

    @sockets.setter
    def sockets(self, _value: list[socket.socket]) -> None:
        pass  # the base class stores the shared listeners; each worker gets its own instead

    def _close_handed_over(self) -> None:
        while self._handed_over:
            self._handed_over.pop().close()

    # Each of these creates workers and starts them before it returns.
    def init_processes(self) -> None:
        super().init_processes()
        self._close_handed_over()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self._close_handed_over()

    def restart_all(self) -> None:
        super().restart_all()
        self._close_handed_over()


def spreads_by_port(config: uvicorn.Config) -> bool:
    """Whether the workers can listen on sockets of their own: Linux spreads connections over SO_REUSEPORT
    listeners (other systems either lack it or hand every connection to one of them); a fixed TCP port
    (port 0 would give each worker a different one)."""
    return (
        sys.platform == "linux"
        and hasattr(socket, "SO_REUSEPORT")
        and config.uds is None
        and config.fd is None
        and config.port != 0
    )


def serve(app: str, *, workers: int, **options: Any) -> None:
    """Serve `app` (an import string) like `uvicorn.run`, with TCP_NODELAY on every accepted connection and,
    with several workers, new connections spread over them."""
    options.setdefault("timeout_worker_healthcheck", WORKER_HEALTHCHECK_S)
    config = TcpNoDelayConfig(app, workers=workers, **options)
    server = uvicorn.Server(config)
    if config.workers > 1 and spreads_by_port(config):
        ReusePortWorkers(config).run()
    elif config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
