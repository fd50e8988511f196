"""MP4/MOV: decode-time steps that add up to the presentation, for variable frame rates.

The mov muxer stores each video sample's duration as the step to the next decode time
(the stts table), so the media's length is the sum of the dts steps plus the last packet's
duration; FFmpeg's demuxer (ffprobe, mpv, players built on libav) reports that sum as the
stream's and the file's duration. The muxer's edit list and movie header come from the pts
instead, and are right.

Encoders with B-frames derive dts from the display-order pts: libx264 gives packet i
the (i - d)-th smallest pts, d being its reorder delay, and the first d packets that pts
shifted back by the first d frame steps. With a constant frame rate the dts then span
exactly what the pts span. With a variable one they fall short by (the last d steps − the
first d steps): frames at 0…500 ms read back as 0.383 s long. The pts, and so every
frame's display time, are right all along.

Rewriting every dts to span the pts would need the end of the stream before its first
packet is muxed, and dropping B-frames costs bytes (about 30 % at the same crf on a
panning test clip). But only the last packet's dts and duration decide the sum:
`LastPacketHold` keeps the newest video packet back and, when the stream ends, gives it
the decode time and duration that make the steps reach the last frame's end. A packet it
does not need to change goes out as the encoder made it, so constant-frame-rate files
come out byte for byte as before. The same holds for several encoders writing one file
(vsr.video.parallel_writer): only the first and the last packet of the whole stream count.

The edit list ends at the latest pts + duration of any packet. Where the source gives its
last frame a length of its own (a slide show's last slide), the packet shown last must
carry that length, and with B-frames that is not the last in decode order: in I0 P2 B1 the
B-frame's duration ended a 7 s slide show at 6 s. So the hold keeps back the packet shown
last and the few that follow it in decode order, and gives the first of them that length.
A packet's duration moves only the edit list, except the last one's: the decode steps come
from the dts.

When the last d steps are shorter than the first d (a clip that ends at a faster rate
than it starts, a cut of a variable rate, or a last chunk of a parallel encode too short
for B-frames) the steps reach past the presentation's end. Only a last packet that is also
the one shown last can shorten them, its dts moved back, but no further than just after
the packet before it; otherwise the sum stays longer than the presentation. The edit list
still ends the presentation on time (the packet shown last keeps the duration that ends it
there), and FFmpeg's demuxer reports the shorter of the two, so that case reads right.
Files the ffmpeg CLI writes (vsr.video.ffmpeg_pipe) are muxed by ffmpeg and keep its
behaviour.
"""

from __future__ import annotations

from fractions import Fraction

import av

from vsr.video.final_packet import FinalPacketHold


class LastPacketHold(FinalPacketHold):
    """Pass video packets on to the muxer a few behind; fix the last ones at the end.

    `pass_on(packets)` returns the packets to mux now; `last(stream, end)` returns those
    held back, in decode order, adjusted for `stream`, the muxer's video stream (whose time
    base is the muxer's once the header is written). Packets come in decode order, all in
    one time base (the encoder's).
    """

    def __init__(self, frame_step: int) -> None:
        super().__init__(frame_step)
        self._first_offset: int | None = None  # pts - dts of the first packet
        self._latest_end: int | None = None  # pts + duration, of packets that have one
        # The dts of the last packet seen, and of the one before it in decode order.
        self._latest_dts: int | None = None
        self._dts_before: int | None = None

    def _timed(self, packet: av.Packet) -> bool:
        return packet.pts is not None and packet.dts is not None

    def _saw(self, packet: av.Packet) -> None:
        if self._first_offset is None:
            self._first_offset = packet.pts - packet.dts
        end = packet.pts + packet.duration if packet.duration else None
        if end is not None and (self._latest_end is None or end > self._latest_end):
            self._latest_end = end
        self._dts_before, self._latest_dts = self._latest_dts, packet.dts

    def last(self, stream: av.video.stream.VideoStream, end: int | None = None) -> list[av.Packet]:
        """The held packets. `end`, a pts in the packets' time base, is where the last frame
        ends when the source gives it a length of its own (vsr.video.final_packet): the
        packet shown last then gets the duration that ends the edit list there. The last
        packet gets the dts and duration that make the decode steps reach the last frame's
        end (unchanged where they already do, or where they cannot)."""
        held = super().last(stream, end)
        if held and self._timed(held[-1]):
            held[-1] = self._steps_ended(held[-1], stream, end)
        return held

    def _steps_ended(
        self, held: av.Packet, stream: av.video.stream.VideoStream, end: int | None
    ) -> av.Packet:
        """The last packet in decode order, with the dts and duration that end the steps."""
        if held.time_base is None or stream.time_base is None:
            return held
        rate = stream.codec_context.framerate or stream.average_rate
        scale = Fraction(held.time_base) / Fraction(stream.time_base)
        if not rate or scale.denominator != 1:
            return held  # the muxer would round these timestamps: leave them to it
        # Work in the muxer's ticks, as it will. A packet without a duration gets one frame
        # at the stream's rate, rounded to the nearest tick (libavformat's default).
        k = scale.numerator
        default = int(1 / (rate * stream.time_base) + Fraction(1, 2))
        usual_end = self._latest_pts * k + default
        if self._latest_end is not None:
            usual_end = max(usual_end, self._latest_end * k)
        offset = self._first_offset * k
        pts, dts = held.pts * k, held.dts * k
        duration = held.duration * k if held.duration else default
        # The presentation runs from the first packet's pts to `end`, and the decode
        # timeline starts `offset` before that pts: so the last decode step must end at
        # end - offset. A dts no earlier than pts - offset keeps this packet's own end
        # (pts + duration) within `end`, so the edit list stays as it was.
        shown_last = held.pts == self._latest_pts
        lowest = dts
        if shown_last and self._dts_before is not None:
            # Its own end ends the edit list too: where the steps before it ran longer
            # than the first ones, a duration that ended the steps ended a cut's picture
            # early (0.193 s of 0.22). Its dts may go back to pts - offset, where one
            # duration ends both, as long as it stays after the packet before it.
            lowest = min(dts, self._dts_before * k + 1)
        new_dts = max(lowest, pts - offset)
        # The packet shown last reaches the end itself, even where the steps then run on.
        counted_from = pts if shown_last else new_dts + offset
        new_duration = (usual_end if end is None else end * k) - counted_from
        if new_duration < 1 and end is not None:
            # A source's own end too early for these decode steps (B-frames at a variable
            # rate, as a GIF's): the usual end, as without one.
            new_duration = usual_end - counted_from
        if new_duration < 1 or (new_dts, new_duration) == (dts, duration):
            return held
        held.time_base = stream.time_base
        held.pts, held.dts, held.duration = pts, new_dts, new_duration
        return held
