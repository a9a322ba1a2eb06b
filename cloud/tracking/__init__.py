"""Tracking: the one event store of pages, the retailer-site tracker and identity (DESIGN, "Events")."""
