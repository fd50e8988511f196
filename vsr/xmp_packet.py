"""A picture's XMP packet (what Lightroom, Photoshop and phones write: creator, rights,
keywords, rating, captions) made true of the upscaled picture before it is written.

The packet describes the source, so three of its statements change: the orientation goes
(the pixels are already upright: vsr turns them by this one, `xmp_orientation`, where EXIF
states none; vsr.orientation), the pixel dimensions become the output's, and the embedded thumbnails, which
show the old picture, go. Each is an attribute of a top-level rdf:Description or a child
element of it; the same names inside a structure (another document's, in a history or a
pantry) are left alone. The packet's text is edited in place, so everything else stays
byte for byte: read into a tree and written out again, it would have its namespace
prefixes renamed (ns0:, ns1:).
"""

from __future__ import annotations

import re
import xml.parsers.expat

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_TIFF = "http://ns.adobe.com/tiff/1.0/"
_EXIF = "http://ns.adobe.com/exif/1.0/"
_XMP = "http://ns.adobe.com/xap/1.0/"
_DESCRIPTION = [(_RDF, "RDF"), (_RDF, "Description")]  # the elements around a property
_ORIENTATION = (_TIFF, "Orientation")
_LEFT_OUT = {_ORIENTATION, (_XMP, "Thumbnails")}
_WIDTHS = {(_TIFF, "ImageWidth"), (_EXIF, "PixelXDimension")}
_HEIGHTS = {(_TIFF, "ImageLength"), (_EXIF, "PixelYDimension")}
# One attribute of a start tag, with the white space before it: its name and quoted value.
_ATTRIBUTE = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")
# How a packet in UTF-32 or UTF-16 (which XMP allows) begins, with or without a byte order
# mark, as XML tells encodings apart; any other is UTF-8.
_WIDE_ENCODINGS = (
    ((b"\x00\x00\xfe\xff", b"\x00\x00\x00<"), "utf-32-be"),
    ((b"\xff\xfe\x00\x00", b"<\x00\x00\x00"), "utf-32-le"),
    ((b"\xfe\xff", b"\x00<"), "utf-16-be"),
    ((b"\xff\xfe", b"<\x00"), "utf-16-le"),
)

# The encoding an XML declaration names, which can only open the text.
_DECLARED_ENCODING = re.compile(r"""\A(<\?xml\s[^>]*?\bencoding\s*=\s*["'])[^"']*(["'])""")

# The padding before a packet's trailer (XMP specification, part 1, 7.3.2).
_PADDING = re.compile(rb"[ \t\r\n]+(<\?xpacket\s+end\s*=[^>]*\?>[ \t\r\n]*)\Z")

Edit = tuple[int, int, bytes]  # text[start:end] becomes these bytes


class MalformedXmp(ValueError):
    """The packet is not well-formed XML (readers would refuse it)."""


