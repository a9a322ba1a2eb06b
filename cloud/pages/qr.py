"""The FNS QR code of a page as rows of modules, drawn with the `qrcode` package's tables but without its
per-bit Python objects: the data as a bit string, Reed-Solomon over log/exp tables, and each version's
layout (function patterns, format bits for the fixed mask, the order data modules are filled in) computed
once per process. The result is module for module what `qrcode.QRCode(..., mask_pattern=0)` makes (the
tests compare them); it costs a fifth of it, and every page draws a new code."""

from collections.abc import Callable
from functools import cache
from itertools import zip_longest
from operator import itemgetter

import qrcode
from qrcode import base, exceptions, util
from qrcode.constants import ERROR_CORRECT_M

MASK = 0  # any of the eight is valid for readers; choosing the best costs 8 layouts (cloud.pages.render)
_BYTE_BITS = tuple(format(i, "08b") for i in range(256))


@cache
def _generator(ec_count: int) -> tuple[int, ...]:
    """The Reed-Solomon generator polynomial of `ec_count` error correction codewords, as logs of its
    coefficients after the leading 1."""
    poly = base.Polynomial([1], 0)
    for i in range(ec_count):
        poly = poly * base.Polynomial([1, base.gexp(i)], 0)
    return tuple(base.glog(c) for c in list(poly)[1:])


@cache
def _products(ec_count: int) -> tuple[int, ...]:
    """The generator times each byte value (0..255), as an integer of `ec_count` bytes, leading first."""
    generator = _generator(ec_count)
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    products = [0]
    for factor in range(1, 256):
        shift = log[factor]
        products.append(int.from_bytes(bytes([exp[(g + shift) % 255] for g in generator]), "big"))
    return tuple(products)


def ec_codewords(data: list[int], ec_count: int) -> list[int]:
    """The remainder of data·x^n by the generator: what qrcode's recursive polynomial division computes.
    The shift register is one integer and each step a shift and an XOR with a product looked up once per
    process, so a data byte costs three integer operations, not a loop over the generator's coefficients."""
    products = _products(ec_count)
    top = 8 * (ec_count - 1)
    mask = (1 << (8 * ec_count)) - 1
    register = 0
    for byte in data:
        register = ((register << 8) & mask) ^ products[byte ^ (register >> top)]
    return list(register.to_bytes(ec_count, "big"))


def _chunk_bits(chunk: util.QRData, version: int) -> str:
    head = format(chunk.mode, "04b") + format(len(chunk), f"0{util.length_in_bits(chunk.mode, version)}b")
    if chunk.mode == util.MODE_8BIT_BYTE:
        return head + "".join([_BYTE_BITS[b] for b in chunk.data])
    buffer = util.BitBuffer()
    chunk.write(buffer)
    return head + "".join([_BYTE_BITS[b] for b in buffer.buffer])[: len(buffer)]


def fit(chunks: list[util.QRData], error_correction: int) -> tuple[int, str]:
    """The smallest version the data fits in, and the data's bits at that version (`QRCode.best_fit`)."""
    limits = util.BIT_LIMIT_TABLE[error_correction]
    bits, sizes = "", None
    for version in range(1, 41):
        if util.mode_sizes_for_version(version) is not sizes:
            sizes = util.mode_sizes_for_version(version)
            bits = "".join([_chunk_bits(c, version) for c in chunks])
        if len(bits) <= limits[version]:
            return version, bits
    raise exceptions.DataOverflowError()


def codewords(version: int, error_correction: int, bits: str) -> list[int]:
    """`qrcode.util.create_data` from the data's bits: terminator, padding, then the data and error
    correction codewords of the blocks interleaved."""
    blocks = base.rs_blocks(version, error_correction)
    limit = sum(block.data_count * 8 for block in blocks)
    bits += "0" * min(limit - len(bits), 4)
    bits += "0" * (-len(bits) % 8)
    data = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]
    data += [util.PAD1 if i % 2 else util.PAD0 for i in range(limit // 8 - len(data))]
    dc_blocks: list[list[int]] = []
    ec_blocks: list[list[int]] = []
    offset = 0
    for block in blocks:
        dc = data[offset : offset + block.data_count]
        offset += block.data_count
        dc_blocks.append(dc)
        ec_blocks.append(ec_codewords(dc, block.total_count - block.data_count))
    # Column by column across the blocks (shorter blocks skip their missing last codeword): zip_longest
    # does it in C; a generator per column was a third of the matrix's time.
    return [
        c
        for group in (dc_blocks, ec_blocks)
        for column in zip_longest(*group)
        for c in column
        if c is not None
    ]


@cache
def _layout(
    version: int, error_correction: int
) -> tuple[tuple[tuple[bool | None, ...], ...], tuple[tuple[int, int, bool], ...]]:
    """A version's function patterns and format bits (None where data goes), and the data modules in the
    order `QRCode.map_data` fills them, each with its mask bit."""
    code = qrcode.QRCode(version=version, error_correction=error_correction, mask_pattern=MASK)
    n = code.modules_count = version * 4 + 17
    code.modules = [[None] * n for _ in range(n)]
    code.setup_position_probe_pattern(0, 0)
    code.setup_position_probe_pattern(n - 7, 0)
    code.setup_position_probe_pattern(0, n - 7)
    code.setup_position_adjust_pattern()
    code.setup_timing_pattern()
    code.setup_type_info(False, MASK)
    if version >= 7:
        code.setup_type_number(False)
    mask = util.mask_func(MASK)
    order: list[tuple[int, int, bool]] = []
    inc, row = -1, n - 1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if code.modules[row][c] is None:
                    order.append((row, c, bool(mask(row, c))))
            row += inc
            if row < 0 or n <= row:
                row -= inc
                inc = -inc
                break
    return tuple(tuple(r) for r in code.modules), tuple(order)


@cache
def _placement(
    version: int, error_correction: int, border: int
) -> tuple[Callable[[str], tuple[str, ...]], int, int]:
    """A version's drawing as one gather: for each module of the bordered square, row by row, its place in
    `data bits + "01"` (a function module or the quiet zone points at the constant "0" or "1" at the end),
    the data bits' mask as an integer in fill order, and how many data modules there are."""
    functions, order = _layout(version, error_correction)
    n = len(functions)
    zero, one = len(order), len(order) + 1
    source = [[one if m else zero for m in row] for row in functions]
    mask = 0
    for i, (r, c, masked) in enumerate(order):
        source[r][c] = i
        mask = mask << 1 | masked
    side = n + 2 * border
    blank = [zero] * side
    edge = [zero] * border
    flat = [*blank * border, *(m for row in source for m in (*edge, *row, *edge)), *blank * border]
    return itemgetter(*flat), mask, len(order)


def matrix(text: str, error_correction: int = ERROR_CORRECT_M, border: int = 2) -> list[str]:
    """The code's rows with the quiet zone, "1" for a dark module. The data bits are masked with one
    integer XOR and put in place with one gather (`_placement`): a Python step per module was most of the
    drawing's time."""
    code = qrcode.QRCode(error_correction=error_correction)
    code.add_data(text)
    version, bits = fit(code.data_list, error_correction)
    stream = "".join([_BYTE_BITS[b] for b in codewords(version, error_correction, bits)])
    gather, mask, modules = _placement(version, error_correction, border)
    masked = int(stream[:modules].ljust(modules, "0"), 2) ^ mask  # remainder bits are 0 before the mask
    drawn = "".join(gather(format(masked, f"0{modules}b") + "01"))
    side = version * 4 + 17 + 2 * border
    return [drawn[i : i + side] for i in range(0, side * side, side)]
