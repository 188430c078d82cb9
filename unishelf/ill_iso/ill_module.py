"""ASN.1 module ISO-10161-ILL-1, transcribed as data for `asn1.py`.

Source: ISO 10161-1:1997, Information and documentation - Open Systems Interconnection -
Interlibrary Loan Application Protocol Specification - Part 1: Protocol specification, with
Amendment 1 (protocol version 2), module `ISO-10161-ILL-1 DEFINITIONS EXPLICIT TAGS`; the text
YAZ ships as `src/ill9702.asn`. Component, type and enumeration names are the module's own, so
this file can be read against the standard line by line; types come in dependency order rather
than the module's, and each carries its ASN.1 name. Subtype constraints (SIZE, FROM, value
ranges) are not enforced.

The module's default is EXPLICIT TAGS: a bare `[n]` wraps its type in one more element and only
`[n] IMPLICIT` replaces the tag. Every APDU is `[APPLICATION n] SEQUENCE`, explicitly tagged.
"""
from __future__ import annotations

from unishelf import ber
from unishelf.ill_iso.asn1 import (
    Any, Boolean, Choice, Component, Enumerated, External, Integer, Null, ObjectIdentifier,
    Sequence, SequenceOf, String, StringChoice, explicit, implicit,
)

PRINTABLE_STRING_TAG = 19  # not among unishelf.ber's tag numbers: nothing else uses it

# -- universal types ------------------------------------------------------------------------
INTEGER = Integer()
BOOLEAN = Boolean()
NULL = Null()
OBJECT_IDENTIFIER = ObjectIdentifier()
EXTERNAL = External()
ANY = Any()
GENERAL_STRING = String("GeneralString", ber.GENERAL_STRING)
PRINTABLE_STRING = String("PrintableString", PRINTABLE_STRING_TAG)

# -- strings, dates, amounts ----------------------------------------------------------------
EDIFACT_STRING = String("EDIFACTString", ber.VISIBLE_STRING)
ILL_STRING = StringChoice("ILL-String", GENERAL_STRING, EDIFACT_STRING)
ISO_DATE = String("ISO-Date", ber.VISIBLE_STRING)  # YYYYMMDD
ISO_TIME = String("ISO-Time", ber.VISIBLE_STRING)  # HHMMSS, local time of the invoker
ACCOUNT_NUMBER = ILL_STRING
TRANSPORTATION_MODE = ILL_STRING
SECURITY_PROBLEM = ILL_STRING
AMOUNT_STRING = String("AmountString", PRINTABLE_STRING_TAG)

AMOUNT = Sequence(
    "Amount",
    Component("currency-code", implicit(0, PRINTABLE_STRING), optional=True),  # ISO 4217
    Component("monetary-value", implicit(1, AMOUNT_STRING)),
)

# -- enumerations ---------------------------------------------------------------------------
TRANSACTION_TYPE = Enumerated("Transaction-Type", {"simple": 1, "chained": 2, "partitioned": 3})

ILL_SERVICE_TYPE = Enumerated("ILL-Service-Type", {
    "loan": 1, "copy-non-returnable": 2, "locations": 3, "estimate": 4, "responder-specific": 5,
})
SHIPPED_SERVICE_TYPE = ILL_SERVICE_TYPE  # (loan | copy-non-returnable)

TRANSACTION_RESULTS = Enumerated("Transaction-Results", {
    "conditional": 1, "retry": 2, "unfilled": 3, "locations-provided": 4, "will-supply": 5,
    "hold-placed": 6, "estimate": 7,
})

CURRENT_STATE = Enumerated("Current-State", {
    "nOT-SUPPLIED": 1, "pENDING": 2, "iN-PROCESS": 3, "fORWARD": 4, "cONDITIONAL": 5,
    "cANCEL-PENDING": 6, "cANCELLED": 7, "sHIPPED": 8, "rECEIVED": 9, "rENEW-PENDING": 10,
    "nOT-RECEIVED-OVERDUE": 11, "rENEW-OVERDUE": 12, "oVERDUE": 13, "rETURNED": 14,
    "cHECKED-IN": 15, "rECALL": 16, "lOST": 17, "uNKNOWN": 18,
})

ILL_APDU_TYPE = Enumerated("ILL-APDU-Type", {
    "iLL-REQUEST": 1, "fORWARD-NOTIFICATION": 2, "sHIPPED": 3, "iLL-ANSWER": 4,
    "cONDITIONAL-REPLY": 5, "cANCEL": 6, "cANCEL-REPLY": 7, "rECEIVED": 8, "rECALL": 9,
    "rETURNED": 10, "cHECKED-IN": 11, "oVERDUE": 12, "rENEW": 13, "rENEW-ANSWER": 14, "lOST": 15,
    "dAMAGED": 16, "mESSAGE": 17, "sTATUS-QUERY": 18, "sTATUS-OR-ERROR-REPORT": 19, "eXPIRED": 20,
})

