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
