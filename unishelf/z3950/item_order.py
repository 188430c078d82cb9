"""Z39.50 Extended Services Item Order as an ISO 10161 ILL request of this node, and the task
packages of those orders in the database IR-Extend-1.

An order names its item by a result set position (what yaz-client and OPAC front ends send) or
by the Item-Id of the ISO ILL-Request in its itemRequest; the result set item wins, since it names
a union catalogue record. The node routes the request to the libraries holding the record, all in
one store write, so the order is answered at once: operationStatus done, with a task package
whose targetReference is the ILL transaction id.

Task packages are not kept. The ILL transaction is the record of the order, and every look at
IR-Extend-1 builds the package again from the transaction as it is now (following the rota
to the library asked last), so a later Present shows the item shipped, received or returned.

Who may order: an ILL request costs the requesting library money, so only an authenticated
user with the ill-staff role (or admin) orders, and for the library they work for. The
ILL-Request's requester-id may name that library, or any library this node serves for staff
who work for no one library; without it the order is the user's library's, or the node's when
it serves only one. Anonymous users order nothing, whatever `access.anonymous` allows for
searching. The same rule says whose task packages a user may see.
"""
from __future__ import annotations

from datetime import datetime, timezone

from unishelf.auth import ANONYMOUS, User
from unishelf.ber import OCTET_ALIGNED, SINGLE_ASN1_TYPE, External, decode, encode
from unishelf.ill_iso.apdus import ILLDecodeError, decode_apdu
from unishelf.ill_iso.bibliographic import item_from_record
from unishelf.ill_iso.node import Node, NotFound, first_request, node_for_store, requests_began, route_of
from unishelf.ill_iso.primitives import PrimitiveError
from unishelf.ill_iso.tables import IDLE, REQUESTER
from unishelf.ill_iso.transaction import Transaction, key_from_display, symbol_of
from unishelf.search.bib1 import DIAGNOSTICS
from unishelf.search.session import Session
from unishelf.search.tree import QueryError
from unishelf.z3950 import extended as es
from unishelf.z3950.rpn import AttributesPlusTerm, Operation, RPNQuery
from unishelf.z3950.updates import INVALID_FUNCTION, MISSING_PARAMETER, SERVICE_NOT_SUPPORTED, failure

TASK_DATABASE = "IR-Extend-1"
ORDERING_ROLE = "ill-staff"
# Bib-1 diagnostics (Z39.50-2003 Appendix 3) beyond the ones Update uses:
PERMISSION_DENIED = 222          # ES: permission denied - id not authorized (no ill-staff role,
#                                  another library's requester-id)
ACCESS_CONTROL_REQUIRED = 1004   # ES: not supported unless access control is in effect (anonymous)
EXECUTION_FAILED = 224           # ES: immediate execution failed (the node could not route it)
UNSUPPORTED_ITEM_REQUEST = 1009  # ES: Item Order, unsupported OID in itemRequest
UNSUPPORTED_VALUE = 1057         # ES: unsupported value of task package parameter (an itemRequest
#                                  that is no ILL-Request, a bad date, amount or service)
RECORD_DELETED = 1028            # the result set item's record was deleted since the search
SERVICES = {"loan": "loan", "copy-non-returnable": "copy"}   # ILL-Service-Type -> node service
STAMP = "%Y-%m-%dT%H:%M:%SZ"     # Transaction.created


class OrderRefused(Exception):
    """An order this server does not place: the Bib-1 diagnostic that says why."""

    def __init__(self, condition: int, addinfo: str):
        super().__init__(addinfo)
        self.condition = condition
        self.addinfo = addinfo


