"""An argument of the wrong type given to the API is refused at once, naming what was given
and what is taken: a VsrError (as the docs promise) that is a TypeError too."""

from __future__ import annotations

import types
import typing

import numpy as np
import pytest
from media import make_clip

import vsr
from vsr.argument_types import given
from vsr.errors import VsrError, VsrTypeError
from vsr.pipelines import parse_memory


@pytest.fixture(scope="module")
def upscaler(weights):
    return vsr.load_model(weights, device="cpu")


def test_a_path_given_as_bytes_is_a_type_error_naming_it(upscaler, weights, tmp_path):
    # Was "an image must be H x W or H x W x C, not an array of shape ()".
    with pytest.raises(TypeError, match=r"^image must be .*or a path \(str or os\.PathLike\), "):
        vsr.upscale_image(upscaler, b"in.png")
    with pytest.raises(VsrTypeError, match=r"not None$"):
        vsr.upscale_image(upscaler, None)
    pixels = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(VsrTypeError, match=r"^output must be a path .*, not bytes b'o\.png'$"):
        vsr.upscale_image(upscaler, pixels, b"o.png")
    with pytest.raises(VsrTypeError, match=r"^frames must be an N x H x W x 3 uint8 array"):
        vsr.upscale_frames(upscaler, "clip.mp4")
    # Was pathlib's "argument should be a str object or an os.PathLike object ...".
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    with pytest.raises(VsrTypeError, match=r"^input must be a path .*, not bytes b'in\.mp4'$"):
        vsr.upscale_video(b"in.mp4", tmp_path / "out.mkv", weights=weights)
    with pytest.raises(VsrTypeError, match=r"^output must be a path"):
        vsr.upscale_video(source, bytes(tmp_path / "out.mkv"), weights=weights)
    with pytest.raises(VsrTypeError, match=r"^report must be a path"):
        vsr.upscale_video(source, tmp_path / "out.mkv", weights=weights, report=1)
    assert list(tmp_path.iterdir()) == [source]


def test_a_switch_given_anything_but_a_bool_is_refused(upscaler, weights, tmp_path):
    # Was taken as True: "no" is a non-empty string.
    with pytest.raises(VsrTypeError, match=r"^channels_last must be True or False, not str 'no'$"):
        vsr.load_model(weights, device="cpu", channels_last="no")
    with pytest.raises(VsrTypeError, match=r"^cuda_graphs must be True or False, not int 1$"):
        vsr.Upscaler(upscaler.model, device="cpu", cuda_graphs=1)
    assert (
        vsr.load_model(weights, device="cpu", channels_last=np.bool_(False)).channels_last is False
    )
    pixels = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(VsrTypeError, match=r"^overwrite must be True or False, not str 'yes'$"):
        vsr.upscale_image(upscaler, pixels, tmp_path / "o.png", overwrite="yes")
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    for switch in ("channels_last", "cuda_graphs", "progress", "overwrite", "resume"):
        with pytest.raises(VsrTypeError, match=rf"^{switch} must be True or False, not None$"):
            vsr.upscale_video(source, tmp_path / "out.mkv", weights=weights, **{switch: None})
    with pytest.raises(
        VsrTypeError, match=r"^compile must be True, False or a mode .*, not int 1$"
    ):
        vsr.upscale_video(source, tmp_path / "out.mkv", weights=weights, compile=1)
    assert list(tmp_path.iterdir()) == [source]


class _BytesPath:
    """An os.PathLike that gives bytes, which pathlib refuses."""

    def __fspath__(self) -> bytes:
        return b"in.png"


def test_a_path_like_that_gives_bytes_is_a_type_error_naming_it(upscaler, weights):
    # load_model(weights=) let it through to pathlib: "TypeError: argument should be a str
    # object or an os.PathLike object returning str, not <class 'bytes'>".
    with pytest.raises(VsrTypeError, match=r"^weights must be a file path .*, not _BytesPath$"):
        vsr.load_model(_BytesPath())
    with pytest.raises(VsrTypeError, match=r"^weights must be a file path .*, not bytes b'w'$"):
        vsr.load_model(b"w")  # was "not a bytes"
    with pytest.raises(VsrTypeError, match=r"^image must be .*, not _BytesPath$"):
        vsr.upscale_image(upscaler, _BytesPath())


def test_a_value_with_only_object_s_repr_is_named_by_its_type_alone(upscaler):
    # Was "not _BytesPath <test_api_types._BytesPath object at 0x7f...>": an address.
    with pytest.raises(VsrTypeError) as refused:
        vsr.upscale_image(upscaler, _BytesPath())
    assert str(refused.value).endswith(", not _BytesPath")
    assert " at 0x" not in str(refused.value)
    assert given(_BytesPath()) == "_BytesPath"
    assert given("no") == "str 'no'"  # a repr of its own is still shown
    # One of its own that says only where the value is, as object's does.
    assert given(memoryview(b"\x89PNG")) == "memoryview"
    assert given(print) == "builtin_function_or_method <built-in function print>"


