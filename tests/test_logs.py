"""Where serving processes' messages go: Twisted's errors reach the log, HTTP requests the access
log when one is configured."""
from __future__ import annotations

import http.client
import re
import subprocess
import sys
import urllib.request

from conftest import REPO, serving

COMBINED_LOG_LINE = re.compile(r'^"?127\.0\.0\.1"? - - \[[^\]]+\] "GET (\S+) HTTP/1\.1" (\d{3}) (\d+|-) "-" "([^"]*)"$')


def test_an_error_twisted_reports_reaches_the_log_with_its_traceback():
    script = ("from unishelf.logs import start_logging\n"
              "start_logging()\n"
              "from twisted.python import log\n"
              "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.err(None, 'while answering a request')\n"
              "from twisted.logger import Logger\n"
              "Logger().info('a factory started')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "twisted CRITICAL while answering a request" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr   # the traceback came with it
    assert "a factory started" not in result.stderr                 # Twisted's chatter stays out


def test_http_requests_are_written_to_the_access_log_of_the_config(union_catalogue, tmp_path):
    access_log = tmp_path / "access.log"
    config = tmp_path / "unishelf.yaml"
    config.write_text(f"listen: {{access_log: '{access_log}'}}\n")
    with serving(union_catalogue, config) as (ports, _):
        base = f"http://127.0.0.1:{ports['http']}"
        for path in ("/oai?verb=Identify", "/sru/unicat?query=dc.title%3Dwater&maximumRecords=0", "/nowhere"):
            request = urllib.request.Request(base + path, headers={"User-Agent": "unishelf-test"})
            try:
                urllib.request.urlopen(request, timeout=30).read()
            except urllib.error.HTTPError as error:
                assert error.code == 404
    lines = [COMBINED_LOG_LINE.match(line) for line in access_log.read_text().splitlines()]
    assert all(lines), access_log.read_text()
    assert [(m[1], m[2], m[4]) for m in lines] == [
        ("/oai?verb=Identify", "200", "unishelf-test"),
        ("/sru/unicat?query=dc.title%3Dwater&maximumRecords=0", "200", "unishelf-test"),
        ("/nowhere", "404", "unishelf-test")]


def test_an_access_log_that_cannot_be_opened_stops_the_start_naming_the_key(union_catalogue, tmp_path):
    config = tmp_path / "unishelf.yaml"
    config.write_text(f"listen: {{access_log: '{tmp_path / 'missing' / 'access.log'}'}}\n")
    result = subprocess.run([sys.executable, "-m", "unishelf.cli", "--config", str(config), "--data-dir",
                             str(union_catalogue), "serve", "--http-port=0", "--z3950-port=0", "--ill-port=0"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (f"unishelf: invalid configuration: {config}: listen.access_log: "
                                              "cannot be opened: No such file or directory")
    assert "Traceback" not in result.stderr


def test_an_access_log_that_cannot_be_written_costs_its_lines_not_the_answers(union_catalogue, tmp_path):
    config = tmp_path / "unishelf.yaml"
    config.write_text("listen: {access_log: /dev/full, workers: 1}\n")   # every write fails: no space
    output = tmp_path / "serve.out"
    with output.open("wb") as sink, serving(union_catalogue, config, output=sink) as (ports, _):
        connection = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=30)
        for _ in range(3):   # one keep-alive connection: each answer must have finished
            connection.request("GET", "/oai?verb=Identify")
            response = connection.getresponse()
            assert response.status == 200 and b"<Identify>" in response.read()
        connection.close()
    errors = [line for line in output.read_text().splitlines() if "access log" in line]
    assert len(errors) == 1 and "unishelf.http ERROR the access log /dev/full cannot be written" in errors[0]
