"""Checking an OAI-PMH request's arguments (OAI-PMH 2.0, sections 3.1 and 4) before any work.

The rules are the specification's: a missing, repeated or unknown verb is badVerb; a repeated,
unknown or missing argument, a resumptionToken with anything else, or a malformed date is
badArgument. Only a request that passes may be echoed in the response's `<request>` element.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

# verb -> (required, optional, exclusive)
VERBS = {
    "Identify": ((), (), None),
    "ListMetadataFormats": ((), ("identifier",), None),
    "ListSets": ((), (), "resumptionToken"),
    "GetRecord": (("identifier", "metadataPrefix"), (), None),
    "ListIdentifiers": (("metadataPrefix",), ("from", "until", "set"), "resumptionToken"),
    "ListRecords": (("metadataPrefix",), ("from", "until", "set"), "resumptionToken"),
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class OAIError(Exception):
    """One OAI-PMH error condition: `code` is the specification's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class OAIErrors(Exception):
    """Every error a request has; `echo` is False for badVerb/badArgument (bare `<request>`)."""

    def __init__(self, errors: list[OAIError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    @property
    def echo(self) -> bool:
        return not any(e.code in ("badVerb", "badArgument") for e in self.errors)


@dataclass(frozen=True)
class OAIRequest:
    verb: str
    arguments: dict[str, str]      # as the harvester sent them, for the <request> element

    def get(self, name: str) -> str | None:
        return self.arguments.get(name)


def parse_arguments(arguments: dict[str, list[str]]) -> OAIRequest:
    """The checked request, or OAIErrors saying everything that is wrong with it."""
    verbs = arguments.get("verb", [])
    if len(verbs) != 1:
        raise OAIErrors([OAIError("badVerb", "verb is missing" if not verbs else "verb is repeated")])
    verb = verbs[0]
    if verb not in VERBS:
        raise OAIErrors([OAIError("badVerb", f"{verb!r} is not an OAI-PMH verb")])
    required, optional, exclusive = VERBS[verb]
    errors = []
    given = {}
    for name, values in arguments.items():
        if name == "verb":
            continue
        if name not in required + optional and name != exclusive:
            errors.append(OAIError("badArgument", f"{name!r} is not an argument of {verb}"))
        elif len(values) != 1:
            errors.append(OAIError("badArgument", f"{name} is repeated"))
        else:
            given[name] = values[0]
    if errors:
        raise OAIErrors(errors)
    if exclusive in given:
        if len(given) > 1:
            raise OAIErrors([OAIError("badArgument", f"{exclusive} is exclusive: no other argument may come with it")])
        return OAIRequest(verb, given)
    missing = [name for name in required if name not in given]
    if missing:
        raise OAIErrors([OAIError("badArgument", f"{verb} needs {name}") for name in missing])
    check_dates(given.get("from"), given.get("until"))
    return OAIRequest(verb, given)


def check_dates(start: str | None, end: str | None):
    """from and until: UTC dates, day or second granularity, the same one for both, in order."""
    for name, value in (("from", start), ("until", end)):
        if value is not None:
            if not (_DAY.fullmatch(value) or _SECOND.fullmatch(value)) or parse_datestamp(value) is None:
                raise OAIErrors([OAIError("badArgument",
                                          f"{name}={value!r} is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")])
    if start and end:
        if len(start) != len(end):
            raise OAIErrors([OAIError("badArgument", "from and until have different granularities")])
        if start > end:
            raise OAIErrors([OAIError("badArgument", "from is later than until")])


def parse_datestamp(value: str) -> datetime | None:
    try:
        if len(value) == 10:
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def datestamp_bounds(start: str | None, end: str | None) -> tuple[str, str]:
    """from/until as the inclusive range of second-granularity datestamps they select."""
    low = start + "T00:00:00Z" if start and len(start) == 10 else start or ""
    high = end + "T23:59:59Z" if end and len(end) == 10 else end or "9999-12-31T23:59:59Z"
    return low, high