class ItemOrderService:
    """Item orders and their task packages, over the store the ILL node keeps its transactions in."""

    def __init__(self, catalog):
        self.config = catalog.config
        self.store = catalog.store

    def handle(self, request: es.ExtendedServicesRequest, user: User | None,
               session: Session) -> es.ExtendedServicesResponse:
        """Place the order as an ILL request; a failure says why by diagnostic."""
        try:
            order = _order(request, user)
            node = node_for_store(self.config, self.store)
            if not node.directory.served:
                raise OrderRefused(SERVICE_NOT_SUPPORTED, "this server is the ILL protocol machine of no library")
            ill_request = _ill_request(order.item_request)
            library = _requesting_library(node, user, ill_request)
            params = self._params(order, ill_request, session)
            outcome = node.request(library, None, params, by=user.name)
        except OrderRefused as refusal:
            return failure(request, refusal.condition, refusal.addinfo)
        except PrimitiveError as error:
            return failure(request, UNSUPPORTED_VALUE, str(error))
        except NotFound as error:       # a library not served here, or no other library holds it
            return failure(request, EXECUTION_FAILED, str(error))
        package = None
        if request.wait_action != es.WaitAction.DONT_RETURN_PACKAGE:
            with self.store.reading() as reader:
                package = _task_package(node, reader, outcome.transaction, request)
        return es.ExtendedServicesResponse(reference_id=request.reference_id,
                                           operation_status=es.OperationStatus.DONE, task_package=package)

    # -- IR-Extend-1 ----------------------------------------------------------------------
    def search(self, query: RPNQuery, user: User | None) -> list[str]:
        """The targetReferences a query names, of the packages the user may see, oldest first.
        A term is one targetReference, or all of the user's own orders when it is their name;
        and, or and and-not combine them. Attributes are not looked at: the term says which."""
        if not _may_order(user):
            return []
        numbers = self._numbers(query.root, user)
        node = node_for_store(self.config, self.store)
        with self.store.reading() as reader:
            orders = [Transaction(**reader.ill_transaction_numbered(number)) for number in sorted(numbers)]
        return [order.display_id for order in orders if _acts_for(user, order.library, node)]

    def _numbers(self, operand, user: User) -> set[int]:
        if isinstance(operand, AttributesPlusTerm):
            return self._term_numbers(operand.term.strip(), user)
        if isinstance(operand, Operation) and operand.op in ("and", "or", "and-not"):
            left, right = self._numbers(operand.left, user), self._numbers(operand.right, user)
            return {"and": left & right, "or": left | right, "and-not": left - right}[operand.op]
        raise QueryError("unsupported-operator", f"{TASK_DATABASE} is searched by targetReferences and your "
                         "user name, with and, or and and-not")

    def _term_numbers(self, term: str, user: User) -> set[int]:
        key = key_from_display(REQUESTER, term)
        with self.store.reading() as reader:
            found = reader.ill_transaction(key) if key else None
            numbers = [found["number"]] if found else reader.ill_orders_of(user.name) if term == user.name else []
        if numbers is None:   # a store written before requests were indexed by user: indexed once
            with self.store.reading() as reader:   # read outside the writer, which others wait for;
                began = requests_began(reader)      # requests made meanwhile index themselves
            with self.store.writing() as writer:
                if writer.ill_orders_of(user.name) is None:
                    writer.index_ill_orders(began)
                numbers = writer.ill_orders_of(user.name)
        return set(numbers)

    def task_package(self, reference: str, user: User | None) -> External | None:
        """The task package record of an order as it stands now; None if it is gone or not
        the user's to see."""
        key = key_from_display(REQUESTER, reference)
        node = node_for_store(self.config, self.store)
        with self.store.reading() as reader:
            found = reader.ill_transaction(key) if key else None
            if found is None or not _may_order(user) or not _acts_for(user, found["library"], node):
                return None
            return es.encode_task_package(_task_package(node, reader, Transaction(**found)))

    def _params(self, order: es.ItemOrderRequest, ill_request: dict, session: Session) -> dict:
        """The node's request parameters: the item, and what the ILL-Request adds to it."""
        params = {"services": _services(ill_request), **_request_details(ill_request)}
        if order.result_set_item is not None:
            stored = self._record(order.result_set_item, session)
            params.update(item=item_from_record(stored), record=stored.id)
        else:
            params["item"] = {name: text for name, text in ill_request.get("item-id", {}).items()
                              if isinstance(text, str) and text.strip()}
        return params

    def _record(self, item: es.ResultSetItem, session: Session):
        try:
            [record_id] = session.present(item.result_set_id, item.item, 1)
        except QueryError as error:
            raise OrderRefused(DIAGNOSTICS.get(error.code, 100), error.subject or "") from None
        with self.store.reading() as reader:
            stored = reader.record(record_id)
        if stored is None or stored.deleted:
            raise OrderRefused(RECORD_DELETED, str(record_id))
        return stored


# -- the order ------------------------------------------------------------------------------
def _order(request: es.ExtendedServicesRequest, user: User | None) -> es.ItemOrderRequest:
    """The item order, if this user may place it."""
    if request.function != es.Function.CREATE:
        raise OrderRefused(INVALID_FUNCTION, "only create is supported")
    order = request.task_specific_parameters
    if not isinstance(order, es.ItemOrderRequest):
        raise OrderRefused(MISSING_PARAMETER, "taskSpecificParameters: an ItemOrder esRequest")
    if user is None or user == ANONYMOUS:
        raise OrderRefused(ACCESS_CONTROL_REQUIRED, "log in as ILL staff to order items")
    if not _may_order(user):
        raise OrderRefused(PERMISSION_DENIED, f"{user.name} is not ILL staff")
    if order.result_set_item is None and order.item_request is None:
        raise OrderRefused(MISSING_PARAMETER, "resultSetItem or itemRequest")
    return order


def _may_order(user: User | None) -> bool:
    return user is not None and user != ANONYMOUS and user.has(ORDERING_ROLE)


def _acts_for(user: User, library: str, node: Node) -> bool:
    """Whether the user works for this library: admins for all, staff who work for no one
    library for those the node serves, everyone else for their own."""
    if "admin" in user.roles:
        return True
    if user.library is None:
        return node.directory.is_served(library)
    return user.library == library


