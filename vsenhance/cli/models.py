"""``vsenhance models`` commands (argument parsing only; the logic lives in ``vsenhance.models``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import sha256_file
from ..models import store
from ..models.registry import MODELS
from .args import add_command

_WHERE = {
    "cached": "local",
    "ncnn-wheel": "ncnn wheel",
    "download": "download only",
    "unavailable": f"pip install {store.NCNN_WHEEL}",
}


def _list(args: argparse.Namespace) -> int:
    rows = [("NAME", "ARCH", "SCALE", "AVAILABLE", "DESCRIPTION")]
    for a in store.availability():
        rows.append((a.info.name, a.info.arch, f"x{a.info.scale}", _WHERE[a.where], a.info.description))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    print(f"\ncache: {store.cache_dir()}")
    return 0


def _download(args: argparse.Namespace) -> int:
    path = store.download(
        args.name,
        args.output,
        args.sha256,
        url=args.url,
        timeout=args.timeout,
        force=args.force,
        func="models download",
    )
    print(f"{path}\nsha256 {sha256_file(path)}")
    return 0


def _import_ncnn(args: argparse.Namespace) -> int:
    from ..files import check_output
    from ..models.ncnn import import_ncnn

    func = "models import-ncnn"
    param = Path(args.param)
    binp = Path(args.bin) if args.bin else param.with_suffix(".bin")
    out = Path(args.output) if args.output else param.with_suffix(".safetensors")
    if out.parent.is_dir():  # import_ncnn creates a missing folder
        check_output(func, out, [param, binp])
    model = import_ncnn(param, out, args.bin, func=func)
    print(f"{out}  ({model.arch}, x{model.scale})")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(store.resolve(args.name, func="models path", names_only=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``vsenhance models {list,download,import-ncnn,path}``."""
    p = add_command(
        sub, "models",
        summary="list, download, convert and locate the models the filters use",
        description="The models vse.upscale knows by name, where each comes from (the cache, the ncnn wheel, a "
        "download), and the commands that fetch or convert one. Filters never download: these do.",
        examples="  vsenhance models list\n  vsenhance models download RealESRGAN_x2plus\n"
        "  vsenhance models import-ncnn my-model.param -o my-model.safetensors\n"
        "  vsenhance models path realesr-animevideov3",
    )  # fmt: skip
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    ls = add_command(msub, "list", summary="known models and where each would come from",
                     description="Each model vse.upscale knows by name: architecture, scale, and where it would "
                     "come from now (the cache, the ncnn wheel, a download).")  # fmt: skip
    ls.set_defaults(handler=_list)

    dl = add_command(msub, "download", summary="download a model into the cache, verifying its SHA-256",
                     description="Download a known model (its official URL and checksum) or any http(s) URL. The "
                     "file appears only once complete and verified; an -o file that exists is replaced only "
                     "with --force.", examples="  vsenhance models download RealESRGAN_x2plus\n"
                     "  vsenhance models download https://example.org/m.pth --sha256 HEX -o models/")  # fmt: skip
    dl.add_argument("name", help=f"a known model ({', '.join(MODELS)}) or an http(s) URL")
    dl.add_argument("--sha256", metavar="HEX", help="expected SHA-256 (overrides the built-in checksum)")
    dl.add_argument("--url", help="download from this URL instead (a mirror)")
    dl.add_argument("-o", "--output", metavar="PATH", help="destination file or folder (default: the cache)")
    dl.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (60)")
    dl.add_argument("--force", action="store_true",
                    help="download again even if a verified copy exists; replace an existing -o file")  # fmt: skip
    dl.set_defaults(handler=_download)

    im = add_command(msub, "import-ncnn", summary="convert a Real-ESRGAN ncnn .param/.bin to .safetensors",
                     description="Convert an ncnn model (Real-ESRGAN's Compact or RRDBNet) into weights vse.upscale "
                     "loads, checked against the ncnn graph.",
                     examples="  vsenhance models import-ncnn my.param -o my.safetensors")  # fmt: skip
    im.add_argument("param", help="the .param file (the .bin beside it is used)")
    im.add_argument("--bin", help="the .bin file, if not beside the .param")
    im.add_argument("-o", "--output", metavar="OUT", help="output .safetensors (default: beside the .param)")
    im.set_defaults(handler=_import_ncnn)

    pa = add_command(msub, "path", summary="print the local file a model name resolves to (never downloads)",
                     description="Print the file vse.upscale would load for a model name, converting it from the "
                     "ncnn wheel once if needed; never downloads.")  # fmt: skip
    pa.add_argument("name", help="a known model's name")
    pa.set_defaults(handler=_path)