GENERAL_PROBLEM = Enumerated("General-Problem", {
    "unrecognized-APDU": 1, "mistyped-APDU": 2, "badly-structured-APDU": 3,
    "protocol-version-not-supported": 4, "other": 5,
})

TRANSACTION_ID_PROBLEM = Enumerated("Transaction-Id-Problem", {
    "duplicate-transaction-id": 1, "invalid-transaction-id": 2, "unknown-transaction-id": 3,
})

REASON_NO_REPORT = Enumerated("Reason-No-Report", {"temporary": 1, "permanent": 2})
REPORT_SOURCE = Enumerated("Report-Source", {"user": 1, "provider": 2})
UNABLE_TO_PERFORM = Enumerated("Unable-To-Perform", {
    "not-available": 1, "resource-limitation": 2, "other": 3,
})
INTERMEDIARY_PROBLEM = Enumerated("Intermediary-Problem", {"cannot-send-onward": 1})

MEDIUM_TYPE = Enumerated("Medium-Type", {
    "printed": 1, "microform": 3, "film-or-video-recording": 4, "audio-recording": 5,
    "machine-readable": 6, "other": 7,
})

SUPPLY_MEDIUM_TYPE = Enumerated("Supply-Medium-Type", {
    "printed": 1, "photocopy": 2, "microform": 3, "film-or-video-recording": 4,
    "audio-recording": 5, "machine-readable": 6, "other": 7,
})

PLACE_ON_HOLD_TYPE = Enumerated("Place-On-Hold-Type", {
    "yes": 1, "no": 2, "according-to-responder-policy": 3,
})

REASON_LOCS_PROVIDED = Enumerated("Reason-Locs-Provided", {
    "in-use-on-loan": 1, "in-process": 2, "lost": 3, "non-circulating": 4, "not-owned": 5,
    "on-order": 6, "volume-issue-not-yet-available": 7, "at-bindery": 8, "lacking": 9,
    "not-on-shelf": 10, "on-reserve": 11, "poor-condition": 12, "cost-exceeds-limit": 13,
    "on-hold": 19, "other": 27, "responder-specific": 28,
})

REASON_UNFILLED = Enumerated("Reason-Unfilled", {
    "in-use-on-loan": 1, "in-process": 2, "lost": 3, "non-circulating": 4, "not-owned": 5,
    "on-order": 6, "volume-issue-not-yet-available": 7, "at-bindery": 8, "lacking": 9,
    "not-on-shelf": 10, "on-reserve": 11, "poor-condition": 12, "cost-exceeds-limit": 13,
    "charges": 14, "prepayment-required": 15, "lacks-copyright-compliance": 16,
    "not-found-as-cited": 17, "locations-not-found": 18, "on-hold": 19, "policy-problem": 20,
    "mandatory-messaging-not-supported": 21, "expiry-not-supported": 22,
    "requested-delivery-services-not-supported": 23, "preferred-delivery-time-not-possible": 24,
    "other": 27, "responder-specific": 28,
})

MESSAGE_REQUIREMENT = Enumerated("requires | desires | neither", {  # the optional-message flags
    "requires": 1, "desires": 2, "neither": 3,
})

# -- identities and addresses ---------------------------------------------------------------
PERSON_OR_INSTITUTION_SYMBOL = Choice(
    "Person-Or-Institution-Symbol",
    ("person-symbol", explicit(0, ILL_STRING)),
    ("institution-symbol", explicit(1, ILL_STRING)),
)

NAME_OF_PERSON_OR_INSTITUTION = Choice(
    "Name-Of-Person-Or-Institution",
    ("name-of-person", explicit(0, ILL_STRING)),
    ("name-of-institution", explicit(1, ILL_STRING)),
)

SYSTEM_ID = Sequence(
    "System-Id",  # at least one of the two must be present (not enforced: YAZ sends neither)
    Component("person-or-institution-symbol", explicit(0, PERSON_OR_INSTITUTION_SYMBOL),
              optional=True),
    Component("name-of-person-or-institution", explicit(1, NAME_OF_PERSON_OR_INSTITUTION),
              optional=True),
)

SYSTEM_ADDRESS = Sequence(
    "System-Address",
    Component("telecom-service-identifier", explicit(0, ILL_STRING), optional=True),
    Component("telecom-service-address", explicit(1, ILL_STRING), optional=True),
)

POSTAL_ADDRESS = Sequence(
    "Postal-Address",
    Component("name-of-person-or-institution", explicit(0, NAME_OF_PERSON_OR_INSTITUTION),
              optional=True),
    Component("extended-postal-delivery-address", explicit(1, ILL_STRING), optional=True),
    Component("street-and-number", explicit(2, ILL_STRING), optional=True),
    Component("post-office-box", explicit(3, ILL_STRING), optional=True),
    Component("city", explicit(4, ILL_STRING), optional=True),
    Component("region", explicit(5, ILL_STRING), optional=True),
    Component("country", explicit(6, ILL_STRING), optional=True),
    Component("postal-code", explicit(7, ILL_STRING), optional=True),
)

