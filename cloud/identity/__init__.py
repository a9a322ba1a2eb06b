"""The identity graph (docs/identity.md): identifiers as nodes, observations as edges with provenance,
profiles as connected components kept current by jobs, with guardrails, undo and per-tenant views."""
