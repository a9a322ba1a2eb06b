"""The e-receipt as a small HTML page for a phone, from the templates in `cloud/pages/templates`
(autoescaped: every value from a receipt is escaped). The FNS QR code is an inline SVG: no script, no
request to anyone else."""

from functools import cache, lru_cache
from typing import Any

import qrcode
from markupsafe import Markup
from qrcode import base, util
from qrcode.constants import ERROR_CORRECT_M

from cloud.web.templating import environment


def _render(name: str, **context: Any) -> str:
    return environment().get_template(f"pages/{name}").render(**context)


@cache
def _generator(ec_count: int) -> tuple[int, ...]:
    """The Reed-Solomon generator polynomial of `ec_count` error correction codewords, as logs of its
    coefficients after the leading 1."""
    poly = base.Polynomial([1], 0)
    for i in range(ec_count):
        poly = poly * base.Polynomial([1, base.gexp(i)], 0)
    return tuple(base.glog(c) for c in list(poly)[1:])


def _ec_codewords(data: list[int], ec_count: int) -> list[int]:
    """The remainder of data·x^n by the generator (a shift register over log/exp tables): what qrcode's
    recursive polynomial division computes, ~20× faster; it was half of a page's QR time."""
    generator = _generator(ec_count)
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    remainder = [0] * ec_count
    for byte in data:
        factor = byte ^ remainder[0]
        del remainder[0]
        remainder.append(0)
        if factor:
            shift = log[factor]
            for i, g in enumerate(generator):
                remainder[i] ^= exp[(g + shift) % 255]
    return remainder


def qr_codewords(version: int, error_correction: int, data_list: list[util.QRData]) -> list[int]:
    """`qrcode.util.create_data` (data bits, padding, interleaved data and error correction codewords)
    with the fast error correction above; tests check both agree."""
    buffer = util.BitBuffer()
    for data in data_list:
        buffer.put(data.mode, 4)
        buffer.put(len(data), util.length_in_bits(data.mode, version))
        data.write(buffer)
    blocks = base.rs_blocks(version, error_correction)
    bit_limit = sum(block.data_count * 8 for block in blocks)
    if len(buffer) > bit_limit:
        return list(util.create_data(version, error_correction, data_list))  # raises DataOverflowError
    for _ in range(min(bit_limit - len(buffer), 4)):
        buffer.put_bit(False)
    if len(buffer) % 8:
        for _ in range(8 - len(buffer) % 8):
            buffer.put_bit(False)
    for i in range((bit_limit - len(buffer)) // 8):
        buffer.put(util.PAD1 if i % 2 else util.PAD0, 8)
    dc_blocks: list[list[int]] = []
    ec_blocks: list[list[int]] = []
    offset = 0
    for block in blocks:
        dc = [0xFF & b for b in buffer.buffer[offset : offset + block.data_count]]
        offset += block.data_count
        dc_blocks.append(dc)
        ec_blocks.append(_ec_codewords(dc, block.total_count - block.data_count))
    out: list[int] = []
    for group in (dc_blocks, ec_blocks):
        for i in range(max(len(b) for b in group)):
            out.extend(b[i] for b in group if i < len(b))
    return out


@lru_cache(maxsize=4096)  # a reloaded page, or one opened by preview and person, draws its code once
def qr_svg(text: str) -> Markup:
    """`text` as an SVG QR code: one path of horizontal runs of dark modules (nothing from `text` is written
    into the markup). The mask is fixed (any of the eight is valid for readers): choosing the best one and
    qrcode's SVG writer cost ~25 ms a page, 20× the rest of it."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, mask_pattern=0)
    code.add_data(text)
    code.best_fit()
    code.data_cache = qr_codewords(code.version, code.error_correction, code.data_list)
    code.makeImpl(False, 0)
    matrix = code.get_matrix()  # with the border
    runs = []
    for y, row in enumerate(matrix):
        x, width = 0, len(row)
        while x < width:
            if row[x]:
                start = x
                while x < width and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    size = len(matrix)
    return Markup(
        f'<svg class="qr" role="img" aria-label="QR-код чека ФНС" width="{size}mm" height="{size}mm" '
        f'viewBox="0 0 {size} {size}" xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges">'
        f'<path d="{"".join(runs)}" fill="#000"/></svg>'
    )


def waiting_page(next_url: str) -> str:
    """Scanned before the receipt reached the cloud (usually a second): look again shortly."""
    return _render("waiting.html", next_url=next_url)


def form_error_page(message: str, back: str) -> str:
    """A form the page could not take (a mistyped e-mail): the reason and the way back."""
    return _render("form_error.html", message=message, back=back)


def not_found_page(reason: str = "") -> str:
    return _render("not_found.html", reason=reason)
