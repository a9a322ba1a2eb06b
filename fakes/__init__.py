"""Local stand-ins for the delivery providers (SMTP, FCM HTTP v1, a Viber gateway, SMS.ru).

They speak the providers' wire formats and can be told, per recipient, to accept, reject, delay, never
report, report "undelivered" or fail with 503. A test and demo tool: imports nothing of echeck.
"""