DELIVERY_ADDRESS = Sequence(
    "Delivery-Address",
    Component("postal-address", implicit(0, POSTAL_ADDRESS), optional=True),
    Component("electronic-address", implicit(1, SYSTEM_ADDRESS), optional=True),
)

TRANSACTION_ID = Sequence(
    "Transaction-Id",
    Component("initial-requester-id", implicit(0, SYSTEM_ID), optional=True),
    Component("transaction-group-qualifier", explicit(1, ILL_STRING)),
    Component("transaction-qualifier", explicit(2, ILL_STRING)),
    Component("sub-transaction-qualifier", explicit(3, ILL_STRING), optional=True),
)

_DATE_TIME = Sequence(
    "Service-Date-Time.date-time",
    Component("date", implicit(0, ISO_DATE)),
    Component("time", implicit(1, ISO_TIME), optional=True),  # mandatory from a day's 2nd service
)

SERVICE_DATE_TIME = Sequence(
    "Service-Date-Time",
    Component("date-time-of-this-service", implicit(0, _DATE_TIME)),
    Component("date-time-of-original-service", implicit(1, _DATE_TIME), optional=True),
)

ALREADY_TRIED_LIST_TYPE = SequenceOf(SYSTEM_ID, "Already-Tried-List-Type")

SEND_TO_LIST_TYPE = SequenceOf(Sequence(
    "Send-To-List-Type.entry",
    Component("system-id", implicit(0, SYSTEM_ID)),
    Component("account-number", explicit(1, ACCOUNT_NUMBER), optional=True),
    Component("system-address", implicit(2, SYSTEM_ADDRESS), optional=True),
), "Send-To-List-Type")

LOCATION_INFO = Sequence(
    "Location-Info",
    Component("location-id", implicit(0, SYSTEM_ID)),
    Component("location-address", implicit(1, SYSTEM_ADDRESS), optional=True),
    Component("location-note", explicit(2, ILL_STRING), optional=True),
)
LOCATIONS = SequenceOf(LOCATION_INFO)

# -- delivery -------------------------------------------------------------------------------
ELECTRONIC_DELIVERY_SERVICE = Sequence(
    "Electronic-Delivery-Service",
    Component("e-delivery-service", implicit(0, Sequence(
        "Electronic-Delivery-Service.e-delivery-service",
        Component("e-delivery-mode", implicit(0, OBJECT_IDENTIFIER)),
        Component("e-delivery-parameters", explicit(1, ANY)),  # ANY DEFINED BY e-delivery-mode
    )), optional=True),
    Component("document-type", implicit(1, Sequence(
        "Electronic-Delivery-Service.document-type",
        Component("document-type-id", implicit(2, OBJECT_IDENTIFIER)),
        Component("document-type-parameters", explicit(3, ANY)),  # ANY DEFINED BY document-type-id
    )), optional=True),
    Component("e-delivery-description", explicit(4, ILL_STRING), optional=True),
    Component("e-delivery-details", explicit(5, Choice(
        "Electronic-Delivery-Service.e-delivery-details",
        ("e-delivery-address", implicit(0, SYSTEM_ADDRESS)),
        ("e-delivery-id", implicit(1, SYSTEM_ID)),
    ))),
    Component("name-or-code", explicit(6, ILL_STRING), optional=True),
    Component("delivery-time", implicit(7, ISO_TIME), optional=True),
)

DELIVERY_SERVICE = Choice(
    "Delivery-Service",
    ("physical-delivery", explicit(7, TRANSPORTATION_MODE)),
    ("electronic-delivery", implicit(50, SequenceOf(ELECTRONIC_DELIVERY_SERVICE))),  # version 2
)

# -- the request ----------------------------------------------------------------------------
REQUESTER_OPTIONAL_MESSAGES_TYPE = Sequence(
    "Requester-Optional-Messages-Type",
    Component("can-send-RECEIVED", implicit(0, BOOLEAN)),
    Component("can-send-RETURNED", implicit(1, BOOLEAN)),
    Component("requester-SHIPPED", implicit(2, MESSAGE_REQUIREMENT)),
    Component("requester-CHECKED-IN", implicit(3, MESSAGE_REQUIREMENT)),
)

RESPONDER_OPTIONAL_MESSAGES_TYPE = Sequence(
    "Responder-Optional-Messages-Type",
    Component("can-send-SHIPPED", implicit(0, BOOLEAN)),
    Component("can-send-CHECKED-IN", implicit(1, BOOLEAN)),
    Component("responder-RECEIVED", implicit(2, MESSAGE_REQUIREMENT)),
    Component("responder-RETURNED", implicit(3, MESSAGE_REQUIREMENT)),
)

