"""Tenants, stores, registers' credentials, head-office users and their roles."""
