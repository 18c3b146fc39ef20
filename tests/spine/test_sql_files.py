"""SQL files are found by name from a source checkout and from a built wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gtm_assets.sql_files import load_sql, sql_root

ROOT = Path(__file__).resolve().parents[2]


def test_loads_by_name():
    assert "staging.ad_spend" in load_sql("marts/campaign_performance")


@pytest.mark.parametrize("bad", ["../secrets", "marts/Campaign", "marts/x;y", "/etc/passwd"])
def test_rejects_bad_names(bad):
    with pytest.raises(ValueError):
        load_sql(bad)


def test_every_sql_file_is_lower_snake_case():
    for path in sql_root().rglob("*.sql"):
        name = path.relative_to(sql_root()).with_suffix("").as_posix()
        assert load_sql(name)


def test_wheel_carries_the_sql_files(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    ) if _has_hatchling() else pytest.skip("hatchling not installed in this environment")
    wheel = next(tmp_path.glob("gtm_assets-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"gtm_assets/sql/{p.relative_to(ROOT / 'sql').as_posix()}"
        for p in (ROOT / "sql").rglob("*.sql")
    }
    assert expected <= names
    assert "gtm_assets/report/templates/monthly.html.j2" in names


def _has_hatchling() -> bool:
    try:
        import hatchling  # noqa: F401
    except ImportError:
        return False
    return True
