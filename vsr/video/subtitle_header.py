"""The style header a text subtitle track is converted with.

An ASS or SSA track keeps its styles in a header (Matroska's CodecPrivate), and libav's
text encoders (mov_text, WebVTT, SubRip) parse that header when they open: a track stored
without one, as some muxers and hand-made files leave it, made every one of them refuse
to open, and the output's header with them. Its lines are still plain dialogue, so they
are converted with a header of one plain style, the "Default" that such lines name.
"""

from __future__ import annotations

# One style, white text with a thin black outline at the bottom centre, and the column
# order the dialogue lines are read in: enough for every libav text encoder to open.
PLAIN_HEADER = "\n".join(
    [
        "[Script Info]",
        "ScriptType: v4.00+",
        "PlayResX: 384",
        "PlayResY: 288",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        "Style: Default,Arial,16,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,"
        "0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        "",
    ]
)


def header_for_conversion(decoder_header: bytes | None) -> tuple[bytes, bool]:
    """The header to open a text encoder with, and whether it is the plain one given in
    place of a source's missing header."""
    if decoder_header and decoder_header.strip(b"\0 \r\n"):
        return decoder_header, False
    return PLAIN_HEADER.encode(), True
