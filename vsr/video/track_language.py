"""A track's language as the output container can store it.

Matroska keeps any language tag, BCP 47 included ("pt-BR", "zh-Hans", "en": what
mkvmerge writes and libav reads back). MP4 stores only three-letter ISO 639-2 codes and
MOV only those of QuickTime's own list ("fra" but not "fre"); libav's muxers write any
other tag as undetermined without a word. `vsr run film.mkv film.mp4` lost "pt-BR" and
"en-US" that way, and `film.mov` a Matroska "fre" too, so players listed the tracks as
"Unknown". The language now goes in as the first of these forms the container keeps: the
tag, its language subtag, a two-letter code's three letters, the other spelling of the
twenty languages ISO 639-2 spells twice (bibliographic "fre", terminology "fra"). What a
container keeps is measured (a throw-away file in memory, read back:
vsr.video.muxer_probe), as it changes with the libav version. A region or script that does not fit, or a language that does not, is
named in a note.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av

from vsr.video.muxer_probe import TEXT_PACKETS, read_back, text_codec

# ISO 639-1 two-letter codes and their ISO 639-2/T three-letter codes.
_TWO_TO_THREE = """
    aa:aar ab:abk ae:ave af:afr ak:aka am:amh an:arg ar:ara as:asm av:ava ay:aym az:aze
    ba:bak be:bel bg:bul bi:bis bm:bam bn:ben bo:bod br:bre bs:bos ca:cat ce:che ch:cha
    co:cos cr:cre cs:ces cu:chu cv:chv cy:cym da:dan de:deu dv:div dz:dzo ee:ewe el:ell
    en:eng eo:epo es:spa et:est eu:eus fa:fas ff:ful fi:fin fj:fij fo:fao fr:fra fy:fry
    ga:gle gd:gla gl:glg gn:grn gu:guj gv:glv ha:hau he:heb hi:hin ho:hmo hr:hrv ht:hat
    hu:hun hy:hye hz:her ia:ina id:ind ie:ile ig:ibo ii:iii ik:ipk io:ido is:isl it:ita
    iu:iku ja:jpn jv:jav ka:kat kg:kon ki:kik kj:kua kk:kaz kl:kal km:khm kn:kan ko:kor
    kr:kau ks:kas ku:kur kv:kom kw:cor ky:kir la:lat lb:ltz lg:lug li:lim ln:lin lo:lao
    lt:lit lu:lub lv:lav mg:mlg mh:mah mi:mri mk:mkd ml:mal mn:mon mr:mar ms:msa mt:mlt
    my:mya na:nau nb:nob nd:nde ne:nep ng:ndo nl:nld nn:nno no:nor nr:nbl nv:nav ny:nya
    oc:oci oj:oji om:orm or:ori os:oss pa:pan pi:pli pl:pol ps:pus pt:por qu:que rm:roh
    rn:run ro:ron ru:rus rw:kin sa:san sc:srd sd:snd se:sme sg:sag si:sin sk:slk sl:slv
    sm:smo sn:sna so:som sq:sqi sr:srp ss:ssw st:sot su:sun sv:swe sw:swa ta:tam te:tel
    tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn to:ton tr:tur ts:tso tt:tat tw:twi ty:tah
    ug:uig uk:ukr ur:urd uz:uzb ve:ven vi:vie vo:vol wa:wln wo:wol xh:xho yi:yid yo:yor
    za:zha zh:zho zu:zul
"""
_THREE_LETTERS = dict(pair.split(":") for pair in _TWO_TO_THREE.split())
# The languages ISO 639-2 spells twice: bibliographic and terminology codes, both ways.
_BIBLIOGRAPHIC_TERMINOLOGY = """
    alb:sqi arm:hye baq:eus bur:mya chi:zho cze:ces dut:nld fre:fra geo:kat ger:deu
    gre:ell ice:isl mac:mkd mao:mri may:msa per:fas rum:ron slo:slk tib:bod wel:cym
"""
_BIBLIOGRAPHIC = dict(pair.split(":") for pair in _BIBLIOGRAPHIC_TERMINOLOGY.split())
_OTHER_SPELLING = {**_BIBLIOGRAPHIC, **{t: b for b, t in _BIBLIOGRAPHIC.items()}}
_UNDETERMINED = frozenset({"", "und"})


@cache
def container_keeps(container_format: str, language: str) -> bool | None:
    """Whether a `container_format` file reads back `language` as written on a track;
    None when that cannot be measured (a container that takes no plain text track)."""

    def add_track(probe: av.container.OutputContainer) -> list:
        codec = text_codec(probe)
        if codec is None:
            return []
        track = probe.add_mux_stream(codec)
        track.metadata["language"] = language
        return [(track, TEXT_PACKETS[codec])]

    def kept(read: list[av.stream.Stream]) -> bool:
        return read[0].metadata.get("language") == language

    return read_back(container_format, add_track, "subtitle", kept)


def _candidates(language: str) -> list[str]:
    """`language` and the ISO 639-2 forms of its language, in the order to try them."""
    primary = language.replace("_", "-").split("-")[0].lower()
    three = _THREE_LETTERS.get(primary, primary)
    forms = [language, primary, three]
    if three in _OTHER_SPELLING:
        forms.append(_OTHER_SPELLING[three])
    return list(dict.fromkeys(form for form in forms if form))


def fit_language(
    tags: dict[str, str], output: av.container.OutputContainer, label: str, notes: list[str]
) -> dict[str, str]:
    """`tags` (a track's) with its language in a form the `output` file keeps; a note names
    a language, or the part of one, that it cannot keep."""
    container_format, extension = output.format.name, Path(output.name).suffix
    key = next((k for k in tags if k.lower() == "language"), None)
    if key is None or tags[key].lower() in _UNDETERMINED:
        return tags
    language = tags[key]
    if container_keeps(container_format, language) is not False:
        return tags  # kept as it is, or nothing to measure by
    for form in _candidates(language)[1:]:
        if container_keeps(container_format, form):
            if "-" in language.replace("_", "-"):  # a region or a script went
                notes.append(
                    f"{label}: language {language} written as {form} ({extension} stores no more)"
                )
            return {**{k: v for k, v in tags.items() if k != key}, "language": form}
    notes.append(
        f"{label}: {extension} cannot store the language {language} (it reads undetermined)"
    )
    return tags