SEARCH_TYPE = Sequence(
    "Search-Type",
    Component("level-of-service", explicit(0, ILL_STRING), optional=True),
    Component("need-before-date", implicit(1, ISO_DATE), optional=True),
    Component("expiry-flag", implicit(2, Enumerated("expiry-flag", {
        "need-Before-Date": 1, "other-Date": 2, "no-Expiry": 3,
    })), default="no-Expiry"),
    Component("expiry-date", implicit(3, ISO_DATE), optional=True),  # only with other-Date
)

SUPPLY_MEDIUM_INFO_TYPE = Sequence(
    "Supply-Medium-Info-Type",
    Component("supply-medium-type", implicit(0, SUPPLY_MEDIUM_TYPE)),
    Component("medium-characteristics", explicit(1, ILL_STRING), optional=True),
)

CLIENT_ID = Sequence(
    "Client-Id",
    Component("client-name", explicit(0, ILL_STRING), optional=True),
    Component("client-status", explicit(1, ILL_STRING), optional=True),
    Component("client-identifier", explicit(2, ILL_STRING), optional=True),
)

ITEM_ID = Sequence(
    "Item-Id",
    Component("item-type", implicit(0, Enumerated("item-type", {
        "monograph": 1, "serial": 2, "other": 3,
    })), optional=True),
    Component("held-medium-type", implicit(1, MEDIUM_TYPE), optional=True),
    Component("call-number", explicit(2, ILL_STRING), optional=True),
    Component("author", explicit(3, ILL_STRING), optional=True),
    Component("title", explicit(4, ILL_STRING), optional=True),
    Component("sub-title", explicit(5, ILL_STRING), optional=True),
    Component("sponsoring-body", explicit(6, ILL_STRING), optional=True),
    Component("place-of-publication", explicit(7, ILL_STRING), optional=True),
    Component("publisher", explicit(8, ILL_STRING), optional=True),
    Component("series-title-number", explicit(9, ILL_STRING), optional=True),
    Component("volume-issue", explicit(10, ILL_STRING), optional=True),
    Component("edition", explicit(11, ILL_STRING), optional=True),
    Component("publication-date", explicit(12, ILL_STRING), optional=True),
    Component("publication-date-of-component", explicit(13, ILL_STRING), optional=True),
    Component("author-of-article", explicit(14, ILL_STRING), optional=True),
    Component("title-of-article", explicit(15, ILL_STRING), optional=True),
    Component("pagination", explicit(16, ILL_STRING), optional=True),
    Component("national-bibliography-no", explicit(17, EXTERNAL), optional=True),
    Component("iSBN", explicit(18, ILL_STRING), optional=True),  # ISO 2108
    Component("iSSN", explicit(19, ILL_STRING), optional=True),  # ISO 3297
    Component("system-no", explicit(20, EXTERNAL), optional=True),
    Component("additional-no-letters", explicit(21, ILL_STRING), optional=True),
    Component("verification-reference-source", explicit(22, ILL_STRING), optional=True),
)

SUPPLEMENTAL_ITEM_DESCRIPTION = SequenceOf(EXTERNAL, "Supplemental-Item-Description")

COST_INFO_TYPE = Sequence(
    "Cost-Info-Type",
    Component("account-number", explicit(0, ACCOUNT_NUMBER), optional=True),
    Component("maximum-cost", implicit(1, AMOUNT), optional=True),
    Component("reciprocal-agreement", implicit(2, BOOLEAN), default=False),
    Component("will-pay-fee", implicit(3, BOOLEAN), default=False),
    Component("payment-provided", implicit(4, BOOLEAN), default=False),
)

THIRD_PARTY_INFO_TYPE = Sequence(
    "Third-Party-Info-Type",
    Component("permission-to-forward", implicit(0, BOOLEAN), default=False),
    Component("permission-to-chain", implicit(1, BOOLEAN), default=False),
    Component("permission-to-partition", implicit(2, BOOLEAN), default=False),
    Component("permission-to-change-send-to-list", implicit(3, BOOLEAN), default=False),
    Component("initial-requester-address", implicit(4, SYSTEM_ADDRESS), optional=True),
    Component("preference", implicit(5, Enumerated("preference", {"ordered": 1, "unordered": 2})),
              default="unordered"),
    Component("send-to-list", implicit(6, SEND_TO_LIST_TYPE), optional=True),
    Component("already-tried-list", implicit(7, ALREADY_TRIED_LIST_TYPE), optional=True),
)

EXTENSION = Sequence(
    "Extension",
    Component("identifier", implicit(0, INTEGER)),
    Component("critical", implicit(1, BOOLEAN), default=False),
    Component("item", explicit(2, ANY)),  # ANY DEFINED BY identifier
)
EXTENSIONS = SequenceOf(EXTENSION)

