"""Dagster resources: the warehouse and the run-wide settings (typed, with documented defaults)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from gtm_assets import paths
from gtm_assets import warehouse as wh

ATTRIBUTION_MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the read-only copy published for analysts."""

    path: str = Field(description="DuckDB file (GTM_DUCKDB_PATH).")
    read_copy_path: str = Field(description="Read-only copy for analysts (GTM_READ_COPY_PATH).")
    lock_timeout_s: float | None = Field(
        default=None,
        description=(
            "How long to wait for another process's file lock, in seconds; unset reads "
            "GTM_LOCK_TIMEOUT (default 120)."
        ),
    )

    @classmethod
    def from_env(cls, warehouse: str | Path | None = None) -> WarehouseResource:
        target = Path(warehouse) if warehouse else paths.warehouse_path()
        return cls(path=str(target), read_copy_path=str(paths.read_copy_path(target)))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with wh.connect(self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as con:
            yield con

    def publish_read_copy(self, con: duckdb.DuckDBPyConnection) -> Path:
        return wh.publish_read_copy(con, Path(self.path), Path(self.read_copy_path))


class GtmSettings(dg.ConfigurableResource):
    """Settings shared by several roles. Role-specific knobs live in each asset's Config."""

    raw_dir: str = Field(description="Folder with the raw exports (GTM_RAW_DIR).")
    reports_dir: str = Field(description="Folder for HTML reports (GTM_REPORTS_DIR).")
    currency: str = Field(default="USD", description="Reporting currency, ISO 4217 (GTM_CURRENCY).")
    attribution_model: str = Field(
        default="shapley",
        description=(
            "Model whose credit feeds attributed revenue, ROI and ROAS in campaign "
            "performance and the budget optimizer (GTM_ATTRIBUTION_MODEL). One of: "
            + ", ".join(ATTRIBUTION_MODELS)
        ),
    )
    lookback_days: int = Field(
        default=90, description="Attribution lookback window in days before a conversion."
    )
    channel_rules_path: str | None = Field(
        default=None,
        description="CSV overriding the packaged utm -> channel rules (GTM_CHANNEL_RULES).",
    )
    spend_ceiling: float = Field(
        default=10_000_000.0,
        description="A day's spend on one campaign above this (reporting currency) is implausible.",
    )
    max_quarantine_share: float = Field(
        default=0.05,
        description="A table with a larger share of quarantined rows rejects the whole load.",
    )
    min_clicks_for_ranking: int = Field(
        default=100, description="Minimum clicks for a campaign to be ranked top or bottom."
    )
    min_spend_for_ranking: float = Field(
        default=500.0, description="Minimum spend for a campaign to be ranked top or bottom."
    )

    @classmethod
    def from_env(cls, raw_dir: str | Path | None = None) -> GtmSettings:
        kwargs: dict = {
            "raw_dir": str(raw_dir or paths.raw_dir()),
            "reports_dir": str(paths.reports_dir()),
            "currency": (os.environ.get("GTM_CURRENCY") or "USD").upper(),
            "attribution_model": os.environ.get("GTM_ATTRIBUTION_MODEL") or "shapley",
            "channel_rules_path": os.environ.get("GTM_CHANNEL_RULES") or None,
        }
        if kwargs["attribution_model"] not in ATTRIBUTION_MODELS:
            raise ValueError(
                f"GTM_ATTRIBUTION_MODEL={kwargs['attribution_model']!r} is not one of "
                f"{', '.join(ATTRIBUTION_MODELS)}"
            )
        return cls(**kwargs)
