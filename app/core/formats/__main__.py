"""Publish the JSON Schemas of Aurascope's file formats: ``python -m app.core.formats --write-schemas docs/formats``.

``--check docs/formats`` exits 1 (naming the files) when the committed schemas differ from the declarations.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from app.core.files import write_text
from app.core.formats.frontend import FrontEndBlock, FrontEndFile
from app.core.formats.jsonio import dumps
from app.core.formats.model import ModelMetadata
from app.core.formats.report import ReportJson
from app.core.formats.session import SessionFile
from app.core.formats.sidecar import WavSidecar

SCHEMAS: dict[str, type[BaseModel]] = {
    "front-end": FrontEndBlock,
    "front-end-file": FrontEndFile,
    "model-metadata": ModelMetadata,
    "session": SessionFile,
    "wav-sidecar": WavSidecar,
    "report": ReportJson,
}


def schema_texts() -> dict[str, str]:
    """File name -> the JSON Schema text (draft 2020-12) of each declared format."""
    out = {}
    for name, model in SCHEMAS.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(mode="validation"),
        }
        out[f"{name}.schema.json"] = dumps(schema, indent=2, sort_keys=False) + "\n"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.core.formats", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-schemas", type=Path, metavar="FOLDER", help="write every schema into FOLDER")
    group.add_argument("--check", type=Path, metavar="FOLDER", help="exit 1 if FOLDER's schemas are out of date")
    args = parser.parse_args(argv)
    texts = schema_texts()
    if args.write_schemas is not None:
        for name, text in texts.items():
            write_text(args.write_schemas / name, text)
        print(f"wrote {len(texts)} schemas to {args.write_schemas}")
        return 0
    stale = [name for name, text in texts.items() if _read(args.check / name) != text]
    for name in stale:
        print(f"{args.check / name} is out of date: run python -m app.core.formats --write-schemas {args.check}")
    return 1 if stale else 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
