"""The one-command demo: a local cloud, an enrolled agent and a POS simulator as separate processes.

It imports none of the product's packages: it drives them through their CLIs and HTTP APIs, exactly
as store IT and head office would.
"""
