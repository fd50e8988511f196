"""Several encoder instances writing one output file, for when the encoder is the bottleneck.

One libx264 `veryfast` instance encodes 1080p at about 108 fps on 16 cores; x264's own
frame threads stop scaling well before that many cores, so a second and third independent
encoder add throughput (three reached 162 fps). This writer splits the frame sequence into
consecutive chunks of `chunk_frames` frames; chunk k goes to worker k % N, which encodes
it with a fresh codec context (so the chunk starts with a keyframe/IDR and refers to
nothing outside itself) and flushes it at the chunk's end. The caller's thread muxes the
chunks' packets strictly in chunk order into the one container of a `VideoWriter`.

    write() --frames--> [inbox 0] -> worker 0: fresh encoder per chunk 0, 2, 4... --+
            \\--frames--> [inbox 1] -> worker 1: fresh encoder per chunk 1, 3, 5... --+
    write()/close() <-- packets of the oldest unfinished chunk, in order <----------+
        -> VideoWriter.mux_video (the container, audio/subtitle copy)

Why this shape:
- Everything else is `VideoWriter`'s: format choice, options, colour tags, the container,
  the stream copier, the temporary file and its atomic rename, abort cleanup. Its
  `fresh_encoder()` builds each chunk's encoder from the same settings as the stream's and
  refuses one whose stream headers (extradata: SPS/PPS for MP4's global header) differ
  from what the file header announces; the constructor tries one and falls back to a
  single encoder, with a note, when they differ.
- Muxing happens on the caller's thread (inside write() and close()), so the container is
  only ever touched by one thread, and while write() waits for room in a full inbox it
  keeps muxing finished packets.
- PyAV's encode releases the GIL around avcodec_send_frame/avcodec_receive_packet, and
  x264/x265 run their own native threads besides, so the workers really run concurrently.
- Frames are built (the planes copied into libav's buffers) in write(), on the caller's
  thread, so the caller's planes are free again at once: the engine's come from pinned
  host buffers, and holding chunks of those in the queues would pin gigabytes at 4K.
- Timestamps: with B-frames each chunk's first dts is its first pts minus the encoder's
  reorder delay; with a constant frame rate and the same settings in every chunk that is
  later than the previous chunk's last dts. With a variable frame rate it may not be, so
  a dts that does not increase is moved to one tick after the previous one (never past
  its pts; if it would be, that is an error, not a silently broken file) and a note says
  how many joins needed it.
- Memory: each inbox holds at most max(2, N - 1) chunks of frames and write() blocks when
  the chunk's inbox is full. While the caller feeds one worker for a chunk, the other
  N - 1 workers live on their queues, so N - 1 chunks each keep every worker busy.
- Each chunk starts with a keyframe, so the GOP is at most a chunk long: by default two
  seconds of frames (at least 24), or a multiple of the user's `g` option near that.

With a journal (vsr.video.chunk_journal, `vsr run --resume`) the worker also stores each
chunk it finishes, as the encoder made it (a dts moved at a join is moved again when the
chunk is muxed), and `replay()` muxes an earlier run's chunks before the first write. One
encoder then works in chunks too, of about JOURNAL_CHUNK_SECONDS: x264's default GOP is
about as long, so the forced keyframes cost next to nothing (0.3% smaller here).

`encoders=1` without a journal, and the ffmpeg CLI fallback, hand every call straight to
the VideoWriter.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from vsr.encoder_count import check_encoders
from vsr.errors import VsrError, option
from vsr.stoppable_queue import POLL_S, Stopped, get_unless_stopped
from vsr.video import x265_dts
from vsr.video.captions import CaptionStore
from vsr.video.chunk_journal import ChunkJournal, ChunkRecorder, StoredChunk
from vsr.video.reader import VideoInfo
from vsr.video.writer import EncodeSettings, VideoWriter

log = logging.getLogger(__name__)

CHUNK_SECONDS = 2
JOURNAL_CHUNK_SECONDS = 10
MIN_CHUNK_FRAMES = 24
_END = object()  # no more chunks for this worker
_DONE = object()  # the last packets of a chunk have been handed over


@dataclass
class _Chunk:
    """One run of consecutive frames: which worker encodes it and where its packets go."""

    index: int
    packets: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    frames: int = 0
    end: dict[str, int] | None = None  # where its last frame was, for a journal
    recorder: ChunkRecorder | None = None


def default_chunk_frames(
    settings: EncodeSettings, source: VideoInfo, seconds: float = CHUNK_SECONDS
) -> int:
    """Frames per chunk: about `seconds` of the source, at least MIN_CHUNK_FRAMES, and
    a whole number of GOPs when the user set the GOP length (`-e g=N`)."""
    rate = float(source.average_rate) if source.average_rate else 25.0
    target = max(MIN_CHUNK_FRAMES, round(seconds * rate))
    gop = settings.options.get("g", "")
    if gop.isdigit() and int(gop) > 0:
        return int(gop) * max(1, round(target / int(gop)))
    return target


class ParallelVideoWriter:
    """A VideoWriter whose frames are encoded by `encoders` encoder instances at once.

    Same surface as VideoWriter: pix_fmt, bit_depth, chroma_shift, chroma_siting,
    color_matrix, color_range, notes, frames_written, path, temp_path; write(), close(),
    abort(), carry_captions(), and use as a context manager. A worker's failure is raised by
    the next write() or close(). `encoder_busy_seconds` holds each worker's time inside its
    encoder.
    """

    def __init__(
        self,
        path: str | Path,
        source: VideoInfo,
        width: int,
        height: int,
        settings: EncodeSettings,
        overwrite: bool = False,
        encoders: int = 2,
        chunk_frames: int | None = None,
        journal: ChunkJournal | None = None,
    ):
        check_encoders(encoders)
        if chunk_frames is not None and chunk_frames < 1:
            raise VsrError(f"chunk_frames must be at least 1, not {chunk_frames}")
        self.frames_written = 0
        self.resumed_frames = 0  # of frames_written, those replayed from the journal
        self._journal = journal
        seconds = CHUNK_SECONDS if encoders > 1 or journal is None else JOURNAL_CHUNK_SECONDS
        self.chunk_frames = chunk_frames or default_chunk_frames(settings, source, seconds)
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._chunks: deque[_Chunk] = deque()  # started and not yet fully muxed, in order
        self._chunk: _Chunk | None = None  # the chunk write() is filling
        self._chunk_filled = 0
        self._chunks_started = 0
        self._last_given: int | None = None  # the pts the latest write() was given
        self._repeats = 0  # how many frames in a row were given it
        self._last_dts: int | None = None
        self._moved_dts = 0
        self._finished = False
        self._inboxes: list[queue.Queue] = []
        self._workers: list[threading.Thread] = []
        self._writer = VideoWriter(path, source, width, height, settings, overwrite)
        self._time_base = self._writer.time_base
        try:
            self.encoders = self._usable_encoders(encoders)
            # Chunks need workers: several encoders, or one whose chunks a journal keeps.
            self._chunked = self.encoders > 1 or journal is not None
            # Seconds each worker spent inside its encoder. An encoder that cannot keep up
            # makes its worker wait in there; one with room to spare leaves it waiting.
            self.encoder_busy_seconds = [0.0] * self.encoders
            if self._chunked:
                self._start_workers()
        except BaseException:
            # Ctrl-C or SIGTERM while the workers start (StopSignal inside Thread.start):
            # the caller has no writer to abort, and its temporary file was left behind.
            self.abort()
            raise

    def _start_workers(self) -> None:
        room = self.chunk_frames * max(2, self.encoders - 1)
        for n in range(self.encoders):
            inbox = queue.Queue(maxsize=room)
            worker = threading.Thread(
                target=self._encode_chunks, args=(inbox, n), name=f"vsr-encode-{n}", daemon=True
            )
            # Listed before it starts, so that abort() stops it should start() be interrupted.
            self._inboxes.append(inbox)
            self._workers.append(worker)
            worker.start()
        log.info(
            "%s: %d encoders, chunks of %d frames", self.path.name, self.encoders, self.chunk_frames
        )

    def _usable_encoders(self, wanted: int) -> int:
        """`wanted`, or 1 (with a note) when this output cannot take several encoders. A
        journal needs chunks, which need fresh encoders: without them it is an error."""
        if wanted == 1 and self._journal is None:
            return 1
        if self._writer.through_ffmpeg:
            if self._journal is not None:
                raise VsrError(
                    f"{option('--resume', True)}: the ffmpeg CLI encoder cannot restart mid-stream"
                )
            self.notes.append(f"the ffmpeg CLI encodes with one encoder (not {wanted})")
            return 1
        try:
            self._writer.fresh_encoder()  # a trial: same stream headers as the file's?
        except RuntimeError as error:
            if self._journal is not None:
                raise VsrError(f"{option('--resume', True)}: {error}") from None
            self.notes.append(f"{error}; encoding with one encoder (not {wanted})")
            return 1
        return wanted

    # -- what VideoWriter decided -------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._writer.path

    @property
    def temp_path(self) -> Path:
        return self._writer.temp_path

    @property
    def codec(self) -> av.codec.Codec:
        return self._writer.codec

    @property
    def pix_fmt(self) -> str:
        return self._writer.pix_fmt

    @property
    def bit_depth(self) -> int:
        return self._writer.bit_depth

    @property
    def chroma_shift(self) -> tuple[int, int]:
        return self._writer.chroma_shift

    @property
    def chroma_siting(self) -> str:
        return self._writer.chroma_siting

    @property
    def color_matrix(self) -> str:
        return self._writer.color_matrix

    @property
    def color_range(self) -> str:
        return self._writer.color_range

    @property
    def notes(self) -> list[str]:
        return self._writer.notes

    # -- the workers --------------------------------------------------------------------

    def _encode_chunks(self, inbox: queue.Queue, worker: int) -> None:
        """Worker: encode each chunk that arrives with a fresh encoder, flush it at its end.
        It stops when the writer is aborted or another worker failed (`self._stop`)."""
        encoder = None
        try:
            while True:
                item = get_unless_stopped(inbox, self._stop)
                if item is _END:
                    return
                chunk, frame = item
                start = time.perf_counter()
                if frame is None:  # the chunk is complete
                    flush = self._writer.from_encoder(encoder.encode(None))
                    packets = x265_dts.flushed(self.codec.name, flush, chunk.frames)
                    self._keep(chunk, packets, last=True)
                    chunk.packets.put(packets)
                    chunk.packets.put(_DONE)
                    encoder = None
                else:
                    if encoder is None:
                        encoder = self._writer.fresh_encoder()
                    # Captions before the journal keeps the packets: a resumed run
                    # replays them as they are.
                    packets = self._writer.from_encoder(encoder.encode(frame))
                    if packets:
                        self._keep(chunk, packets)
                        chunk.packets.put(packets)
                self.encoder_busy_seconds[worker] += time.perf_counter() - start
        except Stopped:
            return
        except BaseException as error:
            self._errors.append(error)
            self._stop.set()

    def _keep(self, chunk: _Chunk, packets: list[av.Packet], last: bool = False) -> None:
        """With a journal: copy the chunk's packets as they come (the muxer will empty them)
        and store the chunk once it is complete. Here, on the worker, a finished chunk is
        on disk whatever the muxing thread is doing when the run is interrupted."""
        if chunk.recorder is None:
            return
        for packet in packets:
            chunk.recorder.add(packet)
        if last:
            chunk.recorder.finish(chunk.index, chunk.frames, chunk.end)

    # -- the caller's side ----------------------------------------------------------------

    def _raise_failure(self) -> None:
        """A worker's exception, raised here (after discarding the output)."""
        if self._errors:
            self.abort()
            raise self._errors[0]

    def _send(self, worker: int, item: object) -> None:
        """Queue work for a worker; while its inbox is full, mux what is ready."""
        inbox = self._inboxes[worker]
        while True:
            self._raise_failure()
            try:
                inbox.put(item, timeout=POLL_S)
                return
            except queue.Full:
                self._mux_ready(wait=False)

    def _mux_ready(self, wait: bool) -> None:
        """Mux finished packets in chunk order: those ready now, or (wait) every chunk's."""
        while self._chunks:
            head = self._chunks[0]
            try:
                packets = head.packets.get(timeout=POLL_S) if wait else head.packets.get_nowait()
            except queue.Empty:
                if not wait:
                    return
                self._raise_failure()
                continue
            if packets is _DONE:
                self._chunks.popleft()
            elif packets:
                self._mux(packets)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            dts = packet.dts
            if dts is None:
                continue
            if self._last_dts is not None and dts <= self._last_dts:
                # Only at a chunk join (see the module notes): the new chunk's reorder delay
                # reaches back past the previous chunk's end.
                dts = self._last_dts + 1
                if packet.pts is not None and dts > packet.pts:
                    raise RuntimeError(
                        f"chunk join at pts {packet.pts}: no room for an increasing dts; "
                        "use one encoder for this clip"
                    )
                packet.dts = dts
                self._moved_dts += 1
            self._last_dts = dts
        reached = self._last_dts if self._last_dts is not None else packets[-1].pts
        self._writer.mux_video(packets, float((reached or 0) * self._time_base))

    def write(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], pts: int | None) -> None:
        """Queue one frame (planes in self.pix_fmt, pts in the source's time base).

        The planes are copied before this returns."""
        if not self._chunked:
            self._writer.write(planes, pts)
            self.frames_written += 1
            return
        if pts is None and self._journal is not None:
            raise VsrError(
                f"{option('--resume', True)} needs frames with timestamps; this clip has none"
            )
        # A source may give several frames one pts (the writer renumbers them): a journal
        # says how many in a row, so that a resumed run skips exactly those.
        self._repeats = self._repeats + 1 if pts == self._last_given else 1
        self._last_given = given = pts
        pts = self._writer.next_pts(pts)
        self._writer.expect_captions(given, pts)
        frame = self._writer.video_frame(planes, pts)
        if self._chunk is None:
            index = self._chunks_started
            recorder = self._journal.recorder(index) if self._journal is not None else None
            self._chunk = _Chunk(index, recorder=recorder)
            self._chunks_started += 1
            self._chunks.append(self._chunk)
            self._chunk_filled = 0
        chunk = self._chunk
        chunk.frames += 1
        chunk.end = {"pts": given, "repeats": self._repeats, "written_pts": pts}
        self._send(chunk.index % self.encoders, (chunk, frame))
        self._chunk_filled += 1
        if self._chunk_filled == self.chunk_frames:
            self._end_chunk()
        self._mux_ready(wait=False)
        self.frames_written += 1

    def replay(self, chunks: list[StoredChunk]) -> None:
        """Mux the chunks an earlier run finished (from the journal), before any write()."""
        for chunk in chunks:
            self._mux(chunk.av_packets(self._time_base))
            self._writer.next_pts(chunk.end["written_pts"])  # later frames come after these
            self._last_given, self._repeats = chunk.end["pts"], chunk.end["repeats"]
            self.frames_written += chunk.frames
            self.resumed_frames += chunk.frames
        self._chunks_started += len(chunks)

    def _end_chunk(self) -> None:
        chunk, self._chunk = self._chunk, None
        self._send(chunk.index % self.encoders, (chunk, None))

    def carry_captions(self, store: CaptionStore) -> None:
        """Keep the source's closed captions (see VideoWriter.carry_captions)."""
        self._writer.carry_captions(store)

    def end_at(self, pts: int) -> None:
        """Where the video ends (see VideoWriter.end_at)."""
        self._writer.end_at(pts)

    def close(self) -> None:
        """Finish every chunk, mux the rest, and let the VideoWriter finish the file."""
        if not self._chunked:
            self._writer.close()
            return
        if self._finished:
            return
        try:
            self._raise_failure()
            if self._chunk is not None:
                self._end_chunk()
            for worker in range(self.encoders):
                self._send(worker, _END)
            self._mux_ready(wait=True)
            for worker in self._workers:
                worker.join()
            self._raise_failure()
            if self._moved_dts:
                self.notes.append(
                    f"variable frame rate: dts moved forward at {self._moved_dts} chunk joins"
                )
            self._writer.close()
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def abort(self) -> None:
        """Stop the workers and delete the temporary file; the target is left untouched."""
        self._finished = True
        self._stop.set()
        for worker in self._workers:
            if worker.is_alive() and worker is not threading.current_thread():
                worker.join()
        for chunk in [*self._chunks, self._chunk]:
            if chunk is not None and chunk.recorder is not None:
                chunk.recorder.discard()
        self._writer.abort()

    def __enter__(self) -> ParallelVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
