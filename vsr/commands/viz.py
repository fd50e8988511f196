"""`vsr viz feature-maps`: what one IMDB sees in an image, as a grid PNG."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("viz", help="pictures of what a network does inside")
    views = parser.add_subparsers(dest="view", metavar="VIEW", required=True)
    maps = views.add_parser(
        "feature-maps",
        help="the output channels of one IMDB (or its CCA gates) as a grid PNG",
        description="Run the network on IMAGE and tile the output channels of block N, each "
        "stretched to its own range. With --cca, tile the features the block's channel "
        "attention passes on, with a bar under each tile as long as its gate value.",
    )
    maps.add_argument("image", metavar="IMAGE", help="an image (PNG, BMP, JPEG, WebP)")
    maps.add_argument("--block", type=int, required=True, help="which IMDB, from 1")
    maps.add_argument("--weights", help="weights file or manifest name (default: ours)")
    maps.add_argument(
        "--scale", type=int, help="scale of the default weights (default 2), or that of --weights"
    )
    maps.add_argument("--cca", action="store_true", help="show the channel attention gates")
    maps.add_argument("--tile", type=int, default=128, help="largest tile side in pixels")
    maps.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    maps.add_argument("-o", "--output", required=True, metavar="OUT.png", help="grid PNG")
    maps.set_defaults(func=run_feature_maps)


def run_feature_maps(args: argparse.Namespace) -> int:
    from vsr.atomic_file import check_can_write
    from vsr.errors import VsrError
    from vsr.featuremaps import capture, image_to_tensor, tile_grid
    from vsr.image_file import check_output_path
    from vsr.imageio import read_image, write_image
    from vsr.printable import printable
    from vsr.upscale import resolve_device
    from vsr.weights import load_network

    if args.tile < 8:
        raise VsrError("--tile must be at least 8 pixels")
    check_can_write(args.output, "image", "--output")  # the text given: Path drops a folder's slash
    output = Path(args.output)
    # A picture of the network's insides, remade at will: an existing one is replaced.
    check_output_path(Path(args.image), output, overwrite=True)
    device = resolve_device(args.device)
    # The maps are the network's alone, at the image's size: IMDN_AS takes no --scale.
    model = load_network(args.weights, args.scale, same_size_serves_any_scale=False).model
    model = model.to(device)
    image = image_to_tensor(read_image(args.image), model.input_multiple).to(device)
    features = capture(model, image, args.block, cca=args.cca)
    write_image(args.output, tile_grid(features, max_tile=args.tile))
    channels, height, width = features.maps.shape
    print(printable(f"block {args.block}: {channels} channels of {width}x{height} -> {output}"))
    if features.gates is not None:
        gates = features.gates
        print(f"CCA gates: min {gates.min():.3f}, mean {gates.mean():.3f}, max {gates.max():.3f}")
    return 0
