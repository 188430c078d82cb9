"""A small schema-driven BER codec: ASN.1 types as objects that turn plain Python values into BER.

The ISO 10161 ILL module has some eighty types; hand-writing each as the Z39.50 codec does would
be thousands of lines, so the module is kept as data (`ill_module.py`) and this file interprets
it, on top of `unishelf.ber`.

Values are plain Python:

- SEQUENCE: a dict keyed by component name. An absent OPTIONAL component has no key (None counts
  as absent when encoding). A DEFAULT component always has its key after decoding.
- SEQUENCE OF: a list. CHOICE: an `(alternative name, value)` tuple. A CHOICE of character
  string types (ILL-String) is a plain str.
- ENUMERATED: the name as the module spells it; an int for a number the module does not name.
  INTEGER: int. BOOLEAN: bool. NULL: None. Character strings: str. OBJECT IDENTIFIER: dotted str.
- EXTERNAL: `unishelf.ber.External`. ANY: bytes of one whole BER element.

Decoding is tolerant, as real peers need it to be: components may come in any order, unknown
components are skipped, a missing DEFAULT takes its default, an unnamed enumeration number is
kept, and a peer that tags IMPLICIT where the module says EXPLICIT (or the reverse) is still
understood. Anything that still cannot be read raises `DecodeError` with the component path.
Encoding is conservative: definite lengths, and every DEFAULT written out, because YAZ-based
peers treat DEFAULT components as mandatory.
"""
from __future__ import annotations

from dataclasses import dataclass

from unishelf.ber import (
    APPLICATION, BOOLEAN, CONTEXT, ENUMERATED, EXTERNAL, INTEGER, NULL, OBJECT_IDENTIFIER,
    SEQUENCE, UNIVERSAL, BERError, Node, boolean_content, decode, decode_external, encode,
    external_content, identifier, integer_content, oid_content, string_content, tlv,
)


class DecodeError(BERError):
    """Input that is valid BER but not a value of the schema type, or not valid BER at all."""

    def __init__(self, reason: str, path: list[str] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = path if path is not None else []

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.reason}" if self.path else self.reason


class EncodeError(ValueError):
    """A Python value that does not fit the schema type; `path` names the component."""

    def __init__(self, reason: str, path: list[str] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = path if path is not None else []

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.reason}" if self.path else self.reason


def _located_decode_error(error: BERError, name: str) -> DecodeError:
    """Prefix the component name to the error's path (BER-level errors become DecodeErrors)."""
    if not isinstance(error, DecodeError):
        error = DecodeError(str(error))
    error.path.insert(0, name)
    return error


def describe_tag(node: Node) -> str:
    """A node's tag for an error message (never its content, which a hostile peer sizes)."""
    return f"[{('UNIVERSAL', 'APPLICATION', 'CONTEXT', 'PRIVATE')[node.cls]} {node.number}]"


def _located_encode_error(error: Exception, name: str) -> EncodeError:
    if not isinstance(error, EncodeError):
        error = EncodeError(str(error))
    error.path.insert(0, name)
    return error


class Type:
    """One ASN.1 type.

    `tags` is the set of (class, number) its outermost element may carry, or None for an open
    type (ANY). `decode` reads a node whose tag the caller has already matched, so it serves the
    IMPLICIT-tagged case too. Types with a tag of their own (`identifier` set; not CHOICE or ANY)
    also have `content(value)`, which is what an IMPLICIT tag wraps.
    """

    name: str
    tags: frozenset[tuple[int, int]] | None
    identifier: bytes | None = None
    constructed: bool = False
    content_tags: frozenset[tuple[int, int]] | None = None  # tags of what a constructed value holds

    def encode(self, value) -> bytes:
        return tlv(self.identifier, self.content(value))

    def content(self, value) -> bytes:
        raise NotImplementedError

    def decode(self, node: Node):
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class _Universal(Type):
    def __init__(self, name: str, number: int, constructed: bool = False):
        self.name = name
        self.tags = frozenset({(UNIVERSAL, number)})
        self.constructed = constructed
        self.identifier = identifier(UNIVERSAL, constructed, number)


