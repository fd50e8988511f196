"""PSNR/SSIM in the MATLAB convention, checked against hand formulas and a slow reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vsr.metrics import psnr, rgb_to_y, sr_metrics, ssim


def test_rgb_to_y_bt601_unrounded():
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [1, 2, 3]]], dtype=np.uint8)
    y = rgb_to_y(pixels)
    assert y.dtype == np.float64
    expected = [235.0, 16.0, 16 + 65.481, 16 + (65.481 * 1 + 128.553 * 2 + 24.966 * 3) / 255]
    np.testing.assert_allclose(y[0], expected, rtol=0, atol=1e-12)
    assert y[0, 3] != round(y[0, 3])  # not rounded to an integer


def test_rgb_to_y_reads_rgba_as_its_rgb_and_leaves_out_the_alpha():
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [1, 2, 3]]], dtype=np.uint8)
    for alpha in (0, 128, 255):
        rgba = np.concatenate([pixels, np.full((1, 3, 1), alpha, np.uint8)], axis=2)
        np.testing.assert_array_equal(rgb_to_y(rgba), rgb_to_y(pixels))


def test_rgb_to_y_treats_grey_as_y():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(rgb_to_y(grey), grey.astype(np.float64))
    np.testing.assert_array_equal(rgb_to_y(grey[:, :, None]), grey.astype(np.float64))


def test_psnr_hand_formula_and_shave():
    a = np.zeros((10, 10))
    b = np.full((10, 10), 5.0)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25.0), abs=1e-12)
    # Errors only in a 2-pixel border disappear with shave=2.
    c = a.copy()
    c[:2, :] = 100
    assert psnr(a, c, shave=2) == math.inf
    c[5, 5] = 3  # one interior error of 3 over 6 x 6 shaved pixels
    assert psnr(a, c, shave=2) == pytest.approx(10 * math.log10(255**2 / (9 / 36)), abs=1e-12)
    assert psnr(a, b / 5, peak=1.0) == pytest.approx(0.0, abs=1e-12)


def _slow_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s ssim_index written out directly: a 2-D window at every valid position."""
    x = np.arange(11) - 5
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            mu_a, mu_b = (window * pa).sum(), (window * pb).sum()
            var_a = (window * (pa - mu_a) ** 2).sum()
            var_b = (window * (pb - mu_b) ** 2).sum()
            cov = (window * (pa - mu_a) * (pb - mu_b)).sum()
            values.append(
                ((2 * mu_a * mu_b + c1) * (2 * cov + c2))
                / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
            )
    return float(np.mean(values))


def test_ssim_matches_direct_reference():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(23, 19)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 20, size=a.shape), 0, 255)
    expected = _slow_ssim(a, b)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-10)
    assert ssim(a, b, shave=2) == pytest.approx(_slow_ssim(a[2:-2, 2:-2], b[2:-2, 2:-2]), abs=1e-10)
    assert 0 < expected < 1


def test_ssim_identity_and_symmetry():
    rng = np.random.default_rng(1)
    a = rng.random((30, 40)) * 255
    b = rng.random((30, 40)) * 255
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    assert ssim(a, b) < 0.2


def test_ssim_rejects_bad_input():
    with pytest.raises(ValueError):
        ssim(np.zeros((8, 30)), np.zeros((8, 30)))
    with pytest.raises(ValueError):
        ssim(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)))
    with pytest.raises(ValueError):
        psnr(np.zeros((20, 20)), np.zeros((20, 21)))


def test_a_shave_that_leaves_nothing_is_refused():
    # Shaving 2 pixels off a 4x4 image leaves no pixel: a mean over nothing, NaN, was
    # scored instead of the error. One pixel more on each side leaves one to score.
    a, b = np.zeros((4, 4)), np.full((4, 4), 255.0)
    with pytest.raises(ValueError, match="too small to shave 2 pixels"):
        psnr(a, b, shave=2)
    with pytest.raises(ValueError, match="too small to shave 2 pixels"):
        psnr(np.zeros((5, 4)), np.full((5, 4), 255.0), shave=2)
    assert psnr(np.zeros((5, 5)), np.full((5, 5), 255.0), shave=2) == 0.0


def test_sr_metrics_crops_converts_and_shaves():
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, size=(26, 30, 3), dtype=np.uint8)
    sr = hr[:24, :28].copy()
    sr[0, :] = 0  # a difference inside the shaved border only
    value_psnr, value_ssim = sr_metrics(sr, hr, scale=2)
    assert value_psnr == math.inf
    assert value_ssim == pytest.approx(1.0, abs=1e-12)
    sr[10, 10] ^= 0x40  # flips one bit of every channel: always a change
    hy, sy = rgb_to_y(hr[2:22, 2:26]), rgb_to_y(sr[2:22, 2:26])
    expected = 10 * math.log10(255**2 / np.mean((hy - sy) ** 2))
    value_psnr, _ = sr_metrics(sr, hr, scale=2)
    assert value_psnr == pytest.approx(expected, abs=1e-12)
