"""MATLAB-exact bicubic resize: bit-exact against MATLAB's Set5 inputs, and its properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_path

from vsr.imageio import read_image
from vsr.ops.imresize import imresize, resize_matrix


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reproduces_matlab_set5_inputs_bit_for_bit(scale):
    set5 = shared_path("datasets", "benchmark", "Set5")
    hr_files = sorted((set5 / "HR").glob("*.bmp"))
    assert len(hr_files) == 5
    for hr_path in hr_files:
        hr = read_image(hr_path)
        hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        expected = read_image(set5 / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.bmp")
        ours = imresize(hr, scale=1 / scale)
        assert ours.dtype == np.uint8
        assert ours.shape == expected.shape
        np.testing.assert_array_equal(ours, expected, err_msg=f"{hr_path.name} x{scale}")
        # Tensors (on any device) take a path of their own, rounding in their own code.
        tensor = imresize(
            torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1), scale=1 / scale
        )
        assert tensor.dtype == torch.uint8
        np.testing.assert_array_equal(
            tensor.permute(1, 2, 0).numpy(), expected, err_msg=f"{hr_path.name} x{scale}, torch"
        )


def test_torch_matches_numpy_on_uint8_batches():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(37, 23, 3), dtype=np.uint8)
    expected = imresize(image, scale=0.5)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    result = imresize(batch, scale=0.5)
    assert result.dtype == torch.uint8
    assert result.shape == (2, 3, 19, 12)
    for frame in result:
        np.testing.assert_array_equal(frame.permute(1, 2, 0).numpy(), expected)


def test_halves_round_away_from_zero_as_matlab_rounds_them():
    # Two pixels made one weigh 1/2 each, exactly: the mean of neighbouring values is a half,
    # which MATLAB rounds up and round-half-to-even takes down every other time (2.5 -> 2).
    pairs = np.array([[[0, 1]], [[2, 3]], [[4, 5]], [[254, 255]]], dtype=np.uint8)  # C, 1, 2
    tensors = (torch.from_numpy(pairs), torch.from_numpy(pairs.astype(np.uint16)))
    for image in (pairs.transpose(1, 2, 0), *tensors):  # numpy takes H x W x C
        halved = imresize(image, output_size=(1, 1))
        assert np.asarray(halved).ravel().tolist() == [1, 3, 5, 255]


def test_float_input_stays_float_and_unrounded():
    rng = np.random.default_rng(2)
    image = rng.random((16, 20))
    result = imresize(image, scale=1.5)
    assert result.dtype == np.float64
    assert result.shape == (24, 30)
    assert not np.allclose(result, np.round(result * 255) / 255)  # no rounding applied
    tensor = imresize(torch.from_numpy(image).float(), scale=1.5)
    assert tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor.numpy(), result, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors_are_resized_in_float32(dtype):
    # The engine resizes the network's fp16/bf16 output on a GPU: computed in bf16 the
    # error grew from 0.50 to 2.21 levels. Only the result is rounded to the dtype.
    torch.manual_seed(0)
    image = torch.rand(1, 3, 24, 32).to(dtype)
    for size in ((18, 24), (48, 64)):
        expected = imresize(image.float(), output_size=size).to(dtype)
        assert torch.equal(imresize(image, output_size=size), expected)


def test_a_scale_s_float_error_does_not_add_a_sample():
    # 100 * 1.1 is 110.00000000000001 in doubles: ceil would make 111 samples of 100 at
    # x1.1. Sides that are really fractional still round up, as MATLAB's ceil does.
    assert imresize(np.zeros((100, 10), np.uint8), scale=1.1).shape == (110, 11)
    assert imresize(np.zeros((101, 9), np.uint8), scale=0.5).shape == (51, 5)


def test_constant_image_stays_constant_up_and_down():
    image = np.full((30, 40, 3), 77, dtype=np.uint8)
    # Non-integer shrinks too (0.75, 0.6, 30 to 17 and 40 to 9): where the kernel's taps
    # fall off the sample grid their weights sum to 1 only once normalised, and a flat 200
    # shrunk by 0.75 came out 198 to 204.
    for scale in (0.25, 1 / 3, 0.5, 0.6, 0.75, 2.0, 3.0):
        result = imresize(image, scale=scale)
        assert (result == 77).all()
    result = imresize(image, output_size=(17, 9))
    assert result.shape == (17, 9, 3) and (result == 77).all()
    flat = torch.full((1, 3, 32, 40), 0.5, dtype=torch.float64)
    torch.testing.assert_close(
        imresize(flat, scale=0.75), torch.full_like(flat[..., :24, :30], 0.5)
    )


def test_weights_rows_sum_to_one_and_upscale_interpolates_known_samples():
    for in_size, out_size, scale in [(10, 5, 0.5), (9, 3, 1 / 3), (5, 10, 2.0), (7, 21, 3.0)]:
        matrix = resize_matrix(in_size, out_size, scale)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    # Upscaling by 3: output centres land on input centres every third sample (u = x/3 + 1/3
    # in 1-based units), where the cubic kernel is 1 at the centre and 0 at other integers.
    matrix = resize_matrix(7, 21, 3.0)
    np.testing.assert_allclose(matrix[1::3], np.eye(7), atol=1e-12)


def test_downscale_stretches_the_kernel_matlab_style():
    # At x1/2 MATLAB stretches the cubic to 8 taps: weight 0.5 * cubic(0.5 * d) for the
    # distances d = 0.5, 1.5, 2.5, 3.5 (cubic values worked out by hand from Keys' formula).
    matrix = resize_matrix(20, 10, 0.5)
    # Output sample x = 6 (1-based) is centred at u = x / 0.5 + 0.5 * (1 - 2) = 11.5,
    # i.e. 10.5 in 0-based input positions.
    row = matrix[5]
    centre = 10.5
    expected = np.zeros(20)
    for distance, weight in [(0.5, 0.43359375), (1.5, 0.11328125), (2.5, -0.03515625),
                             (3.5, -0.01171875)]:  # fmt: skip
        expected[int(centre - distance)] = weight
        expected[int(centre + distance)] = weight
    np.testing.assert_allclose(row, expected, atol=1e-12)


def test_rows_resized_first_with_rounding_between_passes():
    # With uint8, rounding after the first pass makes the order observable: height first
    # (equal scales) must equal resizing height as its own call, then width.
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(24, 18), dtype=np.uint8)
    height_first = imresize(imresize(image, output_size=(12, 18)), output_size=(12, 9))
    width_then_height = imresize(imresize(image, output_size=(24, 9)), output_size=(12, 9))
    assert (height_first != width_then_height).any()  # the order matters on this image
    np.testing.assert_array_equal(imresize(image, scale=0.5), height_first)
    # Smaller scale first: width shrinks more here, so width goes first.
    width_first = imresize(imresize(image, output_size=(24, 6)), output_size=(12, 6))
    np.testing.assert_array_equal(imresize(image, output_size=(12, 6)), width_first)


def test_bad_arguments():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), scale=2, output_size=(8, 8))
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        imresize(np.zeros(4), scale=2)
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4), dtype=np.int32), scale=2)  # would truncate, not round
