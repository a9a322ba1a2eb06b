"""Fiscal register protocols and the hooks that sit between the POS and the register.

`drivers.hook` is the one interface the ATOL proxy and the Shtrih-M tap call; the agent implements it.
Drivers import only `receipts`.
"""
