"""Connectors: one package per source system (API client + connector), on the interface in `base`."""
