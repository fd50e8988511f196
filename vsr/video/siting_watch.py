"""A chroma siting that changes mid-stream (a recording joined from two sources, a
broadcast's change of programme), noticed without reading every frame's.

Every frame is converted at the first frame's siting: the engine takes one for the clip.
PyAV 18 gives no frame attribute for the siting; reading it runs libav's showinfo filter
(vsr.video.chroma_location), 0.1 to 0.5 ms a 1080p frame, which is not paid per frame. A
siting comes with a sequence header (H.264's and HEVC's SPS), which a decoder takes at a
keyframe: only a keyframe can bring another one, and of those only one at least
LOOK_EVERY frames after the last look is read; the other frames cost an attribute read
and a comparison. A change is then told (once) at most a GOP and LOOK_EVERY frames late.
Where every frame is a keyframe (ProRes, FFV1, MJPEG, all-intra H.264), the worst case,
a 1000-frame 640x360 H.264 clip was read twice, 1.1 ms each, in 1.34 s of decoding
(0.2%, inside the run-to-run spread of reading it); larger frames take longer to decode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr.video.chroma_location import chroma_location_of, conversion_siting

if TYPE_CHECKING:
    import av

    from vsr.video.reader import VideoInfo

LOOK_EVERY = 500  # frames: 20 s at 25 fps


class SitingWatch:
    """`watch(frame, number)` for each decoded frame, the `number`-th of the clip; a note
    goes to `warnings` when a keyframe's siting differs from the first frame's."""

    def __init__(self, info: VideoInfo, warnings: list[str]) -> None:
        self._shift = info.chroma_shift
        self._siting = info.chroma_siting
        self._warnings = warnings
        # Full-resolution chroma (4:4:4, RGB, grey) has no siting to change.
        self._done = info.chroma_shift == (0, 0) or info.rgb_planes
        self._since = 0  # frames since the last look (the first frame was read for info)

    def __call__(self, frame: av.VideoFrame, number: int) -> None:
        if self._done:
            return
        self._since += 1
        if self._since < LOOK_EVERY or not frame.key_frame:
            return
        self._since = 0
        location = chroma_location_of(frame)
        siting = conversion_siting(location, self._shift)
        if siting != self._siting:
            self._done = True  # once is enough: the note says it may go on
            self._warnings.append(
                f"the video's chroma siting changes mid-stream (to {location or 'left'}, seen "
                f"at frame {number}): vsr converts every frame at the first frame's "
                f"{self._siting} siting, so from there colour may sit up to about one output "
                "pixel off its edges"
            )
