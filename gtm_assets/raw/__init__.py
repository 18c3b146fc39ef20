"""The raw layer: load the user's exports into ``raw.*`` with types, keys, references and
ranges enforced; quarantine bad rows; reject structurally bad input as a whole.

Public API::

    from gtm_assets.raw import load_raw, RawInputError, LoadReport
    report = load_raw(con, raw_dir, currency="USD")

See ``docs/raw-data.md`` for the input contract and the validation policy.
"""

from gtm_assets.raw.channels import (
    DEFAULT_RULES_PATH,
    classify_channel,
    load_channel_rules,
    normalize_utm,
)
from gtm_assets.raw.errors import Problem, RawInputError
from gtm_assets.raw.loader import RULES, load_raw, raw_fingerprint
from gtm_assets.raw.report import LoadReport, TableLoad
from gtm_assets.raw.schema import CHANNEL_GROUPS, REQUIRED_TABLES, TABLE_BY_NAME, TABLE_NAMES

__all__ = [
    "CHANNEL_GROUPS",
    "DEFAULT_RULES_PATH",
    "REQUIRED_TABLES",
    "RULES",
    "TABLE_BY_NAME",
    "TABLE_NAMES",
    "LoadReport",
    "Problem",
    "RawInputError",
    "TableLoad",
    "classify_channel",
    "load_channel_rules",
    "load_raw",
    "normalize_utm",
    "raw_fingerprint",
]
