"""Whatever crosses the line, the tap relays every byte in order and never raises.

Drives `TapCore` in-process (the relay logic without threads) with hypothesis-generated chunks from both
sides: random bytes mixed with real frames (opening a receipt, the device's OK, a close that opens the
tap's window with a silent device, bad LRCs, cut frames).
"""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from drivers.shtrih import commands as c
from drivers.shtrih.link import LinkTimeouts, encode_frame
from drivers.shtrih.tap import TapCore, TapSettings
from sync.outbox import Outbox

FAST = TapSettings(
    ask_timeout_s=0.01,
    close_wait_s=0.0,
    hold_timeout_s=0.0,
    link=LinkTimeouts(ack_s=0.001, answer_s=0.001, byte_s=0.001, retries=1),
)
OPEN = encode_frame(c.OpenReceipt().encode())
OPEN_OK = encode_frame(c.Answer(0x8D, 0, b"\x1e").encode())
CLOSE = encode_frame(c.CloseReceiptV2(payments=(10000,) + (0,) * 15).encode())
frames = st.sampled_from([OPEN, OPEN_OK, CLOSE, CLOSE[:-1] + b"\x00", CLOSE[:20], b"\x05", b"\x06", b"\x15"])
chunk = st.one_of(st.binary(min_size=1, max_size=40), frames)
traffic = st.lists(st.tuples(st.sampled_from(["pos", "dev"]), chunk), max_size=25)

_dir = Path(tempfile.mkdtemp(prefix="echeck-tap-garbage-"))
_service = CheckoutService(Outbox(_dir / "outbox.sqlite3"))


def is_subsequence(needle: bytes, haystack: bytes) -> bool:
    it = iter(haystack)
    return all(byte in it for byte in needle)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic)
def test_garbage_never_crashes_the_tap_and_never_loses_a_byte(chunks: list[tuple[str, bytes]]) -> None:
    to_device: list[bytes] = []
    to_pos: list[bytes] = []
    core = TapCore(CheckoutHook(_service), to_device.append, to_pos.append, lambda _t: b"", FAST)
    try:
        for side, data in chunks:
            if side == "pos":
                core.from_pos(data)
            else:
                core.from_device(data)
        core.tick()  # the line goes quiet: whatever the tap held is relayed
    finally:
        core.close()
    sent_by_pos = b"".join(d for s, d in chunks if s == "pos")
    sent_by_device = b"".join(d for s, d in chunks if s == "dev")
    reached_device = b"".join(to_device)
    assert b"".join(to_pos) == sent_by_device
    assert len(reached_device) == len(sent_by_pos) + core.own_bytes
    assert is_subsequence(sent_by_pos, reached_device)
    if core.own_bytes == 0:
        assert reached_device == sent_by_pos
