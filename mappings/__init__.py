"""Data, not code: field mappings per source and the default PMO standards (TOML files)."""
