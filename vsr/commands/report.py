"""`vsr report`: one self-contained HTML page from run, bench, eval and profile JSON."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="an HTML page with plots and tables from vsr's JSON reports",
        description="Turn throughput reports (vsr run --report, vsr bench --json), quality results "
        "(vsr eval --json) and profiles (vsr profile --json) into one HTML file with the "
        "plots embedded: fps, GPU utilisation and memory, stage times, a table per clip, "
        "PSNR/SSIM beside the paper, and the PSNR trade-off when eval and profile are both "
        "given. Plots need matplotlib (pip install 'matplotlib>=3.7'); without it the page "
        "has the tables alone.",
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json", help="JSON report(s)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.html", help="HTML file")
    parser.add_argument("--title", default="vsr report", help="page title")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vsr.htmlreport import write_report

    notes = write_report(args.reports, args.output, title=args.title)
    from vsr.printable import printable, undecodable_replaced

    print(printable(undecodable_replaced(f"wrote {args.output}")))
    for note in notes:
        print(f"vsr: note: {note}", file=sys.stderr)
    return 0
