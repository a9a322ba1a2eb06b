"""What the buyer gets: the e-receipt notice for each channel, with the link `{public_url}/r/{token}`."""

import html
import secrets

from cloud.delivery.cascade import Channel
from cloud.delivery.channels.base import Message

TOKEN_BYTES = 16  # 128 bits: unguessable, and short enough for an SMS


def new_link_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/r/{token}"


def rubles(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def compose(channel: Channel, to: str, shop: str, total: int, url: str, reference: str) -> Message:
    subject = f"Электронный чек {shop}"
    if channel is Channel.SMS:
        text = f"Чек {rubles(total)} р: {url}"  # one Cyrillic SMS segment holds 70 characters
    else:
        text = f"{shop}: ваш электронный чек на {rubles(total)} ₽ — {url}"
    page = html.escape(url, quote=True)
    body = (
        f"<html><body><p>{html.escape(shop)}: спасибо за покупку!</p>"
        f'<p>Ваш электронный чек на {rubles(total)} ₽: <a href="{page}">{page}</a></p></body></html>'
    )
    return Message(to=to, subject=subject, text=text, html=body, link=url, reference=reference)
