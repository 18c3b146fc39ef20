"""gtm_assets: marketing analytics as Dagster assets over an embedded DuckDB warehouse."""

__version__ = "0.1.0"
