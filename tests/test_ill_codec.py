"""The ISO 10161 ILL APDU codec, against what yaz-illclient sends and what it can read."""
from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_ber import to_indefinite

from unishelf import ber
from unishelf.ber import CONTEXT, OCTET_ALIGNED, SINGLE_ASN1_TYPE, External, tlv
from unishelf.ill_iso.apdus import (
    APDU_TYPE_ENUMERATION, APDU_TYPES, ILLDecodeError, decode_apdu, encode_apdu, header,
    service_date_time, system_id, transaction_id,
)
from unishelf.ill_iso.asn1 import EncodeError

CAPTURES = Path(__file__).parent / "data" / "ill"
YAZ_ILLCLIENT = shutil.which("yaz-illclient")
needs_yaz = pytest.mark.skipif(
    YAZ_ILLCLIENT is None, reason="yaz-illclient not installed (apt-get install yaz-illclient)")


def _defines(*pairs: str) -> list[str]:
    return [argument for pair in pairs for argument in ("-D", f"ill,{pair}")]


# capture name -> the yaz-illclient arguments that made it (see data/ill/README.md)
CAPTURE_ARGUMENTS = {
    "request-no-params": [],
    "request-loan-minimal": _defines(
        "transaction-id,transaction-qualifier=T-1",
        "requester-id,person-or-institution-symbol,institution=NORTH",
        "responder-id,person-or-institution-symbol,institution=UNICAT",
        "ill-service-type=1",
        "item-id,title=Water supply engineering",
        "item-id,ISBN=0262032937",
    ),
    "request-copy-rich": _defines(
        "protocol-version-num=2",
        "transaction-id,initial-requester-id,person-or-institution-symbol,institution=NORTH",
        "transaction-id,transaction-group-qualifier=2024",
        "transaction-id,transaction-qualifier=T-0001",
        "service-date-time,this,date=20240315",
        "service-date-time,this,time=101500",
        "requester-id,person-or-institution-symbol,institution=NORTH",
        "requester-id,name-of-person-or-institution,name-of-institution=North Library",
        "responder-id,person-or-institution-symbol,institution=UNICAT",
        "delivery-address,postal-address,name-of-person-or-institution,"
        "name-of-institution=North Library",
        "delivery-address,postal-address,street-and-number=1 Main Street",
        "delivery-address,postal-address,city=Northtown",
        "delivery-address,postal-address,postal-code=12345",
        "delivery-address,postal-address,country=NZ",
        "delivery-address,electronic-address,telecom-service-identifier=SMTP",
        "delivery-address,electronic-address,telecom-service-addreess=ill@north.example",  # sic
        "ill-service-type=2",
        "requester-optional-messages,can-send-RECEIVED=1",
        "requester-optional-messages,can-send-RETURNED=1",
        "requester-optional-messages,requester-SHIPPED=2",
        "requester-optional-messages,requester-CHECKED-IN=3",
        "search-type,level-of-service=N",
        "search-type,need-before-date=20240401",
        "search-type,expiry-flag=1",
        "place-on-hold=2",
        "client-id,client-name=Ada Reader",
        "client-id,client-identifier=P-77",
        "item-id,item-type=2",
        "item-id,title=Journal of water supply",
        "item-id,ISSN=00431354",
        "item-id,author-of-article=Smith, J.",
        "item-id,title-of-article=Pipes and people",
        "item-id,volume-issue=12(3)",
        "item-id,pagination=101-120",
        "item-id,publication-date-of-component=2019",
        "copyright-complicance=CCG",  # sic
        "requester-note=Please send a PDF",
    ),
    "request-unicode": _defines(
        "requester-id,person-or-institution-symbol,institution=EAST",
        "item-id,title=图书馆学概论",
        "item-id,author=Müller, Jörg",
        "requester-note=Grüße",
    ),
    "request-oclc-auth": ["-o", "-u", "100-310-658", "-p", "not-a-secret"] + _defines(
        "requester-id,person-or-institution-symbol,institution=NORTH",
        "item-id,title=Water",
    ),
}


def capture(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text())


