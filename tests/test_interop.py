"""What unishelf writes, read back by YAZ (Debian `yaz`): the tool most Z39.50 peers build on."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import DATA
from unishelf.cli import main

YAZ_MARCDUMP = shutil.which("yaz-marcdump")
pytestmark = pytest.mark.skipif(YAZ_MARCDUMP is None, reason="yaz-marcdump not installed (apt-get install yaz)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    for path, library in [(DATA / "marc8-sample.mrc", "SOUTH"), (DATA / "cjk-sample.mrc", "EAST"),
                          (DATA / "marcxml-sample.xml", "WEST")]:
        main(["--data-dir", str(work), "load", "--quiet", "--library", library, str(path)])
    main(["--data-dir", str(work), "export", "-o", str(work / "all.mrc")])
    main(["--data-dir", str(work), "export", "--format", "marcxml", "-o", str(work / "all.xml")])
    return work


def yaz_records(*args) -> list[str]:
    result = subprocess.run([YAZ_MARCDUMP, *args], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8").split("\n\n")


def test_yaz_reads_every_exported_iso2709_record_as_utf8(exported):
    lines = subprocess.run([YAZ_MARCDUMP, "-np", str(exported / "all.mrc")], capture_output=True,
                           timeout=60).stdout.decode("utf-8").splitlines()
    assert sum(1 for line in lines if line.startswith("<!-- Record")) == 54 + 150 + 40
    xml = subprocess.run([YAZ_MARCDUMP, "-i", "marc", "-o", "marcxml", "-f", "utf-8", "-t", "utf-8",
                          str(exported / "all.mrc")], capture_output=True, timeout=60)
    assert xml.returncode == 0 and "\ufffd" not in xml.stdout.decode("utf-8")
    assert "中" in xml.stdout.decode("utf-8")


def test_yaz_reads_the_exported_marcxml(exported):
    result = subprocess.run([YAZ_MARCDUMP, "-i", "marcxml", "-o", "line", str(exported / "all.xml")],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8").count("\n\n") >= 54 + 150 + 40 - 1
