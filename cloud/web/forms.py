"""Reading head office's small forms: bounded (read as it streams, never whole), parsed without a
multipart parser, and checked against the session's CSRF token."""

import hmac
from urllib.parse import parse_qs

from starlette.requests import Request

from cloud.errors import Forbidden, PayloadTooLarge

MAX_FORM_BYTES = 8192


async def read_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The urlencoded form's fields (the last value of each); 413 past `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"the form is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"the form is larger than {max_bytes} bytes")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
    return {name: values[-1] for name, values in fields.items()}


def check_csrf(form: dict[str, str], expected: str) -> None:
    if not hmac.compare_digest(form.get("csrf", ""), expected):
        raise Forbidden("форма устарела: обновите страницу и отправьте её снова")


def form_list(value: str) -> list[str]:
    """'1, 2 3' → ['1', '2', '3']: ids and regions typed into one field."""
    return [part for part in value.replace(";", ",").replace(" ", ",").split(",") if part]
