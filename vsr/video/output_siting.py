"""The chroma siting an output is written at: the source's where players will read it back.

The siting is declared by the encoder option chroma_sample_location (tagging the frames
does nothing). Whether a decoder reads it back depends on the encoder and the container,
as found by writing each siting with this libav and reading it back:

- libx264 and libx265 write it into the stream (the H.264 and HEVC VUI), in any container,
  for 4:2:0 only; at 4:2:2 decoders read "left" whatever was asked.
- AV1 (libsvtav1) holds "left" and "topleft" in its sequence header, in any container.
- Matroska and WebM hold any siting in the track header, which the decoders of FFV1,
  ProRes, VP8, VP9 and AV1 do not override. MP4 and MOV hold none: there those read
  back "unspecified", which players take as "left".
- The MPEG-1 and MJPEG decoders always report "center", MPEG-2's and MPEG-4's "left".

Elsewhere the output is converted to the siting its decoder reads, so colour stays on its
edges; a note says when the source's own siting could not be kept.
"""

from __future__ import annotations

from vsr.video.chroma_location import CONVERTED

_IN_THE_STREAM_AT_420 = {
    "libx264": frozenset(CONVERTED),
    "libx265": frozenset(CONVERTED),
    "libsvtav1": frozenset({"left", "topleft"}),
}
_IN_MATROSKA = frozenset(
    {"ffv1", "prores", "prores_ks", "prores_aw", "libvpx", "libvpx-vp9", "libsvtav1"}
)
_READ_WITHOUT_A_SITING = {"mjpeg": "center", "mpeg1video": "center"}  # else "left"


def output_siting(
    encoder: str, container_format: str, chroma_shift: tuple[int, int], wanted: str
) -> str:
    """The siting (one of CONVERTED) that an output of `encoder` in `container_format` at
    this subsampling is written and declared at: `wanted` (the source's, as
    vsr.video.chroma_location.conversion_siting gives it) where decoders will read it
    back, else the one they read."""
    read_anyway = _READ_WITHOUT_A_SITING.get(encoder, "left")
    if chroma_shift == (0, 0) or wanted == read_anyway:
        return wanted
    if container_format in ("matroska", "webm") and encoder in _IN_MATROSKA:
        return wanted
    if chroma_shift == (1, 1) and wanted in _IN_THE_STREAM_AT_420.get(encoder, ()):
        return wanted
    return read_anyway


def siting_lost_note(
    encoder: str, suffix: str, chroma_shift: tuple[int, int], source: str, written: str
) -> str:
    """The note for a source siting the output cannot declare."""
    # libx264 and libx265 declare a siting at 4:2:0 only, in any container.
    at_422 = chroma_shift == (1, 0) and encoder in _IN_THE_STREAM_AT_420
    where = f"{encoder} at 4:2:2" if at_422 else f"{encoder} in {suffix} files"
    return (
        f"the source's chroma siting ({source}) cannot be declared by {where}: the colour is "
        f"resampled to {written} siting, which players read there (.mkv with ffv1, prores_ks "
        "or libvpx-vp9 keeps it, and so do libx264 and libx265 at 4:2:0)"
    )
