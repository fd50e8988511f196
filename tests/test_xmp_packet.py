"""The XMP packet made true of the upscaled picture (vsr.xmp_packet), its text edited in
place."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from vsr.xmp_packet import xmp_for_output, xmp_orientation

_PACKET = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/tiff"/></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_wide_packet_made_utf_8_declares_utf_8(encoding, quote):
    # A UTF-16 packet with an XML declaration kept encoding="UTF-16" in UTF-8 text, which
    # ElementTree, minidom and expat refuse: "encoding specified in XML declaration is
    # incorrect".
    declaration = f"<?xml version={quote}1.0{quote} encoding={quote}UTF-16{quote}?>\n"
    written = xmp_for_output((declaration + _PACKET).encode(encoding), 24, 40)
    expected = declaration.replace("UTF-16", "UTF-8") + _PACKET
    assert written == expected.encode()
    ElementTree.fromstring(written)


def test_a_utf_8_packet_s_declaration_stays_as_it_is():
    packet = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>' + _PACKET).encode()
    assert xmp_for_output(packet, 24, 40) == packet


_PHOTOSHOP_PACKET = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
 tiff:XResolution="{x}" photoshop:ColorMode="{mode}"
 photoshop:ICCProfile="U.S. Web Coated (SWOP) v2">
 <tiff:YResolution>{y}</tiff:YResolution>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize(
    ("stated", "turned", "written"),
    [
        (("3000000/10000", "1500000/10000"), False, ("6000000/10000", "3000000/10000")),
        (("3000000/10000", "1500000/10000"), True, ("3000000/10000", "6000000/10000")),
        (("300", "72.5"), False, ("600", "145.0")),
    ],
)
def test_the_xmp_resolution_is_the_outputs(stated, turned, written):
    # The file's resolution was scaled with the pixels (300 dpi x2: 600) while the XMP
    # beside it, which Photoshop writes in every packet, still said 300.
    packet = _PHOTOSHOP_PACKET.format(x=stated[0], y=stated[1], mode=3)
    expected = _PHOTOSHOP_PACKET.format(x=written[0], y=written[1], mode=3)
    assert xmp_for_output(packet.encode(), 24, 40, 2, quarter_turn=turned) == expected.encode()


@pytest.mark.parametrize(("grey", "mode"), [(False, "3"), (True, "1")])
def test_converted_colours_state_their_mode_and_no_profile_name(grey, mode):
    # A CMYK source's RGB output said photoshop:ColorMode="4" (CMYK) and named the
    # source's CMYK profile, which it has not.
    packet = _PHOTOSHOP_PACKET.format(x=300, y=300, mode=4).encode()
    expected = _PHOTOSHOP_PACKET.format(x=300, y=300, mode=mode)
    expected = expected.replace('\n photoshop:ICCProfile="U.S. Web Coated (SWOP) v2"', "")
    assert xmp_for_output(packet, 24, 40, grey=grey, profile_kept=False) == expected.encode()
    kept = xmp_for_output(packet, 24, 40)
    assert b'ColorMode="3"' in kept and b"ICCProfile" in kept


_ANDROID = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
    xmlns:Container="http://ns.google.com/photos/1.0/container/"
    xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
    xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"{attributes}
    GCamera:SpecialTypeID="p">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Beach</rdf:li></rdf:Alt></dc:title>{elements}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""
_APPENDED_ATTRIBUTES = """
    hdrgm:Version="1.0" GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1"
    GCamera:MicroVideo="1" GCamera:MicroVideoOffset="1500000\""""
_APPENDED_ELEMENTS = """
   <hdrgm:GainMapMax>2.3</hdrgm:GainMapMax>
   <Container:Directory><rdf:Seq><rdf:li rdf:parseType="Resource"><Container:Item
    Item:Semantic="MotionPhoto" Item:Mime="video/mp4" Item:Length="1500000"/></rdf:li>
   </rdf:Seq></Container:Directory>"""


def test_what_describes_data_appended_to_a_jpeg_goes():
    # A phone's motion photo or Ultra HDR JPEG states a video and a gain map appended after
    # the picture, at offsets from the end of the file; its 3 KB output, which has neither,
    # still stated them, so readers would take JPEG bytes for them.
    packet = _ANDROID.format(attributes=_APPENDED_ATTRIBUTES, elements=_APPENDED_ELEMENTS)
    written = xmp_for_output(packet.encode(), 24, 40)
    assert written == _ANDROID.format(attributes="", elements="").encode()


_PROPERTIES = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"{attributes}>{elements}
   <dc:format>image/jpeg</dc:format>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


