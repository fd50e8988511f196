"""Training patches: LR/HR alignment against the MATLAB bicubic, augmentations, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vsr.errors import VsrError
from vsr.ops.imresize import imresize
from vsr.train.data import PatchStore, batch_generator, read_rgb


def _images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Odd sizes: the store must crop each to a multiple of the scale before downscaling.
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in [(41, 53, 3), (64, 37, 3)]]


def _reference_transform(patch: np.ndarray, transform: int) -> np.ndarray:
    """transform bits: 4 transposes, then 1 flips left-right, 2 flips up-down (HWC)."""
    if transform & 4:
        patch = patch.transpose(1, 0, 2)
    if transform & 1:
        patch = patch[:, ::-1]
    if transform & 2:
        patch = patch[::-1]
    return patch


@pytest.mark.parametrize("scale", [2, 3])
def test_patches_match_the_bicubic_of_their_hr_region(scale: int) -> None:
    images = _images()
    store = PatchStore(images, scale=scale, lr_patch=6)
    for image_index, image in enumerate(images):
        h, w = (image.shape[0] // scale) * scale, (image.shape[1] // scale) * scale
        lr_full = imresize(np.ascontiguousarray(image[:h, :w]), scale=1 / scale)
        for top, left in [(0, 0), (lr_full.shape[0] - 6, lr_full.shape[1] - 6), (3, 2)]:
            batch = store.crop(
                torch.tensor([image_index]), torch.tensor([top]), torch.tensor([left]),
                torch.tensor([0]),
            )  # fmt: skip
            lr = batch.lr[0].permute(1, 2, 0).numpy()
            hr = batch.hr[0].permute(1, 2, 0).numpy()
            np.testing.assert_array_equal(lr, lr_full[top : top + 6, left : left + 6])
            s = scale
            np.testing.assert_array_equal(
                hr, image[top * s : (top + 6) * s, left * s : (left + 6) * s]
            )


def test_augmentations_are_the_same_on_lr_and_hr() -> None:
    store = PatchStore(_images(), scale=2, lr_patch=5)
    plain = store.crop(torch.tensor([1]), torch.tensor([4]), torch.tensor([3]), torch.tensor([0]))
    lr0 = plain.lr[0].permute(1, 2, 0).numpy()
    hr0 = plain.hr[0].permute(1, 2, 0).numpy()
    seen = set()
    for transform in range(8):
        batch = store.crop(
            torch.tensor([1]), torch.tensor([4]), torch.tensor([3]), torch.tensor([transform])
        )
        lr = batch.lr[0].permute(1, 2, 0).numpy()
        hr = batch.hr[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(lr, _reference_transform(lr0, transform))
        np.testing.assert_array_equal(hr, _reference_transform(hr0, transform))
        seen.add(lr.tobytes())
    assert len(seen) == 8  # eight distinct flips/rotations of a random patch


def test_sampling_is_a_function_of_seed_rank_and_step() -> None:
    store = PatchStore(_images(), scale=2, lr_patch=8)
    a = store.sample(6, batch_generator(seed=1, rank=0, step=5))
    b = store.sample(6, batch_generator(seed=1, rank=0, step=5))
    other_rank = store.sample(6, batch_generator(seed=1, rank=1, step=5))
    other_step = store.sample(6, batch_generator(seed=1, rank=0, step=6))
    assert a.lr.shape == (6, 3, 8, 8) and a.hr.shape == (6, 3, 16, 16)
    assert a.lr.dtype == torch.uint8
    assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr)
    assert not torch.equal(a.hr, other_rank.hr)
    assert not torch.equal(a.hr, other_step.hr)


def test_sampled_patches_are_aligned() -> None:
    """Random samples: HR from an even position, LR the same transform of the bicubic there."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:96, 0:80]
    # Red and green hold each pixel's position, so a patch tells where it was cut from.
    image = np.stack([rows, cols, rng.integers(0, 256, (96, 80))], axis=2).astype(np.uint8)
    store = PatchStore([image], scale=2, lr_patch=12)
    lr_full = imresize(image, scale=0.5)
    batch = store.sample(16, batch_generator(seed=0, rank=0, step=0))
    transforms_seen = set()
    for lr, hr in zip(batch.lr, batch.hr, strict=True):
        hr_np, lr_np = hr.permute(1, 2, 0).numpy(), lr.permute(1, 2, 0).numpy()
        top, left = int(hr_np[:, :, 0].min()), int(hr_np[:, :, 1].min())
        assert top % 2 == 0 and left % 2 == 0
        region = image[top : top + 24, left : left + 24]
        (transform,) = [
            t for t in range(8) if np.array_equal(_reference_transform(region, t), hr_np)
        ]
        transforms_seen.add(transform)
        lr_region = lr_full[top // 2 : top // 2 + 12, left // 2 : left // 2 + 12]
        np.testing.assert_array_equal(lr_np, _reference_transform(lr_region, transform))
    assert len(transforms_seen) > 1


def test_sampling_draws_every_position_and_every_transform_alike() -> None:
    # A 12-pixel image at x2 has a 6-pixel LR, so 4-pixel patches start at rows and columns
    # 0, 1 and 2: the last of them too, and all eight flips and rotations, as often each.
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[0:12, 0:12]
    image = np.stack([rows, cols, rng.integers(0, 256, (12, 12))], axis=2).astype(np.uint8)
    store = PatchStore([image], scale=2, lr_patch=4)
    batch = store.sample(800, batch_generator(seed=0, rank=0, step=0))
    tops, lefts, transforms = [], [], []
    for hr in batch.hr:
        hr_np = hr.permute(1, 2, 0).numpy()
        top, left = int(hr_np[:, :, 0].min()), int(hr_np[:, :, 1].min())
        region = image[top : top + 8, left : left + 8]
        (transform,) = [
            t for t in range(8) if np.array_equal(_reference_transform(region, t), hr_np)
        ]
        tops.append(top // 2)
        lefts.append(left // 2)
        transforms.append(transform)
    # 800 draws: about 267 of each position and 100 of each transform; the bounds lie
    # five standard deviations either side.
    assert sorted(set(tops)) == sorted(set(lefts)) == [0, 1, 2]
    assert all(200 < tops.count(p) < 333 and 200 < lefts.count(p) < 333 for p in range(3))
    assert sorted(set(transforms)) == list(range(8))
    assert all(50 < transforms.count(t) < 150 for t in range(8))


def test_images_too_small_are_skipped_and_none_is_an_error() -> None:
    small = np.zeros((10, 10, 3), np.uint8)
    store = PatchStore([small, _images()[0]], scale=2, lr_patch=8)
    assert store.count == 1 and store.skipped == 1
    with pytest.raises(VsrError):
        PatchStore([small], scale=2, lr_patch=8)
    # An image of exactly one HR patch (16 pixels at x2, LR patches of 8) holds one.
    just = PatchStore([np.zeros((16, 17, 3), np.uint8)], scale=2, lr_patch=8)
    assert just.count == 1 and just.skipped == 0
    with pytest.raises(VsrError):
        PatchStore([np.zeros((15, 17, 3), np.uint8)], scale=2, lr_patch=8)


def test_grey_images_are_read_as_rgb(tmp_path) -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    rgb = read_rgb(tmp_path / "grey.png")
    assert rgb.shape == (6, 8, 3)
    np.testing.assert_array_equal(rgb[:, :, 1], grey)


def test_sixteen_bit_images_are_rounded_to_the_nearest_eight_bit_level(tmp_path) -> None:
    # Each 16-bit level v is v / 257 in 8-bit levels; dropping the low byte instead put 63
    # of these 256 samples on a level more than half a level away.
    deep = np.random.default_rng(0).integers(0, 65536, 256, dtype=np.uint16)
    Image.fromarray(deep.reshape(16, 16)).save(tmp_path / "deep.png")
    expected = np.floor(deep.astype(np.float64) / 257 + 0.5).astype(np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(read_rgb(tmp_path / "deep.png")[:, :, 0], expected)


def test_hidden_files_in_a_training_folder_are_left_out(tmp_path) -> None:
    from vsr.train.data import list_images

    Image.fromarray(_images()[0]).save(tmp_path / "a.png")
    # macOS's AppleDouble file beside a copied a.png: metadata, no picture.
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(74))
    (tmp_path / ".partial.jpg").write_bytes(b"")
    assert list_images(tmp_path) == [tmp_path / "a.png"]
    store = PatchStore.from_folder(tmp_path, scale=2, lr_patch=6)
    assert store.count == 1


def test_a_training_folder_of_only_hidden_images_says_they_were_left_out(tmp_path) -> None:
    from vsr.train.data import list_images

    Image.fromarray(_images()[0]).save(tmp_path / ".a.png")
    (tmp_path / ".DS_Store").write_bytes(bytes(16))
    with pytest.raises(VsrError) as refusal:
        list_images(tmp_path)
    assert str(refusal.value) == (
        f"no PNG, BMP, WebP, JPEG or TIFF images in {tmp_path} (1 hidden file(s) left out: .a.png)"
    )
    (tmp_path / ".a.png").unlink()  # none hidden: the message as it was
    with pytest.raises(VsrError) as refusal:
        list_images(tmp_path)
    assert str(refusal.value) == f"no PNG, BMP, WebP, JPEG or TIFF images in {tmp_path}"


def test_tiff_images_train_as_they_validate(tmp_path) -> None:
    # Evaluation reads TIFF as data (vsr.imageio.IMAGE_EXTENSIONS): a folder that validates
    # must train, and a TIFF beside PNGs must not be left out silently.
    from vsr.train.data import list_images

    first, second = _images()[:2]
    Image.fromarray(first).save(tmp_path / "a.png")
    Image.fromarray(second).save(tmp_path / "b.tif")
    deep = (second.astype(np.uint16) * 257)[:, :, 0]  # 16-bit grey, exactly second's red
    Image.fromarray(deep).save(tmp_path / "c.tiff")
    assert list_images(tmp_path) == [tmp_path / "a.png", tmp_path / "b.tif", tmp_path / "c.tiff"]
    store = PatchStore.from_folder(tmp_path, scale=2, lr_patch=6)
    assert store.count == 3
    np.testing.assert_array_equal(read_rgb(tmp_path / "b.tif"), second)
    np.testing.assert_array_equal(read_rgb(tmp_path / "c.tiff")[:, :, 1], second[:, :, 0])


def test_a_benchmark_layout_given_whole_names_its_hr_folder(tmp_path) -> None:
    # Set5 given as the training folder: its pictures are in Set5/HR/.
    from vsr.train.data import list_images

    (tmp_path / "HR").mkdir()
    (tmp_path / "LR_bicubic" / "X2").mkdir(parents=True)
    Image.fromarray(_images()[0]).save(tmp_path / "HR" / "a.png")
    with pytest.raises(VsrError) as refusal:
        list_images(tmp_path)
    assert str(refusal.value) == (
        f"no PNG, BMP, WebP, JPEG or TIFF images in {tmp_path}: pass its HR folder, "
        f"{tmp_path / 'HR'}"
    )
    assert list_images(tmp_path / "HR") == [tmp_path / "HR" / "a.png"]


def test_every_unreadable_training_image_is_named_at_once(tmp_path) -> None:
    # The first damaged image stopped the run alone: a folder with three took three runs.
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{name}.png"
        )
    whole = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    (tmp_path / "d.jpg").write_bytes(b"not a JPEG")
    with pytest.raises(VsrError) as refused:
        PatchStore.from_folder(tmp_path, 2, 8)
    said = str(refused.value)  # each with Pillow's own reason
    assert said.startswith(f"2 of the 4 images in {tmp_path} cannot be read: b.png (image ")
    assert ", d.jpg (cannot identify image file" in said
    assert said.endswith("); remove or replace them")
    # One alone is named as it was.
    (tmp_path / "d.jpg").unlink()
    with pytest.raises(VsrError, match=rf"^cannot read image {tmp_path / 'b.png'}: "):
        PatchStore.from_folder(tmp_path, 2, 8)
