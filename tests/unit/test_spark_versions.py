"""The Spark versions the project admits are the ones it tests: 3.5 (tests/integration/test_spark35.py) and 4.x."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def pyspark_requirement() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(Requirement(d) for d in deps if Requirement(d).name == "pyspark")


def test_pyproject_admits_spark_3_5_and_4_and_stops_before_5():
    """pyspark 3.5.x and 4.x satisfy pyproject.toml; 3.4 and 5.0 do not."""
    spec = pyspark_requirement().specifier
    for version in ("3.5.0", "3.5.9", "4.0.0", "4.3.0", "4.99"):
        assert spec.contains(version), (version, str(spec))
    for version in ("3.4.4", "5.0.0"):
        assert not spec.contains(version), (version, str(spec))


def test_build_sh_installs_a_spark_3_5_that_pyproject_admits():
    """The smoke test's Spark (build.sh's pyspark==3.5.* pin) is inside pyproject.toml's range."""
    pin = re.search(r'"pyspark==(3\.5)\.\*"', (ROOT / "build.sh").read_text())
    assert pin, "build.sh no longer pins pyspark==3.5.* for build/spark35"
    assert pyspark_requirement().specifier.contains(f"{pin.group(1)}.0")
