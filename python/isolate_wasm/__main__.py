"""`python -m isolate_wasm warmup`: compile the guest ahead of first use."""

from __future__ import annotations

import argparse
import sys

from . import cache_dir, warmup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m isolate_wasm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    warm = commands.add_parser("warmup", help="compile the guest into the cache folder now")
    warm.add_argument("--fuel", action="store_true", help="also compile the fuel-metering build")
    commands.add_parser("cache-dir", help="print the cache folder")
    args = parser.parse_args(argv)
    if args.command == "warmup":
        warmup(fuel=args.fuel)
        print(f"the guest is compiled in {cache_dir()}")
    else:
        print(cache_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
