"""Case records, fixtures and fault scenarios of the hostile audit (python -m tools.audit)."""
