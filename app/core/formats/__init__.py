"""The file formats Aurascope reads and writes, declared once.

``jsonio``: strict JSON text out, and the guarded reader for JSON files from others (size, FIFO, depth, huge
numbers, lone surrogates). The schema modules (front end, model metadata, session, WAV sidecar, report.json)
declare each JSON document with pydantic; ``python -m app.core.formats --write-schemas docs/formats`` publishes
their JSON Schemas. Nothing here imports torch.
"""
