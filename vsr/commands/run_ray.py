"""`vsr run ... --ray [ADDRESS]`: the command-line side of vsr/cluster.py and vsr/segments.py.

Not a subcommand of its own: `vsr run` hands over here when --ray or a segment flag is
given, with the engine options it has already built from the flags and the preset.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vsr.errors import VsrError

if TYPE_CHECKING:
    from vsr.cluster import ClusterReport


def run_on_ray(
    args: argparse.Namespace, engine_options: dict[str, Any], say: Callable[[str], None]
) -> int:
    from vsr import cluster
    from vsr.commands.run import say_the_end
    from vsr.report import frames_made
    from vsr.video.image_sequence import is_image_sequence

    if is_image_sequence(args.input):
        # Ray's tasks and segment mode take files: a clip, or the segments cut from one.
        raise VsrError(
            f"{args.input}: an image sequence is upscaled on this machine; --ray, --segments "
            "and --segment-seconds take a video file or a folder of clips"
        )
    address = args.ray or None
    from vsr.url_input import refuse_a_url

    refuse_a_url(args.input)  # before absolute(), which made it /here/https:/host/a.mp4
    splitting = args.segments is not None or args.segment_seconds is not None
    if args.ray is None:
        raise VsrError("--segments and --segment-seconds run on Ray; add --ray")
    if args.watch:
        raise VsrError("--watch is not available with --ray")
    if args.device is not None:
        engine_options = {**engine_options, "device": args.device}
    # What a folder run and a segment run take alike.
    shared = {
        "address": address,
        "weights": args.weights,
        "engine_options": engine_options,
        "overwrite": args.overwrite,
        "progress": not args.quiet,
        "report": args.report,
        "log": say,
    }
    # Filled as clips end, so that a run stopped by Ctrl-C still says what it did.
    outcomes = cluster.ClusterReport()
    if args.input.is_dir():
        if splitting:
            raise VsrError("segment mode takes one clip; give a video file as INPUT")
        from vsr.folder import check_report_path

        check_report_path(args.report, args.input, args.output, watching=False)
        summary = _told_if_stopped(
            lambda: cluster.run_folder(args.input, args.output, summary=outcomes, **shared),
            outcomes,
            say,
        )
    else:
        # Workers of a cluster started elsewhere run in the folder `ray start` ran in: a
        # relative path failed every clip there (or named another file of that name). A
        # folder run (cluster.run_folder) makes its tasks' paths absolute itself.
        args.input, args.output = args.input.absolute(), args.output.absolute()
        from vsr.runner import check_clip_report_path

        check_clip_report_path(args.report, args.input, args.output)  # now, not after the run
        if splitting:
            from vsr.cluster_segments import run_split

            summary = run_split(
                args.input,
                args.output,
                count=args.segments,
                seconds=args.segment_seconds,
                **shared,
            )
        else:
            summary = _told_if_stopped(
                lambda: cluster.run_one_clip(args.input, args.output, summary=outcomes, **shared),
                outcomes,
                say,
            )
    totals = summary.to_dict()["summary"]
    if splitting and not totals["failed"]:
        # One output, told in the words a folder run has for each clip, and where it went;
        # not in a local run's, which name the one device it ran on: the segments ran on
        # workers of their own.
        made = frames_made(
            totals["output_frames"],
            totals["lost_frames"],
            totals["kept_frames"],
            totals["wall_seconds"],
            totals["fps"],
        )
        say(f"vsr: {made} -> {totals['output']}")
        return 0
    say_the_end(summary, say)  # a damaged clip went unsaid, --quiet or not
    return 1 if totals["failed"] else 0


def _told_if_stopped(
    run: Callable[[], ClusterReport], outcomes: ClusterReport, say: Callable[[str], None]
) -> ClusterReport:
    """`run()`'s report; stopped by Ctrl-C (or a stop signal), the summary line and the
    clips it stopped are said first, as a local folder run says them."""
    from vsr.commands.run import say_the_end

    try:
        return run()
    except KeyboardInterrupt:
        if outcomes.clips:
            say_the_end(outcomes, say)
        raise
