"""FFD 1.05 / 1.2 tags and the enumerations the fiscal document uses (see REFERENCE.md)."""

from enum import IntEnum, StrEnum


class Tag(IntEnum):
    BUYER_CONTACT = 1008
    DATE_TIME = 1012
    TOTAL = 1020
    CASHIER = 1021
    QUANTITY = 1023
    ITEM_NAME = 1030
    CASH = 1031
    REGISTRATION_NUMBER = 1037
    SHIFT_NUMBER = 1038
    FD_NUMBER = 1040
    FN_SERIAL = 1041
    RECEIPT_NUMBER = 1042
    ITEM_TOTAL = 1043
    CALCULATION_TYPE = 1054
    TAXATION_SYSTEM = 1055
    ITEM = 1059
    FPD = 1077
    PRICE = 1079
    CARD = 1081
    SENDER_EMAIL = 1117
    VAT_RATE = 1199
    FFD_VERSION = 1209


class CalculationType(IntEnum):
    """Tag 1054."""

    SALE = 1
    SALE_RETURN = 2
    EXPENSE = 3
    EXPENSE_RETURN = 4


class VatRate(StrEnum):
    """Tag 1199, named as ATOL's driver names them."""

    VAT20 = "vat20"
    VAT10 = "vat10"
    VAT0 = "vat0"
    VAT120 = "vat120"
    VAT110 = "vat110"
    NONE = "none"


class PaymentKind(StrEnum):
    CASH = "cash"  # tag 1031
    CARD = "card"  # tag 1081 (electronic)
