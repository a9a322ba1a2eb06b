"""Head office's dashboards (fleet, sending, template elements, ROPO), their exports and the read API."""
