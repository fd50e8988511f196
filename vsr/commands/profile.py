"""`vsr profile`: parameters, FLOPs, activations, depth, memory and time of the networks."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="parameters, FLOPs, activations, depth, memory and time of a network",
        description="Measure one network (--weights or --model) or the six of the paper and "
        "its repository side by side (--all, the default) on a random input of --size, or on "
        "the input that gives each network an --output of one size (the paper's table: "
        "--output 720p). "
        "FLOPs come from torch's FlopCounterMode (multiply-adds = FLOPs / 2); activations are "
        "the elements of every convolution output; depth is the convolutions on the longest "
        "path.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--weights", help="a weights file or manifest name to profile")
    which.add_argument("--model", help="imdn, imdn_as, imdn_rtc or imdn_rte (random weights)")
    which.add_argument("--all", action="store_true", help="IMDN x2/x3/x4, AS, RTC, RTE")
    parser.add_argument(
        "--scale", type=int, help="scale for --model (default 2), or the one --weights must have"
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--size",
        help="network input WIDTHxHEIGHT, or 540p, 1080p, 4k (default 256x256; IMDN_AS "
        "needs multiples of 4, RTE even)",
    )
    size.add_argument(
        "--output",
        help="the output size WIDTHxHEIGHT (or 720p...) every network is given the input for",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--repeats", type=int, help="timed runs (default 3 on CPU, 20 on GPU)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vsr.atomic_file import check_can_write
    from vsr.bench_model import parse_frame_size
    from vsr.errors import VsrError
    from vsr.models import create_model
    from vsr.profiling import (
        check_profile_input,
        format_table,
        input_for_output,
        known_models,
        model_label,
        profile_model,
    )
    from vsr.report import write_json
    from vsr.upscale import resolve_device
    from vsr.weights import check_scale, load_network, same_size_refusal

    check_can_write(args.json, "JSON", "--json")  # now, not after the timing
    output = parse_frame_size(args.output) if args.output else None
    width, height = parse_frame_size(args.size or "256x256")
    device = resolve_device(args.device)
    if args.repeats is not None and args.repeats < 1:
        raise VsrError("--repeats must be at least 1")
    weights = None
    scale = check_scale(args.scale)
    if args.weights is not None:  # "" too: an unset variable, refused as eval refuses it
        # IMDN_AS is profiled at its input's size, so a --scale does not apply to it.
        network = load_network(args.weights, scale, same_size_serves_any_scale=False)
        model = network.model
        models = [(model_label(model), model)]
        weights = str(network.path)
    elif args.model is not None:
        model = create_model(args.model, 2 if scale is None else scale)
        if scale is not None and model.scale != scale:  # create_model builds IMDN_AS as is
            raise VsrError(same_size_refusal(args.model))
        models = [(model_label(model), model)]
    elif scale is not None:
        raise VsrError("--scale goes with --model or --weights: --all profiles x2, x3 and x4")
    else:
        models = known_models()
    sizes = [
        (height, width) if output is None else input_for_output(model, *output)
        for _, model in models
    ]
    flag = "--size" if output is None else "--output"  # the one a refusal names
    for (name, model), size in zip(models, sizes, strict=True):
        check_profile_input(model, size, device, name, flag)  # every one before any timing
    profiles = [
        profile_model(
            model, size, device, name=name, repeats=args.repeats, weights=weights, flag=flag
        )
        for (name, model), size in zip(models, sizes, strict=True)
    ]
    print(format_table(profiles))
    if args.json:
        write_json({"profiles": [p.to_dict() for p in profiles]}, args.json)
    return 0