def _f() -> object:
    class L:
        pass

    return L()


def test_a_local_class_or_a_repr_that_is_the_type_s_name_is_named_once():
    # A class made inside a function has "<locals>" in its repr, which the pattern for an
    # address ("<... at 0x...>") does not match: only the check of object's repr keeps it out.
    local = _f()
    assert "<locals>" in repr(local) and len(repr(local)) <= 60  # short enough to be shown
    assert given(local) == "L"
    # A value whose repr is its type's name alone (a sentinel) is not named twice.

    class Sentinel:
        def __repr__(self) -> str:
            return "Sentinel"

    assert given(Sentinel()) == "Sentinel"


def test_a_value_is_shown_up_to_sixty_characters_and_a_longer_one_by_its_type():
    # A message names the value where it reads at a glance; a longer one is its type alone.
    assert given("x" * 58) == "str '" + "x" * 58 + "'"  # a repr of 60 characters
    assert given("x" * 59) == "str"


class _NumberPath:
    """An os.PathLike whose __fspath__ gives neither str nor bytes."""

    def __fspath__(self) -> int:
        return 3


def test_a_path_like_that_gives_no_path_is_a_type_error_naming_it(weights):
    # Taken for a path, it reached pathlib: "expected _NumberPath.__fspath__() to return str
    # or bytes, not int", a plain TypeError.
    with pytest.raises(VsrTypeError, match=r"^input must be a path .*, not _NumberPath$"):
        vsr.upscale_video(_NumberPath(), "out.mkv", weights=weights)


@pytest.mark.parametrize("pixels", [bytearray(b"\x89PNG"), memoryview(b"\x89PNG")])
def test_pixels_given_as_a_buffer_of_bytes_are_a_type_error_naming_it(upscaler, pixels):
    # An image file's bytes, read into a bytearray or a memoryview, are no pixels: numpy
    # reads them as a row of numbers, refused for its shape instead of its type.
    kind = type(pixels).__name__
    with pytest.raises(VsrTypeError, match=rf"^image must be .*, not {kind}"):
        vsr.upscale_image(upscaler, pixels)
    with pytest.raises(VsrTypeError, match=rf"^frames must be .*, not {kind}"):
        vsr.upscale_frames(upscaler, pixels)


def test_a_compile_mode_given_as_numpy_s_str_is_named_as_written(weights, tmp_path):
    # Was "unknown compile mode np.str_('bogus')": numpy's repr, not what the caller wrote.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    with pytest.raises(vsr.VsrError, match=r"^unknown compile mode 'bogus'; use one of "):
        vsr.upscale_video(source, tmp_path / "out.mkv", weights=weights, compile=np.str_("bogus"))
    assert list(tmp_path.iterdir()) == [source]


def test_weights_given_where_the_upscaler_goes_are_a_type_error(weights):
    # Was a plain VsrError, which `except TypeError` let through.
    pixels = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(TypeError, match=r"^the first argument must be a vsr\.Upscaler .*not a "):
        vsr.upscale_image(str(weights), pixels)
    with pytest.raises(VsrTypeError, match=r"not a \w*Path$"):
        vsr.upscale_frames(weights, pixels[None])


def test_a_memory_budget_must_be_a_whole_number_of_bytes(weights):
    # 1.5 was taken, as a budget of int(1.5) = 1 byte; 1e9 as 1000000000.
    for budget, shown in ((1.5, "float 1.5"), (1e9, "float 1000000000.0"), (True, "bool True")):
        with pytest.raises(
            VsrTypeError,
            match=rf"^max_memory must be a whole number of bytes \(an int\), not {shown}$",
        ):
            vsr.load_model(weights, device="cpu", max_memory=budget)
    with pytest.raises(vsr.VsrError, match=r"^max_memory must be a number of bytes > 0, not 0$"):
        vsr.load_model(weights, device="cpu", max_memory=0)
    assert vsr.load_model(weights, device="cpu", max_memory=np.int64(1 << 30)).memory_budget == (
        1 << 30
    )
    # The command line's sizes, fractions of a unit included, come out as whole bytes.
    assert [parse_memory(text) for text in ("1.5KiB", "512M", "1500000000")] == [
        1536,
        512 << 20,
        1500000000,
    ]
    assert all(type(parse_memory(text)) is int for text in ("1.5KiB", "0.7g", "2GiB"))
    # Under a byte, or a fraction of one, is refused naming the text (was 0 and 1 byte).
    for text, refusal in [("0.4", "is less than a byte"), ("1.5", "is not a whole number")]:
        with pytest.raises(vsr.VsrError, match=rf"^memory size '{text}' {refusal}"):
            parse_memory(text)