# -- shipping, due dates, damage ------------------------------------------------------------
DATE_DUE = Sequence(
    "Date-Due",
    Component("date-due-field", implicit(0, ISO_DATE)),
    Component("renewable", implicit(1, BOOLEAN), default=True),
)

UNITS_PER_MEDIUM_TYPE = Sequence(
    "Units-Per-Medium-Type",
    Component("medium", explicit(0, SUPPLY_MEDIUM_TYPE)),
    Component("no-of-units", explicit(1, INTEGER)),
)

SUPPLY_DETAILS = Sequence(
    "Supply-Details",
    Component("date-shipped", implicit(0, ISO_DATE), optional=True),
    Component("date-due", implicit(1, DATE_DUE), optional=True),
    Component("chargeable-units", implicit(2, INTEGER), optional=True),
    Component("cost", implicit(3, AMOUNT), optional=True),
    Component("shipped-conditions", implicit(4, Enumerated("shipped-conditions", {
        "library-use-only": 22, "no-reproduction": 23, "client-signature-required": 24,
        "special-collections-supervision-required": 25, "other": 27,
    })), optional=True),
    Component("shipped-via", Choice(
        "Supply-Details.shipped-via",
        ("physical-delivery", explicit(5, TRANSPORTATION_MODE)),
        ("electronic-delivery", implicit(50, ELECTRONIC_DELIVERY_SERVICE)),  # version 2
    ), optional=True),
    Component("insured-for", implicit(6, AMOUNT), optional=True),
    Component("return-insurance-require", implicit(7, AMOUNT), optional=True),
    Component("no-of-units-per-medium", implicit(8, SequenceOf(UNITS_PER_MEDIUM_TYPE)),
              optional=True),
)

DAMAGED_DETAILS = Sequence(
    "Damaged-Details",
    Component("document-type-id", implicit(0, OBJECT_IDENTIFIER), optional=True),
    Component("damaged-portion", Choice(
        "Damaged-Details.damaged-portion",
        ("complete-document", implicit(1, NULL)),
        ("specific-units", implicit(2, SequenceOf(INTEGER))),
    )),
)

# -- answers --------------------------------------------------------------------------------
CONDITIONAL_RESULTS = Sequence(
    "Conditional-Results",
    Component("conditions", implicit(0, Enumerated("conditions", {
        "cost-exceeds-limit": 13, "charges": 14, "prepayment-required": 15,
        "lacks-copyright-compliance": 16, "library-use-only": 22, "no-reproduction": 23,
        "client-signature-required": 24, "special-collections-supervision-required": 25,
        "other": 27, "responder-specific": 28, "proposed-delivery-service": 30,
    }))),
    Component("date-for-reply", implicit(1, ISO_DATE), optional=True),
    Component("locations", implicit(2, LOCATIONS), optional=True),
    Component("proposed-delivery-service", DELIVERY_SERVICE, optional=True),  # version 2
)

RETRY_RESULTS = Sequence(
    "Retry-Results",
    Component("reason-not-available", implicit(0, Enumerated("reason-not-available", {
        "in-use-on-loan": 1, "in-process": 2, "on-order": 6, "volume-issue-not-yet-available": 7,
        "at-bindery": 8, "cost-exceeds-limit": 13, "charges": 14, "prepayment-required": 15,
        "lacks-copyright-compliance": 16, "not-found-as-cited": 17, "on-hold": 19, "other": 27,
        "responder-specific": 28,
    })), optional=True),
    Component("retry-date", implicit(1, ISO_DATE), optional=True),
    Component("locations", implicit(2, LOCATIONS), optional=True),
)

UNFILLED_RESULTS = Sequence(
    "Unfilled-Results",
    Component("reason-unfilled", implicit(0, REASON_UNFILLED)),
    Component("locations", implicit(1, LOCATIONS), optional=True),
)

LOCATIONS_RESULTS = Sequence(
    "Locations-Results",
    Component("reason-locs-provided", implicit(0, REASON_LOCS_PROVIDED), optional=True),
    Component("locations", implicit(1, LOCATIONS)),
)

WILL_SUPPLY_RESULTS = Sequence(
    "Will-Supply-Results",
    Component("reason-will-supply", explicit(0, Enumerated("reason-will-supply", {
        "in-use-on-loan": 1, "in-process": 2, "on-order": 6, "at-bindery": 8, "on-hold": 19,
        "being-processed-for-supply": 26, "other": 27, "responder-specific": 28,
        "electronic-delivery": 30,
    }))),
    Component("supply-date", explicit(1, ISO_DATE), optional=True),
    Component("return-to-address", explicit(2, POSTAL_ADDRESS), optional=True),
    Component("locations", implicit(3, LOCATIONS), optional=True),
    Component("electronic-delivery-service", explicit(4, ELECTRONIC_DELIVERY_SERVICE),
              optional=True),
)

