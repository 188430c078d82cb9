"""The Z39.50-2003 APDUs (ANSI/NISO Z39.50-2003, ISO 23950; ASN.1 module Z39-50-APDU-1995).

Each APDU is a dataclass whose fields follow the ASN.1 SEQUENCE in order and by name;
`decode_apdu` and `encode_apdu` convert to and from BER. Type-1 and type-101 queries become the
`rpn` dataclasses, so PQF text and the wire meet in one form. Parts the server only has to carry
or refuse (otherInfo, userInformationField, other query types, unknown APDUs) stay raw `Node`
trees, re-encoded untouched. The codec has no ASN.1 DEFAULT to honour among the APDUs it
covers; every mandatory field is always written.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from unishelf.ber import (
    CONTEXT, GENERAL_STRING, INTEGER, OBJECT_IDENTIFIER, OCTET_ALIGNED, SINGLE_ASN1_TYPE,
    UNIVERSAL, VISIBLE_STRING, BERError, External, Node, bits_content, decode,
    decode_external, encode, external_content, integer_content, oid_content,
    string_content, tlv,
)
from unishelf.ber import context_boolean as _bool
from unishelf.ber import context_constructed as _cons
from unishelf.ber import context_integer as _int
from unishelf.ber import context_primitive as _prim
from unishelf.ber import context_string as _text
from unishelf.z3950.rpn import (
    Attribute, AttributesPlusTerm, Operand, Operation, Proximity, ResultSetId, RPNQuery,
)

BIB1_DIAG_OID = "1.2.840.10003.4.1"
SUTRS_OID = "1.2.840.10003.5.101"

OPTION_NAMES = (
    "search", "present", "delSet", "resourceReport", "triggerResourceCtrl", "resourceCtrl",
    "accessCtrl", "scan", "sort", None, "extendedServices", "level-1Segmentation",
    "level-2Segmentation", "concurrentOperations", "namedResultSets", "encapsulation",
    "resultCount", "negotiationModel", "duplicateDetection", "queryType104", "pQESCorrection",
    "stringSchema",
)
_OPTION_BITS = {name: bit for bit, name in enumerate(OPTION_NAMES) if name}

# ---------------------------------------------------------------------------------------------
# Shared types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAuth:
    """idAuthentication open: one VisibleString, by convention "user/password"."""

    text: str


@dataclass(frozen=True)
class IdPass:
    group_id: str | None = None
    user_id: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class AnonymousAuth:
    pass


# `Node` = the 'other' alternative (an EXTERNAL), kept raw.
IdAuthentication = Union[OpenAuth, IdPass, AnonymousAuth, Node]


@dataclass(frozen=True)
class DefaultDiagnostic:
    """DefaultDiagFormat. addinfo is mandatory in the ASN.1: "" when there is nothing to add.

    `addinfo_v2` selects the VisibleString alternative that version-2 peers expect.
    """

    condition: int
    addinfo: str = ""
    diagnostic_set: str = BIB1_DIAG_OID
    addinfo_v2: bool = False


DiagRec = Union[DefaultDiagnostic, External]


@dataclass(frozen=True)
class NamePlusRecord:
    """One record slot: an EXTERNAL (OID = record syntax) or a surrogate diagnostic."""

    name: str | None
    record: External | DiagRec


@dataclass(frozen=True)
class MultipleDiagnostics:
    diagnostics: tuple[DiagRec, ...]


Records = Union[tuple[NamePlusRecord, ...], DefaultDiagnostic, MultipleDiagnostics]

# genericElementSetName, or databaseSpecific as ((database, element set name), ...).
ElementSetNames = Union[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class RawQuery:
    """A query type the server does not interpret (0, 2, 100, 102, 104): refused by diagnostic."""

    query_type: int
    node: Node


def octet_record(syntax: str, data: bytes) -> External:
    """A retrieval record sent octet-aligned: MARC, XML, or SUTRS as plain octets."""
    return External(syntax, OCTET_ALIGNED, data)


def sutrs_record(text: str) -> External:
    """SUTRS the way its ASN.1 defines it: a GeneralString as single-ASN1-type."""
    return External(SUTRS_OID, SINGLE_ASN1_TYPE,
                    Node(UNIVERSAL, False, GENERAL_STRING, text.encode("utf-8")))


# ---------------------------------------------------------------------------------------------
# APDUs (fields in ASN.1 order; tag numbers in the codec functions below)
# ---------------------------------------------------------------------------------------------


@dataclass
class InitializeRequest:
    reference_id: bytes | None = None
    protocol_version: frozenset[int] = frozenset({1, 2, 3})  # version numbers, bit n-1 each
    options: frozenset[str] = frozenset()
    preferred_message_size: int = 1024 * 1024
    exceptional_record_size: int = 1024 * 1024
    id_authentication: IdAuthentication | None = None
    implementation_id: str | None = None
    implementation_name: str | None = None
    implementation_version: str | None = None
    user_information_field: Node | None = None  # the EXTERNAL inside [11]
    other_info: Node | None = None  # the whole [201] OtherInformation


@dataclass
class InitializeResponse:
    reference_id: bytes | None = None
    protocol_version: frozenset[int] = frozenset({1, 2, 3})
    options: frozenset[str] = frozenset()
    preferred_message_size: int = 1024 * 1024
    exceptional_record_size: int = 1024 * 1024
    result: bool = True
    implementation_id: str | None = None
    implementation_name: str | None = None
    implementation_version: str | None = None
    user_information_field: Node | None = None
    other_info: Node | None = None


@dataclass
class SearchRequest:
    """A type-101 query decodes to an RPNQuery with extra["query_type"] == 101."""

    reference_id: bytes | None = None
    small_set_upper_bound: int = 0
    large_set_lower_bound: int = 1
    medium_set_present_number: int = 0
    replace_indicator: bool = True
    result_set_name: str = "default"
    database_names: tuple[str, ...] = ()
    small_set_element_set_names: ElementSetNames | None = None
    medium_set_element_set_names: ElementSetNames | None = None
    preferred_record_syntax: str | None = None
    query: RPNQuery | RawQuery | None = None
    additional_search_info: Node | None = None
    other_info: Node | None = None


@dataclass
class SearchResponse:
    reference_id: bytes | None = None
    result_count: int = 0
    number_of_records_returned: int = 0
    next_result_set_position: int = 0
    search_status: bool = True
    result_set_status: int | None = None  # subset 1, interim 2, none 3
    present_status: int | None = None  # success 0, partial-1..4 1..4, failure 5
    records: Records | None = None
    additional_search_info: Node | None = None
    other_info: Node | None = None


@dataclass
class PresentRequest:
    reference_id: bytes | None = None
    result_set_id: str = "default"
    result_set_start_point: int = 1
    number_of_records_requested: int = 0
    additional_ranges: tuple[tuple[int, int], ...] | None = None  # (start, count)
    record_composition: ElementSetNames | Node | None = None  # Node = raw complex CompSpec
    preferred_record_syntax: str | None = None
    max_segment_count: int | None = None
    max_record_size: int | None = None
    max_segment_size: int | None = None
    other_info: Node | None = None


@dataclass
class PresentResponse:
    reference_id: bytes | None = None
    number_of_records_returned: int = 0
    next_result_set_position: int = 0
    present_status: int = 0
    records: Records | None = None
    other_info: Node | None = None


@dataclass
class DeleteResultSetRequest:
    reference_id: bytes | None = None
    delete_function: int = 0  # list 0, all 1
    result_set_list: tuple[str, ...] | None = None
    other_info: Node | None = None


@dataclass
class DeleteResultSetResponse:
    reference_id: bytes | None = None
    delete_operation_status: int = 0
    delete_list_statuses: tuple[tuple[str, int], ...] | None = None  # (result set, status)
    number_not_deleted: int | None = None
    bulk_statuses: tuple[tuple[str, int], ...] | None = None
    delete_message: str | None = None
    other_info: Node | None = None


@dataclass
class ScanRequest:
    reference_id: bytes | None = None
    database_names: tuple[str, ...] = ()
    attribute_set: str | None = None
    term_list_and_start_point: AttributesPlusTerm | None = None
    step_size: int | None = None
    number_of_terms_requested: int = 20
    preferred_position_in_response: int | None = None
    other_info: Node | None = None


@dataclass(frozen=True)
class TermInfo:
    """A scan entry; suggestedAttributes, alternativeTerm and byAttributes are not carried."""

    term: str
    term_type: str = "general"
    display_term: str | None = None
    global_occurrences: int | None = None


@dataclass
class ScanResponse:
    reference_id: bytes | None = None
    step_size: int | None = None
    scan_status: int = 0  # success 0, partial-1..5 1..5, failure 6
    number_of_entries_returned: int = 0
    position_of_term: int | None = None
    entries: tuple[TermInfo | DiagRec, ...] | None = None  # ListEntries.entries
    nonsurrogate_diagnostics: tuple[DiagRec, ...] | None = None  # ListEntries.nonsurrogate...
    attribute_set: str | None = None
    other_info: Node | None = None


@dataclass(frozen=True)
class SortField:
    name: str


@dataclass(frozen=True)
class SortAttributes:
    attribute_set: str
    attributes: tuple[Attribute, ...]


# Node = elementSpec, a raw Specification.
SortKey = Union[SortField, SortAttributes, Node]


@dataclass(frozen=True)
class SortKeySpec:
    """sort_element is a SortKey (generic) or ((database, SortKey), ...) (databaseSpecific).

    missing_value_action: None, "abort", "null", or bytes (missingValueData).
    """

    sort_element: SortKey | tuple[tuple[str, SortKey], ...]
    sort_relation: int = 0  # ascending 0, descending 1, ascendingByFrequency 3, descending.. 4
    case_sensitivity: int = 0  # caseSensitive 0, caseInsensitive 1
    missing_value_action: str | bytes | None = None


@dataclass
class SortRequest:
    reference_id: bytes | None = None
    input_result_set_names: tuple[str, ...] = ()
    sorted_result_set_name: str = "default"
    sort_sequence: tuple[SortKeySpec, ...] = ()
    other_info: Node | None = None


@dataclass
class SortResponse:
    reference_id: bytes | None = None
    sort_status: int = 0  # success 0, partial-1 1, failure 2
    result_set_status: int | None = None  # empty 1, interim 2, unchanged 3, none 4
    diagnostics: tuple[DiagRec, ...] | None = None
    result_count: int | None = None
    other_info: Node | None = None


@dataclass
class Close:
    reference_id: bytes | None = None
    close_reason: int = 0  # finished 0 ... protocolError 6, lackOfActivity 7, unspecified 9
    diagnostic_information: str | None = None
    resource_report_format: str | None = None
    resource_report: Node | None = None  # the EXTERNAL inside [5]
    other_info: Node | None = None


@dataclass
class UnsupportedAPDU:
    """An APDU this codec does not model (access control, extended services, ...), kept raw."""

    node: Node


APDU = Union[
    InitializeRequest, InitializeResponse, SearchRequest, SearchResponse, PresentRequest,
    PresentResponse, DeleteResultSetRequest, DeleteResultSetResponse, ScanRequest, ScanResponse,
    SortRequest, SortResponse, Close, UnsupportedAPDU,
]

# ---------------------------------------------------------------------------------------------
# Decoding helpers
# ---------------------------------------------------------------------------------------------
_OID_TAG = (UNIVERSAL, OBJECT_IDENTIFIER)
_OTHER_INFO = (CONTEXT, 201)


def _required(fields: dict, number: int) -> Node:
    node = fields.get((CONTEXT, number))
    if node is None:
        raise BERError(f"missing mandatory field [{number}]")
    return node


def _opt_int(fields: dict, number: int) -> int | None:
    node = fields.get((CONTEXT, number))
    return None if node is None else node.integer()


def _opt_text(fields: dict, number: int) -> str | None:
    node = fields.get((CONTEXT, number))
    return None if node is None else node.text()


def _opt_oid(fields: dict, number: int) -> str | None:
    node = fields.get((CONTEXT, number))
    return None if node is None else node.oid()


def _reference_id(fields: dict) -> bytes | None:
    node = fields.get((CONTEXT, 2))
    return None if node is None else node.octets()


def _version_set(node: Node) -> frozenset[int]:
    return frozenset(bit + 1 for bit, on in enumerate(node.bits()) if on)


def _option_set(node: Node) -> frozenset[str]:
    return frozenset(OPTION_NAMES[bit] for bit, on in enumerate(node.bits())
                     if on and bit < len(OPTION_NAMES) and OPTION_NAMES[bit])


def _database_names(node: Node) -> tuple[str, ...]:
    return tuple(child.text() for child in node.children)


def comp_spec_element_set(node: Node) -> str | None:
    """What a complex CompSpec (Present's recordComposition) asks for in its generic
    Specification: the schema, else the element set name. yaz-client and ZOOM send the element
    set there once a schema is set; a schema they know no OID for, they leave out."""
    generic = node.fields().get((CONTEXT, 2))
    if generic is None:
        return None
    spec = generic.fields()
    if (oid := spec.get((CONTEXT, 1))) is not None:
        return oid.oid()
    if (uri := spec.get((CONTEXT, 300))) is not None:
        return uri.text()
    element_spec = spec.get((CONTEXT, 2))
    if element_spec is not None and (chosen := element_spec.only_child()).tag == (CONTEXT, 1):
        return chosen.text()
    return None


def _element_set_names(node: Node) -> ElementSetNames:
    choice = node.only_child()
    if choice.tag == (CONTEXT, 0):
        return choice.text()
    if choice.tag == (CONTEXT, 1):
        pairs = []
        for pair in choice.children:
            fields = pair.fields()
            pairs.append((_required(fields, 105).text(), _required(fields, 103).text()))
        return tuple(pairs)
    raise BERError(f"unknown ElementSetNames {choice!r}")


def _id_authentication(node: Node) -> IdAuthentication:
    choice = node.only_child()
    if choice.tag == (UNIVERSAL, VISIBLE_STRING):
        return OpenAuth(choice.text())
    if choice.tag == (UNIVERSAL, 16):
        fields = choice.fields()
        return IdPass(_opt_text(fields, 0), _opt_text(fields, 1), _opt_text(fields, 2))
    if choice.tag == (UNIVERSAL, 5):
        choice.null()
        return AnonymousAuth()
    return choice


def _diag_rec(node: Node) -> DiagRec:
    if node.tag == (UNIVERSAL, 8):
        return decode_external(node)
    if node.tag != (UNIVERSAL, 16):
        raise BERError(f"unknown DiagRec {node!r}")
    return _default_diagnostic(node)


def _default_diagnostic(node: Node) -> DefaultDiagnostic:
    fields = node.fields()
    diagnostic_set, condition = fields.get(_OID_TAG), fields.get((UNIVERSAL, INTEGER))
    if diagnostic_set is None or condition is None:
        raise BERError("DefaultDiagFormat without diagnosticSetId or condition")
    v2 = fields.get((UNIVERSAL, VISIBLE_STRING))
    v3 = fields.get((UNIVERSAL, GENERAL_STRING))
    addinfo = v2 if v2 is not None else v3
    return DefaultDiagnostic(condition.integer(), "" if addinfo is None else addinfo.text(),
                             diagnostic_set.oid(), v2 is not None)


def _name_plus_record(node: Node) -> NamePlusRecord:
    fields = node.fields()
    name = _opt_text(fields, 0)
    choice = _required(fields, 1).only_child()
    if choice.tag == (CONTEXT, 1):
        return NamePlusRecord(name, decode_external(choice.only_child()))
    if choice.tag == (CONTEXT, 2):
        return NamePlusRecord(name, _diag_rec(choice.only_child()))
    raise BERError("record fragments (segmentation) are not supported")


def _records(fields: dict) -> Records | None:
    if (node := fields.get((CONTEXT, 28))) is not None:
        return tuple(_name_plus_record(child) for child in node.children)
    if (node := fields.get((CONTEXT, 130))) is not None:
        return _default_diagnostic(node)
    if (node := fields.get((CONTEXT, 205))) is not None:
        return MultipleDiagnostics(tuple(_diag_rec(child) for child in node.children))
    return None


def _attribute(node: Node) -> Attribute:
    fields = node.fields()
    attribute_set = _opt_oid(fields, 1)
    kind = _required(fields, 120).integer()
    if (numeric := fields.get((CONTEXT, 121))) is not None:
        return Attribute(kind, numeric.integer(), attribute_set)
    complex_value = _required(fields, 224)
    for item in _required(complex_value.fields(), 1).children:
        if item.tag == (CONTEXT, 1):
            return Attribute(kind, item.text(), attribute_set)
        if item.tag == (CONTEXT, 2):
            return Attribute(kind, item.integer(), attribute_set)
    raise BERError("complex attribute value without a string or numeric item")


def _attribute_list(node: Node) -> tuple[Attribute, ...]:
    if node.tag != (CONTEXT, 44):
        raise BERError(f"expected AttributeList, got {node!r}")
    return tuple(_attribute(child) for child in node.children)


# Term CHOICE tags -> the term_type names of rpn.AttributesPlusTerm.
_TERM_TYPES = {45: "general", 215: "numeric", 216: "characterString", 217: "oid",
               218: "dateTime", 219: "external", 220: "integerAndUnit", 221: "null"}
_TERM_TAGS = {name: number for number, name in _TERM_TYPES.items()}


def _term(node: Node) -> tuple[str, str]:
    """(term text, term type); external and integerAndUnit terms come back empty, to refuse."""
    term_type = _TERM_TYPES.get(node.number) if node.cls == CONTEXT else None
    if term_type is None:
        raise BERError(f"unknown Term {node!r}")
    if term_type in ("general", "characterString", "dateTime"):
        return node.text(), term_type
    if term_type == "numeric":
        return str(node.integer()), term_type
    if term_type == "oid":
        return node.oid(), term_type
    return "", term_type


def _attributes_plus_term(node: Node) -> AttributesPlusTerm:
    if node.tag != (CONTEXT, 102) or len(node.children) != 2:
        raise BERError(f"expected AttributesPlusTerm, got {node!r}")
    attributes, term = node.children
    text, term_type = _term(term)
    return AttributesPlusTerm(_attribute_list(attributes), text, term_type)


_OPERATORS = {0: "and", 1: "or", 2: "and-not"}


def _proximity(node: Node) -> Proximity:
    fields = node.fields()
    exclusion = fields.get((CONTEXT, 1))
    unit = _required(fields, 5).only_child()
    if unit.tag not in ((CONTEXT, 1), (CONTEXT, 2)):
        raise BERError(f"unknown proximityUnitCode {unit!r}")
    return Proximity(
        exclusion=False if exclusion is None else exclusion.boolean(),
        distance=_required(fields, 2).integer(),
        ordered=_required(fields, 3).boolean(),
        relation=_required(fields, 4).integer(),
        which_code="known" if unit.number == 1 else "private",
        unit=unit.integer(),
    )


def _rpn_structure(node: Node) -> Operand:
    if node.tag == (CONTEXT, 0):
        operand = node.only_child()
        if operand.tag == (CONTEXT, 102):
            return _attributes_plus_term(operand)
        if operand.tag == (CONTEXT, 31):
            return ResultSetId(operand.text())
        if operand.tag == (CONTEXT, 214) and operand.children:  # attributes are not carried
            return ResultSetId(operand.children[0].text())
        raise BERError(f"unknown Operand {operand!r}")
    if node.tag == (CONTEXT, 1) and len(node.children) == 3:
        left, right, operator = node.children
        if operator.tag != (CONTEXT, 46):
            raise BERError(f"expected Operator, got {operator!r}")
        choice = operator.only_child()
        if choice.cls == CONTEXT and choice.number in _OPERATORS:
            choice.null()
            op, proximity = _OPERATORS[choice.number], None
        elif choice.tag == (CONTEXT, 3):
            op, proximity = "prox", _proximity(choice)
        else:
            raise BERError(f"unknown Operator {choice!r}")
        return Operation(op, _rpn_structure(left), _rpn_structure(right), proximity)
    raise BERError(f"unknown RPNStructure {node!r}")


def _query(node: Node) -> RPNQuery | RawQuery:
    choice = node.only_child()
    if choice.tag not in ((CONTEXT, 1), (CONTEXT, 101)):
        if choice.cls != CONTEXT:
            raise BERError(f"unknown Query {choice!r}")
        return RawQuery(choice.number, choice)
    if len(choice.children) != 2 or choice.children[0].tag != _OID_TAG:
        raise BERError("RPNQuery must be attributeSet and rpn")
    attribute_set, structure = choice.children
    extra = {"query_type": 101} if choice.number == 101 else {}
    return RPNQuery(attribute_set.oid(), _rpn_structure(structure), extra)


def _list_statuses(node: Node) -> tuple[tuple[str, int], ...]:
    statuses = []
    for item in node.children:
        fields = item.fields()
        statuses.append((_required(fields, 31).text(), _required(fields, 33).integer()))
    return tuple(statuses)


def _sort_key(node: Node) -> SortKey:
    if node.tag == (CONTEXT, 0):
        return SortField(node.text())
    if node.tag == (CONTEXT, 1):
        return node
    if node.tag == (CONTEXT, 2) and len(node.children) == 2:
        return SortAttributes(node.children[0].oid(), _attribute_list(node.children[1]))
    raise BERError(f"unknown SortKey {node!r}")


_MISSING_VALUE_ACTIONS = {1: "abort", 2: "null"}


def _sort_key_spec(node: Node) -> SortKeySpec:
    # sortElement generic [1] and sortRelation [1] share a tag number: read by position.
    children = node.children
    if not children:
        raise BERError("empty SortKeySpec")
    element = children[0]
    if element.tag == (CONTEXT, 1):
        sort_element = _sort_key(element.only_child())
    elif element.tag == (CONTEXT, 2):
        sort_element = tuple((pair.children[0].text(), _sort_key(pair.children[1].only_child()))
                             for pair in element.children)
    else:
        raise BERError(f"unknown SortElement {element!r}")
    rest = {(child.cls, child.number): child for child in children[1:]}
    missing = rest.get((CONTEXT, 3))
    action = None
    if missing is not None:
        choice = missing.only_child()
        action = _MISSING_VALUE_ACTIONS.get(choice.number) if choice.number != 3 else choice.octets()
        if action is None:
            raise BERError(f"unknown missingValueAction {choice!r}")
    return SortKeySpec(sort_element, _required(rest, 1).integer(), _required(rest, 2).integer(),
                       action)


# ---------------------------------------------------------------------------------------------
# APDU decoders, by PDU CHOICE tag
# ---------------------------------------------------------------------------------------------


def _decode_init_request(fields: dict) -> InitializeRequest:
    auth = fields.get((CONTEXT, 7))
    user_information = fields.get((CONTEXT, 11))
    return InitializeRequest(
        _reference_id(fields), _version_set(_required(fields, 3)), _option_set(_required(fields, 4)),
        _required(fields, 5).integer(), _required(fields, 6).integer(),
        None if auth is None else _id_authentication(auth),
        _opt_text(fields, 110), _opt_text(fields, 111), _opt_text(fields, 112),
        None if user_information is None else user_information.only_child(),
        fields.get(_OTHER_INFO))


def _decode_init_response(fields: dict) -> InitializeResponse:
    user_information = fields.get((CONTEXT, 11))
    return InitializeResponse(
        _reference_id(fields), _version_set(_required(fields, 3)), _option_set(_required(fields, 4)),
        _required(fields, 5).integer(), _required(fields, 6).integer(),
        _required(fields, 12).boolean(),
        _opt_text(fields, 110), _opt_text(fields, 111), _opt_text(fields, 112),
        None if user_information is None else user_information.only_child(),
        fields.get(_OTHER_INFO))


def _decode_search_request(fields: dict) -> SearchRequest:
    small = fields.get((CONTEXT, 100))
    medium = fields.get((CONTEXT, 101))
    return SearchRequest(
        _reference_id(fields), _required(fields, 13).integer(), _required(fields, 14).integer(),
        _required(fields, 15).integer(), _required(fields, 16).boolean(),
        _required(fields, 17).text(), _database_names(_required(fields, 18)),
        None if small is None else _element_set_names(small),
        None if medium is None else _element_set_names(medium),
        _opt_oid(fields, 104), _query(_required(fields, 21)),
        fields.get((CONTEXT, 203)), fields.get(_OTHER_INFO))


def _decode_search_response(fields: dict) -> SearchResponse:
    return SearchResponse(
        _reference_id(fields), _required(fields, 23).integer(), _required(fields, 24).integer(),
        _required(fields, 25).integer(), _required(fields, 22).boolean(),
        _opt_int(fields, 26), _opt_int(fields, 27), _records(fields),
        fields.get((CONTEXT, 203)), fields.get(_OTHER_INFO))


def _decode_present_request(fields: dict) -> PresentRequest:
    ranges = fields.get((CONTEXT, 212))
    if (simple := fields.get((CONTEXT, 19))) is not None:
        composition = _element_set_names(simple)
    else:
        composition = fields.get((CONTEXT, 209))
    return PresentRequest(
        _reference_id(fields), _required(fields, 31).text(), _required(fields, 30).integer(),
        _required(fields, 29).integer(),
        None if ranges is None else tuple(
            (_required(r.fields(), 1).integer(), _required(r.fields(), 2).integer())
            for r in ranges.children),
        composition, _opt_oid(fields, 104),
        _opt_int(fields, 204), _opt_int(fields, 206), _opt_int(fields, 207),
        fields.get(_OTHER_INFO))


def _decode_present_response(fields: dict) -> PresentResponse:
    return PresentResponse(
        _reference_id(fields), _required(fields, 24).integer(), _required(fields, 25).integer(),
        _required(fields, 27).integer(), _records(fields), fields.get(_OTHER_INFO))


def _decode_delete_request(fields: dict) -> DeleteResultSetRequest:
    names = fields.get((UNIVERSAL, 16))
    return DeleteResultSetRequest(
        _reference_id(fields), _required(fields, 32).integer(),
        None if names is None else tuple(child.text() for child in names.children),
        fields.get(_OTHER_INFO))


def _decode_delete_response(fields: dict) -> DeleteResultSetResponse:
    listed, bulk = fields.get((CONTEXT, 1)), fields.get((CONTEXT, 35))
    return DeleteResultSetResponse(
        _reference_id(fields), _required(fields, 0).integer(),
        None if listed is None else _list_statuses(listed), _opt_int(fields, 34),
        None if bulk is None else _list_statuses(bulk), _opt_text(fields, 36),
        fields.get(_OTHER_INFO))


def _decode_scan_request(fields: dict) -> ScanRequest:
    attribute_set = fields.get(_OID_TAG)
    return ScanRequest(
        _reference_id(fields), _database_names(_required(fields, 3)),
        None if attribute_set is None else attribute_set.oid(),
        _attributes_plus_term(_required(fields, 102)), _opt_int(fields, 5),
        _required(fields, 6).integer(), _opt_int(fields, 7), fields.get(_OTHER_INFO))


def _term_info(node: Node) -> TermInfo:
    if not node.children:
        raise BERError("empty TermInfo")
    text, term_type = _term(node.children[0])
    fields = node.fields()
    return TermInfo(text, term_type, _opt_text(fields, 0), _opt_int(fields, 2))


def _entry(node: Node) -> TermInfo | DiagRec:
    if node.tag == (CONTEXT, 1):
        return _term_info(node)
    if node.tag == (CONTEXT, 2):
        return _diag_rec(node.only_child())
    raise BERError(f"unknown scan Entry {node!r}")


def _decode_scan_response(fields: dict) -> ScanResponse:
    entries = diagnostics = None
    if (list_entries := fields.get((CONTEXT, 7))) is not None:
        parts = list_entries.fields()
        if (node := parts.get((CONTEXT, 1))) is not None:
            entries = tuple(_entry(child) for child in node.children)
        if (node := parts.get((CONTEXT, 2))) is not None:
            diagnostics = tuple(_diag_rec(child) for child in node.children)
    return ScanResponse(
        _reference_id(fields), _opt_int(fields, 3), _required(fields, 4).integer(),
        _required(fields, 5).integer(), _opt_int(fields, 6), entries, diagnostics,
        _opt_oid(fields, 8), fields.get(_OTHER_INFO))


def _decode_sort_request(fields: dict) -> SortRequest:
    return SortRequest(
        _reference_id(fields), tuple(child.text() for child in _required(fields, 3).children),
        _required(fields, 4).text(),
        tuple(_sort_key_spec(child) for child in _required(fields, 5).children),
        fields.get(_OTHER_INFO))


def _decode_sort_response(fields: dict) -> SortResponse:
    diagnostics = fields.get((CONTEXT, 5))
    return SortResponse(
        _reference_id(fields), _required(fields, 3).integer(), _opt_int(fields, 4),
        None if diagnostics is None else tuple(_diag_rec(child) for child in diagnostics.children),
        _opt_int(fields, 6), fields.get(_OTHER_INFO))


def _decode_close(fields: dict) -> Close:
    report = fields.get((CONTEXT, 5))
    return Close(
        _reference_id(fields), _required(fields, 211).integer(), _opt_text(fields, 3),
        _opt_oid(fields, 4), None if report is None else report.only_child(),
        fields.get(_OTHER_INFO))


_DECODERS = {
    20: _decode_init_request, 21: _decode_init_response,
    22: _decode_search_request, 23: _decode_search_response,
    24: _decode_present_request, 25: _decode_present_response,
    26: _decode_delete_request, 27: _decode_delete_response,
    35: _decode_scan_request, 36: _decode_scan_response,
    43: _decode_sort_request, 44: _decode_sort_response,
    48: _decode_close,
}


def decode_apdu(data: bytes) -> APDU:
    """Decode one whole APDU (as cut by `ber.Framer`); any malformation raises BERError."""
    node = decode(data)
    if node.cls != CONTEXT or not node.constructed:
        raise BERError(f"not an APDU: {node!r}")
    if node.number in (46, 47):  # Extended Services: extended.py, which builds on this module
        from unishelf.z3950.extended import decode_extended_services
        return decode_extended_services(node)
    decoder = _DECODERS.get(node.number)
    if decoder is None:
        return UnsupportedAPDU(node)
    try:
        return decoder(node.fields())
    except (IndexError, KeyError, TypeError, AttributeError) as error:  # shapes the ASN.1 forbids
        raise BERError(f"malformed APDU [{node.number}]: {error}") from error


# ---------------------------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------------------------






def _oid(number: int, value: str) -> bytes:
    return _prim(number, oid_content(value))


def _seq(content: bytes) -> bytes:
    return tlv(b"\x30", content)


def _universal_oid(value: str) -> bytes:
    return tlv(b"\x06", oid_content(value))


def _opt(encoder, number: int, value) -> bytes:
    return b"" if value is None else encoder(number, value)


def _raw(node: Node | None) -> bytes:
    return b"" if node is None else encode(node)


def _versions(numbers: frozenset[int]) -> bytes:
    return bits_content([n in numbers for n in range(1, max(numbers, default=0) + 1)])


def _options(names: frozenset[str]) -> bytes:
    bits = [_OPTION_BITS[name] for name in names]
    return bits_content([bit in bits for bit in range(max(bits, default=-1) + 1)])


def _element_set_names_content(value: ElementSetNames) -> bytes:
    if isinstance(value, str):
        return _text(0, value)
    return _cons(1, b"".join(_seq(_text(105, db) + _text(103, esn)) for db, esn in value))


def _id_authentication_content(value: IdAuthentication) -> bytes:
    if isinstance(value, OpenAuth):
        return tlv(b"\x1a", string_content(value.text))
    if isinstance(value, IdPass):
        return _seq(_opt(_text, 0, value.group_id) + _opt(_text, 1, value.user_id)
                    + _opt(_text, 2, value.password))
    if isinstance(value, AnonymousAuth):
        return b"\x05\x00"
    return encode(value)


def _default_diagnostic_content(diagnostic: DefaultDiagnostic) -> bytes:
    addinfo_tag = b"\x1a" if diagnostic.addinfo_v2 else b"\x1b"
    return (_universal_oid(diagnostic.diagnostic_set)
            + tlv(b"\x02", integer_content(diagnostic.condition))
            + tlv(addinfo_tag, string_content(diagnostic.addinfo)))


def _diag_rec_bytes(diagnostic: DiagRec) -> bytes:
    if isinstance(diagnostic, DefaultDiagnostic):
        return _seq(_default_diagnostic_content(diagnostic))
    return tlv(b"\x28", external_content(diagnostic))


def _name_plus_record_bytes(item: NamePlusRecord) -> bytes:
    if isinstance(item.record, External):
        record = _cons(1, tlv(b"\x28", external_content(item.record)))
    else:
        record = _cons(2, _diag_rec_bytes(item.record))
    return _seq(_opt(_text, 0, item.name) + _cons(1, record))


def _records_bytes(records: Records | None) -> bytes:
    if records is None:
        return b""
    if isinstance(records, DefaultDiagnostic):
        return _cons(130, _default_diagnostic_content(records))
    if isinstance(records, MultipleDiagnostics):
        return _cons(205, b"".join(map(_diag_rec_bytes, records.diagnostics)))
    return _cons(28, b"".join(map(_name_plus_record_bytes, records)))


def _attribute_bytes(attribute: Attribute) -> bytes:
    if isinstance(attribute.value, int):
        value = _int(121, attribute.value)
    else:
        value = _cons(224, _cons(1, _text(1, attribute.value)))
    return _seq(_opt(_oid, 1, attribute.attribute_set) + _int(120, attribute.type) + value)


def _attribute_list_bytes(attributes: tuple[Attribute, ...]) -> bytes:
    return _cons(44, b"".join(map(_attribute_bytes, attributes)))


def _term_bytes(text: str, term_type: str) -> bytes:
    number = _TERM_TAGS.get(term_type)
    if term_type in ("general", "characterString", "dateTime"):
        return _text(number, text)
    if term_type == "numeric":
        return _int(number, int(text))
    if term_type == "oid":
        return _oid(number, text)
    if term_type == "null":
        return _prim(number, b"")
    raise BERError(f"cannot encode a {term_type!r} term")


def _attributes_plus_term_bytes(value: AttributesPlusTerm) -> bytes:
    return _cons(102, _attribute_list_bytes(value.attributes)
                 + _term_bytes(value.term, value.term_type))


_OPERATOR_TAGS = {"and": 0, "or": 1, "and-not": 2}


def _operator_bytes(operation: Operation) -> bytes:
    if operation.op != "prox":
        return _cons(46, _prim(_OPERATOR_TAGS[operation.op], b""))
    proximity = operation.proximity or Proximity()
    unit_choice = 1 if proximity.which_code == "known" else 2
    return _cons(46, _cons(3, _bool(1, proximity.exclusion) + _int(2, proximity.distance)
                           + _bool(3, proximity.ordered) + _int(4, proximity.relation)
                           + _cons(5, _int(unit_choice, proximity.unit))))


def _rpn_structure_bytes(operand: Operand) -> bytes:
    if isinstance(operand, AttributesPlusTerm):
        return _cons(0, _attributes_plus_term_bytes(operand))
    if isinstance(operand, ResultSetId):
        return _cons(0, _text(31, operand.name))
    return _cons(1, _rpn_structure_bytes(operand.left) + _rpn_structure_bytes(operand.right)
                 + _operator_bytes(operand))


def _query_bytes(query: RPNQuery | RawQuery) -> bytes:
    if isinstance(query, RawQuery):
        return _cons(21, encode(query.node))
    query_type = query.extra.get("query_type", 1)
    return _cons(21, _cons(query_type, _universal_oid(query.attribute_set)
                           + _rpn_structure_bytes(query.root)))


def _list_statuses_bytes(number: int, statuses: tuple[tuple[str, int], ...]) -> bytes:
    return _cons(number, b"".join(_seq(_text(31, name) + _int(33, status))
                                  for name, status in statuses))


def _sort_key_bytes(key: SortKey) -> bytes:
    if isinstance(key, SortField):
        return _text(0, key.name)
    if isinstance(key, SortAttributes):
        return _cons(2, _universal_oid(key.attribute_set) + _attribute_list_bytes(key.attributes))
    return encode(key)


def _sort_key_spec_bytes(spec: SortKeySpec) -> bytes:
    if isinstance(spec.sort_element, tuple):
        element = _cons(2, b"".join(_seq(_text(105, db) + _cons(1, _sort_key_bytes(key)))
                                    for db, key in spec.sort_element))
    else:
        element = _cons(1, _sort_key_bytes(spec.sort_element))
    action = spec.missing_value_action
    if action is None:
        missing = b""
    elif isinstance(action, bytes):
        missing = _cons(3, _prim(3, action))
    else:
        missing = _cons(3, _prim({"abort": 1, "null": 2}[action], b""))
    return _seq(element + _int(1, spec.sort_relation) + _int(2, spec.case_sensitivity) + missing)


def _entry_bytes(entry: TermInfo | DiagRec) -> bytes:
    if isinstance(entry, TermInfo):
        return _cons(1, _term_bytes(entry.term, entry.term_type)
                     + _opt(_text, 0, entry.display_term) + _opt(_int, 2, entry.global_occurrences))
    return _cons(2, _diag_rec_bytes(entry))


# ---------------------------------------------------------------------------------------------
# APDU encoders: (PDU CHOICE tag, SEQUENCE content)
# ---------------------------------------------------------------------------------------------


def _encode_init(apdu: InitializeRequest | InitializeResponse) -> bytes:
    if isinstance(apdu, InitializeRequest):
        middle = _opt(lambda n, v: _cons(n, _id_authentication_content(v)), 7,
                      apdu.id_authentication)
    else:
        middle = _bool(12, apdu.result)
    return (_opt(_text, 2, apdu.reference_id) + _prim(3, _versions(apdu.protocol_version))
            + _prim(4, _options(apdu.options)) + _int(5, apdu.preferred_message_size)
            + _int(6, apdu.exceptional_record_size) + middle
            + _opt(_text, 110, apdu.implementation_id) + _opt(_text, 111, apdu.implementation_name)
            + _opt(_text, 112, apdu.implementation_version)
            + _opt(lambda n, v: _cons(n, encode(v)), 11, apdu.user_information_field)
            + _raw(apdu.other_info))


def _encode_search_request(apdu: SearchRequest) -> bytes:
    if apdu.query is None:
        raise BERError("SearchRequest without a query")
    return (_opt(_text, 2, apdu.reference_id) + _int(13, apdu.small_set_upper_bound)
            + _int(14, apdu.large_set_lower_bound) + _int(15, apdu.medium_set_present_number)
            + _bool(16, apdu.replace_indicator) + _text(17, apdu.result_set_name)
            + _cons(18, b"".join(_text(105, name) for name in apdu.database_names))
            + _opt(lambda n, v: _cons(n, _element_set_names_content(v)), 100,
                   apdu.small_set_element_set_names)
            + _opt(lambda n, v: _cons(n, _element_set_names_content(v)), 101,
                   apdu.medium_set_element_set_names)
            + _opt(_oid, 104, apdu.preferred_record_syntax) + _query_bytes(apdu.query)
            + _raw(apdu.additional_search_info) + _raw(apdu.other_info))


def _encode_search_response(apdu: SearchResponse) -> bytes:
    return (_opt(_text, 2, apdu.reference_id) + _int(23, apdu.result_count)
            + _int(24, apdu.number_of_records_returned) + _int(25, apdu.next_result_set_position)
            + _bool(22, apdu.search_status) + _opt(_int, 26, apdu.result_set_status)
            + _opt(_int, 27, apdu.present_status) + _records_bytes(apdu.records)
            + _raw(apdu.additional_search_info) + _raw(apdu.other_info))


def _encode_present_request(apdu: PresentRequest) -> bytes:
    composition = apdu.record_composition
    if composition is None:
        composition_bytes = b""
    elif isinstance(composition, Node):
        composition_bytes = encode(composition)
    else:
        composition_bytes = _cons(19, _element_set_names_content(composition))
    ranges = b"" if apdu.additional_ranges is None else _cons(212, b"".join(
        _seq(_int(1, start) + _int(2, count)) for start, count in apdu.additional_ranges))
    return (_opt(_text, 2, apdu.reference_id) + _text(31, apdu.result_set_id)
            + _int(30, apdu.result_set_start_point) + _int(29, apdu.number_of_records_requested)
            + ranges + composition_bytes + _opt(_oid, 104, apdu.preferred_record_syntax)
            + _opt(_int, 204, apdu.max_segment_count) + _opt(_int, 206, apdu.max_record_size)
            + _opt(_int, 207, apdu.max_segment_size) + _raw(apdu.other_info))


def _encode_present_response(apdu: PresentResponse) -> bytes:
    return (_opt(_text, 2, apdu.reference_id) + _int(24, apdu.number_of_records_returned)
            + _int(25, apdu.next_result_set_position) + _int(27, apdu.present_status)
            + _records_bytes(apdu.records) + _raw(apdu.other_info))


def _encode_delete_request(apdu: DeleteResultSetRequest) -> bytes:
    names = b"" if apdu.result_set_list is None else _seq(
        b"".join(_text(31, name) for name in apdu.result_set_list))
    return (_opt(_text, 2, apdu.reference_id) + _int(32, apdu.delete_function) + names
            + _raw(apdu.other_info))


def _encode_delete_response(apdu: DeleteResultSetResponse) -> bytes:
    return (_opt(_text, 2, apdu.reference_id) + _int(0, apdu.delete_operation_status)
            + _opt(_list_statuses_bytes, 1, apdu.delete_list_statuses)
            + _opt(_int, 34, apdu.number_not_deleted)
            + _opt(_list_statuses_bytes, 35, apdu.bulk_statuses)
            + _opt(_text, 36, apdu.delete_message) + _raw(apdu.other_info))


def _encode_scan_request(apdu: ScanRequest) -> bytes:
    if apdu.term_list_and_start_point is None:
        raise BERError("ScanRequest without termListAndStartPoint")
    attribute_set = b"" if apdu.attribute_set is None else _universal_oid(apdu.attribute_set)
    return (_opt(_text, 2, apdu.reference_id)
            + _cons(3, b"".join(_text(105, name) for name in apdu.database_names))
            + attribute_set + _attributes_plus_term_bytes(apdu.term_list_and_start_point)
            + _opt(_int, 5, apdu.step_size) + _int(6, apdu.number_of_terms_requested)
            + _opt(_int, 7, apdu.preferred_position_in_response) + _raw(apdu.other_info))


def _encode_scan_response(apdu: ScanResponse) -> bytes:
    if apdu.entries is None and apdu.nonsurrogate_diagnostics is None:
        list_entries = b""
    else:
        entries = b"" if apdu.entries is None else _cons(1, b"".join(map(_entry_bytes, apdu.entries)))
        diagnostics = b"" if apdu.nonsurrogate_diagnostics is None else _cons(
            2, b"".join(map(_diag_rec_bytes, apdu.nonsurrogate_diagnostics)))
        list_entries = _cons(7, entries + diagnostics)
    return (_opt(_text, 2, apdu.reference_id) + _opt(_int, 3, apdu.step_size)
            + _int(4, apdu.scan_status) + _int(5, apdu.number_of_entries_returned)
            + _opt(_int, 6, apdu.position_of_term) + list_entries
            + _opt(_oid, 8, apdu.attribute_set) + _raw(apdu.other_info))


def _encode_sort_request(apdu: SortRequest) -> bytes:
    return (_opt(_text, 2, apdu.reference_id)
            + _cons(3, b"".join(tlv(b"\x1b", string_content(name))
                                for name in apdu.input_result_set_names))
            + _text(4, apdu.sorted_result_set_name)
            + _cons(5, b"".join(map(_sort_key_spec_bytes, apdu.sort_sequence)))
            + _raw(apdu.other_info))


def _encode_sort_response(apdu: SortResponse) -> bytes:
    diagnostics = b"" if apdu.diagnostics is None else _cons(
        5, b"".join(map(_diag_rec_bytes, apdu.diagnostics)))
    return (_opt(_text, 2, apdu.reference_id) + _int(3, apdu.sort_status)
            + _opt(_int, 4, apdu.result_set_status) + diagnostics
            + _opt(_int, 6, apdu.result_count) + _raw(apdu.other_info))


def _encode_close(apdu: Close) -> bytes:
    return (_opt(_text, 2, apdu.reference_id) + _int(211, apdu.close_reason)
            + _opt(_text, 3, apdu.diagnostic_information)
            + _opt(_oid, 4, apdu.resource_report_format)
            + _opt(lambda n, v: _cons(n, encode(v)), 5, apdu.resource_report)
            + _raw(apdu.other_info))


_ENCODERS = {
    InitializeRequest: (20, _encode_init), InitializeResponse: (21, _encode_init),
    SearchRequest: (22, _encode_search_request), SearchResponse: (23, _encode_search_response),
    PresentRequest: (24, _encode_present_request),
    PresentResponse: (25, _encode_present_response),
    DeleteResultSetRequest: (26, _encode_delete_request),
    DeleteResultSetResponse: (27, _encode_delete_response),
    ScanRequest: (35, _encode_scan_request), ScanResponse: (36, _encode_scan_response),
    SortRequest: (43, _encode_sort_request), SortResponse: (44, _encode_sort_response),
    Close: (48, _encode_close),
}


def encode_apdu(apdu: APDU) -> bytes:
    """BER for one APDU, definite lengths throughout."""
    if isinstance(apdu, UnsupportedAPDU):
        return encode(apdu.node)
    if type(apdu) not in _ENCODERS:  # ExtendedServicesRequest / ExtendedServicesResponse
        from unishelf.z3950.extended import encode_extended_services
        return encode_extended_services(apdu)
    number, encoder = _ENCODERS[type(apdu)]
    return _cons(number, encoder(apdu))