def xmp_for_output(packet: bytes, width: int, height: int) -> bytes:
    """`packet` made true of the upscaled picture of width x height: without its
    orientation and thumbnails, and stating these dimensions where it states any. A
    UTF-16 or UTF-32 packet comes back in UTF-8, the encoding PNG and WebP require; NULs
    after it (a C string's end, which some writers store) are left out. Raises
    MalformedXmp for a packet that is not well-formed XML."""
    text = _utf8(packet).rstrip(b"\0")
    for start, end, replacement in sorted(_edits(text, width, height), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def xmp_orientation(packet: bytes | None) -> int | None:
    """The orientation (EXIF's meaning, 1 to 8) the packet states of the picture itself:
    the tiff:Orientation of a top-level rdf:Description, as an attribute (either quote) or
    an element, under whatever prefix the file binds to the TIFF namespace, in any of the
    encodings XMP allows. None where it states none, or for a packet that is not XML. One
    inside a structure (a placed document's in a pantry, an ancestor's) is another
    picture's, and not this one's: Pillow's getexif takes the first "tiff:Orientation" of
    the text wherever it is, and misses one written otherwise."""
    if not packet:
        return None
    try:
        text = _utf8(packet).rstrip(b"\0")
    except MalformedXmp:
        return None
    parser = xml.parsers.expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    open_names: list[tuple[str, str]] = []
    stated: list[str] = []  # the values found, an element's as its text pieces come

    def element_starts(name: str, attributes: dict[str, str]) -> None:
        if open_names[-1:] + [_namespaced(name)] == _DESCRIPTION:
            stated.extend(v for k, v in attributes.items() if _namespaced(k) == _ORIENTATION)
        elif open_names[-2:] == _DESCRIPTION and _namespaced(name) == _ORIENTATION:
            stated.append("")
            parser.CharacterDataHandler = lambda data: stated.append(stated.pop() + data)
        open_names.append(_namespaced(name))

    def element_ends(name: str) -> None:
        open_names.pop()
        parser.CharacterDataHandler = None

    parser.StartElementHandler = element_starts
    parser.EndElementHandler = element_ends
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError:
        return None
    value = stated[0].strip() if stated else ""
    return int(value) if value in ("1", "2", "3", "4", "5", "6", "7", "8") else None


def without_padding(packet: bytes) -> bytes:
    """`packet` without the white space before its closing <?xpacket end=...?>, which is
    there only to let an editor grow the packet in place (often 2 KB, Adobe's default), a
    line break left; the packet as it is without a trailer."""
    return _PADDING.sub(rb"\n\1", packet, 1)


def _utf8(packet: bytes) -> bytes:
    for starts, encoding in _WIDE_ENCODINGS:
        if packet.startswith(starts):
            try:
                text = packet.decode(encoding)
            except UnicodeDecodeError as error:
                raise MalformedXmp(str(error)) from None
            # The byte order mark told the wide encoding apart; an XML declaration that
            # names it would make the UTF-8 text unreadable ("encoding specified in XML
            # declaration is incorrect"), so it names UTF-8.
            text = _DECLARED_ENCODING.sub(r"\g<1>UTF-8\g<2>", text.removeprefix("\ufeff"), 1)
            return text.encode("utf-8")
    return packet


def _edits(text: bytes, width: int, height: int) -> list[Edit]:
    """The changes to `text` (UTF-8), found by expat, which also checks it is XML."""
    parser = xml.parsers.expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.namespace_prefixes = True  # names come as "uri local prefix", as written
    sizes = {**dict.fromkeys(_WIDTHS, width), **dict.fromkeys(_HEIGHTS, height)}
    open_names: list[tuple[str, str]] = []  # the elements we are in, outermost first
    start_tags: list[tuple[int, int]] = []  # where their start tags begin and end
    edits: list[Edit] = []

    def element_starts(name: str, attributes: dict[str, str]) -> None:
        begin = parser.CurrentByteIndex
        end = _tag_end(text, begin)
        if open_names[-1:] + [_namespaced(name)] == _DESCRIPTION:
            edits.extend(_attribute_edits(text, (begin, end), attributes, sizes))
        open_names.append(_namespaced(name))
        start_tags.append((begin, end))

    def element_ends(name: str) -> None:
        begin, tag_end = start_tags.pop()
        open_names.pop()
        if open_names[-2:] != _DESCRIPTION:
            return  # no property of the picture itself
        property_name = _namespaced(name)
        self_closed = text[tag_end - 2 : tag_end] == b"/>"
        closing = tag_end if self_closed else parser.CurrentByteIndex  # where "</" begins
        if property_name in _LEFT_OUT:
            after = tag_end if self_closed else text.index(b">", closing) + 1
            edits.append((_line_start(text, begin), after, b""))
        elif property_name in sizes:
            value = text[tag_end:closing]
            if value.strip() and b"<" not in value:  # a number, not a structure
                first = tag_end + len(value) - len(value.lstrip())
                edits.append((first, first + len(value.strip()), b"%d" % sizes[property_name]))

    parser.StartElementHandler = element_starts
    parser.EndElementHandler = element_ends
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as error:
        raise MalformedXmp(str(error)) from None
    return edits


def _namespaced(name: str) -> tuple[str, str]:
    """(namespace, local name) of expat's "uri local prefix" ("local": no namespace)."""
    parts = name.split(" ")
    return (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])


def _written(name: str) -> bytes:
    """The name as the tag writes it, "prefix:local", from expat's "uri local prefix"."""
    parts = name.split(" ")
    return (f"{parts[2]}:{parts[1]}" if len(parts) == 3 else parts[-1]).encode()


def _tag_end(text: bytes, begin: int) -> int:
    """Where the tag that begins at `begin` ends, after its ">" (one in a quoted
    attribute value is no end)."""
    quote = b""
    for at in range(begin, len(text)):
        char = text[at : at + 1]
        if quote:
            quote = b"" if char == quote else quote
        elif char in (b'"', b"'"):
            quote = char
        elif char == b">":
            return at + 1
    return len(text)


def _attribute_edits(
    text: bytes,
    tag: tuple[int, int],
    attributes: dict[str, str],
    sizes: dict[tuple[str, str], int],
) -> list[Edit]:
    """The changes to the attributes of the rdf:Description whose start tag is
    text[tag[0]:tag[1]]: a left-out one goes with the space before it, a size becomes the
    output's."""
    changes = {}
    for name in attributes:
        if _namespaced(name) in _LEFT_OUT:
            changes[_written(name)] = None
        elif _namespaced(name) in sizes:
            changes[_written(name)] = b"%d" % sizes[_namespaced(name)]
    edits = []
    begin, end = tag
    at = re.compile(rb"<[^\s/>]*").match(text, begin).end()  # past the element's name
    while match := _ATTRIBUTE.match(text, at, end):
        if match[1] in changes:
            value = changes[match[1]]
            if value is None:
                edits.append((match.start(), match.end(), b""))
            else:
                edits.append((match.start(2) + 1, match.end(2) - 1, value))
        at = match.end()
    return edits


def _line_start(text: bytes, begin: int) -> int:
    """Where the line of an element that begins at `begin` starts, if only white space
    is before it there, so that removing the element leaves no blank line; else `begin`."""
    line_start = begin
    while line_start > 0 and text[line_start - 1 : line_start] in (b" ", b"\t"):
        line_start -= 1
    if text[line_start - 1 : line_start] == b"\n":
        return line_start - 1 - (text[line_start - 2 : line_start - 1] == b"\r")
    return begin
