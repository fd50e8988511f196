"""A CMYK picture turned into RGB through the ICC profile it carries, as print and photo
software shows it, rather than by Pillow's formula (R = 255 - C - K ...), which knows no
inks: on a press-like profile the formula made a process cyan (0, 255, 255) where the
profile says (0, 155, 223), and left a rich black's paper tint unshown.

LittleCMS (Pillow's ImageCms, in every Pillow wheel) converts from the embedded profile to
sRGB with relative colorimetric rendering and black point compensation, Photoshop's own
default for such a conversion: the colours a print can hold, most of them inside sRGB,
come out as the profile measures them, where perceptual rendering would apply the
profile maker's gamut squeeze, meant for a larger space going into a smaller one; the
paper becomes white and the darkest ink black, where without the compensation blacks
come out a milky grey (40 of 255 on the test's press profile). The output is then tagged
sRGB (vsr.image_metadata): untagged pictures are taken as sRGB by browsers, but software
set to another working space (Adobe RGB, a print shop's default) would read them as that.

A picture without a profile, or with one LittleCMS cannot use, keeps Pillow's formula."""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageCms


def _srgb_profile() -> bytes:
    """LittleCMS's sRGB profile with a fixed date. LittleCMS stamps the time it makes a
    profile into the header (bytes 24 to 36), so every run wrote other bytes into the same
    output; the profile ID (bytes 84 to 100, an MD5 that would cover the date) is left
    zero, "not computed", as LittleCMS leaves it."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    dated = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)  # any fixed date: 2000-01-01 00:00
    return profile[:24] + dated + profile[36:84] + bytes(16) + profile[100:]


SRGB_PROFILE = _srgb_profile()


def srgb_transform(image: Image.Image) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS's transform of the CMYK `image` through its own profile into sRGB; None
    where it has no usable one."""
    profile = image.info.get("icc_profile")
    if image.mode != "CMYK" or not profile or profile[16:20] != b"CMYK":
        return None
    try:
        return ImageCms.buildTransform(
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            ImageCms.createProfile("sRGB"),
            "CMYK",
            "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a damaged or unusable profile: the formula, as before


def converts_with_profile(image: Image.Image) -> bool:
    """Whether `image` is CMYK with a profile that `to_srgb` converts it through."""
    return srgb_transform(image) is not None


def to_srgb(
    image: Image.Image, transform: ImageCms.ImageCmsTransform | None = None
) -> Image.Image | None:
    """The CMYK `image` in sRGB through its own profile; None where it has no usable one.
    Pillow has already undone an Adobe JPEG's inverted inks, so 0 is no ink here, as
    LittleCMS expects. `transform`: srgb_transform's of the picture `image` is a piece of,
    made once for all its pieces (making it took 25 ms a piece)."""
    transform = transform or srgb_transform(image)
    if transform is None:
        return None
    try:
        return ImageCms.applyTransform(image, transform)
    except ImageCms.PyCMSError:
        return None  # LittleCMS refused these pixels: the formula, as before
