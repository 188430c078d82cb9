"""The `unishelf` command and its configuration, as an administrator uses them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA
from unishelf.cli import main
from unishelf.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_load_search_stats_and_export_round_trip(tmp_path, capsys):
    data = str(tmp_path)
    code, out, _ = run(capsys, "--data-dir", data, "load", "--quiet", "--library", "NORTH",
                       str(DATA / "marc21-utf8-sample.mrc"))
    assert code == 0 and "300 created" in out
    code, out, _ = run(capsys, "--data-dir", data, "search", "--count", "@attr 1=21 history")
    assert code == 0 and int(out) > 0
    code, out, _ = run(capsys, "--data-dir", data, "search", "@attr 1=4 history")
    assert out.splitlines()[0].endswith("hits") and "held by NORTH" in out
    code, out, _ = run(capsys, "--data-dir", data, "stats")
    assert "unicat" in out and "300" in out
    exported = tmp_path / "out.mrc"
    code, _, _ = run(capsys, "--data-dir", data, "export", "--output", str(exported))
    assert code == 0
    assert exported.read_bytes() == (DATA / "marc21-utf8-sample.mrc").read_bytes()


def test_export_marcxml_is_valid_marc21_slim(tmp_path, capsys):
    from lxml import etree
    run(capsys, "--data-dir", str(tmp_path), "load", "--quiet", str(DATA / "cjk-sample.mrc"))
    out = tmp_path / "out.xml"
    run(capsys, "--data-dir", str(tmp_path), "export", "--format", "marcxml", "-o", str(out), "@attr 1=54 chi")
    root = etree.parse(str(out)).getroot()
    records = root.findall("{http://www.loc.gov/MARC21/slim}record")
    assert len(records) == 80
    schema_path = Path(__file__).parent / "data" / "schemas" / "MARC21slim.xsd"
    if schema_path.exists():
        assert etree.XMLSchema(etree.parse(str(schema_path))).validate(root)


def test_bad_records_are_reported_skipped_and_kept(tmp_path, capsys):
    rejects = tmp_path / "rejects.mrc"
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "load", "--quiet", "--rejects", str(rejects),
                       str(DATA / "edge-cases" / "bad_records.mrc"), str(DATA / "marc21-utf8-sample.mrc"))
    assert code == 0
    assert "rejected: " in out and "bad_records.mrc: record " in out
    assert rejects.exists() and rejects.stat().st_size > 0
    created = int(out.split(" created")[0].rsplit(" ", 1)[1])
    rejected = int(out.split(" rejected")[0].rsplit(" ", 1)[1])
    assert created >= 300 and rejected == out.count("  rejected: ") > 0


def test_load_if_empty_and_the_demo_catalogue(tmp_path, capsys):
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "load", "--demo", "--if-empty", "--quiet")
    assert code == 0 and "CENTRAL" in out
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "load", "--demo", "--if-empty", "--quiet")
    assert "nothing loaded" in out
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "stats")
    for library in ("CENTRAL", "NORTH", "SOUTH", "EAST", "WEST"):
        assert library in out
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "search", "--count", "@attr 1=4 中国")
    assert int(out) > 0


def test_bad_queries_give_a_message_not_a_traceback(tmp_path, capsys):
    run(capsys, "--data-dir", str(tmp_path), "load", "--quiet", str(DATA / "marc21-utf8-sample.mrc"))
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "search", "@and @attr 1=4")
    assert code == 2 and "bad PQF" in err
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "search", "@attr 1=9999 x")
    assert code == 2 and "diagnostic 114" in err


@pytest.mark.parametrize("text, key", [
    ("listen: {z3950_port: 70000}", "listen.z3950_port"),
    ("listen: {port: 1}", "listen.port"),
    ("store: {map_size: lots}", "store.map_size"),
    ("libraries: [{code: A}, {code: A}]", "libraries[1].code"),
    ("users: [{name: x, password_hash: 'pbkdf2_sha256$1$a$b', roles: [wizard]}]", "users[0].roles"),
    ("users: [{name: x, roles: [searcher]}]", "users[0].password_hash"),
    ("limits: {connections: -1}", "limits.connections"),
    ("load: {max_batch_size: 0}", "load.max_batch_size"),
    ("load: {render_later: sometimes}", "load.render_later"),
    ("matching: {rules: [title]}", "matching.rules"),
    ("listen: [1, 2]", "listen"),
    ("{unclosed", "(file)"),
])
def test_invalid_config_names_the_file_and_the_key(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: {key}: ")


def test_defaults_work_without_a_config_file():
    config = load_config(REPO / "config" / "defaults.yaml")
    assert config["listen"]["z3950_port"] == 2100 and config.map_size == 16 << 30


def test_invalid_config_stops_the_command_with_one_message(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("listen: {http_port: web}\n")
    result = subprocess.run([sys.executable, "-m", "unishelf.cli", "--config", str(path), "stats"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"unishelf: invalid configuration: {path}: listen.http_port: 'web' is not a port number (0-65535)"]


def test_serve_takes_listener_overrides():
    from unishelf.cli import build_parser
    args = build_parser().parse_args(["--config", "x.yaml", "--data-dir", "d", "serve", "--host", "0.0.0.0",
                                      "--z3950-port", "9999", "--http-port", "8081", "--ill-port", "4999"])
    assert (args.host, args.z3950_port, args.http_port, args.ill_port) == ("0.0.0.0", 9999, 8081, 4999)