HOLD_PLACED_RESULTS = Sequence(
    "Hold-Placed-Results",
    Component("estimated-date-available", implicit(0, ISO_DATE)),
    Component("hold-placed-medium-type", implicit(1, MEDIUM_TYPE), optional=True),
    Component("locations", implicit(2, LOCATIONS), optional=True),
)

ESTIMATE_RESULTS = Sequence(
    "Estimate-Results",
    Component("cost-estimate", explicit(0, ILL_STRING)),
    Component("locations", implicit(1, LOCATIONS), optional=True),
)

RESULTS_EXPLANATION = Choice(
    "ILL-Answer.results-explanation",
    ("conditional-results", explicit(1, CONDITIONAL_RESULTS)),
    ("retry-results", explicit(2, RETRY_RESULTS)),
    ("unfilled-results", explicit(3, UNFILLED_RESULTS)),
    ("locations-results", explicit(4, LOCATIONS_RESULTS)),
    ("will-supply-results", explicit(5, WILL_SUPPLY_RESULTS)),
    ("hold-placed-results", explicit(6, HOLD_PLACED_RESULTS)),
    ("estimate-results", explicit(7, ESTIMATE_RESULTS)),
)

# -- status and error reports ---------------------------------------------------------------
HISTORY_REPORT = Sequence(
    "History-Report",
    Component("date-requested", implicit(0, ISO_DATE), optional=True),
    Component("author", explicit(1, ILL_STRING), optional=True),
    Component("title", explicit(2, ILL_STRING), optional=True),
    Component("author-of-article", explicit(3, ILL_STRING), optional=True),
    Component("title-of-article", explicit(4, ILL_STRING), optional=True),
    Component("date-of-last-transition", implicit(5, ISO_DATE)),
    Component("most-recent-service", implicit(6, Enumerated("most-recent-service", {
        "iLL-REQUEST": 1, "fORWARD": 21, "fORWARD-NOTIFICATION": 2, "sHIPPED": 3,
        "iLL-ANSWER": 4, "cONDITIONAL-REPLY": 5, "cANCEL": 6, "cANCEL-REPLY": 7, "rECEIVED": 8,
        "rECALL": 9, "rETURNED": 10, "cHECKED-IN": 11, "rENEW-ANSWER": 14, "lOST": 15,
        "dAMAGED": 16, "mESSAGE": 17, "sTATUS-QUERY": 18, "sTATUS-OR-ERROR-REPORT": 19,
        "eXPIRED": 20,
    }))),
    Component("date-of-most-recent-service", implicit(7, ISO_DATE)),
    Component("initiator-of-most-recent-service", implicit(8, SYSTEM_ID)),
    Component("shipped-service-type", implicit(9, SHIPPED_SERVICE_TYPE), optional=True),
    Component("transaction-results", implicit(10, TRANSACTION_RESULTS), optional=True),
    Component("most-recent-service-note", explicit(11, ILL_STRING), optional=True),
)

STATUS_REPORT = Sequence(
    "Status-Report",
    Component("user-status-report", implicit(0, HISTORY_REPORT)),
    Component("provider-status-report", implicit(1, CURRENT_STATE)),
)

STATE_TRANSITION_PROHIBITED = Sequence(
    "State-Transition-Prohibited",
    Component("aPDU-type", implicit(0, ILL_APDU_TYPE)),
    Component("current-state", implicit(1, CURRENT_STATE)),
)

ALREADY_FORWARDED = Sequence(
    "Already-Forwarded",
    Component("responder-id", implicit(0, SYSTEM_ID)),
    Component("responder-address", implicit(1, SYSTEM_ADDRESS), optional=True),
)

USER_ERROR_REPORT = Choice(
    "User-Error-Report",
    ("already-forwarded", implicit(0, ALREADY_FORWARDED)),
    ("intermediary-problem", implicit(1, INTERMEDIARY_PROBLEM)),
    ("security-problem", explicit(2, SECURITY_PROBLEM)),
    ("unable-to-perform", implicit(3, UNABLE_TO_PERFORM)),
)

PROVIDER_ERROR_REPORT = Choice(
    "Provider-Error-Report",
    ("general-problem", implicit(0, GENERAL_PROBLEM)),
    ("transaction-id-problem", implicit(1, TRANSACTION_ID_PROBLEM)),
    ("state-transition-prohibited", implicit(2, STATE_TRANSITION_PROHIBITED)),
)

ERROR_REPORT = Sequence(
    "Error-Report",
    Component("correlation-information", explicit(0, ILL_STRING)),
    Component("report-source", implicit(1, REPORT_SOURCE)),
    # exactly one of these, as report-source says
    Component("user-error-report", explicit(2, USER_ERROR_REPORT), optional=True),
    Component("provider-error-report", explicit(3, PROVIDER_ERROR_REPORT), optional=True),
)