def _ill_request(item_request: External | None) -> dict:
    """The ISO ILL-Request an itemRequest carries (BER as single-ASN1-type or octets); {} for none."""
    if item_request is None:
        return {}
    if item_request.direct_reference != es.ILL_APDU_OID or item_request.encoding not in (
            SINGLE_ASN1_TYPE, OCTET_ALIGNED):
        raise OrderRefused(UNSUPPORTED_ITEM_REQUEST, str(item_request.direct_reference))
    data = encode(item_request.value) if item_request.encoding == SINGLE_ASN1_TYPE else item_request.value
    try:
        apdu_type, value = decode_apdu(data)
    except ILLDecodeError as error:
        raise OrderRefused(UNSUPPORTED_VALUE, f"itemRequest: {error}") from None
    if apdu_type != "ILL-Request":
        raise OrderRefused(UNSUPPORTED_VALUE, f"itemRequest is a {apdu_type}, not an ILL-Request")
    return value


def _requesting_library(node: Node, user: User, ill_request: dict) -> str:
    """The member library the order is for, by the rule the module describes."""
    named = ill_request.get("requester-id")
    if symbol_of(named):
        member = node.directory.find(named)
        if member is None:
            raise OrderRefused(PERMISSION_DENIED, f"requester-id {symbol_of(named)} is not a member library")
        library = member.code
    elif user.library is not None:
        library = user.library
    elif len(node.directory.served) == 1:
        library = node.directory.served[0]
    else:
        raise OrderRefused(MISSING_PARAMETER, "requester-id: this node serves "
                           + ", ".join(node.directory.served))
    if not _acts_for(user, library, node):
        raise OrderRefused(PERMISSION_DENIED, f"{user.name} does not work for {library}")
    return library


def _services(ill_request: dict) -> list[str]:
    """Loan or copy, in the ILL-Request's order of preference; a loan when it names none."""
    asked = [service for service in ill_request.get("iLL-service-type", []) if isinstance(service, str)]
    if not asked:
        return ["loan"]
    services = [SERVICES[service] for service in asked if service in SERVICES]
    if not services:
        raise OrderRefused(UNSUPPORTED_VALUE, f"iLL-service-type {', '.join(asked)}: this node asks "
                           "for loans and copies")
    return services


def _request_details(ill_request: dict) -> dict:
    """Need-before date, maximum cost, patron, delivery e-mail and note, where given."""
    details = {}
    need_before = (ill_request.get("search-type") or {}).get("need-before-date")
    if need_before:
        details["need_before"] = need_before
    cost = (ill_request.get("cost-info-type") or {}).get("maximum-cost") or {}
    if cost.get("monetary-value"):
        details["max_cost"] = " ".join(filter(None, (cost.get("currency-code"), cost["monetary-value"])))
    patron = (ill_request.get("client-id") or {}).get("client-name")
    if patron:
        details["patron"] = patron
    email = ((ill_request.get("delivery-address") or {}).get("electronic-address") or {}).get(
        "telecom-service-address")
    if email:
        details["email"] = email
    if ill_request.get("requester-note"):
        details["note"] = ill_request["requester-note"]
    return details


# -- the task package -----------------------------------------------------------------------
def _task_status(node: Node, transaction: Transaction) -> int:
    """Pending until a library answers; complete when the transaction ended with the item
    supplied, aborted when it ended without."""
    if node.machine.terminal(transaction):
        return es.TaskStatus.COMPLETE if transaction.shipped_service else es.TaskStatus.ABORTED
    return es.TaskStatus.PENDING if transaction.state in (IDLE, "PENDING") else es.TaskStatus.ACTIVE


def _task_package(node: Node, reader, order: Transaction,
                  request: es.ExtendedServicesRequest | None = None) -> es.TaskPackage:
    """The task package of the order that began as transaction `order`, as it stands now; what
    the origin asked to keep is echoed only in the answer to the order itself (`request`)."""
    current = route_of(reader, order)[-1]   # the library asked last
    forwarded = current.number != order.number or current.intermediary is not None
    origin = request.task_specific_parameters if request else es.ItemOrderRequest()
    target = origin.task_package(
        item_request=_ill_external(first_request(reader, current)["apdu"]),
        status_or_error_report=_ill_external(node.status_report(current)),
        auxiliary_status=es.AuxiliaryStatus.FORWARDED if forwarded else None)
    return es.TaskPackage(
        package_type=es.ITEM_ORDER_OID, package_name=request.package_name if request else None,
        user_id=first_request(reader, order)["by"], description=request.description if request else None,
        target_reference=order.display_id.encode(),
        creation_date_time=datetime.strptime(order.created, STAMP).replace(tzinfo=timezone.utc),
        task_status=_task_status(node, current), task_specific_parameters=target)


def _ill_external(apdu: bytes) -> External:
    return External(es.ILL_APDU_OID, SINGLE_ASN1_TYPE, decode(apdu))
