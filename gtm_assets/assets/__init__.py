"""Dagster assets, one module per role. ``gtm_assets.definitions`` collects every module here."""
