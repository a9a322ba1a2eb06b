"""The page's QR drawing (cloud.pages.qr) is module for module what the `qrcode` package makes with the same
mask, for byte, numeric and mixed data of every length a version holds."""

import base64
import io
import random

import pytest
import qrcode
from PIL import Image
from qrcode import util
from qrcode.constants import ERROR_CORRECT_M

from cloud.pages import qr
from cloud.pages.render import qr_png


def reference(text: str, error_correction: int) -> list[str]:
    code = qrcode.QRCode(error_correction=error_correction, border=2, mask_pattern=qr.MASK)
    code.add_data(text)
    code.make(fit=True)
    return ["".join("1" if m else "0" for m in row) for row in code.get_matrix()]


def texts() -> list[str]:
    rng = random.Random(7)
    fns = [
        f"t=20261123T1427&s={rng.randint(1, 10**6)}.00&fn=9251440300227597&i={i}"
        f"&fp={rng.randint(1, 10**10)}&n=1"
        for i in range(40)
    ]
    mixed = [
        "".join(rng.choice("abcXYZ0123456789&=:/.-ёж") for _ in range(rng.randint(1, 700))) for _ in range(60)
    ]
    digits = ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 900))) for _ in range(20)]
    runs = [f"x={'7' * rng.randint(20, 60)}&y={'AB' * rng.randint(5, 40)}" for _ in range(20)]
    return fns + mixed + digits + runs


@pytest.mark.parametrize("error_correction", [0, 1, 2, 3])
def test_matrix_is_qrcodes_with_the_same_mask(error_correction: int) -> None:
    for text in texts():
        try:
            expected = reference(text, error_correction)
        except qrcode.exceptions.DataOverflowError:
            with pytest.raises(qrcode.exceptions.DataOverflowError):
                qr.matrix(text, error_correction)
            continue
        assert qr.matrix(text, error_correction) == expected, text


def test_codewords_are_qrcodes() -> None:
    for text in texts()[:60]:
        code = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
        code.add_data(text)
        version, bits = qr.fit(code.data_list, ERROR_CORRECT_M)
        assert version == code.best_fit()
        assert qr.codewords(version, ERROR_CORRECT_M, bits) == util.create_data(
            version, ERROR_CORRECT_M, code.data_list
        )


def test_the_picture_is_the_matrix_a_pixel_a_module() -> None:
    text = "t=20261123T1427&s=1683.00&fn=9251440300227597&i=1&fp=600000001&n=1"
    rows = reference(text, ERROR_CORRECT_M)
    html = str(qr_png(text))
    assert html.startswith('<img class="qr" alt="QR-код чека ФНС"')
    png = base64.b64decode(html.split("base64,", 1)[1].split('"', 1)[0])
    picture = Image.open(io.BytesIO(png))
    assert picture.mode == "1"
    assert picture.size == (len(rows), len(rows))
    drawn = [
        "".join("0" if picture.getpixel((x, y)) else "1" for x in range(len(rows))) for y in range(len(rows))
    ]
    assert drawn == rows
