"""The PMO standards engine: registered checks, rule files, evaluation, waivers and health."""
