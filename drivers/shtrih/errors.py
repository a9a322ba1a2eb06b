"""Shtrih-M device error codes (the error byte of every answer) with the texts store IT reads."""

ERRORS: dict[int, str] = {
    0x00: "no error",
    0x01: "FN: unknown command, wrong format or unknown parameters",
    0x02: "FN: wrong state of the fiscal storage",
    0x03: "FN: fiscal storage failure",
    0x04: "FN: cryptoprocessor failure",
    0x05: "FN: fiscal storage lifetime is over",
    0x06: "FN: fiscal storage archive is full",
    0x07: "FN: wrong date and/or time",
    0x08: "FN: no requested data",
    0x09: "FN: wrong value of command parameters",
    0x10: "FN: TLV data too large",
    0x11: "FN: no transport connection",
    0x12: "FN: fiscal storage resource is exhausted",
    0x14: "FN: OFD message storage resource is exhausted",
    0x15: "FN: documents not sent to the OFD for too long",
    0x16: "FN: shift lasts longer than 24 hours",
    0x17: "FN: wrong interval between two operations",
    0x20: "FN: message from the OFD cannot be accepted",
    0x33: "wrong parameters in the command",
    0x37: "command is not supported by this device",
    0x45: "payments are less than the receipt total",
    0x4A: "a receipt is open: operation impossible",
    0x4E: "the shift has lasted 24 hours: close it (Z-report)",
    0x50: "printing the result of the previous command",
    0x58: "waiting for the continue-printing command",
    0x5E: "invalid operation",
    0x61: "the shift is closed: operation impossible",
    0x6B: "no receipt paper",
    0x73: "command is not supported in this mode",
    0x8E: "zero receipt total",
}


def error_text(code: int) -> str:
    return ERRORS.get(code, f"device error 0x{code:02X}")


class DeviceError(RuntimeError):
    """The register answered with a non-zero error byte."""

    def __init__(self, command: int, code: int) -> None:
        super().__init__(f"command 0x{command:X}: error 0x{code:02X}: {error_text(code)}")
        self.command = command
        self.code = code
