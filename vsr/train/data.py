"""Training patches: HR images and their bicubic LR, cached once, cropped in whole batches.

Every image is read once, cropped to a multiple of the scale, and downscaled once with the
MATLAB-exact bicubic (the evaluation's LR), so no step ever resizes. All images live in one
flat uint8 buffer (HWC, image after image); a batch of patches is a single gather with
computed indices, with flips and 90-degree rotations folded into those indices. This replaces
per-sample Python cropping, which limited an earlier prototype to 31 it/s on a GPU.

Batches are a pure function of (seed, rank, step): resuming at step k reproduces the exact
data order without storing sampler state, and each DDP rank draws its own distinct patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vsr.errors import VsrError
from vsr.evaluate import hr_folder_of
from vsr.every_failure import each_or_every_failure
from vsr.hidden_files import hidden_left_out, visible_files
from vsr.imageio import IMAGE_EXTENSIONS, as_rgb, read_image
from vsr.ops.imresize import imresize

# The types evaluation reads as data too: a folder of TIFFs validates, so it trains.
IMAGE_SUFFIXES = IMAGE_EXTENSIONS


def list_images(folder: str | Path) -> list[Path]:
    """The image files (PNG, BMP, WebP, JPEG, TIFF) directly in folder, sorted by name; hidden
    ones (macOS's "._a.png" beside each copied file) left out."""
    folder = Path(folder)
    if folder.is_file():  # one image given where its folder goes
        raise VsrError(f"{folder} is a file; the training data is a folder of images")
    if not folder.is_dir():
        raise VsrError(f"training folder not found: {folder}")
    paths = visible_files(folder, IMAGE_SUFFIXES)
    if not paths:
        hidden = hidden_left_out(folder, IMAGE_SUFFIXES)
        # A benchmark's layout (HR/ and LR_bicubic/ inside) given whole: name the way in.
        inner = hr_folder_of(folder)
        hint = f": pass its HR folder, {inner}" if inner is not None else ""
        raise VsrError(f"no PNG, BMP, WebP, JPEG or TIFF images in {folder}{hidden}{hint}")
    return paths


def read_rgb(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB (grey replicated, alpha dropped, 16 bits rounded)."""
    pixels = read_image(path)
    if pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return np.ascontiguousarray(as_rgb(pixels))


def read_every_image(folder: Path, paths: list[Path]) -> list[np.ndarray]:
    """Every image of `paths` (read_rgb), or one error naming all those of `folder` that
    cannot be read."""
    return each_or_every_failure(
        paths,
        read_rgb,
        lambda path, error: f"{path.name} ({error.__cause__ or error})",
        f"images in {folder} cannot be read",
    )


@dataclass
class PatchBatch:
    lr: torch.Tensor  # N x 3 x p x p, uint8
    hr: torch.Tensor  # N x 3 x sp x sp, uint8


class PatchStore:
    """HR images and their cached LR in flat buffers, with vectorised patch cropping."""

    def __init__(self, hr_images: list[np.ndarray], scale: int, lr_patch: int) -> None:
        self.scale = scale
        self.lr_patch = lr_patch
        kept_hr, kept_lr = [], []
        for hr in hr_images:
            h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
            if min(h, w) < lr_patch * scale:
                continue  # too small for one patch (a few T91 images at 192 pixels)
            hr = np.ascontiguousarray(hr[:h, :w])
            kept_hr.append(hr)
            kept_lr.append(imresize(hr, scale=1 / scale))
        if not kept_hr:
            # Small pictures and the paper's 192-pixel default: say the way out, not just why.
            largest = max(hr_images, key=lambda hr: min(hr.shape[:2]), default=None)
            size = (
                f" (the largest is {largest.shape[1]}x{largest.shape[0]})"
                if largest is not None
                else ""
            )
            raise VsrError(
                f"no training image is at least {lr_patch * scale} pixels on a side{size}: "
                "lower --patch, or add larger images"
            )
        self.count = len(kept_hr)
        self.skipped = len(hr_images) - self.count  # named in the run's first line
        self.hr_buffer, self.hr_offset, self.hr_height, self.hr_width = _flatten(kept_hr)
        self.lr_buffer, self.lr_offset, self.lr_height, self.lr_width = _flatten(kept_lr)
        # Positions are drawn on the CPU (one generator everywhere): keep the sizes there too.
        self.lr_room = (self.lr_height - lr_patch + 1, self.lr_width - lr_patch + 1)

    @classmethod
    def from_folder(cls, folder: str | Path, scale: int, lr_patch: int) -> PatchStore:
        return cls(read_every_image(Path(folder), list_images(folder)), scale, lr_patch)

    def to(self, device: torch.device | str) -> PatchStore:
        """Move the buffers (e.g. to the GPU, where the gather is cheapest)."""
        for name in ("hr_buffer", "hr_offset", "hr_height", "hr_width"):
            setattr(self, name, getattr(self, name).to(device))
        for name in ("lr_buffer", "lr_offset", "lr_height", "lr_width"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def crop(
        self, index: torch.Tensor, top: torch.Tensor, left: torch.Tensor, transform: torch.Tensor
    ) -> PatchBatch:
        """Patches at LR position (top, left) of images `index`, with dihedral `transform`.

        transform in 0..7: bit 0 flips left-right, bit 1 flips up-down, bit 2 transposes
        (the eight flips and 90-degree rotations). The HR patch covers exactly the HR pixels
        whose downscale is the LR patch, and gets the same transform.
        """
        lr = _gather(
            self.lr_buffer,
            self.lr_offset,
            self.lr_width,
            index,
            top,
            left,
            self.lr_patch,
            transform,
        )
        s = self.scale
        hr = _gather(
            self.hr_buffer,
            self.hr_offset,
            self.hr_width,
            index,
            top * s,
            left * s,
            self.lr_patch * s,
            transform,
        )
        return PatchBatch(lr=lr, hr=hr)

    def sample(self, batch: int, generator: torch.Generator) -> PatchBatch:
        """A random batch: uniform image, uniform position, uniform dihedral transform."""
        device = self.lr_buffer.device
        index = torch.randint(self.count, (batch,), generator=generator)
        room_y = self.lr_room[0][index].double()
        room_x = self.lr_room[1][index].double()
        top = (torch.rand(batch, generator=generator, dtype=torch.float64) * room_y).long()
        left = (torch.rand(batch, generator=generator, dtype=torch.float64) * room_x).long()
        transform = torch.randint(8, (batch,), generator=generator)
        draws = torch.stack([index, top, left, transform])
        if device.type == "cuda":
            # One copy from pinned memory, queued without waiting: a plain .to(cuda) of
            # pageable memory blocks the host until the GPU has drained its queue, every step.
            draws = draws.pin_memory().to(device, non_blocking=True)
        return self.crop(*draws.unbind())


def batch_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The generator for one step's batch: a pure function of (seed, rank, step)."""
    generator = torch.Generator()
    # Large odd multipliers keep (seed, rank, step) triples from colliding.
    generator.manual_seed((seed * 1_000_003 + rank * 7_919 + step * 2_654_435_761) % (2**63))
    return generator


def _flatten(images: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
    heights = torch.tensor([image.shape[0] for image in images], dtype=torch.long)
    widths = torch.tensor([image.shape[1] for image in images], dtype=torch.long)
    sizes = heights * widths * 3
    offsets = torch.cumsum(sizes, 0) - sizes
    buffer = torch.from_numpy(np.concatenate([image.reshape(-1) for image in images]))
    return buffer, offsets, heights, widths


def _gather(
    buffer: torch.Tensor,
    offsets: torch.Tensor,
    widths: torch.Tensor,
    index: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    size: int,
    transform: torch.Tensor,
) -> torch.Tensor:
    """N x 3 x size x size patches from the flat HWC buffer, transformed per sample."""
    n = index.shape[0]
    grid = torch.arange(size, device=buffer.device)
    rows = grid.view(1, size, 1).expand(n, size, size)
    cols = grid.view(1, 1, size).expand(n, size, size)
    # Output pixel (i, j) reads source (rows, cols): the transform is applied to the indices.
    flip_lr = (transform & 1).bool().view(n, 1, 1)
    flip_ud = (transform & 2).bool().view(n, 1, 1)
    swap = (transform & 4).bool().view(n, 1, 1)
    cols = torch.where(flip_lr, size - 1 - cols, cols)
    rows = torch.where(flip_ud, size - 1 - rows, rows)
    rows, cols = torch.where(swap, cols, rows), torch.where(swap, rows, cols)
    width = widths[index].view(n, 1, 1)
    pixel = (
        offsets[index].view(n, 1, 1)
        + ((top.view(n, 1, 1) + rows) * width + left.view(n, 1, 1) + cols) * 3
    )
    channel = torch.arange(3, device=buffer.device).view(1, 3, 1, 1)
    return buffer[pixel.unsqueeze(1) + channel]