def test_the_type_error_is_exported_beside_vsr_error(upscaler):
    # A caller catching it had to import it from vsr.errors: the README names vsr.VsrTypeError.
    with pytest.raises(vsr.VsrTypeError):
        vsr.upscale_image(upscaler, None)
    assert issubclass(vsr.VsrTypeError, vsr.VsrError) and issubclass(vsr.VsrTypeError, TypeError)


def test_a_number_given_as_text_or_a_dict_for_the_settings_is_a_type_error(
    upscaler, weights, tmp_path
):
    # Each was a plain VsrError, which `except TypeError` in the caller's code missed.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    out = tmp_path / "out.mkv"
    for keyword, value, said in (
        ("scale", "2", r"^scale must be a number, not str '2'$"),
        ("batch", "2", r"^batch must be a whole number >= 1, not str '2'$"),
        ("height", 100.5, r"^height must be a whole number of pixels >= 1, not float 100\.5$"),
        ("size", ("640", 360), r"^size must be \(width, height\) .*, not tuple \('640', 360\)$"),
        ("settings", {"crf": 18}, r"^settings must be a vsr\.EncodeSettings .*not dict"),
        ("on_frames", 5, r"^on_frames must be a function of the frame count, not int 5$"),
    ):
        with pytest.raises(VsrTypeError, match=said):
            vsr.upscale_video(source, out, weights=weights, **{keyword: value})
    # A wrong value of the right type stays a plain VsrError.
    with pytest.raises(vsr.VsrError) as refused:
        vsr.upscale_video(source, out, weights=weights, batch=0)
    assert not isinstance(refused.value, TypeError)
    with pytest.raises(VsrTypeError, match=r"^scale must be a whole number >= 1, not str '2'$"):
        vsr.load_model(weights, scale="2")
    with pytest.raises(VsrTypeError, match=r"^device must be 'cpu', .*, not int 0$"):
        vsr.load_model(weights, device=0)  # torch would take 0 for cuda:0
    frames = np.zeros((1, 4, 6, 3), np.uint8)
    with pytest.raises(VsrTypeError, match=r"^scale must be a whole number >= 1, not str '2'$"):
        vsr.upscale_frames(upscaler, frames, scale="2")
    with pytest.raises(VsrTypeError, match=r"^the upscaler takes a torch tensor, not a ndarray"):
        upscaler(frames)
    assert list(tmp_path.iterdir()) == [source]


def test_a_precision_encoders_or_deinterlace_of_the_wrong_type_is_a_type_error(weights, tmp_path):
    # precision=["fp32"] escaped as Python's "unhashable type: 'list'"; precision=16,
    # encoders="2", 2.0 or True and deinterlace=1 were plain VsrErrors, which `except
    # TypeError` missed, where batch=2.0 was a VsrTypeError.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    out = tmp_path / "out.mkv"
    for keyword, value, said in (
        ("precision", ["fp32"], r"^precision must be one of fp32, fp16, bf16 or None, not list"),
        ("precision", 16, r"^precision must be one of fp32, fp16, bf16 or None, not int 16$"),
        ("encoders", "2", r"^encoders must be a whole number >= 1, not str '2'$"),
        ("encoders", 2.0, r"^encoders must be a whole number >= 1, not float 2\.0$"),
        ("encoders", True, r"^encoders must be a whole number >= 1, not bool True$"),
        ("deinterlace", 1, r"^deinterlace must be one of auto, all, .*, not int 1$"),
    ):
        with pytest.raises(VsrTypeError, match=said):
            vsr.upscale_video(source, out, weights=weights, **{keyword: value})
    with pytest.raises(VsrTypeError, match=r"^precision must be .*, not list \['fp32'\]$"):
        vsr.load_model(weights, device="cpu", precision=["fp32"])
    # A wrong value of the right type stays a plain VsrError.
    for keyword, value in (("precision", "fp64"), ("encoders", 0), ("deinterlace", "bogus")):
        with pytest.raises(vsr.VsrError) as refused:
            vsr.upscale_video(source, out, weights=weights, **{keyword: value})
        assert not isinstance(refused.value, TypeError), keyword
    assert list(tmp_path.iterdir()) == [source]


