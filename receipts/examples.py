"""The real receipt quoted in REFERENCE.md, as JSON: the one example every API document and test shows."""

REFERENCE_FISCAL = {
    "fn_serial": "9251440300227597",
    "fd_number": 55497,
    "fpd": 617635937,
    "registration_number": "0001633468026797",
    "shift_number": 363,
    "receipt_number": 36,
    "issued_at": "2020-09-27T14:27:00",
    "calculation_type": 1,
}
REFERENCE_SALE = {
    "fiscal": REFERENCE_FISCAL,
    "items": [{"name": "Молоко 3,2%", "price": 5200, "quantity": "1", "total": 5200, "vat": "vat10"}],
    "payments": [{"kind": "card", "amount": 5200}],
    "total": 5200,
}
REFERENCE_QR = "t=20200927T1427&s=52.00&fn=9251440300227597&i=55497&fp=617635937&n=1"
