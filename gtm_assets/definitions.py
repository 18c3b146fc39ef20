"""The gtm_assets code location: every asset, check, job, schedule, sensor and resource.

Role modules in ``gtm_assets/assets/`` are discovered automatically. The executive assets
(summary, report, read copy) are built last, downstream of every other monthly asset.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import dagster as dg
from dagster._core.definitions.partitions.partitioned_schedule import (
    UnresolvedPartitionedAssetScheduleDefinition,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from gtm_assets import assets as assets_package
from gtm_assets.assets.executive import build_executive_assets
from gtm_assets.partitions import monthly_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource

_NOT_ROLE_MODULES = {"common", "executive"}
WAREHOUSE_TAGS = {"gtm/warehouse": "writer"}


def role_modules() -> list[ModuleType]:
    """Every asset module except the shared helpers and the executive factory."""
    return [
        importlib.import_module(f"{assets_package.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(assets_package.__path__), key=lambda i: i.name)
        if info.name not in _NOT_ROLE_MODULES
    ]


def _keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    return [key for a in assets for key in a.keys]


def _module_objects(modules: list[ModuleType], kind: type) -> list:
    found = []
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, kind) and not any(value is f for f in found):
                found.append(value)
    return found


def build_definitions(
    raw_dir: str | Path | None = None, warehouse: str | Path | None = None
) -> dg.Definitions:
    """Build the code location; ``raw_dir`` / ``warehouse`` override the environment."""
    modules = role_modules()
    role_assets = dg.load_assets_from_modules(modules)
    monthly_role_assets = [
        a
        for a in role_assets
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def == monthly_partitions
    ]
    executive_assets = build_executive_assets(_keys(monthly_role_assets))
    monthly_keys = _keys(monthly_role_assets) + _keys(executive_assets)

    monthly_review = dg.define_asset_job(
        "monthly_review",
        selection=dg.AssetSelection.assets(*monthly_keys),
        executor_def=dg.in_process_executor,
        tags=WAREHOUSE_TAGS,
        description=(
            "The month-end review: load and validate the exports, then campaign ROI, funnel, "
            "attribution, content, lead scoring, budget and the executive summary and report."
        ),
    )
    month_end = dg.build_schedule_from_partitioned_job(
        monthly_review,
        name="monthly_review_month_end",
        hour_of_day=6,
        minute_of_hour=0,
        description="Runs the month that just closed, at 06:00 UTC on the 1st.",
    )
    extra_jobs = _module_objects(modules, UnresolvedAssetJobDefinition)
    schedules = _module_objects(modules, dg.ScheduleDefinition)
    schedules += _module_objects(modules, UnresolvedPartitionedAssetScheduleDefinition)
    sensors = _module_objects(modules, dg.SensorDefinition)

    return dg.Definitions(
        assets=[*role_assets, *executive_assets],
        asset_checks=dg.load_asset_checks_from_modules(modules),
        jobs=[monthly_review, *extra_jobs],
        schedules=[month_end, *schedules],
        sensors=sensors,
        resources={
            "warehouse": WarehouseResource.from_env(warehouse),
            "settings": GtmSettings.from_env(raw_dir),
        },
    )


defs = build_definitions()
