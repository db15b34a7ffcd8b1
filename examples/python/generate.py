"""Generate the aspflow Python stubs from the repository's proto files.

The stubs are never committed: they are generated from `proto/aspflow/v1/*.proto` (the API
contract) each time, so they can never drift from the server you build from the same checkout.

Two ways to use this file:

* as a module: ``stubs = generate.load_stubs()`` compiles the protos into a temporary
  directory, puts it on ``sys.path`` and returns the generated modules (this is what
  ``walkthrough.py`` does);
* as a script: ``python3 examples/python/generate.py --out DIR`` writes the stubs into DIR,
  for a project of your own that prefers to generate them once at build time.

Only ``grpcio-tools`` is needed: it bundles ``protoc`` and the well-known types
(``google/protobuf/timestamp.proto``), so nothing else has to be installed.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import importlib.resources
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from grpc_tools import protoc

# examples/python/generate.py -> the repository root is two levels up.
REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "proto"
PROTO_FILES = sorted((PROTO_DIR / "aspflow" / "v1").glob("*.proto"))

# The modules walkthrough.py uses, by short name (each file gives `<name>_pb2` for the messages
# and `<name>_pb2_grpc` for the service stubs).
MODULES = ["cases", "eventlog", "server"]


def generate(out_dir: Path) -> None:
    """Compile every proto under proto/aspflow/v1 into Python modules in `out_dir`."""
    if not PROTO_FILES:
        raise SystemExit(f"no .proto files under {PROTO_DIR}: run this from an aspflow checkout")
    # grpc_tools ships google/protobuf/*.proto; protoc needs them on its include path to
    # resolve `import "google/protobuf/timestamp.proto"`.
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_DIR)) for p in PROTO_FILES],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed to compile the aspflow protos (see the messages above)")


def load_stubs() -> SimpleNamespace:
    """Generate the stubs into a temporary directory and import them.

    Returns a namespace with, for each of MODULES, `<name>_pb2` and `<name>_pb2_grpc`, e.g.
    `stubs.cases_pb2.ExecuteRequest` and `stubs.cases_pb2_grpc.CasesStub`.
    """
    out_dir = Path(tempfile.mkdtemp(prefix="aspflow-stubs-"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    generate(out_dir)
    # The generated modules import each other as `aspflow.v1.cases_pb2`, so the output
    # directory must be on the import path.
    sys.path.insert(0, str(out_dir))
    loaded = {}
    for name in MODULES:
        loaded[f"{name}_pb2"] = importlib.import_module(f"aspflow.v1.{name}_pb2")
        loaded[f"{name}_pb2_grpc"] = importlib.import_module(f"aspflow.v1.{name}_pb2_grpc")
    return SimpleNamespace(**loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the stubs to")
    args = parser.parse_args()
    generate(args.out)
    print(f"generated stubs for {len(PROTO_FILES)} proto files in {args.out}")


if __name__ == "__main__":
    main()
