"""libx265's decode times for an encode of one or two frames.

x265 gives the first m_bframeDelay packets of an encode (2 with its default B-pyramid, 1
with B-frames but no pyramid, 0 without B-frames) the dts `pts - m_bframeDelayTime`. It sets
that member only when the frame numbered m_bframeDelay (0-based) arrives, and its
constructor leaves it unset (x265 4.2 here; x265's older source reads the same). An encode
of fewer frames gets whatever the heap held there: a one- or two-frame clip, a --start/--end
cut that short, the last chunk of --encoders N or of a --resume run that short.

In a fresh process that is mostly 0, and nothing shows. After other encoders in the same
process (a folder run, a service calling the API) it is mostly not: 168 frames, a pointer.
MP4 and MOV then store a decode time seconds before the picture, or refuse the packet when
pts - dts does not fit 32 bits ("pts/dts pair unsupported": AVERROR_PATCHWELCOME, PyAV's
PatchWelcomeError "Not yet implemented in FFmpeg, patches welcome"); a dts after its pts
fails in any container ("Invalid argument"). Four folder runs of 24 one- and two-frame
clips (`vsr run clips out --codec libx265`, MP4 and MOV) lost 18 of the 96 outputs that
way, and with --encoders 2 a last chunk that short moved the decode times at its join.
Matroska stores no dts, which is why it seemed to escape.

Neither of two frames is reordered (the first is the keyframe, shown first), so their
decode times are their presentation times, which is what `flushed` gives them. With
B-frames x265 hands out no packet before its flush or its seventh frame (measured down to
rc-lookahead=2, frame-threads=1, pools=none), so all of a short encode's packets come from
the flush. Without B-frames its dts are the pts anyway. From the third frame on
m_bframeDelayTime is set, and x265's own dts pass untouched.
"""

from __future__ import annotations

import av

# m_bframeDelay is at most 2, so an encode fed this many frames has m_bframeDelayTime set.
FRAMES_FOR_ITS_OWN_DTS = 3


def flushed(codec: str, packets: list[av.Packet], frames: int) -> list[av.Packet]:
    """`packets`, the flush of a `codec` encoder that was fed `frames` frames in all, with
    the decode times libx265 leaves to chance in an encode that short."""
    if codec == "libx265" and frames < FRAMES_FOR_ITS_OWN_DTS:
        for packet in packets:
            if packet.pts is not None:
                packet.dts = packet.pts
    return packets