class Integer(_Universal):
    def __init__(self):
        super().__init__("INTEGER", INTEGER)

    def content(self, value: int) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError(f"INTEGER needs an int, got {value!r}")
        return integer_content(value)

    def decode(self, node: Node) -> int:
        return node.integer()


class Enumerated(_Universal):
    """ENUMERATED, read and written by name; numbers the schema does not name pass as ints."""

    def __init__(self, name: str, numbers: dict[str, int]):
        super().__init__(name, ENUMERATED)
        self.numbers = numbers
        self.names = {number: item for item, number in numbers.items()}

    def content(self, value: str | int) -> bytes:
        if isinstance(value, int) and not isinstance(value, bool):
            return integer_content(value)
        number = self.numbers.get(value)
        if number is None:
            raise EncodeError(f"{value!r} is not one of {', '.join(self.numbers)}")
        return integer_content(number)

    def decode(self, node: Node) -> str | int:
        number = node.integer()
        return self.names.get(number, number)


class Boolean(_Universal):
    def __init__(self):
        super().__init__("BOOLEAN", BOOLEAN)

    def content(self, value: bool) -> bytes:
        if not isinstance(value, bool):
            raise EncodeError(f"BOOLEAN needs a bool, got {value!r}")
        return boolean_content(value)

    def decode(self, node: Node) -> bool:
        return node.boolean()


class Null(_Universal):
    def __init__(self):
        super().__init__("NULL", NULL)

    def content(self, value: None) -> bytes:
        if value is not None:
            raise EncodeError(f"NULL takes None, got {value!r}")
        return b""

    def decode(self, node: Node) -> None:
        return node.null()


class String(_Universal):
    """A character string type (VisibleString, GeneralString, ...), written as UTF-8."""

    def content(self, value: str) -> bytes:
        if not isinstance(value, str):
            raise EncodeError(f"{self.name} needs a str, got {value!r}")
        return string_content(value)

    def decode(self, node: Node) -> str:
        return node.text()


class ObjectIdentifier(_Universal):
    def __init__(self):
        super().__init__("OBJECT IDENTIFIER", OBJECT_IDENTIFIER)

    def content(self, value: str) -> bytes:
        return oid_content(value)

    def decode(self, node: Node) -> str:
        return node.oid()


class External(_Universal):
    """EXTERNAL as `unishelf.ber.External`."""

    def __init__(self):
        super().__init__("EXTERNAL", EXTERNAL, constructed=True)
        self.content_tags = frozenset({
            (UNIVERSAL, OBJECT_IDENTIFIER), (UNIVERSAL, INTEGER), (UNIVERSAL, 7),
            (CONTEXT, 0), (CONTEXT, 1), (CONTEXT, 2),
        })

    def content(self, value) -> bytes:
        return external_content(value)

    def decode(self, node: Node):
        return decode_external(node)


class Any(Type):
    """ANY (DEFINED BY): an open type, kept as the bytes of one BER element for the caller."""

    name = "ANY"
    tags = None

    def encode(self, value: bytes) -> bytes:
        if not isinstance(value, (bytes, bytearray)):
            raise EncodeError(f"ANY needs the bytes of one BER element, got {value!r}")
        try:
            decode(value)
        except BERError as error:
            raise EncodeError(f"ANY value is not one BER element: {error}") from None
        return bytes(value)

    def decode(self, node: Node) -> bytes:
        return encode(node)


class StringChoice(Type):
    """A CHOICE of character string types read and written as a plain str (ILL-String).

    Written as the first alternative; any alternative is read.
    """

    def __init__(self, name: str, *alternatives: String):
        self.name = name
        self.tags = frozenset().union(*(alternative.tags for alternative in alternatives))
        self.first = alternatives[0]

    def encode(self, value: str) -> bytes:
        return self.first.encode(value)

    def decode(self, node: Node) -> str:
        return node.text()


