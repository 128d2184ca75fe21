"""The declared JSON formats: the front end, and the strict reader for files from others."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from app.core.errors import ModelFormatError
from app.core.formats.frontend import PRESET_NAMES, FrontEndBlock, parse_front_end
from app.core.frontend import PRESETS, FrontEnd


def test_the_front_end_block_declares_every_field_of_the_front_end_with_its_default() -> None:
    declared = {name: info.default for name, info in FrontEndBlock.model_fields.items() if name != "preset"}
    in_memory = {f.name: f.default for f in fields(FrontEnd)}
    assert declared == in_memory
    assert set(PRESET_NAMES) == set(PRESETS)
    assert FrontEnd.from_dict({"preset": "musicnn", "n_mels": 48}) == replace(PRESETS["musicnn"], n_mels=48)
    assert FrontEnd.from_dict(FrontEnd().to_dict()) == FrontEnd()
    mel = FrontEnd(sample_rate=22050, scale="mel", n_mels=96, compression="db", fmax=8000.0)
    assert FrontEnd.from_dict(mel.to_dict()) == mel


@pytest.mark.parametrize(
    "block,field,reason",
    [
        ({"n_fft": 4}, "front_end.n_fft", "invalid value 4"),
        ({"n_fft": 512.5}, "front_end.n_fft", "whole number"),
        ({"n_fft": "512"}, "front_end.n_fft", "whole number, got the text '512'"),
        ({"center": 1}, "front_end.center", "true or false"),
        ({"power": 3}, "front_end.power", "expected 1 or 2"),
        ({"hop_length": 1024}, "front_end.hop_length", "invalid value 1024"),
        ({"fmax": 9000.0}, "front_end.fmax", "invalid value 9000.0"),
        ({"preset": "essentia"}, "front_end.preset", "'essentia'"),
        ({"window": "hamming"}, "front_end.window", "'hamming'"),
        ({"db_reference": "volts"}, "front_end.db_reference", "'volts'"),
        ({"scale": "bark"}, "front_end.scale", "'bark'"),
        ({"norm_std": 0}, "front_end.norm_std", "invalid value 0"),
        ({"colour": 1, "size": 2}, "front_end", "unknown key(s) ['colour', 'size']"),
        ([], "front_end", "must be a JSON object"),
    ],
)
def test_front_end_errors_name_the_field(block, field: str, reason: str) -> None:
    with pytest.raises(ModelFormatError) as err:
        parse_front_end(block, path=Path("fe.json"))
        FrontEnd.from_dict(block)  # what spans fields (hop <= n_fft) is the front end's own check
    assert err.value.field == field and reason in err.value.reason
    if err.value.path is not None:
        assert "fe.json" in str(err.value)


def test_whole_floats_are_whole_numbers() -> None:
    assert parse_front_end({"n_fft": 1024.0, "hop_length": 512}) == (None, {"n_fft": 1024, "hop_length": 512})
    assert isinstance(parse_front_end({"n_fft": 1024.0})[1]["n_fft"], int)
