"""The XMP packet made true of the upscaled picture (vsr.xmp_packet), its text edited in
place."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from vsr.xmp_packet import xmp_for_output

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