def test_encode_settings_check_their_fields_as_they_are_made():
    # Each escaped deep in the writer as Python's own error: crf="23" a TypeError comparing
    # with a number, options={"g": 5} PyAV's TypeError, options=None an AttributeError.
    for fields, said in (
        ({"crf": "23"}, r"^settings crf must be a number or None, not str '23'$"),
        ({"codec": 5}, r"^settings codec must be an encoder's name .*, not int 5$"),
        ({"preset": 1.5}, r"^settings preset must be a name .*, not float 1\.5$"),
        ({"pix_fmt": b"yuv420p"}, r"^settings pix_fmt must be a format .*, not bytes"),
        ({"options": ["g=5"]}, r"^settings options must be a dict .*, not list \['g=5'\]$"),
        ({"options": {"g": None}}, r"^settings options\['g'\] must be text or a number, not None$"),
        ({"options": {"tune": True}}, r"^settings options\['tune'\] must be text or a number"),
        ({"codec_is_default": "yes"}, r"^settings codec_is_default must be True or False"),
    ):
        with pytest.raises(VsrTypeError, match=said):
            vsr.EncodeSettings(**fields)
    # What libav reads as text is taken as numbers, and None as no options.
    settings = vsr.EncodeSettings(crf=18.5, preset=8, options={"g": 48, "tune": "film"})
    assert (settings.crf, settings.preset, settings.options) == (
        18.5,
        "8",
        {"g": "48", "tune": "film"},
    )
    assert vsr.EncodeSettings(options=None).options == {}


def _fits(value: object, hint: object) -> bool:
    """Whether a type checker takes `value` where `hint` is asked for: unions, dict[K, V],
    and an int where a float is (PEP 484's numeric tower)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if typing.get_origin(hint) is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _fits(k, key) and _fits(v, item) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def test_encode_settings_hints_take_the_numbers_the_docs_show():
    # mypy refused what the README and the docstring show, in a package that ships py.typed:
    # preset=8 ('expected "str | None"') and options={"g": 48} ('expected "str": "str"').
    hints = typing.get_type_hints(vsr.EncodeSettings)
    shown = {"codec": None, "crf": 18, "preset": 8, "options": {"g": 48, "tune": "film"}}
    for name, value in shown.items():
        assert _fits(value, hints[name]), f"{name}={value!r} against {hints[name]}"


def test_encode_settings_changed_after_they_are_made_are_checked_as_the_run_takes_them(
    weights, tmp_path
):
    # Fields were checked only as they were made: set afterwards, each escaped deep in the
    # writer once the model had loaded, options["g"] = 48 as PyAV's "Argument 'value' has
    # incorrect type (expected str, got int)", crf = "23" as "'<=' not supported", preset = 5
    # as "'int' object has no attribute 'lower'", codec = None as "expected bytes".
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    refused = vsr.EncodeSettings()
    refused.crf = "23"
    with pytest.raises(
        VsrTypeError, match=r"^settings crf must be a number or None, not str '23'$"
    ):
        vsr.upscale_video(source, tmp_path / "refused.mkv", weights=weights, settings=refused)
    assert list(tmp_path.iterdir()) == [source]
    # What construction takes is taken: numbers as libav reads them, no codec as the default.
    changed = vsr.EncodeSettings(codec="libx265")
    changed.codec, changed.preset = None, 5
    changed.options["g"] = 48
    report = vsr.upscale_video(
        source, tmp_path / "out.mkv", weights=weights, settings=changed, progress=False
    )
    assert (report.frames, report.codec) == (2, "libx264")
    # The caller's own settings are left as they were set.
    assert (changed.codec, changed.preset, changed.options) == (None, 5, {"g": 48})


def test_a_codec_set_after_the_settings_were_made_is_the_callers_choice(weights, tmp_path):
    # EncodeSettings() then .codec = "libx265" kept the hidden "nobody chose the codec" mark
    # of its making: a .webm output took VP9 in place of the codec set, with a note calling
    # libx264 the default it replaced.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    # Set to the default's own name, it was still taken for unchosen, and swapped.
    for codec in ("libx265", "libx264"):
        settings = vsr.EncodeSettings()
        settings.codec = codec
        with pytest.raises(VsrError, match=rf"^{codec} cannot be stored in \.webm files"):
            vsr.upscale_video(source, tmp_path / "out.webm", weights=weights, settings=settings)
        assert list(tmp_path.iterdir()) == [source]
    # Left unchosen, the container still takes its own.
    report = vsr.upscale_video(
        source,
        tmp_path / "own.webm",
        weights=weights,
        settings=vsr.EncodeSettings(),
        progress=False,
    )
    assert report.codec == "libvpx-vp9"


def test_settings_without_a_codec_let_the_container_choose_its_own(weights, tmp_path):
    # EncodeSettings(crf=..., preset=...) named no codec, yet into .webm it was refused as
    # "libx264 cannot be stored in .webm", where vsr run --crf 30 (no --codec) takes VP9.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    assert vsr.EncodeSettings(crf=30).codec_is_default
    assert not vsr.EncodeSettings(codec="libx264", crf=30).codec_is_default
    report = vsr.upscale_video(
        source,
        tmp_path / "out.webm",
        weights=weights,
        settings=vsr.EncodeSettings(crf=30),
        progress=False,
    )
    assert report.codec == "libvpx-vp9"
    assert any("libvpx-vp9" in note for note in report.notes), report.notes