# -- the APDUs ------------------------------------------------------------------------------
def _header(responder_id_optional: bool = True) -> tuple[Component, ...]:
    """The components every APDU begins with (requester-id and responder-id are mandatory
    for store-and-forward use, optional when connection-oriented)."""
    return (
        Component("protocol-version-num", implicit(0, INTEGER)),  # version-1 (1), version-2 (2)
        Component("transaction-id", implicit(1, TRANSACTION_ID)),
        Component("service-date-time", implicit(2, SERVICE_DATE_TIME)),
        Component("requester-id", implicit(3, SYSTEM_ID), optional=True),
        Component("responder-id", implicit(4, SYSTEM_ID), optional=responder_id_optional),
    )


def _note(name: str, mandatory: bool = False) -> Component:
    return Component(name, explicit(46, ILL_STRING), optional=not mandatory)


def _extensions(name: str) -> Component:
    return Component(name, implicit(49, EXTENSIONS), optional=True)


def _apdu(number: int, name: str, *components: Component,
          header: tuple[Component, ...] | None = None):
    """[APPLICATION number] SEQUENCE { the common header, then `components` }."""
    body = Sequence(name, *(header or _header()), *components)
    return explicit(number, body, cls=ber.APPLICATION)


ILL_REQUEST = _apdu(
    1, "ILL-Request",
    Component("transaction-type", implicit(5, TRANSACTION_TYPE), default="simple"),
    Component("delivery-address", implicit(6, DELIVERY_ADDRESS), optional=True),
    Component("delivery-service", DELIVERY_SERVICE, optional=True),
    Component("billing-address", implicit(8, DELIVERY_ADDRESS), optional=True),
    Component("iLL-service-type", implicit(9, SequenceOf(ILL_SERVICE_TYPE))),  # preferred first
    Component("responder-specific-service", explicit(10, EXTERNAL), optional=True),
    Component("requester-optional-messages", implicit(11, REQUESTER_OPTIONAL_MESSAGES_TYPE)),
    Component("search-type", implicit(12, SEARCH_TYPE), optional=True),
    Component("supply-medium-info-type", implicit(13, SequenceOf(SUPPLY_MEDIUM_INFO_TYPE)),
              optional=True),
    Component("place-on-hold", implicit(14, PLACE_ON_HOLD_TYPE),
              default="according-to-responder-policy"),
    Component("client-id", implicit(15, CLIENT_ID), optional=True),
    Component("item-id", implicit(16, ITEM_ID)),
    Component("supplemental-item-description", implicit(17, SUPPLEMENTAL_ITEM_DESCRIPTION),
              optional=True),
    Component("cost-info-type", implicit(18, COST_INFO_TYPE), optional=True),
    Component("copyright-compliance", explicit(19, ILL_STRING), optional=True),
    Component("third-party-info-type", implicit(20, THIRD_PARTY_INFO_TYPE), optional=True),
    Component("retry-flag", implicit(21, BOOLEAN), default=False),
    Component("forward-flag", implicit(22, BOOLEAN), default=False),
    _note("requester-note"),
    Component("forward-note", explicit(47, ILL_STRING), optional=True),
    _extensions("iLL-request-extensions"),
)

FORWARD_NOTIFICATION = _apdu(
    2, "Forward-Notification",
    Component("responder-address", implicit(24, SYSTEM_ADDRESS), optional=True),
    Component("intermediary-id", implicit(25, SYSTEM_ID)),
    Component("notification-note", explicit(48, ILL_STRING), optional=True),
    _extensions("forward-notification-extensions"),
    header=_header(responder_id_optional=False),
)

SHIPPED = _apdu(
    3, "Shipped",
    Component("responder-address", implicit(24, SYSTEM_ADDRESS), optional=True),
    Component("intermediary-id", implicit(25, SYSTEM_ID), optional=True),
    Component("supplier-id", implicit(26, SYSTEM_ID), optional=True),
    Component("client-id", implicit(15, CLIENT_ID), optional=True),
    Component("transaction-type", implicit(5, TRANSACTION_TYPE), default="simple"),
    Component("supplemental-item-description", implicit(17, SUPPLEMENTAL_ITEM_DESCRIPTION),
              optional=True),
    Component("shipped-service-type", implicit(27, SHIPPED_SERVICE_TYPE)),
    Component("responder-optional-messages", implicit(28, RESPONDER_OPTIONAL_MESSAGES_TYPE),
              optional=True),
    Component("supply-details", implicit(29, SUPPLY_DETAILS)),
    Component("return-to-address", implicit(30, POSTAL_ADDRESS), optional=True),
    _note("responder-note"),
    _extensions("shipped-extensions"),
)

