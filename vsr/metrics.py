"""PSNR and SSIM in the MATLAB convention the super-resolution papers report.

The convention (RCAN's ``Evaluate_PSNR_SSIM.m``, see shared/README.md):
- compare the Y channel of BT.601 YCbCr, computed in float64 from uint8 RGB and NOT
  rounded (rounding Y costs about 0.09 dB at x2); a greyscale image is its own Y;
- shave ``scale`` pixels from every border;
- PSNR with peak 255; SSIM is Wang et al.'s ``ssim_index``: 11x11 Gaussian window with
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, mean of the map.
"""

from __future__ import annotations

import math

import numpy as np

_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03
_SSIM_L = 255.0


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma in 16..235 as float64 from an 8-bit RGB (or greyscale) image.

    H x W x 3 (or x 4: alpha ignored) gives 16 + (65.481 R + 128.553 G + 24.966 B) / 255;
    H x W or H x W x 1 is returned as float64 unchanged, as the MATLAB script does.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0].astype(np.float64)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"rgb_to_y needs H x W or H x W x (1, 3, 4), got {image.shape}")
    rgb = image[:, :, :3].astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def _shave(image: np.ndarray, shave: int) -> np.ndarray:
    if shave <= 0:
        return image
    if image.shape[0] <= 2 * shave or image.shape[1] <= 2 * shave:
        raise ValueError(f"image {image.shape[:2]} too small to shave {shave} pixels")
    return image[shave:-shave, shave:-shave]


def _pair(a: np.ndarray, b: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return _shave(a, shave), _shave(b, shave)


def psnr(a: np.ndarray, b: np.ndarray, shave: int = 0, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all samples (inf for identical images)."""
    a, b = _pair(a, b, shave)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def _gaussian_window() -> np.ndarray:
    """The 1-D factor of MATLAB's ``fspecial('gaussian', 11, 1.5)`` (normalised)."""
    x = np.arange(_SSIM_SIZE, dtype=np.float64) - (_SSIM_SIZE - 1) / 2
    g = np.exp(-(x * x) / (2 * _SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the outer product of ``window`` with itself."""
    k = len(window)
    h, w = image.shape[0] - k + 1, image.shape[1] - k + 1
    rows = sum(window[i] * image[i : i + h, :] for i in range(k))
    return sum(window[j] * rows[:, j : j + w] for j in range(k))


def ssim(a: np.ndarray, b: np.ndarray, shave: int = 0) -> float:
    """Mean SSIM (Wang et al. ``ssim_index``) of two single-channel images in 0..255."""
    a, b = _pair(a, b, shave)
    if a.ndim != 2:
        raise ValueError("ssim needs single-channel H x W images (convert with rgb_to_y)")
    if min(a.shape) < _SSIM_SIZE:
        raise ValueError(f"ssim needs images of at least {_SSIM_SIZE}x{_SSIM_SIZE}")
    c1 = (_SSIM_K1 * _SSIM_L) ** 2
    c2 = (_SSIM_K2 * _SSIM_L) ** 2
    window = _gaussian_window()
    mu_a = _filter_valid(a, window)
    mu_b = _filter_valid(b, window)
    mu_aa, mu_bb, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    sigma_aa = _filter_valid(a * a, window) - mu_aa
    sigma_bb = _filter_valid(b * b, window) - mu_bb
    sigma_ab = _filter_valid(a * b, window) - mu_ab
    ssim_map = ((2 * mu_ab + c1) * (2 * sigma_ab + c2)) / (
        (mu_aa + mu_bb + c1) * (sigma_aa + sigma_bb + c2)
    )
    return float(ssim_map.mean())


def crop_to_common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop two images to their common top-left height and width."""
    h = min(a.shape[0], b.shape[0])
    w = min(a.shape[1], b.shape[1])
    return a[:h, :w], b[:h, :w]


def shave_for(scale: int) -> int:
    """The border the paper's evaluation leaves out: ``scale`` pixels on each side; none for
    a same-size comparison (x1, IMDN_AS's enlarged input)."""
    return 0 if scale == 1 else scale


def sr_metrics(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR, SSIM) of a super-resolved uint8 image against its ground truth, paper style.

    Both are cropped to their common size, converted to unrounded Y and shaved
    (``shave_for``)."""
    sr, hr = crop_to_common(sr, hr)
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    shave = shave_for(scale)
    return psnr(sr_y, hr_y, shave=shave), ssim(sr_y, hr_y, shave=shave)
