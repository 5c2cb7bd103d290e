"""Colours as values: OKLab, the CSS named colours and eleven colour families.

OKLab (Björn Ottosson, 2020) is a nearly uniform perceptual space: a Euclidean distance of
about 0.02 is a just-noticeable difference, so one threshold means the same for every hue.

The 148 names are CSS Color Module Level 4's (`grey` spellings included). A colour's family
comes from its OKLCh lightness, chroma and hue (`family_of`); the boundaries were checked
against the CSS names by tests/ingest/test_colors.py (crimson is red, navy blue, ...).
"""

from __future__ import annotations

import math
import re

import numpy as np
from numpy.typing import NDArray

_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")

_TO_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_TO_LAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_FROM_LAB = np.linalg.inv(_TO_LAB)
_FROM_LMS = np.linalg.inv(_TO_LMS)


def srgb_to_oklab(rgb: NDArray[np.floating]) -> NDArray[np.float64]:
    """sRGB values in [0, 1], shape [..., 3], to OKLab."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lms = np.cbrt(linear @ _TO_LMS.T)
    return np.asarray(lms @ _TO_LAB.T, dtype=np.float64)


def oklab_to_srgb(lab: NDArray[np.floating]) -> NDArray[np.float64]:
    """OKLab, shape [..., 3], to sRGB values clipped to [0, 1]."""
    lms = (np.asarray(lab, dtype=np.float64) @ _FROM_LAB.T) ** 3
    linear = np.clip(lms @ _FROM_LMS.T, 0.0, 1.0)
    rgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.asarray(np.clip(rgb, 0.0, 1.0), dtype=np.float64)


def to_hex(rgb: NDArray[np.floating]) -> str:
    r, g, b = (round(float(c) * 255) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def hex_to_lab(value: str) -> tuple[float, float, float]:
    """`#rrggbb` or `#rgb` (the `#` optional) to OKLab; ValueError when it is neither."""
    match = _HEX.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a colour: {value!r}")
    digits = match[1] if len(match[1]) == 6 else "".join(c * 2 for c in match[1])
    rgb = np.array([int(digits[i : i + 2], 16) for i in (0, 2, 4)]) / 255.0
    lightness, a, b = srgb_to_oklab(rgb)
    return float(lightness), float(a), float(b)


FAMILIES = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
    "grey",
)  # fmt: skip
FAMILY_ALIASES = {"gray": "grey"}
ACHROMATIC_CHROMA = 0.035  # below this chroma a colour is black, grey or white
BLACK_BELOW = 0.30
WHITE_ABOVE = 0.92
DARK_BELOW = 0.22  # any colour this dark is black
# Hue boundaries in degrees (OKLCh), each family up to the next boundary.
HUES = ((15.0, "pink"), (38.0, "red"), (75.0, "orange"), (120.0, "yellow"), (180.0, "green"),
        (290.0, "blue"), (340.0, "purple"), (360.0, "pink"))  # fmt: skip
BROWN_BELOW = 0.60  # orange and yellow hues darker than this are brown (sienna, saddlebrown)
PALE_PINK_ABOVE = 0.80  # red hues lighter than this and of low chroma are pink
DULL_CHROMA = 0.10  # dull reds, oranges and yellows (rosybrown, tan) are brown


CSS_COLORS = {
    "aliceblue": "#f0f8ff", "antiquewhite": "#faebd7", "aqua": "#00ffff",
    "aquamarine": "#7fffd4", "azure": "#f0ffff", "beige": "#f5f5dc", "bisque": "#ffe4c4",
    "black": "#000000", "blanchedalmond": "#ffebcd", "blue": "#0000ff",
    "blueviolet": "#8a2be2", "brown": "#a52a2a", "burlywood": "#deb887",
    "cadetblue": "#5f9ea0", "chartreuse": "#7fff00", "chocolate": "#d2691e",
    "coral": "#ff7f50", "cornflowerblue": "#6495ed", "cornsilk": "#fff8dc",
    "crimson": "#dc143c", "cyan": "#00ffff", "darkblue": "#00008b", "darkcyan": "#008b8b",
    "darkgoldenrod": "#b8860b", "darkgray": "#a9a9a9", "darkgreen": "#006400",
    "darkgrey": "#a9a9a9", "darkkhaki": "#bdb76b", "darkmagenta": "#8b008b",
    "darkolivegreen": "#556b2f", "darkorange": "#ff8c00", "darkorchid": "#9932cc",
    "darkred": "#8b0000", "darksalmon": "#e9967a", "darkseagreen": "#8fbc8f",
    "darkslateblue": "#483d8b", "darkslategray": "#2f4f4f", "darkslategrey": "#2f4f4f",
    "darkturquoise": "#00ced1", "darkviolet": "#9400d3", "deeppink": "#ff1493",
    "deepskyblue": "#00bfff", "dimgray": "#696969", "dimgrey": "#696969",
    "dodgerblue": "#1e90ff", "firebrick": "#b22222", "floralwhite": "#fffaf0",
    "forestgreen": "#228b22", "fuchsia": "#ff00ff", "gainsboro": "#dcdcdc",
    "ghostwhite": "#f8f8ff", "gold": "#ffd700", "goldenrod": "#daa520", "gray": "#808080",
    "green": "#008000", "greenyellow": "#adff2f", "grey": "#808080", "honeydew": "#f0fff0",
    "hotpink": "#ff69b4", "indianred": "#cd5c5c", "indigo": "#4b0082", "ivory": "#fffff0",
    "khaki": "#f0e68c", "lavender": "#e6e6fa", "lavenderblush": "#fff0f5",
    "lawngreen": "#7cfc00", "lemonchiffon": "#fffacd", "lightblue": "#add8e6",
    "lightcoral": "#f08080", "lightcyan": "#e0ffff", "lightgoldenrodyellow": "#fafad2",
    "lightgray": "#d3d3d3", "lightgreen": "#90ee90", "lightgrey": "#d3d3d3",
    "lightpink": "#ffb6c1", "lightsalmon": "#ffa07a", "lightseagreen": "#20b2aa",
    "lightskyblue": "#87cefa", "lightslategray": "#778899", "lightslategrey": "#778899",
    "lightsteelblue": "#b0c4de", "lightyellow": "#ffffe0", "lime": "#00ff00",
    "limegreen": "#32cd32", "linen": "#faf0e6", "magenta": "#ff00ff", "maroon": "#800000",
    "mediumaquamarine": "#66cdaa", "mediumblue": "#0000cd", "mediumorchid": "#ba55d3",
    "mediumpurple": "#9370db", "mediumseagreen": "#3cb371", "mediumslateblue": "#7b68ee",
    "mediumspringgreen": "#00fa9a", "mediumturquoise": "#48d1cc",
    "mediumvioletred": "#c71585", "midnightblue": "#191970", "mintcream": "#f5fffa",
    "mistyrose": "#ffe4e1", "moccasin": "#ffe4b5", "navajowhite": "#ffdead",
    "navy": "#000080", "oldlace": "#fdf5e6", "olive": "#808000", "olivedrab": "#6b8e23",
    "orange": "#ffa500", "orangered": "#ff4500", "orchid": "#da70d6",
    "palegoldenrod": "#eee8aa", "palegreen": "#98fb98", "paleturquoise": "#afeeee",
    "palevioletred": "#db7093", "papayawhip": "#ffefd5", "peachpuff": "#ffdab9",
    "peru": "#cd853f", "pink": "#ffc0cb", "plum": "#dda0dd", "powderblue": "#b0e0e6",
    "purple": "#800080", "rebeccapurple": "#663399", "red": "#ff0000",
    "rosybrown": "#bc8f8f", "royalblue": "#4169e1", "saddlebrown": "#8b4513",
    "salmon": "#fa8072", "sandybrown": "#f4a460", "seagreen": "#2e8b57",
    "seashell": "#fff5ee", "sienna": "#a0522d", "silver": "#c0c0c0", "skyblue": "#87ceeb",
    "slateblue": "#6a5acd", "slategray": "#708090", "slategrey": "#708090",
    "snow": "#fffafa", "springgreen": "#00ff7f", "steelblue": "#4682b4", "tan": "#d2b48c",
    "teal": "#008080", "thistle": "#d8bfd8", "tomato": "#ff6347", "turquoise": "#40e0d0",
    "violet": "#ee82ee", "wheat": "#f5deb3", "white": "#ffffff", "whitesmoke": "#f5f5f5",
    "yellow": "#ffff00", "yellowgreen": "#9acd32",
}  # fmt: skip


def color_lab(value: str) -> tuple[float, float, float] | None:
    """A CSS colour name or `#rrggbb` / `#rgb` as OKLab; None when it is neither."""
    name = value.strip().lower().replace(" ", "")
    try:
        return hex_to_lab(CSS_COLORS.get(name, name if name.startswith("#") else "-"))
    except ValueError:
        return None


def family_of(lab: tuple[float, float, float]) -> str:
    """The colour family of an OKLab colour."""
    lightness, a, b = lab
    chroma = math.hypot(a, b)
    if chroma < ACHROMATIC_CHROMA:
        if lightness < BLACK_BELOW:
            return "black"
        return "white" if lightness > WHITE_ABOVE else "grey"
    if lightness < DARK_BELOW:
        return "black"
    hue = math.degrees(math.atan2(b, a)) % 360.0
    family = next(name for bound, name in HUES if hue < bound)
    if family in ("orange", "yellow") and lightness < BROWN_BELOW:
        return "brown"
    if family in ("red", "orange", "yellow") and chroma < DULL_CHROMA and lightness < 0.85:
        return "pink" if family == "red" and lightness > PALE_PINK_ABOVE else "brown"
    if family == "red" and lightness > PALE_PINK_ABOVE:
        return "pink"
    return family


def family_named(value: str) -> str | None:
    """The family a `color=` value names: a family, or the family of a CSS colour."""
    name = value.strip().lower()
    name = FAMILY_ALIASES.get(name, name)
    if name in FAMILIES:
        return name
    lab = color_lab(name)
    return None if lab is None else family_of(lab)