def yaz_illclient(arguments: list[str], reply: bytes | None,
                  workdir: Path) -> tuple[bytes, int, str, str]:
    """Run yaz-illclient against a one-shot loopback listener.

    Returns the APDU it sent, its exit code, stdout and stderr (where it prints every APDU it
    sends or receives). `reply` is sent back once the request is complete; None just closes.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(10)
        port = listener.getsockname()[1]
        client = subprocess.Popen([YAZ_ILLCLIENT, *arguments, f"tcp:127.0.0.1:{port}"],
                                  cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(10)
                received = b""
                while True:
                    chunk = connection.recv(65536)
                    assert chunk, f"yaz-illclient closed after {len(received)} bytes"
                    received += chunk
                    try:
                        ber.decode(received)
                        break
                    except ber.TruncatedError:
                        continue
                if reply is not None:
                    connection.sendall(reply)
            stdout, stderr = client.communicate(timeout=10)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    return (received, client.returncode,
            stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def write_captures(workdir: Path) -> None:
    """Regenerate data/ill/*.hex (see data/ill/README.md)."""
    for name, arguments in CAPTURE_ARGUMENTS.items():
        request, *_ = yaz_illclient(arguments, None, workdir)
        (CAPTURES / f"{name}.hex").write_text(request.hex() + "\n")


def swapped(data: bytes, old: bytes, new: bytes) -> bytes:
    """`data` with the element encoded as `old` replaced by `new`, enclosing lengths fixed."""
    target, replacement = ber.decode(old), ber.decode(new)

    def walk(node: ber.Node) -> ber.Node:
        if node == target:
            return replacement
        node.children = [walk(child) for child in node.children]
        return node
    result = ber.encode(walk(ber.decode(data)))
    assert result != data, "nothing to swap"
    return result


def edited(apdu_type: str, value: dict, edit) -> bytes:
    """The APDU with its top-level components edited by `edit(children) -> children`."""
    node = ber.decode(encode_apdu(apdu_type, value))
    body = node.only_child()
    body.children = edit(body.children)
    return ber.encode(node)


def fields(data: bytes) -> dict[tuple[int, int], ber.Node]:
    """The top-level components of an encoded APDU, by tag."""
    return ber.decode(data).only_child().fields()


def given_in(given, decoded) -> bool:
    """Whether everything in `given` came back in `decoded` (which also has the DEFAULTs)."""
    if isinstance(given, dict):
        return all(key in decoded and given_in(item, decoded[key]) for key, item in given.items())
    if isinstance(given, (list, tuple)):
        return len(given) == len(decoded) and all(map(given_in, given, decoded))
    return given == decoded


# -- realistic values for every APDU type ---------------------------------------------------
NOW = datetime(2024, 3, 15, 10, 15, 0, tzinfo=timezone.utc)
TRANSACTION = transaction_id("NORTH", "T-0001", group_qualifier="2024")
REQUESTER = system_id("NORTH", "North Library")
RESPONDER = system_id("UNICAT", "Union Catalogue")
POSTAL = {
    "name-of-person-or-institution": ("name-of-institution", "North Library"),
    "street-and-number": "1 Main Street", "city": "Northtown", "region": "Otago",
    "country": "NZ", "postal-code": "9016",
}
EMAIL = {"telecom-service-identifier": "SMTP", "telecom-service-address": "ill@north.example"}
AMOUNT = {"currency-code": "NZD", "monetary-value": "25.00"}
OCLC_EXTENSION = External("1.0.10161.13.2", SINGLE_ASN1_TYPE, ber.decode(b"\x30\x00"))
EXTENSION = {"identifier": 1, "critical": False, "item": ber.encode_external(OCLC_EXTENSION)}
E_DELIVERY = {
    "e-delivery-service": {"e-delivery-mode": "1.0.10021.7.1",
                           "e-delivery-parameters": tlv(b"\x1a", b"ipm")},
    "document-type": {"document-type-id": "1.0.8613.5.1", "document-type-parameters": b"\x05\x00"},
    "e-delivery-description": "PDF by email",
    "e-delivery-details": ("e-delivery-address", {"telecom-service-identifier": "SMTP",
                                                  "telecom-service-address": "docs@north.example"}),
    "name-or-code": "T-0001.pdf",
    "delivery-time": "170000",
}
LOCATION = {"location-id": system_id("EAST"), "location-address": EMAIL, "location-note": "stack 4"}
HISTORY = {
    "date-requested": "20240315", "author": "Smith, J.", "title": "Journal of water supply",
    "date-of-last-transition": "20240316", "most-recent-service": "sHIPPED",
    "date-of-most-recent-service": "20240316", "initiator-of-most-recent-service": RESPONDER,
    "shipped-service-type": "loan", "transaction-results": "will-supply",
    "most-recent-service-note": "on its way",
}
REQUESTER_MESSAGES = {"can-send-RECEIVED": True, "can-send-RETURNED": True,
                      "requester-SHIPPED": "requires", "requester-CHECKED-IN": "requires"}
RESPONDER_MESSAGES = {"can-send-SHIPPED": True, "can-send-CHECKED-IN": True,
                      "responder-RECEIVED": "requires", "responder-RETURNED": "desires"}


def description(text: str) -> list[External]:
    """A Supplemental-Item-Description of one octet-aligned EXTERNAL."""
    return [External("1.2.840.10003.5.109.10", OCTET_ALIGNED, text.encode())]


def base(components: dict) -> dict:
    return {**header(TRANSACTION, REQUESTER, RESPONDER, NOW), **components}


def answer(results: str, explanation: tuple[str, dict]) -> dict:
    return base({"transaction-results": results, "results-explanation": explanation})


def error_report(source: str, report: tuple[str, object]) -> dict:
    key = "user-error-report" if source == "user" else "provider-error-report"
    return base({"error-report": {"correlation-information": "T-0001", "report-source": source,
                                  key: report},
                 "note": "see report"})


SAMPLES = {
    "ILL-Request": ("ILL-Request", base({
        "transaction-type": "simple",
        "delivery-address": {"postal-address": POSTAL, "electronic-address": EMAIL},
        "delivery-service": ("electronic-delivery", [E_DELIVERY]),
        "billing-address": {"postal-address": POSTAL},
        "iLL-service-type": ["copy-non-returnable", "loan"],
        "responder-specific-service": External("1.2.840.10003.99.1", OCTET_ALIGNED, b"rush"),
        "requester-optional-messages": {**REQUESTER_MESSAGES, "requester-SHIPPED": "desires",
                                        "requester-CHECKED-IN": "neither"},
        "search-type": {"level-of-service": "N", "need-before-date": "20240401",
                        "expiry-flag": "need-Before-Date"},
        "supply-medium-info-type": [{"supply-medium-type": "photocopy",
                                     "medium-characteristics": "A4"}],
        "place-on-hold": "no",
        "client-id": {"client-name": "Ada Reader", "client-status": "staff",
                      "client-identifier": "P-77"},
        "item-id": {
            "item-type": "serial", "held-medium-type": "printed", "call-number": "TD 201 .J6",
            "title": "Journal of water supply", "author-of-article": "Smith, J.",
            "title-of-article": "Pipes and people", "volume-issue": "12(3)",
            "pagination": "101-120", "iSSN": "00431354", "publication-date-of-component": "2019",
            "system-no": External("1.2.124.10161.2", OCTET_ALIGNED, b"ocm12345678"),
        },
        "supplemental-item-description": description("<note/>"),
        "cost-info-type": {"account-number": "ACC-1", "maximum-cost": AMOUNT,
                           "reciprocal-agreement": True, "will-pay-fee": True,
                           "payment-provided": False},
        "copyright-compliance": "CCG",
        "third-party-info-type": {
            "permission-to-forward": True, "permission-to-chain": False,
            "permission-to-partition": False, "permission-to-change-send-to-list": True,
            "initial-requester-address": EMAIL, "preference": "ordered",
            "send-to-list": [
                {"system-id": system_id("EAST"), "account-number": "A9", "system-address": EMAIL},
                {"system-id": system_id("SOUTH")},
            ],
            "already-tried-list": [system_id("WEST")],
        },
        "retry-flag": False, "forward-flag": False,
        "requester-note": "Please send a PDF", "forward-note": "forwarded by NORTH",
        "iLL-request-extensions": [EXTENSION],
    })),
    "ILL-Request-physical": ("ILL-Request", base({
        "delivery-service": ("physical-delivery", "Courier"),
        "iLL-service-type": ["loan"],
        "requester-optional-messages": REQUESTER_MESSAGES,
        "item-id": {"item-type": "monograph", "title": "Water supply engineering",
                    "iSBN": "0262032937"},
    })),
    "Forward-Notification": ("Forward-Notification", base({
        "responder-address": EMAIL, "intermediary-id": system_id("HUB"),
        "notification-note": "sent on to EAST", "forward-notification-extensions": [EXTENSION],
    })),
    "Shipped": ("Shipped", base({
        "responder-address": EMAIL, "intermediary-id": system_id("HUB"),
        "supplier-id": system_id("EAST"), "client-id": {"client-name": "Ada Reader"},
        "transaction-type": "chained", "shipped-service-type": "loan",
        "responder-optional-messages": RESPONDER_MESSAGES,
        "supply-details": {
            "date-shipped": "20240316",
            "date-due": {"date-due-field": "20240416", "renewable": False},
            "chargeable-units": 1, "cost": AMOUNT, "shipped-conditions": "library-use-only",
            "shipped-via": ("physical-delivery", "Courier"), "insured-for": AMOUNT,
            "return-insurance-require": AMOUNT,
            "no-of-units-per-medium": [{"medium": "printed", "no-of-units": 1}],
        },
        "return-to-address": POSTAL, "responder-note": "handle with care",
        "shipped-extensions": [EXTENSION],
    })),
    "Shipped-electronic": ("Shipped", base({
        "shipped-service-type": "copy-non-returnable",
        "supply-details": {"date-shipped": "20240316",
                           "shipped-via": ("electronic-delivery", E_DELIVERY)},
    })),
    "ILL-Answer-conditional": ("ILL-Answer", answer("conditional", ("conditional-results", {
        "conditions": "library-use-only", "date-for-reply": "20240320", "locations": [LOCATION],
        "proposed-delivery-service": ("physical-delivery", "Courier"),
    }))),
    "ILL-Answer-retry": ("ILL-Answer", answer("retry", ("retry-results", {
        "reason-not-available": "in-use-on-loan", "retry-date": "20240401",
        "locations": [LOCATION],
    }))),
    "ILL-Answer-unfilled": ("ILL-Answer", answer("unfilled", ("unfilled-results", {
        "reason-unfilled": "not-owned", "locations": [LOCATION],
    }))),
    "ILL-Answer-locations": ("ILL-Answer", answer("locations-provided", ("locations-results", {
        "reason-locs-provided": "non-circulating",
        "locations": [LOCATION, {"location-id": system_id("WEST")}],
    }))),
    "ILL-Answer-will-supply": ("ILL-Answer", {
        **answer("will-supply", ("will-supply-results", {
            "reason-will-supply": "being-processed-for-supply", "supply-date": "20240318",
            "return-to-address": POSTAL, "locations": [LOCATION],
            "electronic-delivery-service": E_DELIVERY,
        })),
        "responder-specific-results": External("1.2.840.10003.99.2", OCTET_ALIGNED, b"x"),
        "supplemental-item-description": description("<a/>"),
        "send-to-list": [{"system-id": system_id("EAST")}],
        "already-tried-list": [system_id("WEST")],
        "responder-optional-messages": {**RESPONDER_MESSAGES, "responder-RETURNED": "neither"},
        "responder-note": "soon", "ill-answer-extensions": [EXTENSION],
    }),
    "ILL-Answer-hold-placed": ("ILL-Answer", answer("hold-placed", ("hold-placed-results", {
        "estimated-date-available": "20240501", "hold-placed-medium-type": "microform",
        "locations": [LOCATION],
    }))),
    "ILL-Answer-estimate": ("ILL-Answer", answer("estimate", ("estimate-results", {
        "cost-estimate": "NZD 12.50", "locations": [LOCATION],
    }))),
    "Conditional-Reply": ("Conditional-Reply", base({
        "answer": True, "requester-note": "agreed", "conditional-reply-extensions": [EXTENSION],
    })),
    "Cancel": ("Cancel", base({
        "requester-note": "no longer needed", "cancel-extensions": [EXTENSION],
    })),
    "Cancel-Reply": ("Cancel-Reply", base({
        "answer": False, "responder-note": "already shipped",
        "cancel-reply-extensions": [EXTENSION],
    })),
    "Received": ("Received", base({
        "supplier-id": system_id("EAST"), "supplemental-item-description": description("<b/>"),
        "date-received": "20240318", "shipped-service-type": "loan", "requester-note": "thanks",
        "received-extensions": [EXTENSION],
    })),
    "Recall": ("Recall", base({
        "responder-note": "needed back", "recall-extensions": [EXTENSION],
    })),
    "Returned": ("Returned", base({
        "supplemental-item-description": description("<c/>"), "date-returned": "20240410",
        "returned-via": "Post", "insured-for": AMOUNT, "requester-note": "returned",
        "returned-extensions": [EXTENSION],
    })),
    "Checked-In": ("Checked-In", base({
        "date-checked-in": "20240412", "responder-note": "ok",
        "checked-in-extensions": [EXTENSION],
    })),
    "Overdue": ("Overdue", base({
        "date-due": {"date-due-field": "20240416", "renewable": True},
        "responder-note": "please return", "overdue-extensions": [EXTENSION],
    })),
    "Renew": ("Renew", base({
        "desired-due-date": "20240516", "requester-note": "one more month",
        "renew-extensions": [EXTENSION],
    })),
    "Renew-Answer": ("Renew-Answer", base({
        "answer": True, "date-due": {"date-due-field": "20240516"},
        "responder-note": "granted", "renew-answer-extensions": [EXTENSION],
    })),
    "Lost": ("Lost", base({"note": "lost in transit", "lost-extensions": [EXTENSION]})),
    "Damaged": ("Damaged", base({
        "damaged-details": {"document-type-id": "1.0.8613.5.1",
                            "damaged-portion": ("specific-units", [3, 4])},
        "note": "water damage", "damaged-extensions": [EXTENSION],
    })),
    "Damaged-complete": ("Damaged", base({
        "damaged-details": {"damaged-portion": ("complete-document", None)},
    })),
    "Message": ("Message", base({"note": "hello", "message-extensions": [EXTENSION]})),
    "Status-Query": ("Status-Query", base({
        "note": "where is it?", "status-query-extensions": [EXTENSION],
    })),
    "Status-Or-Error-Report": ("Status-Or-Error-Report", base({
        "status-report": {"user-status-report": HISTORY, "provider-status-report": "sHIPPED"},
        "note": "status", "status-or-error-report-extensions": [EXTENSION],
    })),
    "Status-Or-Error-Report-no-report": ("Status-Or-Error-Report", base({
        "reason-no-report": "temporary",
    })),
    "Expired": ("Expired", base({"expired-extensions": [EXTENSION]})),
}

# each error report, and what yaz-illclient prints for it (it exits 7 on any error report)
ERROR_REPORTS = {
    "already-forwarded": (error_report("user", ("already-forwarded", {
        "responder-id": system_id("EAST"), "responder-address": EMAIL,
    })), "Already forwarded:"),
    "intermediary-problem": (error_report("user", ("intermediary-problem", "cannot-send-onward")),
                             "Intermediary problem: 1"),
    "security-problem": (error_report("user", ("security-problem", "bad password")),
                         "Security problem: bad password"),
    "unable-to-perform": (error_report("user", ("unable-to-perform", "resource-limitation")),
                          "Unable to perform: 2"),
    "general-problem": (error_report("provider", ("general-problem", "badly-structured-APDU")),
                        "General Problem: 3:see report"),
    "transaction-id-problem": (
        error_report("provider", ("transaction-id-problem", "duplicate-transaction-id")),
        "Transaction Id Problem: 1:see report"),
    "state-transition-prohibited": (error_report("provider", ("state-transition-prohibited", {
        "aPDU-type": "rENEW", "current-state": "cANCELLED",
    })), "State Transition prohibited:see report"),
}
for _name, (_value, _) in ERROR_REPORTS.items():
    SAMPLES[f"Status-Or-Error-Report-{_name}"] = ("Status-Or-Error-Report", _value)


def test_samples_cover_all_twenty_apdu_types():
    assert len(APDU_TYPES) == 20
    assert {apdu_type for apdu_type, _ in SAMPLES.values()} == set(APDU_TYPES)


# -- captures from yaz-illclient ------------------------------------------------------------
def test_capture_without_parameters_decodes_despite_zero_enums_and_empty_strings():
    apdu_type, request = decode_apdu(capture("request-no-params"))
    assert apdu_type == "ILL-Request"
    assert request["protocol-version-num"] == 0
    assert request["transaction-type"] == 0  # no name for 0: kept as the number
    assert request["place-on-hold"] == 0
    assert request["iLL-service-type"] == [0]
    assert request["item-id"]["item-type"] == 0 and request["item-id"]["title"] == ""
    assert request["requester-id"]["person-or-institution-symbol"] == ("person-symbol", "")
    assert request["service-date-time"]["date-time-of-this-service"] == {"date": "", "time": ""}
    assert request["search-type"]["expiry-date"] == ""


def test_capture_loan_minimal():
    apdu_type, request = decode_apdu(capture("request-loan-minimal"))
    assert apdu_type == "ILL-Request"
    assert request["protocol-version-num"] == 2
    assert request["transaction-id"] == {
        "initial-requester-id": {}, "transaction-group-qualifier": "",
        "transaction-qualifier": "T-1"}
    assert request["service-date-time"] == {"date-time-of-this-service": {"date": "20000101"}}
    assert request["requester-id"] == system_id("NORTH")
    assert request["responder-id"] == system_id("UNICAT")
    assert request["iLL-service-type"] == ["loan"]
    assert request["transaction-type"] == "simple"
    assert request["place-on-hold"] == "according-to-responder-policy"
    assert request["retry-flag"] is False and request["forward-flag"] is False
    assert request["search-type"] == {"expiry-flag": "no-Expiry"}
    assert request["item-id"] == {"item-type": "monograph", "title": "Water supply engineering",
                                  "iSBN": "0262032937"}
    assert request["delivery-address"] == {"postal-address": {}, "electronic-address": {}}


def test_capture_copy_rich():
    _, request = decode_apdu(capture("request-copy-rich"))
    assert request["transaction-id"] == TRANSACTION
    assert request["service-date-time"] == {
        "date-time-of-this-service": {"date": "20240315", "time": "101500"}}
    assert request["requester-id"] == REQUESTER
    assert request["delivery-address"] == {
        "postal-address": {
            "name-of-person-or-institution": ("name-of-institution", "North Library"),
            "street-and-number": "1 Main Street", "city": "Northtown", "country": "NZ",
            "postal-code": "12345"},
        "electronic-address": EMAIL}
    assert request["iLL-service-type"] == ["copy-non-returnable"]
    assert request["requester-optional-messages"] == {
        "can-send-RECEIVED": True, "can-send-RETURNED": True,
        "requester-SHIPPED": "desires", "requester-CHECKED-IN": "neither"}
    assert request["search-type"] == {"level-of-service": "N", "need-before-date": "20240401",
                                      "expiry-flag": "need-Before-Date"}
    assert request["place-on-hold"] == "no"
    assert request["client-id"] == {"client-name": "Ada Reader", "client-identifier": "P-77"}
    item = request["item-id"]
    assert item["item-type"] == "serial" and item["iSSN"] == "00431354"
    assert item["author-of-article"] == "Smith, J." and item["pagination"] == "101-120"
    assert request["copyright-compliance"] == "CCG"
    assert request["requester-note"] == "Please send a PDF"


def test_capture_unicode_text_is_utf8():
    _, request = decode_apdu(capture("request-unicode"))
    assert request["item-id"]["title"] == "图书馆学概论"
    assert request["item-id"]["author"] == "Müller, Jörg"
    assert request["requester-note"] == "Grüße"


def test_capture_oclc_auth_extensions_stay_raw_externals():
    _, request = decode_apdu(capture("request-oclc-auth"))
    extensions = request["iLL-request-extensions"]
    assert [(item["identifier"], item["critical"]) for item in extensions] == [(1, False)] * 2
    prompt, oclc = (ber.decode_external(ber.decode(item["item"])) for item in extensions)
    assert prompt.direct_reference == "1.2.840.10003.8.1"
    credentials = ber.encode(prompt.value)
    assert b"100-310-658" in credentials and b"not-a-secret" in credentials
    assert oclc.direct_reference == "1.0.10161.13.2"


@pytest.mark.parametrize("name", sorted(CAPTURE_ARGUMENTS))
def test_capture_round_trips_with_definite_lengths(name):
    data = capture(name)
    assert data[1] == 0x80  # yaz-illclient writes the outer levels indefinitely
    apdu_type, value = decode_apdu(data)
    encoded = encode_apdu(apdu_type, value)
    assert encoded[1] != 0x80 and ber.decode(encoded).only_child() == ber.decode(data).only_child()
    assert decode_apdu(encoded) == (apdu_type, value)


@pytest.mark.parametrize("name", sorted(CAPTURE_ARGUMENTS))
def test_nested_indefinite_lengths_everywhere(name):
    data = capture(name)
    assert decode_apdu(to_indefinite(data)) == decode_apdu(data)


@needs_yaz
def test_captures_match_what_yaz_illclient_sends(tmp_path):
    for name, arguments in CAPTURE_ARGUMENTS.items():
        request, *_ = yaz_illclient(arguments, None, tmp_path)
        assert request == capture(name), f"{name}: yaz-illclient now sends something else"


# -- every APDU type ------------------------------------------------------------------------
@pytest.mark.parametrize("label", sorted(SAMPLES))
def test_every_apdu_round_trips(label):
    apdu_type, value = SAMPLES[label]
    encoded = encode_apdu(apdu_type, value)
    assert encoded[0] == 0x60 + APDU_TYPES.index(apdu_type) + 1
    decoded_type, decoded = decode_apdu(encoded)
    assert decoded_type == apdu_type
    assert encode_apdu(decoded_type, decoded) == encoded
    assert given_in(value, decoded)


@needs_yaz
@pytest.mark.parametrize("label", sorted(SAMPLES))
def test_yaz_decodes_every_apdu_we_encode(label, tmp_path):
    apdu_type, value = SAMPLES[label]
    _, status, stdout, stderr = yaz_illclient([], encode_apdu(apdu_type, value), tmp_path)
    assert "Error decoding" not in stderr
    if apdu_type == "Status-Or-Error-Report":
        assert status in (0, 7), stdout
    else:  # decoded, then refused: yaz-illclient waits for a Status-Or-Error-Report only
        number = APDU_TYPES.index(apdu_type) + 1
        assert (status, stdout.strip()) == (6, f"Server returned wrong packet type: {number}")
    assert "T-0001" in stderr and "'UNICAT'" in stderr  # YAZ printed what it decoded


@needs_yaz
def test_yaz_illclient_accepts_our_status_report(tmp_path):
    """The reply to every ILL-Request: a status report with the provider state IN-PROCESS."""
    def reply_to(request: bytes) -> bytes:
        _, value = decode_apdu(request)
        report = header(value["transaction-id"], value.get("requester-id"), system_id("UNICAT"))
        report["status-report"] = {
            "user-status-report": {
                "date-of-last-transition": "20240315", "most-recent-service": "iLL-REQUEST",
                "date-of-most-recent-service": "20240315",
                "initiator-of-most-recent-service": value["requester-id"]},
            "provider-status-report": "iN-PROCESS"}
        return encode_apdu("Status-Or-Error-Report", report)

    reply = reply_to(capture("request-copy-rich"))
    _, status, stdout, stderr = yaz_illclient(CAPTURE_ARGUMENTS["request-copy-rich"], reply,
                                              tmp_path)
    assert (status, stdout.strip()) == (0, "Ok")
    printed_reply = stderr.split("Status_Or_Error_Report")[1]
    assert "provider_status_report 3" in printed_reply
    assert "GeneralString 'T-0001'" in printed_reply


@needs_yaz
@pytest.mark.parametrize("name", sorted(ERROR_REPORTS))
def test_yaz_illclient_reads_our_error_reports(name, tmp_path):
    value, printed = ERROR_REPORTS[name]
    _, status, stdout, _ = yaz_illclient([], encode_apdu("Status-Or-Error-Report", value),
                                         tmp_path)
    assert (status, stdout.strip()) == (7, printed)


# -- DEFAULT components ---------------------------------------------------------------------
def test_defaults_are_written_out_when_not_given():
    apdu_type, value = SAMPLES["ILL-Request-physical"]
    assert "transaction-type" not in value and "place-on-hold" not in value
    top = fields(encode_apdu(apdu_type, value))
    assert top[(CONTEXT, 5)].value == b"\x01"  # transaction-type simple
    assert top[(CONTEXT, 14)].value == b"\x03"  # place-on-hold according-to-responder-policy
    assert top[(CONTEXT, 21)].value == b"\x00"  # retry-flag FALSE
    assert top[(CONTEXT, 22)].value == b"\x00"  # forward-flag FALSE

    nested = {**value, "search-type": {}, "cost-info-type": {}, "third-party-info-type": {},
              "iLL-request-extensions": [{"identifier": 7, "item": b"\x05\x00"}]}
    top = fields(encode_apdu("ILL-Request", nested))
    assert top[(CONTEXT, 12)].fields()[(CONTEXT, 2)].value == b"\x03"  # expiry-flag no-Expiry
    assert [child.value for child in top[(CONTEXT, 18)].children] == [b"\x00"] * 3
    third_party = [child.value for child in top[(CONTEXT, 20)].children]
    assert third_party == [b"\x00"] * 4 + [b"\x02"]  # permissions FALSE, preference unordered
    extension = top[(CONTEXT, 49)].only_child().fields()
    assert extension[(CONTEXT, 1)].value == b"\x00"  # critical FALSE

    renew_answer = base({"answer": True, "date-due": {"date-due-field": "20240516"}})
    date_due = fields(encode_apdu("Renew-Answer", renew_answer))[(CONTEXT, 41)].fields()
    assert date_due[(CONTEXT, 1)].value == b"\x01"  # renewable TRUE


def test_absent_defaults_are_filled_in_when_decoding():
    apdu_type, value = SAMPLES["ILL-Request-physical"]
    data = edited(apdu_type, value, lambda children: [
        child for child in children if child.number not in (5, 14, 21, 22)])
    _, request = decode_apdu(data)
    assert request["transaction-type"] == "simple"
    assert request["place-on-hold"] == "according-to-responder-policy"
    assert (request["retry-flag"], request["forward-flag"]) == (False, False)


# -- tolerant decoding ----------------------------------------------------------------------
def test_unknown_components_are_skipped_and_order_does_not_matter():
    apdu_type, value = SAMPLES["ILL-Request-physical"]
    unknown = ber.Node(CONTEXT, False, 99, b"?")
    data = edited(apdu_type, value, lambda children: [unknown, *reversed(children)])
    assert decode_apdu(data) == decode_apdu(encode_apdu(apdu_type, value))


def test_unnamed_enumeration_numbers_are_kept_and_written_back():
    apdu_type, value = SAMPLES["ILL-Request-physical"]
    odd = {**value, "iLL-service-type": [9, "loan"], "place-on-hold": 0}
    _, decoded = decode_apdu(encode_apdu(apdu_type, odd))
    assert decoded["iLL-service-type"] == [9, "loan"] and decoded["place-on-hold"] == 0


def test_boolean_true_is_any_nonzero_octet():
    data = encode_apdu(*SAMPLES["Conditional-Reply"])
    answer_ff = swapped(data, bytes.fromhex("9f230101"), bytes.fromhex("9f2301ff"))
    assert decode_apdu(answer_ff)[1]["answer"] is True


def test_implicit_where_the_module_says_explicit_and_the_reverse():
    data = encode_apdu(*SAMPLES["ILL-Answer-will-supply"])
    explicit_enum = bytes.fromhex("a0030a011a")  # reason-will-supply [0] { ENUMERATED 26 }
    assert decode_apdu(swapped(data, explicit_enum, bytes.fromhex("80011a"))) == decode_apdu(data)

    data = encode_apdu(*SAMPLES["ILL-Request-physical"])
    implicit_enum = bytes.fromhex("850101")  # transaction-type [5] IMPLICIT ENUMERATED 1
    explicit_form = bytes.fromhex("a5030a0101")
    assert decode_apdu(swapped(data, implicit_enum, explicit_form)) == decode_apdu(data)


def test_extension_lists_in_either_tagging():
    """Overdue's [49] is the one the module leaves EXPLICIT; peers may tag any either way."""
    cancel = fields(encode_apdu(*SAMPLES["Cancel"]))
    extension = ber.encode(cancel[(CONTEXT, 49)].only_child())
    implicit_list = tlv(bytes.fromhex("bf31"), extension)  # [49] { Extension }
    explicit_list = tlv(bytes.fromhex("bf31"), tlv(b"\x30", extension))  # [49] { SEQUENCE {...} }
    for label, declared, other in (("Overdue", explicit_list, implicit_list),
                                   ("Cancel", implicit_list, explicit_list)):
        data = encode_apdu(*SAMPLES[label])
        assert decode_apdu(swapped(data, declared, other)) == decode_apdu(data), label


def test_edifact_latin1_and_segmented_strings_read_as_text():
    data = encode_apdu(*SAMPLES["Message"])
    note = bytes.fromhex("bf2e071b0568656c6c6f")  # [46] { GeneralString "hello" }
    for variant, text in (
        (bytes.fromhex("bf2e071a0568656c6c6f"), "hello"),  # EDIFACTString
        (bytes.fromhex("bf2e041b02e9e9"), "éé"),  # Latin-1 from a peer that never heard of UTF-8
        (bytes.fromhex("bf2e0b3b091b0268651b036c6c6f"), "hello"),  # constructed, in segments
    ):
        assert decode_apdu(swapped(data, note, variant))[1]["note"] == text


# -- malformed input ------------------------------------------------------------------------
def test_missing_mandatory_component_names_apdu_and_transaction():
    apdu_type, value = SAMPLES["ILL-Request-physical"]
    data = edited(apdu_type, value, lambda children: [c for c in children if c.number != 16])
    with pytest.raises(ILLDecodeError) as caught:
        decode_apdu(data)
    error = caught.value
    assert error.apdu_type == "ILL-Request" and error.transaction_id == TRANSACTION
    assert error.problem == "badly-structured-APDU"
    assert "item-id" in str(error)


def test_error_path_points_into_nested_components():
    data = encode_apdu(*SAMPLES["ILL-Request-physical"])
    title = bytes.fromhex("a41a1b18") + b"Water supply engineering"
    as_integer = bytes.fromhex("a41a0218") + b"Water supply engineering"
    with pytest.raises(ILLDecodeError) as caught:
        decode_apdu(swapped(data, title, as_integer))
    assert caught.value.path == ["item-id", "title"]
    assert str(caught.value).startswith("ILL-Request.item-id.title: ")


@pytest.mark.parametrize("data", ["7f1f00", "7500", "3000", "a100"])
def test_unknown_apdu_tag_is_unrecognized(data):
    with pytest.raises(ILLDecodeError) as caught:
        decode_apdu(bytes.fromhex(data))
    assert caught.value.problem == "unrecognized-APDU"
    assert caught.value.apdu_type is None


def test_broken_ber_still_names_the_apdu_type():
    data = capture("request-loan-minimal")
    with pytest.raises(ILLDecodeError) as caught:
        decode_apdu(data[:40])
    assert caught.value.apdu_type == "ILL-Request" and "truncated" in str(caught.value)
    with pytest.raises(ILLDecodeError, match="after the element"):
        decode_apdu(data + b"\x00")
    for garbage in (b"GET / HTTP/1.0\r\n\r\n", b""):
        with pytest.raises(ILLDecodeError):
            decode_apdu(garbage)


@pytest.mark.parametrize("name", ["request-copy-rich", "request-oclc-auth"])
def test_byte_flips_raise_only_ill_decode_error(name):
    data = capture(name)
    decoded = 0
    for position in range(len(data)):
        for mask in (0x01, 0x20, 0x80, 0xFF):
            flipped = bytearray(data)
            flipped[position] ^= mask
            try:
                apdu_type, value = decode_apdu(bytes(flipped))
            except ILLDecodeError:
                continue
            decoded += 1
            assert decode_apdu(encode_apdu(apdu_type, value)) == (apdu_type, value)
    for length in range(len(data)):
        with pytest.raises(ILLDecodeError):
            decode_apdu(data[:length])
    assert decoded  # flips inside string contents still decode


def test_deep_nesting_is_refused_not_recursed():
    data = b"\x61\x80" + b"\x30\x80" * 300 + b"\x00\x00" * 301
    with pytest.raises(ILLDecodeError, match="nested too deeply"):
        decode_apdu(data)


def test_framer_cuts_a_stream_of_ill_apdus():
    try:
        framer = ber.Framer(1 << 20, apdu_class=ber.APPLICATION)
    except TypeError:
        pytest.skip("unishelf.ber.Framer does not take apdu_class yet")
    stream = capture("request-oclc-auth") + encode_apdu(*SAMPLES["Cancel"])
    pieces = [stream[offset:offset + 7] for offset in range(0, len(stream), 7)]
    apdus = [apdu for piece in pieces for apdu in framer.feed(piece)]
    assert [decode_apdu(apdu)[0] for apdu in apdus] == ["ILL-Request", "Cancel"]
    assert framer.pending == 0


# -- encoding errors and helpers ------------------------------------------------------------
@pytest.mark.parametrize("change, path", [
    ({"item_id": {}}, ["ILL-Request"]),
    ({"item-id": None}, ["ILL-Request"]),
    ({"iLL-service-type": ["borrow"]}, ["ILL-Request", "iLL-service-type", "[0]"]),
    ({"delivery-service": ("pigeon", "x")}, ["ILL-Request", "delivery-service"]),
    ({"requester-id": {"person-or-institution-symbol": "NORTH"}},
     ["ILL-Request", "requester-id", "person-or-institution-symbol"]),
    ({"item-id": {"title": 5}}, ["ILL-Request", "item-id", "title"]),
    ({"retry-flag": 1}, ["ILL-Request", "retry-flag"]),
    ({"iLL-request-extensions": [{"identifier": 1, "item": b"\x30"}]},
     ["ILL-Request", "iLL-request-extensions", "[0]", "item"]),
])
def test_encoding_errors_name_the_component(change, path):
    apdu_type, value = SAMPLES["ILL-Request-physical"]
    with pytest.raises(EncodeError) as caught:
        encode_apdu(apdu_type, {**value, **change})
    assert caught.value.path == path


def test_unknown_apdu_type_is_an_encoding_error():
    with pytest.raises(EncodeError):
        encode_apdu("ILL-Reply", {})


def test_helpers():
    assert service_date_time(datetime(2024, 3, 15, 23, 30, tzinfo=timezone.utc)) == {
        "date-time-of-this-service": {"date": "20240315", "time": "233000"}}
    assert transaction_id("NORTH", "42") == {
        "initial-requester-id": {"person-or-institution-symbol": ("institution-symbol", "NORTH")},
        "transaction-group-qualifier": "", "transaction-qualifier": "42"}
    assert system_id(name="Ada", person=True) == {
        "name-of-person-or-institution": ("name-of-person", "Ada")}
    assert header(TRANSACTION)["protocol-version-num"] == 2
    assert APDU_TYPE_ENUMERATION["Status-Or-Error-Report"] == "sTATUS-OR-ERROR-REPORT"
    assert APDU_TYPE_ENUMERATION["ILL-Request"] == "iLL-REQUEST"
