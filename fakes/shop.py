"""A sample retailer site with the echeck tracker installed, for tests and the demo (docs/tracking.md).

Pages: home, catalog, a subscribe form (e-mail) and an online order form (phone + e-mail); each calls the
tracker as a retailer would (`ec('subscribe', {email})`, `ec('order', {phone, email, order_id})`).

Two ways to install the tracker, as a retailer chooses:
- `script_src="https://cloud.example/t/KEY/t.js"`: the script and its collector on the cloud's host; the
  browser id is the script's own cookie (Safari keeps it 7 days at most);
- `proxy_target="https://cloud.example/t/KEY/"`: this site forwards `/ec/*` to the cloud (what the nginx
  `location /ec/` of docs/tracking.md does) and loads `/ec/t.js`; the collector then answers on the
  shop's own origin and sets `ec_bid` itself, HttpOnly, for 2 years.

Standard library only (fakes import nothing of ours): ThreadingHTTPServer and http.client.
"""

import argparse
import html
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PROXY_PREFIX = "/ec/"
_FORWARDED_REQUEST = (
    "content-type",
    "cookie",
    "origin",
    "referer",
    "user-agent",
    "accept",
    "accept-language",
)
_FORWARDED_RESPONSE = (
    "content-type",
    "set-cookie",
    "cache-control",
    "retry-after",
    "access-control-allow-origin",
)

PAGES = {
    "/": (
        "Зоомагазин «Хвост»",
        '<p>Корма, игрушки, всё для питомцев.</p><p><a href="/catalog">Каталог</a></p>',
    ),
    "/catalog": ("Каталог", "<ul><li>Корм для кошек, 2 кг</li><li>Когтеточка</li></ul>"),
    "/subscribe": (
        "Подписка на новости",
        '<form id="subscribe"><label>E-mail <input name="email" type="email" required></label>'
        '<button type="submit">Подписаться</button></form><p id="done" hidden>Спасибо!</p>'
        "<script>document.getElementById('subscribe').addEventListener('submit', function (e) {"
        "e.preventDefault(); ec('subscribe', {email: this.email.value});"
        "document.getElementById('done').hidden = false; });</script>",
    ),
    "/cookies": (
        "Настройки cookies",
        "<p>Мы учитываем посещения только с вашего согласия.</p>"
        '<button id="agree" type="button">Согласен</button>'
        "<script>document.getElementById('agree').addEventListener('click', function () {"
        "ec('consent', true); });</script>",
    ),
    "/order": (
        "Оформление заказа",
        '<form id="order"><label>Телефон <input name="phone" type="tel" required></label>'
        '<label>E-mail <input name="email" type="email"></label>'
        '<button type="submit">Заказать</button></form><p id="done" hidden>Заказ принят</p>'
        "<script>document.getElementById('order').addEventListener('submit', function (e) {"
        "e.preventDefault(); ec('order', {phone: this.phone.value, email: this.email.value,"
        " order_id: 'A-1001', total: 1990});"
        "document.getElementById('done').hidden = false; });</script>",
    ),
}


# Pages whose visitors have not consented yet: the site tells the tracker before it loads.
ASK_CONSENT = {"/cookies"}


def page(title: str, body: str, script_src: str, ask_consent: bool = False) -> str:
    consent = "ec('consent', false);" if ask_consent else ""
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<script>window.ec=window.ec||function(){(ec.q=ec.q||[]).push(arguments)};"
        f"{consent}</script>"
        f'<script async src="{html.escape(script_src)}"></script>'
        f"</head><body><h1>{html.escape(title)}</h1>{body}"
        '<nav><a href="/">Главная</a> · <a href="/subscribe">Подписка</a> · <a href="/order">Заказ</a></nav>'
        "</body></html>"
    )


class Shop:
    def __init__(self, script_src: str | None = None, proxy_target: str | None = None) -> None:
        if (script_src is None) == (proxy_target is None):
            raise ValueError(
                "give script_src (the cloud's script) or proxy_target (forward /ec/ to the cloud)"
            )
        self.proxy_target = proxy_target.rstrip("/") + "/" if proxy_target else None
        self.script_src = script_src or PROXY_PREFIX + "t.js"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if shop.proxy_target and path.startswith(PROXY_PREFIX):
                    return shop.forward(self)
                found = PAGES.get(path)
                if found is None:
                    return self._answer(404, b"not found", "text/plain")
                text = page(*found, shop.script_src, ask_consent=path in ASK_CONSENT)
                return self._answer(200, text.encode(), "text/html; charset=utf-8")

            def do_POST(self) -> None:
                if shop.proxy_target and self.path.startswith(PROXY_PREFIX):
                    return shop.forward(self)
                return self._answer(404, b"not found", "text/plain")

            do_OPTIONS = do_POST  # noqa: N815

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def forward(self, req: BaseHTTPRequestHandler) -> None:
        """What `proxy_pass` does: the same request to the cloud, the visitor's address and host added."""
        assert self.proxy_target is not None
        target = urlsplit(self.proxy_target)
        path = target.path + req.path[len(PROXY_PREFIX) :]
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else None
        headers = {k: v for k, v in req.headers.items() if k.lower() in _FORWARDED_REQUEST}
        previous = req.headers.get("X-Forwarded-For")
        client = req.client_address[0]
        headers["X-Forwarded-For"] = f"{previous}, {client}" if previous else client
        headers["X-Forwarded-Host"] = req.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "http"
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=30)
        try:
            conn.request(req.command, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            req.send_response(resp.status)
            for name, value in resp.getheaders():
                if name.lower() in _FORWARDED_RESPONSE:
                    req.send_header(name, value)
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        finally:
            conn.close()


@contextmanager
def serve_shop(
    script_src: str | None = None, proxy_target: str | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[int]:
    """Serve the shop on loopback in a thread; yields the port."""
    server = ThreadingHTTPServer((host, port), Shop(script_src, proxy_target).handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-shop", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m fakes.shop", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8088)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--script-src", help="the cloud's script URL: https://cloud.example/t/KEY/t.js")
    group.add_argument("--proxy-target", help="forward /ec/ here: https://cloud.example/t/KEY/")
    args = p.parse_args(argv)
    with serve_shop(args.script_src, args.proxy_target, port=args.port) as port:
        print(f"shop on http://127.0.0.1:{port}/", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
