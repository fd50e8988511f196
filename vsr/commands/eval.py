"""`vsr eval`: PSNR/SSIM of a network on benchmark folders, in the papers' convention."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsr.atomic_file import check_can_write
from vsr.eval_notes import in_patches_note
from vsr.printable import printable
from vsr.report import write_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM on benchmark datasets (MATLAB convention)",
        description="Evaluate a network on dataset folders holding HR/ and either "
        "LR_bicubic/X{s}/, LR/ (paired inputs: HR shrunk by s, or same-size ones for "
        "IMDN_AS) or nothing (inputs made with MATLAB-exact bicubic, as for a network that "
        "enlarges when LR/ is same-size). Y-channel PSNR/SSIM with the scale shaved from the "
        "borders.",
    )
    parser.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folder(s)")
    parser.add_argument(
        "--weights", help="weights file or manifest name (default: the project's weights)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        help="degradation scale (default: the model's; IMDN_AS evaluates same-size pairs)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: auto)")
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        default="fp32",
        help="network precision (default fp32, as the paper's numbers; fp16/bf16 on a GPU, "
        "and bf16 on a CPU with bf16 instructions, show what the faster precisions cost)",
    )
    parser.set_defaults(func=run)


def format_table(results: list) -> str:
    from vsr.text_table import text_table

    header = ("dataset", "scale", "model", "images", "PSNR", "SSIM")
    rows = [
        (r.dataset, f"x{r.scale}", r.model, str(r.images), f"{r.psnr:.4f}", f"{r.ssim:.4f}")
        for r in results
    ]
    return "\n".join(text_table(header, rows, right_aligned_from=None, rule=False))


def run(args: argparse.Namespace) -> int:
    from vsr.evaluate import (
        check_dataset,
        check_every_pair,
        evaluate_dataset,
        hr_files_left_out,
    )

    datasets = [Path(d) for d in args.datasets]
    # The one check of every report path (vsr run --report, bench and profile --json): a
    # missing folder is made when the report is written.
    check_can_write(args.json, "JSON", "--json")  # now, not after the scoring
    for dataset in datasets:
        check_dataset(dataset)
    from vsr.api import load_model
    from vsr.weights import load_network, resolve_weights
    from vsr.weights_origin import origin_of

    weights_path = resolve_weights(args.weights, args.scale)
    # The weights are scored at their own factor: load_model would take x4 weights for
    # --scale 2 (shrinking their output, as vsr run and vsr image do), which scores neither.
    network = load_network(weights_path, args.scale).model
    # The reference layout, in which the manifest's figures were measured: channels_last
    # moves Set5 x2 by about 1e-5 dB, enough to flip a fourth decimal at a rounding edge.
    upscaler = load_model(
        network,
        scale=args.scale,
        device=args.device,
        precision=args.precision,
        channels_last=False,
    )
    if upscaler.device.type == "cuda":
        import torch

        # cuDNN may run fp32 convolutions in TF32 (10-bit mantissa) by default; with it
        # allowed, an H100 gave 37.9954 dB on Set5 x2 against 37.9960 on the CPU.
        # Evaluation means real fp32.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    scale = upscaler.output_scale if args.scale is None else args.scale  # as evaluate_dataset
    for dataset in datasets:  # a missing or damaged image is reported before any scoring
        check_every_pair(dataset, scale)
    for dataset in datasets:  # said before the scoring, which may take minutes
        if left_out := hr_files_left_out(dataset):
            print(printable(f"vsr: note: {left_out}"), file=sys.stderr)
    model_name = weights_path.name.split(".")[0]
    results = []
    for dataset in datasets:
        result = evaluate_dataset(upscaler, dataset, args.scale, model_name=model_name)
        results.append(result)
    print(format_table(results))
    print(printable("inputs: " + ", ".join(f"{r.dataset} {r.inputs}" for r in results)))
    print(f"network in {upscaler.precision} on {upscaler.device}")
    for r in results:
        if r.in_patches:
            print(printable(f"note: {r.dataset}: {in_patches_note(r.in_patches)}"))
    if args.json:
        payload = {
            "weights": str(weights_path.resolve()),  # "model" is only its name
            "weights_sha256": origin_of(network).sha256,  # hashed as it was loaded
            "precision": upscaler.precision,
            "device": str(upscaler.device),
        }
        records = [r.to_dict(per_image=True) for r in results]
        write_json({**payload, "results": records}, Path(args.json))
    return 0
