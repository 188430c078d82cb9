"""Electronic delivery of ILL copies: the delivery area on its own, then a real `unishelf serve`
with ftplib uploading to its FTP drop and `fetch` downloading from its HTTP links."""
from __future__ import annotations

import dataclasses
import ftplib
import hashlib
import io
import os
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from conftest import serving
from twisted.internet.testing import MemoryReactorClock
from twisted.python import filepath

from unishelf.auth import Users, hash_password
from unishelf.config import ConfigError, load_config
from unishelf.ill_iso.delivery import (BadSignature, CheckFailed, DeliveryArea, DeliveryError, DeliverySettings,
                                       FileGone, LinkExpired, MalformedLink, NothingToDeliver, fetch, safe_name)
from unishelf.ill_iso.ftp_drop import PURGE_SECONDS, DeliveryService, DropShell, TooLarge

NOW = datetime(2030, 1, 10, 9, 30, tzinfo=timezone.utc)


def scan(size: int) -> bytes:
    """Bytes that look like a scanned article: a PDF header, incompressible content, a trailer."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(size) + b"\n%%EOF\n"


def link_parts(url: str) -> list[str]:
    """ID, UNTIL, SIGNATURE, NAME of a link."""
    path = urllib.parse.urlsplit(url).path
    assert path.startswith("/ill/files/")
    return [urllib.parse.unquote(part) for part in path.removeprefix("/ill/files/").split("/")]


@pytest.fixture
def area(tmp_path):
    settings = DeliverySettings("http://node.example:8080", link_days=14, keep_days=30, max_size=100_000,
                                root=tmp_path / "ill-files", drop=tmp_path / "ill-drop")
    return DeliveryArea(settings, clock=lambda: NOW)


# -- the delivery area -------------------------------------------------------------------------
def test_take_signs_a_link_that_resolves_to_the_moved_file(area):
    content = scan(5000)
    (area.drop_dir("NORTH") / "12.pdf").write_bytes(content)
    assert [p.name for p in area.dropped("NORTH", 12)] == ["12.pdf"]
    delivery = area.take("NORTH", 12)
    assert (delivery.name, delivery.size) == ("12.pdf", len(content))
    assert delivery.sha256 == hashlib.sha256(content).hexdigest()
    assert delivery.until == "20300124"                                       # 14 days on
    assert delivery.url.startswith("http://node.example:8080/ill/files/")
    assert delivery.description == f"name 12.pdf; size {len(content)}; sha256 {delivery.sha256}; until 20300124"
    parsed = dict(part.strip().split(" ", 1) for part in delivery.description.split(";"))
    assert parsed == {"name": "12.pdf", "size": str(len(content)), "sha256": delivery.sha256, "until": "20300124"}
    assert area.dropped("NORTH", 12) == []                                     # moved out of the drop
    path = area.resolve(*link_parts(delivery.url))
    assert path.read_bytes() == content
    secret = area.settings.root / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_bytes()) == 32
    assert DeliveryArea(area.settings).resolve(*link_parts(delivery.url), today=NOW.date()) == path   # same key


def test_dropped_finds_only_the_transactions_files(area):
    drop = area.drop_dir("NORTH")
    for name in ("12.pdf", "12-part2.pdf", "12.tar.gz", "120.pdf", "112.pdf", "13.pdf", ".12.pdf"):
        (drop / name).write_bytes(b"x")
    (drop / "12").mkdir()
    (drop / "12" / "page1.tif").write_bytes(b"x")
    (drop / "12" / "more").mkdir()
    (drop / "12" / "more" / "page2.tif").write_bytes(b"x")
    found = [str(p.relative_to(drop)) for p in area.dropped("NORTH", "12")]
    assert found == ["12/more/page2.tif", "12/page1.tif", "12-part2.pdf", "12.pdf", "12.tar.gz"]
    assert area.dropped("SOUTH", 12) == []
    with pytest.raises(NothingToDeliver, match="5 files dropped for #12"):
        area.take("NORTH", 12)
    with pytest.raises(NothingToDeliver, match="no files dropped for #14"):
        area.take("NORTH", 14)
    with pytest.raises(DeliveryError, match="not a library code"):
        area.drop_dir("../NORTH")
    with pytest.raises(DeliveryError, match="not a transaction number"):
        area.dropped("NORTH", "../12")


def test_take_refuses_empty_and_oversized_files_and_takes_a_named_one(area, tmp_path):
    drop = area.drop_dir("NORTH")
    (drop / "20.pdf").write_bytes(b"")
    with pytest.raises(NothingToDeliver, match="empty"):
        area.take("NORTH", 20)
    (drop / "21.pdf").write_bytes(b"x" * 100_001)
    with pytest.raises(NothingToDeliver, match="more than ill.delivery.max_size"):
        area.take("NORTH", 21)
    (drop / "22").mkdir()
    (drop / "22" / "scan.pdf").write_bytes(b"one")
    (drop / "22" / "cover.pdf").write_bytes(b"two")
    delivery = area.take("NORTH", 22, drop / "22" / "scan.pdf")
    assert delivery.name == "scan.pdf" and delivery.size == 3
    assert [p.name for p in area.dropped("NORTH", 22)] == ["cover.pdf"]
    (drop / "24" / "pages").mkdir(parents=True)
    (drop / "24" / "pages" / "all.pdf").write_bytes(b"three")
    area.take("NORTH", 24)
    assert not (drop / "24").exists() and drop.is_dir()                       # emptied folders go
    outside = tmp_path / "a;b/c\x07\u202e.pdf".replace("/", "_")
    outside.write_bytes(b"kept")
    copied = area.take("NORTH", 23, outside)
    assert copied.name == "a_b_c__.pdf" and outside.exists()                # copied, not moved; name made safe


def test_names_are_made_safe():
    assert safe_name("..;evil\n/name.pdf") == "_evil__name.pdf"
    assert safe_name("  .hidden  ") == "hidden" and safe_name("...") == "file"
    assert safe_name("文献复印件.pdf") == "文献复印件.pdf"
    long = safe_name("圖" * 300 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 200


def test_tampered_expired_and_malformed_links_are_refused(area):
    (area.drop_dir("NORTH") / "30.pdf").write_bytes(b"copy")
    file_id, until, signature, name = link_parts(area.take("NORTH", 30).url)
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    for attempt in ((file_id, until, forged, name), (file_id, "20991231", signature, name),
                    (file_id, until, signature, "31.pdf")):
        with pytest.raises(BadSignature):
            area.resolve(*attempt)
    with pytest.raises(MalformedLink):
        area.resolve("../../secret", until, signature, name)
    with pytest.raises(MalformedLink):
        area.resolve(file_id, until, signature, "../secret")
    day_before = datetime(2030, 1, 23).date()
    assert area.resolve(file_id, until, signature, name, today=day_before).is_file()
    with pytest.raises(LinkExpired, match="until 20300124"):
        area.resolve(file_id, until, signature, name, today=day_before + timedelta(days=1))


def test_purge_deletes_files_kept_their_days(area):
    drop = area.drop_dir("NORTH")
    (drop / "40.pdf").write_bytes(b"old")
    old = area.take("NORTH", 40)
    later = DeliveryArea(area.settings, clock=lambda: NOW + timedelta(days=20))
    (drop / "41.pdf").write_bytes(b"new")
    new = later.take("NORTH", 41)
    assert area.purge(NOW + timedelta(days=29)) == []
    purged = area.purge(NOW + timedelta(days=30))
    assert [p.name for p in purged] == ["40.pdf"]
    with pytest.raises(FileGone):
        area.resolve(*link_parts(old.url), today=NOW.date())
    assert later.resolve(*link_parts(new.url)).read_bytes() == b"new"
    assert sorted(p.name for p in area.settings.root.iterdir() if p.name != "secret") == \
        sorted([link_parts(new.url)[0], link_parts(new.url)[0] + ".json"])


def test_the_delivery_service_purges_hourly_and_may_go_without_ftp(area):
    (area.drop_dir("NORTH") / "45.pdf").write_bytes(b"old")
    old = area.take("NORTH", 45)
    reactor = MemoryReactorClock()
    service = DeliveryService(DeliveryArea(area.settings, clock=lambda: NOW + timedelta(days=10)),
                              Users([], anonymous=False), "127.0.0.1", 0, reactor=reactor)
    service.startService()
    try:
        assert reactor.tcpServers == [] and "off (listen.ftp_port is 0)" in service.description
        assert area.resolve(*link_parts(old.url)).is_file()                  # 10 days: kept
        service.area.clock = lambda: NOW + timedelta(days=31)
        reactor.advance(PURGE_SECONDS)
        with pytest.raises(FileGone):
            area.resolve(*link_parts(old.url))
    finally:
        service.stopService()


# -- a real node: FTP drop in, HTTP link out ---------------------------------------------------
STAFF = {"nora": (["ill-staff"], "NORTH"), "sam": (["ill-staff"], "SOUTH"), "boss": (["admin"], "SOUTH"),
         "cato": (["cataloguer"], "NORTH"), "root": (["admin"], None)}


def password(user: str) -> str:
    return f"{user}-pw"


def wait_for_port(port: int, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """`unishelf serve` with NORTH and SOUTH staff; yields (ftp port, the test's DeliveryArea)."""
    base = tmp_path_factory.mktemp("delivery-node")
    users = [{"name": name, "password_hash": hash_password(password(name), iterations=1000), "roles": roles}
             | ({"library": library} if library else {}) for name, (roles, library) in STAFF.items()]
    config_file = base / "node.yaml"
    config_file.write_text(yaml.safe_dump({
        "listen": {"workers": 2},
        "libraries": [{"code": "NORTH", "ill_symbol": "NORTH"}, {"code": "SOUTH", "ill_symbol": "SOUTH"}],
        "users": users}))
    with serving(base / "data", config_file) as (ports, _):
        ftp_port = ports["ftp"]
        wait_for_port(ftp_port)
        config = load_config(config_file, {"data_dir": str(base / "data"), "listen.http_port": ports["http"]})
        yield ftp_port, DeliveryArea(DeliverySettings.from_config(config))


def staff_ftp(port: int, user: str) -> ftplib.FTP:
    client = ftplib.FTP()
    client.connect("127.0.0.1", port, timeout=10)
    client.login(user, password(user))
    return client


def test_staff_upload_to_their_own_librarys_drop(node):
    port, area = node
    with staff_ftp(port, "nora") as nora:
        nora.storbinary("STOR 50.pdf", io.BytesIO(b"article"))
        nora.mkd("51")
        nora.storbinary("STOR 51/p1.tif", io.BytesIO(b"page 1"))
        nora.storbinary("STOR 51/p2.tif", io.BytesIO(b"page 2"))
        nora.delete("51/p2.tif")
        nora.storbinary("STOR mistake.txt", io.BytesIO(b"oops"))
        nora.delete("mistake.txt")
        nora.storbinary("STOR 52-文献复印件.pdf", io.BytesIO(b"copy"))
        assert sorted(nora.nlst()) == ["50.pdf", "51", "52-文献复印件.pdf"]
    assert [p.name for p in area.dropped("NORTH", 50)] == ["50.pdf"]
    assert [p.name for p in area.dropped("NORTH", 52)] == ["52-文献复印件.pdf"]
    assert [p.name for p in area.dropped("NORTH", 51)] == ["p1.tif"]
    with staff_ftp(port, "sam") as sam:
        assert sam.nlst() == []
        for escape in ("../NORTH/50.pdf", "/../NORTH/50.pdf"):
            with pytest.raises(ftplib.error_perm):
                sam.retrbinary(f"RETR {escape}", lambda data: None)
    assert area.take("NORTH", 50).size == len(b"article")
    with staff_ftp(port, "nora") as nora:
        assert sorted(nora.nlst()) == ["51", "52-文献复印件.pdf"]


def test_an_upload_after_type_a_is_stored_and_sent_back_byte_for_byte(node):
    """Windows ftp.exe sends TYPE A before STOR; a scan must still arrive unchanged."""
    port, area = node
    content = scan(20_000) + b"\r\nline\nend\r"
    with staff_ftp(port, "nora") as nora:
        nora.voidcmd("TYPE A")
        with nora.transfercmd("STOR 90.pdf") as data:        # storbinary would send TYPE I first
            data.sendall(content)
        nora.voidresp()
        with nora.transfercmd("RETR 90.pdf") as data:
            returned = b"".join(iter(lambda: data.recv(65536), b""))
        nora.voidresp()
    assert returned == content
    assert [p.read_bytes() for p in area.dropped("NORTH", 90)] == [content]


def test_ftp_lets_in_only_ill_staff_of_a_library(node):
    port, _ = node
    for user, given in (("nora", "wrong"), ("nobody", password("nora")), ("cato", password("cato")),
                        ("root", password("root")), ("anonymous", "guest@example.org")):
        client = ftplib.FTP()
        client.connect("127.0.0.1", port, timeout=10)
        with client, pytest.raises(ftplib.error_perm, match="530"):
            client.login(user, given)
    with staff_ftp(port, "boss") as boss:                                   # an admin working for SOUTH
        assert boss.pwd() == "/"


def test_a_megabyte_scan_arrives_intact_end_to_end(node, tmp_path):
    port, area = node
    content = scan(1_300_000)
    with staff_ftp(port, "nora") as nora:
        nora.storbinary("STOR 60-article.pdf", io.BytesIO(content))
    delivery = area.take("NORTH", 60)
    assert delivery.sha256 == hashlib.sha256(content).hexdigest() and delivery.size == len(content)
    with urllib.request.urlopen(urllib.request.Request(delivery.url, method="HEAD"), timeout=10) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Length"] == str(len(content))
        assert response.headers["Content-Disposition"].startswith('attachment; filename="60-article.pdf"')
    fetched = fetch(delivery.url, tmp_path, delivery.size, delivery.sha256)
    assert fetched == tmp_path / "60-article.pdf"
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest()
    assert os.listdir(tmp_path) == ["60-article.pdf"]


def test_fetch_keeps_nothing_that_fails_its_checks(node, tmp_path):
    _, area = node
    (area.drop_dir("SOUTH") / "70.pdf").write_bytes(scan(20_000))
    delivery = area.take("SOUTH", 70)
    with pytest.raises(CheckFailed, match=f"sent {delivery.size} bytes, not the {delivery.size + 1} announced"):
        fetch(delivery.url, tmp_path, delivery.size + 1, delivery.sha256)
    with pytest.raises(CheckFailed, match=f"more than the {delivery.size - 1} bytes announced"):
        fetch(delivery.url, tmp_path, delivery.size - 1, delivery.sha256)
    stored = area.resolve(*link_parts(delivery.url))
    corrupted = bytearray(stored.read_bytes())
    corrupted[1000] ^= 0x01
    stored.write_bytes(bytes(corrupted))
    with pytest.raises(CheckFailed, match="SHA-256"):
        fetch(delivery.url, tmp_path, delivery.size, delivery.sha256)
    with pytest.raises(DeliveryError, match="not an HTTP link"):
        fetch(stored.as_uri(), tmp_path, delivery.size, delivery.sha256)
    assert os.listdir(tmp_path) == []


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_download_answers_403_410_and_404(node, tmp_path):
    _, area = node
    drop = area.drop_dir("NORTH")
    (drop / "80.pdf").write_bytes(b"eighty")
    good = area.take("NORTH", 80).url
    file_id, until, signature, name = link_parts(good)
    assert http_status(good) == 200
    assert http_status(good.replace(signature, signature[::-1])) == 403
    with pytest.raises(DeliveryError, match="403 Forbidden"):
        fetch(good.replace(signature, signature[::-1]), tmp_path, 6, hashlib.sha256(b"eighty").hexdigest())
    short_keep = DeliveryArea(dataclasses.replace(area.settings, keep_days=1),
                              clock=lambda: datetime.now(timezone.utc) - timedelta(days=2))
    (drop / "82.pdf").write_bytes(b"purged")
    purged = short_keep.take("NORTH", 82).url
    assert [p.name for p in short_keep.purge(datetime.now(timezone.utc))] == ["82.pdf"]
    assert http_status(purged) == 410 and http_status(good) == 200
    (drop / "81.pdf").write_bytes(b"old")
    expired = DeliveryArea(area.settings, clock=lambda: datetime.now(timezone.utc) - timedelta(days=15))
    assert http_status(expired.take("NORTH", 81).url) == 410
    with pytest.raises(DeliveryError, match="410 Gone: the file was deleted"):
        fetch(purged, tmp_path, 6, hashlib.sha256(b"purged").hexdigest())
    base = good.split("/ill/files/")[0] + "/ill/files/"
    for malformed in ("", file_id, f"{file_id}/{until}/{signature}", f"{file_id}/{until}/{signature}/a/b",
                      f"{file_id}/{until}/{signature}/%2E%2E%2Fsecret"):
        assert http_status(base + malformed) == 404, malformed
    assert os.listdir(tmp_path) == []


def test_fetch_refuses_announcements_it_cannot_check_or_keep(tmp_path):
    url = "http://127.0.0.1:9/ill/files/x/20300101/sig/scan.pdf"
    with pytest.raises(DeliveryError, match="no usable size and SHA-256"):
        fetch(url, tmp_path, 10, "not-a-digest")
    with pytest.raises(DeliveryError, match="more than ill.delivery.max_size"):
        fetch(url, tmp_path, 10_000, "0" * 64, max_size=1_000)
    assert list(tmp_path.iterdir()) == []


def test_an_upload_appears_in_the_drop_only_once_it_has_arrived_whole(area):
    shell = DropShell(filepath.FilePath(str(area.drop_dir("NORTH"))), area.settings.max_size)
    upload = shell.openForWriting(["5.pdf"]).result
    consumer, data = upload.receive().result, scan(1000)
    consumer.write(data[:500])
    assert area.dropped("NORTH", 5) == []             # still arriving: not offered to ship
    consumer.write(data[500:])
    consumer.unregisterProducer()
    upload.close()
    [arrived] = area.dropped("NORTH", 5)
    assert arrived.name == "5.pdf" and arrived.read_bytes() == data


def test_an_upload_over_the_maximum_size_is_not_kept_and_gets_552(area):
    shell = DropShell(filepath.FilePath(str(area.drop_dir("NORTH"))), 1000)

    def upload(name: str, data: bytes) -> list:
        """Store `data` in 400-byte pieces; the failures the upload's close gives."""
        failures = []
        stored = shell.openForWriting([name]).result
        consumer = stored.receive().result
        for start in range(0, len(data), 400):
            consumer.write(data[start:start + 400])
        consumer.unregisterProducer()
        stored.close().addErrback(failures.append)
        return failures

    [failure] = upload("6.pdf", os.urandom(1001))
    assert failure.check(TooLarge) and failure.value.response() == (
        "552 6.pdf: more than ill.delivery.max_size (1000 bytes)")
    assert list(area.drop_dir("NORTH").iterdir()) == []     # neither the file nor its partial upload
    assert upload("7.pdf", os.urandom(1000)) == []
    assert [p.stat().st_size for p in area.dropped("NORTH", 7)] == [1000]


def test_uploads_of_one_name_at_once_each_write_their_own_partial_file(area):
    drop = area.drop_dir("NORTH")
    shell = DropShell(filepath.FilePath(str(drop)), 1000)
    first, second, too_large = uploads = [shell.openForWriting(["8.pdf"]).result for _ in range(3)]
    contents = [os.urandom(600), os.urandom(700), os.urandom(1001)]
    consumers = [upload.receive().result for upload in uploads]
    for start in range(0, 1001, 400):                                      # the three arrive interleaved
        for consumer, data in zip(consumers, contents):
            consumer.write(data[start:start + 400])
    for consumer in consumers:
        consumer.unregisterProducer()
    assert len(list(drop.iterdir())) == 3 and area.dropped("NORTH", 8) == []
    failures = []
    too_large.close().addErrback(failures.append)
    assert [failure.check(TooLarge) for failure in failures] == [TooLarge]
    assert len(list(drop.iterdir())) == 2                                   # only its own partial file went
    first.close()
    assert [p.read_bytes() for p in area.dropped("NORTH", 8)] == [contents[0]]
    second.close()                                                          # the last to finish wins
    assert [p.read_bytes() for p in area.dropped("NORTH", 8)] == [contents[1]]
    assert os.listdir(drop) == ["8.pdf"]


@pytest.mark.parametrize("size", [-5, 0, "lots"])
def test_a_maximum_size_that_lets_nothing_in_is_a_config_error(size):
    with pytest.raises(ConfigError, match="ill.delivery.max_size"):
        load_config(None, {"ill.delivery.max_size": size})
