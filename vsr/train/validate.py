"""Validation during training: `vsr eval`'s own measurement (MATLAB-convention PSNR/SSIM on
the Y channel) of the model being trained, on one benchmark folder."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vsr.evaluate import check_every_pair, evaluate_dataset
from vsr.upscale import Upscaler


class Validator:
    """Mean Y-channel PSNR/SSIM of a model on one benchmark folder at one scale."""

    def __init__(self, folder: str | Path, scale: int) -> None:
        self.folder = Path(folder)
        self.scale = scale
        # A wrong folder, or an image that cannot be scored (damaged, too small, an LR input
        # of the wrong size), fails now, not at the first validation.
        check_every_pair(self.folder, scale)

    def __call__(self, model: nn.Module, device: torch.device) -> tuple[float, float]:
        was_training = model.training
        cudnn = torch.backends.cudnn
        settings = cudnn.benchmark, cudnn.allow_tf32
        # Every benchmark image has its own size: autotuning each one costs more than it saves.
        # TF32 convolutions (cuDNN's default on a GPU) would round away the fp32 below.
        cudnn.benchmark, cudnn.allow_tf32 = False, False
        try:
            # fp32 whatever the training precision: the numbers must match `vsr eval`.
            upscaler = Upscaler(model, device=device, precision="fp32")
            result = evaluate_dataset(upscaler, self.folder, self.scale, progress=False)
        finally:
            cudnn.benchmark, cudnn.allow_tf32 = settings
            model.train(was_training)
        return result.psnr, result.ssim
