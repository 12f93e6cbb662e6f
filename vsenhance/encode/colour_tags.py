"""What the encoded file says about its colour: frame props -> H.273 codes, ffmpeg's and the encoders' names.

The clip's colour description (``_Matrix``, ``_Transfer``, ``_Primaries``, ``_Range``, ``_ChromaLocation``) and
HDR10 static metadata (bestsource's/ffms2's ``MasteringDisplay*`` and ``ContentLightLevel*`` props) are read
from frame 0 and written twice: as ffmpeg's stream options (``-colorspace`` ..., so the container and a later
remux see them) and in the encoder's own VUI/SEI (``-x264-params``/``-x265-params``, so a player that reads
only the bitstream sees them). A prop that is absent or "unspecified" (2) stays unspecified: nothing is
invented. How an encoder writes them (its VUI keys, the HDR10 SEI) is :mod:`.encoder`'s. Torch-free.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["HLG", "PQ", "ColourTags", "clip_colour", "colour_changes", "format_bits", "prop_warnings", "vui_names"]

_UNSPECIFIED = 2

# ITU-T H.273 code (= VapourSynth's vs.MatrixCoefficients / TransferCharacteristics / ColorPrimaries value)
# -> (ffmpeg's option value, x264's and x265's name; None where neither encoder has one).
# x264 compares names case-insensitively and x265 wants them lower case, so one spelling serves both.
_MATRIX: dict[int, tuple[str, str | None]] = {
    0: ("rgb", "gbr"),
    1: ("bt709", "bt709"),
    4: ("fcc", "fcc"),
    5: ("bt470bg", "bt470bg"),
    6: ("smpte170m", "smpte170m"),
    7: ("smpte240m", "smpte240m"),
    8: ("ycgco", "ycgco"),
    9: ("bt2020nc", "bt2020nc"),
    10: ("bt2020c", "bt2020c"),
    11: ("smpte2085", "smpte2085"),
    12: ("chroma-derived-nc", "chroma-derived-nc"),
    13: ("chroma-derived-c", "chroma-derived-c"),
    14: ("ictcp", "ictcp"),
}
_TRANSFER: dict[int, tuple[str, str | None]] = {
    1: ("bt709", "bt709"),
    4: ("bt470m", "bt470m"),
    5: ("bt470bg", "bt470bg"),
    6: ("smpte170m", "smpte170m"),
    7: ("smpte240m", "smpte240m"),
    8: ("linear", "linear"),
    9: ("log100", "log100"),
    10: ("log316", "log316"),
    11: ("iec61966-2-4", "iec61966-2-4"),
    12: ("bt1361e", "bt1361e"),
    13: ("iec61966-2-1", "iec61966-2-1"),
    14: ("bt2020-10", "bt2020-10"),
    15: ("bt2020-12", "bt2020-12"),
    16: ("smpte2084", "smpte2084"),
    17: ("smpte428", "smpte428"),
    18: ("arib-std-b67", "arib-std-b67"),
}
_PRIMARIES: dict[int, tuple[str, str | None]] = {
    1: ("bt709", "bt709"),
    4: ("bt470m", "bt470m"),
    5: ("bt470bg", "bt470bg"),
    6: ("smpte170m", "smpte170m"),
    7: ("smpte240m", "smpte240m"),
    8: ("film", "film"),
    9: ("bt2020", "bt2020"),
    10: ("smpte428", "smpte428"),
    11: ("smpte431", "smpte431"),
    12: ("smpte432", "smpte432"),
    22: ("jedec-p22", None),
}
# vs.ChromaLocation = H.273 chroma_sample_loc_type (0 left ... 5 bottom); ffmpeg's AVChromaLocation is that + 1
_CHROMA_LOCATION = {0: "left", 1: "center", 2: "topleft", 3: "top", 4: "bottomleft", 5: "bottom"}
PQ, HLG = 16, 18  # H.273 transfer codes of the HDR signals


def _int(props: Mapping[str, Any], key: str) -> int | None:
    """An integer prop; anything else (a string "pq", a float) counts as absent: see :func:`prop_warnings`."""
    value = props.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _code(props: Mapping[str, Any], key: str, table: Mapping[int, object]) -> int | None:
    code = _int(props, key)
    return code if code is not None and code != _UNSPECIFIED and code in table else None


def _range(props: Mapping[str, Any]) -> Literal["limited", "full"] | None:
    # VapourSynth R74+ names it _Range (1 = full, as H.273's full_range_flag); older sources set
    # _ColourRange with the opposite numbers (0 = full), which R74+ translates but a saved prop dump may not.
    if "_Range" in props:
        return {1: "full", 0: "limited"}.get(_int(props, "_Range"))  # type: ignore[return-value]
    if "_ColourRange" in props:
        return {0: "full", 1: "limited"}.get(_int(props, "_ColourRange"))  # type: ignore[return-value]
    return None


def _floats(props: Mapping[str, Any], key: str, count: int) -> list[float] | None:
    value = props.get(key)
    if value is None:
        return None
    values = [float(v) for v in (value if isinstance(value, list | tuple) else [value])]
    return values if len(values) == count and all(math.isfinite(v) for v in values) else None


def _master_display(props: Mapping[str, Any]) -> str | None:
    """x265's ``master-display`` from bestsource's props, or None unless all of them are there.

    The props hold the primaries in FFmpeg's order (AVMasteringDisplayMetadata.display_primaries: red, green,
    blue) as ratios and the luminances in cd/m²; the SEI (and x265's syntax) lists green, blue, red, in units
    of 0.00002 for chromaticities and 0.0001 cd/m² for luminance.
    """
    xs = _floats(props, "MasteringDisplayPrimariesX", 3)
    ys = _floats(props, "MasteringDisplayPrimariesY", 3)
    wx = _floats(props, "MasteringDisplayWhitePointX", 1)
    wy = _floats(props, "MasteringDisplayWhitePointY", 1)
    lo = _floats(props, "MasteringDisplayMinLuminance", 1)
    hi = _floats(props, "MasteringDisplayMaxLuminance", 1)
    if xs is None or ys is None or wx is None or wy is None or lo is None or hi is None:
        return None

    def xy(x: float, y: float) -> str:
        return f"({round(x * 50000)},{round(y * 50000)})"

    (rx, gx, bx), (ry, gy, by) = xs, ys
    return (
        f"G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(wx[0], wy[0])}L({round(hi[0] * 10000)},{round(lo[0] * 10000)})"
    )


@dataclass(frozen=True)
class ColourTags:
    """The colour description of a clip's frame 0, in H.273 codes; None = unspecified (nothing written)."""

    matrix: int | None = None
    transfer: int | None = None
    primaries: int | None = None
    range: Literal["limited", "full"] | None = None
    chroma_location: int | None = None
    master_display: str | None = None  # x265 syntax, G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)
    max_cll: tuple[int, int] | None = None  # MaxCLL, MaxFALL in cd/m²

    @classmethod
    def from_props(cls, props: Mapping[str, Any], subsampled: bool = True) -> ColourTags:
        """Read the props of one frame (a VapourSynth FrameProps or its JSON dump).

        ``subsampled``: whether the format has subsampled chroma; chroma siting means nothing otherwise.
        """
        loc = _int(props, "_ChromaLocation")
        cll = None
        light = (_int(props, "ContentLightLevelMax"), _int(props, "ContentLightLevelAverage"))
        if light[0] is not None and light[1] is not None and light[0] >= 0 and light[1] >= 0:
            cll = (light[0], light[1])
        return cls(
            matrix=_code(props, "_Matrix", _MATRIX),
            transfer=_code(props, "_Transfer", _TRANSFER),
            primaries=_code(props, "_Primaries", _PRIMARIES),
            range=_range(props),
            chroma_location=int(loc) if subsampled and loc is not None and int(loc) in _CHROMA_LOCATION else None,
            master_display=_master_display(props),
            max_cll=cll,
        )

    @property
    def hdr(self) -> bool:
        """PQ or HLG: a signal that 8 bits or an encoder without HDR metadata degrade."""
        return self.transfer in (PQ, HLG)

    def ffmpeg_argv(self) -> list[str]:
        """ffmpeg's stream colour options (output options), for every encoder."""
        argv: list[str] = []
        if self.matrix is not None:
            argv += ["-colorspace", _MATRIX[self.matrix][0]]
        if self.transfer is not None:
            argv += ["-color_trc", _TRANSFER[self.transfer][0]]
        if self.primaries is not None:
            argv += ["-color_primaries", _PRIMARIES[self.primaries][0]]
        if self.range is not None:
            argv += ["-color_range", "pc" if self.range == "full" else "tv"]
        # untagged siting stays unspecified: without this, y4m's "C420" header would be passed on as "center"
        siting = _CHROMA_LOCATION[self.chroma_location] if self.chroma_location is not None else "unspecified"
        return [*argv, "-chroma_sample_location", siting]

    def describe(self) -> str:
        """One short line for the log, e.g. ``bt2020nc/smpte2084/bt2020 limited topleft, HDR10``."""
        parts = [
            (_MATRIX[self.matrix][0] if self.matrix is not None else "?")
            + "/"
            + (_TRANSFER[self.transfer][0] if self.transfer is not None else "?")
            + "/"
            + (_PRIMARIES[self.primaries][0] if self.primaries is not None else "?"),
            self.range or "range ?",
        ]
        if self.chroma_location is not None:
            parts.append(_CHROMA_LOCATION[self.chroma_location])
        text = " ".join(parts)
        if self.master_display or self.max_cll:
            text += ", HDR10 metadata"
        return text

    def to_json(self) -> dict:
        data = asdict(self)
        data["max_cll"] = list(self.max_cll) if self.max_cll else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColourTags:
        cll = data.get("max_cll")
        return cls(
            matrix=data.get("matrix"),
            transfer=data.get("transfer"),
            primaries=data.get("primaries"),
            range=data.get("range"),
            chroma_location=data.get("chroma_location"),
            master_display=data.get("master_display"),
            max_cll=(int(cll[0]), int(cll[1])) if cll else None,
        )


def prop_warnings(props: Mapping[str, Any]) -> list[str]:
    """Props that are present but mean nothing valid, each left unspecified (never silently changed)."""
    out = []
    for key, table in (("_Matrix", _MATRIX), ("_Transfer", _TRANSFER), ("_Primaries", _PRIMARIES)):
        if key in props and _code(props, key, table) is None and _int(props, key) != _UNSPECIFIED:
            out.append(f"frame 0's {key}={props[key]!r} is not an H.273 code this encoder knows: left unspecified")
    for key, valid in (("_Range", (0, 1)), ("_ChromaLocation", tuple(_CHROMA_LOCATION))):
        if key in props and _int(props, key) not in valid:
            out.append(f"frame 0's {key}={props[key]!r} is not one of {list(valid)}: left unspecified")
    for key in ("ContentLightLevelMax", "ContentLightLevelAverage"):
        value = props.get(key)
        if value is not None and (_int(props, key) is None or value < 0):
            out.append(f"frame 0's {key}={value!r} is not a light level in cd/m²: no max-cll is written")
    return out


def vui_names(tags: ColourTags) -> dict[str, str]:
    """x264's and x265's spelling of the primaries, transfer and matrix that have one (keys as ColourTags)."""
    names: dict[str, str] = {}
    for key, code, table in (
        ("primaries", tags.primaries, _PRIMARIES),
        ("transfer", tags.transfer, _TRANSFER),
        ("matrix", tags.matrix, _MATRIX),
    ):
        name = table[code][1] if code is not None else None
        if name is not None:
            names[key] = name
    return names


def colour_changes(reference: ColourTags, other: ColourTags) -> list[str]:
    """Which fields differ, e.g. ``["transfer bt709 -> smpte2084"]`` (for a warning that tags will be wrong)."""
    out = []
    for name, old in asdict(reference).items():
        new = getattr(other, name)
        if old != new:
            out.append(
                f"{name} {old if old is not None else 'unspecified'} -> {new if new is not None else 'unspecified'}"
            )
    return out


def format_bits(format_name: str | None) -> int | None:
    """Bits per sample from a VapourSynth format name: ``YUV420P10`` -> 10, ``YUV444PS`` -> 32, ``Gray8`` -> 8."""
    if not format_name:
        return None
    m = re.search(r"(\d+)$", format_name)
    if m:
        return int(m[1])
    return {"S": 32, "H": 16}.get(format_name[-1])


def clip_colour(props: Mapping[int, Mapping[str, Any]], format_name: str | None) -> tuple[ColourTags, list[str]]:
    """Frame 0's tags, and a warning for each other probed frame whose colour description differs.

    The driver probes frame 0 and a few frames spread like ``vsenhance estimate`` spreads them. Why there: a
    check of each segment's first frame in the render worker would cost nothing (it renders those frames
    anyway) but needs the worker to report props with every finished segment, a change of the farm protocol;
    a few sampled frames cost seconds in a job of hours and catch a source whose colour changes part-way
    (a spliced SDR intro before an HDR film, say).
    """
    subsampled = bool(format_name) and format_name.startswith("YUV") and not format_name.startswith("YUV444")
    tags = ColourTags.from_props(props.get(0, {}), subsampled)
    warnings = prop_warnings(props.get(0, {}))
    for n in sorted(props):
        if n == 0:
            continue
        changes = colour_changes(tags, ColourTags.from_props(props[n], subsampled))
        if changes:
            warnings.append(
                f"frame {n}'s colour props differ from frame 0's ({'; '.join(changes)}); the whole file is tagged "
                "as frame 0 says, so part of it will look wrong: convert the script's output to one colour "
                "description (e.g. resize with matrix/transfer/primaries) or encode the parts separately"
            )
    return tags, warnings