ILL_ANSWER = _apdu(
    4, "ILL-Answer",
    Component("transaction-results", implicit(31, TRANSACTION_RESULTS)),
    # required for conditional, locations-provided and estimate
    Component("results-explanation", explicit(32, RESULTS_EXPLANATION), optional=True),
    Component("responder-specific-results", explicit(33, EXTERNAL), optional=True),
    Component("supplemental-item-description", implicit(17, SUPPLEMENTAL_ITEM_DESCRIPTION),
              optional=True),
    Component("send-to-list", implicit(23, SEND_TO_LIST_TYPE), optional=True),
    Component("already-tried-list", implicit(34, ALREADY_TRIED_LIST_TYPE), optional=True),
    Component("responder-optional-messages", implicit(28, RESPONDER_OPTIONAL_MESSAGES_TYPE),
              optional=True),
    _note("responder-note"),
    _extensions("ill-answer-extensions"),
)

CONDITIONAL_REPLY = _apdu(
    5, "Conditional-Reply",
    Component("answer", implicit(35, BOOLEAN)),
    _note("requester-note"),
    _extensions("conditional-reply-extensions"),
)

CANCEL = _apdu(
    6, "Cancel",
    _note("requester-note"),
    _extensions("cancel-extensions"),
)

CANCEL_REPLY = _apdu(
    7, "Cancel-Reply",
    Component("answer", implicit(35, BOOLEAN)),
    _note("responder-note"),
    _extensions("cancel-reply-extensions"),
)

RECEIVED = _apdu(
    8, "Received",
    Component("supplier-id", implicit(26, SYSTEM_ID), optional=True),
    Component("supplemental-item-description", implicit(17, SUPPLEMENTAL_ITEM_DESCRIPTION),
              optional=True),
    Component("date-received", implicit(36, ISO_DATE)),
    Component("shipped-service-type", implicit(27, SHIPPED_SERVICE_TYPE)),
    _note("requester-note"),
    _extensions("received-extensions"),
)

RECALL = _apdu(
    9, "Recall",
    _note("responder-note"),
    _extensions("recall-extensions"),
)

RETURNED = _apdu(
    10, "Returned",
    Component("supplemental-item-description", implicit(17, SUPPLEMENTAL_ITEM_DESCRIPTION),
              optional=True),
    Component("date-returned", implicit(37, ISO_DATE)),
    Component("returned-via", explicit(38, TRANSPORTATION_MODE), optional=True),
    Component("insured-for", implicit(39, AMOUNT), optional=True),
    _note("requester-note"),
    _extensions("returned-extensions"),
)

CHECKED_IN = _apdu(
    11, "Checked-In",
    Component("date-checked-in", implicit(40, ISO_DATE)),
    _note("responder-note"),
    _extensions("checked-in-extensions"),
)

OVERDUE = _apdu(
    12, "Overdue",
    Component("date-due", implicit(41, DATE_DUE)),
    _note("responder-note"),
    # the one extensions component the module does not tag IMPLICIT
    Component("overdue-extensions", explicit(49, EXTENSIONS), optional=True),
)

RENEW = _apdu(
    13, "Renew",
    Component("desired-due-date", implicit(42, ISO_DATE), optional=True),
    _note("requester-note"),
    _extensions("renew-extensions"),
)

RENEW_ANSWER = _apdu(
    14, "Renew-Answer",
    Component("answer", implicit(35, BOOLEAN)),
    Component("date-due", implicit(41, DATE_DUE), optional=True),
    _note("responder-note"),
    _extensions("renew-answer-extensions"),
)

LOST = _apdu(
    15, "Lost",
    _note("note"),
    _extensions("lost-extensions"),
)

DAMAGED = _apdu(
    16, "Damaged",
    Component("damaged-details", implicit(5, DAMAGED_DETAILS), optional=True),  # version 2
    _note("note"),
    _extensions("damaged-extensions"),
)

MESSAGE = _apdu(
    17, "Message",
    _note("note", mandatory=True),
    _extensions("message-extensions"),
)

STATUS_QUERY = _apdu(
    18, "Status-Query",
    _note("note"),
    _extensions("status-query-extensions"),
)

STATUS_OR_ERROR_REPORT = _apdu(
    19, "Status-Or-Error-Report",
    Component("reason-no-report", implicit(43, REASON_NO_REPORT), optional=True),  # if no report
    Component("status-report", implicit(44, STATUS_REPORT), optional=True),
    Component("error-report", implicit(45, ERROR_REPORT), optional=True),
    _note("note"),
    _extensions("status-or-error-report-extensions"),
)

EXPIRED = _apdu(
    20, "Expired",
    _extensions("expired-extensions"),
)

APDUS = (
    ILL_REQUEST, FORWARD_NOTIFICATION, SHIPPED, ILL_ANSWER, CONDITIONAL_REPLY, CANCEL,
    CANCEL_REPLY, RECEIVED, RECALL, RETURNED, CHECKED_IN, OVERDUE, RENEW, RENEW_ANSWER, LOST,
    DAMAGED, MESSAGE, STATUS_QUERY, STATUS_OR_ERROR_REPORT, EXPIRED,
)

ILL_APDU = Choice("ILL-APDU", *((apdu.inner.name, apdu) for apdu in APDUS))
