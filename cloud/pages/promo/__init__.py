"""Promo codes on the e-receipt: a tenant's rules, one unique code per receipt and rule, the POS/CRM check
and redeem API (exactly once), a reminder before expiry through the delivery channels, and head office's
stats. docs/promo.md says how it works; `service.issue_for_receipt` is what the page calls."""
