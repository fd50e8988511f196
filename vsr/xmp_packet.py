"""A picture's XMP packet (what Lightroom, Photoshop and phones write: creator, rights,
keywords, rating, captions) made true of the upscaled picture before it is written.

The packet describes the source, so what it states of the pixels changes: the orientation
goes (the pixels are already upright: vsr turns them by this one, `xmp_orientation`, where
EXIF states none; vsr.orientation), the pixel dimensions and the resolution (Photoshop's
tiff:XResolution, in every packet) become the output's, the colour mode is the output's
and the profile's name goes where the colours were converted (CMYK to RGB), and the
embedded thumbnails, which show the old picture, go, as does what a phone states of data
appended to its JPEG (a motion photo's video, a gain map), which the output has not. Each is an attribute of a top-level
rdf:Description or a child element of it; the same names inside a structure (another
document's, in a history or a pantry) are left alone. The packet's text is edited in place, so everything else stays
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
_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
_ORIENTATION = (_TIFF, "Orientation")
_LEFT_OUT = {_ORIENTATION, (_XMP, "Thumbnails")}
_WIDTHS = {(_TIFF, "ImageWidth"), (_EXIF, "PixelXDimension")}
_HEIGHTS = {(_TIFF, "ImageLength"), (_EXIF, "PixelYDimension")}
_RESOLUTIONS = ((_TIFF, "XResolution"), (_TIFF, "YResolution"))
# Photoshop's colour mode (1 grey, 3 RGB; 4 CMYK, 9 Lab and the rest vsr reads as RGB) and
# the name of the colour profile.
_COLOUR_MODE, _PROFILE_NAME = (_PHOTOSHOP, "ColorMode"), (_PHOTOSHOP, "ICCProfile")
# What Android's cameras state of data they append to the JPEG after its end (a motion
# photo's video, an Ultra HDR gain map), which vsr does not write: readers would look for
# it at offsets counted from the end of the file, and find JPEG bytes.
_GCAMERA = "http://ns.google.com/photos/1.0/camera/"
_APPENDED_DATA_GCAMERA = ("MotionPhoto", "MicroVideo")  # the starts of their names
_CONTAINER_DIRECTORY = ("http://ns.google.com/photos/1.0/container/", "Directory")
_HDR_GAIN_MAP = "http://ns.adobe.com/hdr-gain-map/1.0/"
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


def xmp_for_output(
    packet: bytes,
    width: int,
    height: int,
    scale: int = 1,
    quarter_turn: bool = False,
    grey: bool = False,
    profile_kept: bool = True,
) -> bytes:
    """`packet` made true of the picture upscaled by `scale` to width x height: without its
    orientation and thumbnails, stating these dimensions where it states any, its
    resolution (tiff:XResolution, YResolution) times the scale, x and y swapped where the
    picture was turned a `quarter_turn`, the colour mode of `grey` or RGB pixels, and
    without the colour profile's name where the profile is not `profile_kept`. A UTF-16 or
    UTF-32 packet comes back in UTF-8, the encoding PNG and WebP require; NULs after it (a
    C string's end, which some writers store) are left out. Raises MalformedXmp for a
    packet that is not well-formed XML."""
    text = _utf8(packet).rstrip(b"\0")
    stated = _top_level_values(text)
    changes: dict[tuple[str, str], bytes | None] = {
        **dict.fromkeys(_LEFT_OUT),
        **dict.fromkeys(_WIDTHS, b"%d" % width),
        **dict.fromkeys(_HEIGHTS, b"%d" % height),
        _COLOUR_MODE: b"1" if grey else b"3",
    }
    x, y = (stated.get(name) for name in _RESOLUTIONS)
    if quarter_turn:  # the x resolution stated is the upright picture's y
        x, y = y or x, x or y
    for name, value in zip(_RESOLUTIONS, (x, y), strict=True):
        if name in stated and (times := _times(value, scale)):
            changes[name] = times
    if not profile_kept:
        changes[_PROFILE_NAME] = None
    changes.update((name, None) for name in stated if _of_appended_data(name))
    return _edited(text, changes)


def _of_appended_data(name: tuple[str, str]) -> bool:
    """Whether a property describes data appended to a JPEG (a motion photo's video, a
    gain map), which an output of vsr has not."""
    namespace, local = name
    return (
        namespace == _HDR_GAIN_MAP
        or name == _CONTAINER_DIRECTORY
        or (namespace == _GCAMERA and local.startswith(_APPENDED_DATA_GCAMERA))
    )


def without_profile_name(packet: bytes) -> bytes:
    """`packet` (UTF-8) without the name of its colour profile, for an output that has
    not that profile."""
    return _edited(packet, {_PROFILE_NAME: None})


def _edited(text: bytes, changes: dict[tuple[str, str], bytes | None]) -> bytes:
    for start, end, replacement in sorted(_edits(text, changes), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _times(value: str | None, scale: int) -> bytes | None:
    """A resolution, a rational ("3000000/10000", as Photoshop writes it) or a number,
    multiplied by `scale`, written as it was; None for one that is neither."""
    number, over, denominator = (value or "").strip().partition("/")
    try:
        if over:
            return b"%d/%s" % (int(number) * scale, denominator.strip().encode())
        times = float(number) * scale
    except ValueError:
        return None
    return b"%d" % times if times.is_integer() and "." not in number else repr(times).encode()


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
        value = _top_level_values(_utf8(packet).rstrip(b"\0")).get(_ORIENTATION, "").strip()
    except MalformedXmp:
        return None
    return int(value) if value in ("1", "2", "3", "4", "5", "6", "7", "8") else None


def _top_level_values(text: bytes) -> dict[tuple[str, str], str]:
    """The properties of the picture itself that `text` (UTF-8) states: the attributes
    and the child elements of its top-level rdf:Descriptions, the first of each name, with
    its text ("" for a structure). Raises MalformedXmp for text that is not XML."""
    parser = xml.parsers.expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    open_names: list[tuple[str, str]] = []
    values: dict[tuple[str, str], str] = {}
    element_text: list[str] = []  # the text of a property element, as its pieces come
    has_children: list[bool] = []  # of each element we are in

    def element_starts(name: str, attributes: dict[str, str]) -> None:
        if open_names[-1:] + [_namespaced(name)] == _DESCRIPTION:
            for key, value in attributes.items():
                values.setdefault(_namespaced(key), value)
        element_text.clear()
        if has_children:
            has_children[-1] = True
        open_names.append(_namespaced(name))
        has_children.append(False)

    def element_ends(name: str) -> None:
        if open_names[-3:-1] == _DESCRIPTION:
            value = "" if has_children[-1] else "".join(element_text)  # a structure: ""
            values.setdefault(open_names[-1], value)
        element_text.clear()
        open_names.pop()
        has_children.pop()

    parser.StartElementHandler = element_starts
    parser.EndElementHandler = element_ends
    parser.CharacterDataHandler = element_text.append
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as error:
        raise MalformedXmp(str(error)) from None
    return values


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


def _edits(text: bytes, changes: dict[tuple[str, str], bytes | None]) -> list[Edit]:
    """The edits to `text` (UTF-8) that make each of the picture's own properties named in
    `changes` the value given, or leave it out (None), found by expat, which also checks it
    is XML."""
    parser = xml.parsers.expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.namespace_prefixes = True  # names come as "uri local prefix", as written
    open_names: list[tuple[str, str]] = []  # the elements we are in, outermost first
    start_tags: list[tuple[int, int]] = []  # where their start tags begin and end
    edits: list[Edit] = []

    def element_starts(name: str, attributes: dict[str, str]) -> None:
        begin = parser.CurrentByteIndex
        end = _tag_end(text, begin)
        if open_names[-1:] + [_namespaced(name)] == _DESCRIPTION:
            edits.extend(_attribute_edits(text, (begin, end), attributes, changes))
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
        if property_name not in changes:
            return
        if changes[property_name] is None:
            after = tag_end if self_closed else text.index(b">", closing) + 1
            edits.append((_line_start(text, begin), after, b""))
        else:
            value = text[tag_end:closing]
            if value.strip() and b"<" not in value:  # a value, not a structure
                first = tag_end + len(value) - len(value.lstrip())
                edits.append((first, first + len(value.strip()), changes[property_name]))

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
    changes: dict[tuple[str, str], bytes | None],
) -> list[Edit]:
    """The edits to the attributes of the rdf:Description whose start tag is
    text[tag[0]:tag[1]]: one left out (None) goes with the space before it, another
    changed gets its new value."""
    by_written_name = {
        _written(name): changes[_namespaced(name)]
        for name in attributes
        if _namespaced(name) in changes
    }
    edits = []
    begin, end = tag
    at = re.compile(rb"<[^\s/>]*").match(text, begin).end()  # past the element's name
    while match := _ATTRIBUTE.match(text, at, end):
        if match[1] in by_written_name:
            value = by_written_name[match[1]]
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
