#!/usr/bin/env python3
"""read_run_h5.py: print what a vaerun run.h5 holds, the way h5py sees it.

Usage: read_run_h5.py RUN_H5

One line per item, tab-separated, so that tests (tests/unit_run_file.c) and
people can read it:

    attr    NAME    PYTHON_TYPE    VALUE
    config  PYTHON_TYPE    LENGTH
    dset    PATH    DTYPE    SHAPE    FIRST_VALUE    LAST_VALUE

Exit status: 0 on success, 2 when h5py is not installed (the C test then
skips this check), 1 on any other error.
"""
import sys

try:
    import h5py
except ImportError:
    print("h5py not installed", file=sys.stderr)
    sys.exit(2)


def shape_str(shape):
    return "x".join(str(d) for d in shape) if shape else "scalar"


def main(path):
    with h5py.File(path, "r") as f:
        for name in sorted(f.attrs):
            value = f.attrs[name]
            text = str(value).replace("\t", " ").replace("\n", " ")
            print(f"attr\t{name}\t{type(value).__name__}\t{text}")
        config = f["config"].asstr()[()]
        print(f"config\t{type(config).__name__}\t{len(config)}")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name != "config":
                flat = obj[()].reshape(-1)
                first = flat[0] if flat.size else "-"
                last = flat[-1] if flat.size else "-"
                print(f"dset\t/{name}\t{obj.dtype}\t{shape_str(obj.shape)}\t{first}\t{last}")

        f.visititems(visit)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(1)
    main(sys.argv[1])