class Choice(Type):
    """CHOICE: an `(alternative name, value)` tuple. Its alternatives must have distinct tags."""

    def __init__(self, name: str, *alternatives: tuple[str, Type]):
        self.name = name
        self.alternatives = dict(alternatives)
        self.by_tag: dict[tuple[int, int], tuple[str, Type]] = {}
        for alternative_name, alternative in alternatives:
            if alternative.tags is None:
                raise TypeError(f"{name}: untagged ANY alternative {alternative_name}")
            for tag in alternative.tags:
                if tag in self.by_tag:
                    raise TypeError(f"{name}: tag {tag} of {alternative_name} is already taken")
                self.by_tag[tag] = (alternative_name, alternative)
        self.tags = frozenset(self.by_tag)

    def encode(self, value: tuple[str, object]) -> bytes:
        if not isinstance(value, tuple) or len(value) != 2:
            raise EncodeError(f"{self.name} needs an (alternative, value) tuple, got {value!r}")
        alternative_name, alternative_value = value
        alternative = self.alternatives.get(alternative_name)
        if alternative is None:
            raise EncodeError(f"{alternative_name!r} is not one of {', '.join(self.alternatives)}")
        try:
            return alternative.encode(alternative_value)
        except (EncodeError, TypeError, ValueError, AttributeError) as error:
            raise _located_encode_error(error, alternative_name) from None

    def decode(self, node: Node) -> tuple[str, object]:
        entry = self.by_tag.get((node.cls, node.number))
        if entry is None:
            raise DecodeError(f"{describe_tag(node)} is no alternative of {self.name}")
        alternative_name, alternative = entry
        try:
            return alternative_name, alternative.decode(node)
        except BERError as error:
            raise _located_decode_error(error, alternative_name) from None


class Tagged(Type):
    """[class number] IMPLICIT or EXPLICIT around another type.

    Decoding accepts either tagging whenever the element's shape tells them apart, so a peer
    whose compiler got the module's tagging default wrong is still understood.
    """

    def __init__(self, number: int, inner: Type, implicit: bool, cls: int = CONTEXT):
        if implicit and inner.identifier is None:
            raise TypeError(f"[{number}] IMPLICIT {inner.name}: a CHOICE or ANY cannot be "
                            "tagged implicitly")
        tag = f"{'APPLICATION ' if cls == APPLICATION else ''}{number}"
        self.name = f"[{tag}] {'IMPLICIT ' if implicit else ''}{inner.name}"
        self.number = number
        self.inner = inner
        self.implicit = implicit
        self.tags = frozenset({(cls, number)})
        self.constructed = inner.constructed if implicit else True
        self.identifier = identifier(cls, self.constructed, number)
        self._may_be_implicit = inner.identifier is not None

    def content(self, value) -> bytes:
        return self.inner.content(value) if self.implicit else self.inner.encode(value)

    def decode(self, node: Node):
        inner = self.inner
        if self._looks_explicit(node):
            return inner.decode(node.children[0])
        if self.implicit or self._may_be_implicit:
            return inner.decode(node)
        raise DecodeError(f"{self.name} must hold one element, found "
                          f"{', '.join(map(describe_tag, node.children)) or 'none'}")

    def _looks_explicit(self, node: Node) -> bool:
        """Whether `node` wraps one element of the inner type rather than holding its content.

        Only a SEQUENCE OF SEQUENCEs is ambiguous (one element, implicitly tagged, looks like
        the whole list explicitly tagged); there the wrapped element's own content decides.
        """
        if not node.constructed or len(node.children) != 1:
            return False
        child = node.children[0]
        inner = self.inner
        if inner.tags is not None and (child.cls, child.number) not in inner.tags:
            return False
        content_tags = inner.content_tags
        if content_tags is None or not child.children:
            return True
        if (child.cls, child.number) not in content_tags:
            return True
        grandchild = child.children[0]
        return (grandchild.cls, grandchild.number) in content_tags