def test_a_self_closed_property_left_out_goes_to_its_own_end():
    # Cut at the next '>', the removal took the start of the element after it with it:
    # 'xmlns:photoshop="...">image/jpeg</dc:format>', no longer well-formed.
    elements = '\n   <tiff:Orientation rdf:value="6"/>\n   <xmp:Thumbnails/>'
    packet = _PROPERTIES.format(attributes="", elements=elements)
    written = xmp_for_output(packet.encode(), 24, 40)
    assert written == _PROPERTIES.format(attributes="", elements="").encode()
    ElementTree.fromstring(written)


def test_a_line_left_out_of_a_crlf_packet_leaves_no_stray_carriage_return():
    # Windows writers end lines with CRLF; the line's "\n" went with the element and its
    # "\r" stayed: "\r\r\n".
    elements = "\n   <tiff:Orientation>6</tiff:Orientation>\n   <xmp:Thumbnails/>"
    packet = _PROPERTIES.format(attributes="", elements=elements).replace("\n", "\r\n")
    expected = _PROPERTIES.format(attributes="", elements="").replace("\n", "\r\n")
    assert xmp_for_output(packet.encode(), 24, 40) == expected.encode()


def test_a_greater_than_sign_in_a_single_quoted_attribute_ends_no_tag():
    # The description's start tag was taken to end at the '>' of 'Sun > rain', and the
    # orientation after it was kept on the turned pixels.
    headline = "\n    photoshop:Headline='Sun > rain'"
    packet = _PROPERTIES.format(attributes=headline + ' tiff:Orientation="6"', elements="")
    expected = _PROPERTIES.format(attributes=headline, elements="")
    assert xmp_for_output(packet.encode(), 24, 40) == expected.encode()


def test_every_size_property_states_the_outputs_size_and_a_structure_stays():
    # tiff:ImageWidth kept the source's width beside the output's tiff:ImageLength; a
    # size that holds a structure (no number to replace) is left as it is.
    sizes = ' tiff:ImageWidth="20"\n    tiff:ImageLength="12"'
    structure = (
        "\n   <xmp:PageInfo><tiff:ImageWidth>7</tiff:ImageWidth></xmp:PageInfo>"
        '\n   <tiff:ImageWidth><rdf:Alt><rdf:li xml:lang="x-default">20</rdf:li></rdf:Alt>'
        "</tiff:ImageWidth>"
    )
    packet = _PROPERTIES.format(attributes=sizes, elements="")
    expected = _PROPERTIES.format(
        attributes=sizes.replace("20", "24").replace("12", "40"), elements=""
    )
    assert xmp_for_output(packet.encode(), 24, 40) == expected.encode()
    packet = _PROPERTIES.format(attributes="", elements=structure)
    assert xmp_for_output(packet.encode(), 24, 40) == packet.encode()


def test_nuls_after_a_packet_are_left_out():
    # Some writers store the packet as a C string, its NUL included, which expat refuses
    # ("junk after document element"): the XMP was dropped as not well-formed.
    packet = _PROPERTIES.format(attributes="", elements="").encode()
    assert xmp_for_output(packet + b"\0\0", 24, 40) == packet


def test_a_turned_picture_s_one_stated_resolution_is_scaled_all_the_same():
    # A packet stating tiff:XResolution alone states the upright picture's y resolution
    # there too (both are one number in such files): swapped with nothing, it stayed 300.
    packet = _PROPERTIES.format(attributes=' tiff:XResolution="300"', elements="")
    expected = _PROPERTIES.format(attributes=' tiff:XResolution="600"', elements="")
    assert xmp_for_output(packet.encode(), 24, 40, 2, quarter_turn=True) == expected.encode()


_TWO_DESCRIPTIONS = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
   xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">
  <rdf:Description rdf:about=""{first}>
   <xmpMM:History><rdf:Seq><rdf:li><rdf:Description>
    <tiff:Orientation>6</tiff:Orientation>
   </rdf:Description></rdf:li></rdf:Seq></xmpMM:History>
  </rdf:Description>
  <rdf:Description rdf:about=""{second}/>
 </rdf:RDF>
</x:xmpmeta>"""


@pytest.mark.parametrize(
    ("first", "second", "orientation"),
    [
        # An ancestor's orientation, in a nested rdf:Description of the history, is not
        # the picture's: it would turn an upright picture.
        ("", "", None),
        # The first statement of a property is the picture's, as Pillow reads the first.
        (' tiff:Orientation="8"', ' tiff:Orientation="3"', 8),
        ("", ' tiff:Orientation="3"', 3),
    ],
)
def test_the_orientation_is_the_first_a_top_level_description_states(first, second, orientation):
    packet = _TWO_DESCRIPTIONS.format(first=first, second=second).encode()
    assert xmp_orientation(packet) == orientation