def implicit(number: int, inner: Type) -> Tagged:
    return Tagged(number, inner, implicit=True)


def explicit(number: int, inner: Type, cls: int = CONTEXT) -> Tagged:
    return Tagged(number, inner, implicit=False, cls=cls)


_NO_DEFAULT = object()


@dataclass(frozen=True)
class Component:
    """One component of a SEQUENCE: mandatory unless `optional` or given a `default`."""

    name: str
    type: Type
    optional: bool = False
    default: object = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


class Sequence(_Universal):
    """SEQUENCE as a dict. Components are matched by tag, so each must have tags of its own."""

    def __init__(self, name: str, *components: Component):
        super().__init__(name, SEQUENCE, constructed=True)
        self.components = components
        self.names = frozenset(component.name for component in components)
        self.by_tag: dict[tuple[int, int], Component] = {}
        for component in components:
            if component.type.tags is None:
                raise TypeError(f"{name}.{component.name}: an untagged ANY has no tag to match")
            for tag in component.type.tags:
                if tag in self.by_tag:
                    raise TypeError(f"{name}.{component.name}: tag {tag} is already taken")
                self.by_tag[tag] = component
        self.content_tags = frozenset(self.by_tag)

    def content(self, value: dict) -> bytes:
        if not isinstance(value, dict):
            raise EncodeError(f"{self.name} needs a dict, got {value!r}")
        if not value.keys() <= self.names:
            raise EncodeError(f"{self.name} has no {', '.join(sorted(value.keys() - self.names))}")
        parts = []
        for component in self.components:
            field = value.get(component.name)
            if field is None:
                if component.has_default:
                    field = component.default
                elif component.optional:
                    continue
                else:
                    raise EncodeError(f"missing {component.name}")
            try:
                parts.append(component.type.encode(field))
            except (EncodeError, TypeError, ValueError, AttributeError) as error:
                raise _located_encode_error(error, component.name) from None
        return b"".join(parts)

    def decode(self, node: Node) -> dict:
        if not node.constructed:
            raise DecodeError(f"{self.name} must be constructed")
        value = {}
        for child in node.children:
            component = self.by_tag.get((child.cls, child.number))
            if component is None:
                continue  # a component this schema does not know: skipped
            name = component.name
            if name in value:
                raise DecodeError(f"{name} appears twice")
            try:
                value[name] = component.type.decode(child)
            except BERError as error:
                raise _located_decode_error(error, name) from None
        if len(value) < len(self.components):
            for component in self.components:
                if component.name not in value:
                    if component.has_default:
                        value[component.name] = component.default
                    elif not component.optional:
                        raise DecodeError(f"missing {component.name}")
        return value


class SequenceOf(_Universal):
    """SEQUENCE OF as a list."""

    def __init__(self, element: Type, name: str | None = None):
        super().__init__(name or f"SEQUENCE OF {element.name}", SEQUENCE, constructed=True)
        self.element = element
        self.content_tags = element.tags

    def content(self, value: list) -> bytes:
        if not isinstance(value, (list, tuple)):
            raise EncodeError(f"{self.name} needs a list, got {value!r}")
        parts = []
        for index, item in enumerate(value):
            try:
                parts.append(self.element.encode(item))
            except (EncodeError, TypeError, ValueError, AttributeError) as error:
                raise _located_encode_error(error, f"[{index}]") from None
        return b"".join(parts)

    def decode(self, node: Node) -> list:
        if not node.constructed:
            raise DecodeError(f"{self.name} must be constructed")
        element = self.element
        tags = element.tags
        items = []
        for index, child in enumerate(node.children):
            try:
                if tags is not None and (child.cls, child.number) not in tags:
                    raise DecodeError(f"{describe_tag(child)} is no {element.name}")
                items.append(element.decode(child))
            except BERError as error:
                raise _located_decode_error(error, f"[{index}]") from None
        return items
