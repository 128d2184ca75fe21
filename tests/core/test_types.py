"""The shared vocabulary (`app.core.types`): torch-free, one value per feature from the click to the file name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core.types import (
    FIGURE_WORDS,
    AbxAnswer,
    AbxResult,
    Choice,
    FeatureRef,
    Loudness,
    Method,
    Mode,
    SuggestedTag,
    export_name,
    member_or,
)


def test_importing_the_vocabulary_loads_no_torch_numpy_or_qt() -> None:
    code = (
        "import json, sys\n"
        "import app.core.types\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'numpy', 'PySide6', 'scipy'})\n"
        "print(json.dumps(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_feature_ref_is_the_pair_qt_and_dicts_carry() -> None:
    ref = FeatureRef(2, 17)
    assert str(ref) == "L2F17" and FeatureRef.parse("L2F17") == ref == FeatureRef.of("L2F17")
    assert ref == (2, 17) and hash(ref) == hash((2, 17)) and {(2, 17): "x"}[ref] == "x"
    assert FeatureRef.of([2, 17]) == ref and type(FeatureRef.of((2, 17))) is FeatureRef
    assert sorted([FeatureRef(2, 0), FeatureRef(1, 9), FeatureRef(1, 3)]) == [(1, 3), (1, 9), (2, 0)]
    layer, index = ref
    assert (layer, index) == (2, 17)
    for bad in ("L2", "2F17", "L2F", "l2f17", "L-1F2", ""):
        with pytest.raises(ValueError, match="not a map name"):
            FeatureRef.parse(bad)


def test_core_modules_reexport_the_same_names() -> None:
    from app.core import analysis, export, methods, resynth

    assert analysis.FeatureRef is FeatureRef and resynth.Mode is Mode and methods.Method is Method
    assert export.Loudness is Loudness and export.export_name is export_name


def test_every_choice_has_words_for_the_user() -> None:
    for member in (*Mode, *Method, *Loudness):
        assert member.label and member.label[0].isupper(), member
    for member in (*Mode, *Method):
        assert len(member.description) > 20, member
    assert Method.GUIDED_BACKPROP.description.startswith("guided backprop: ")
    assert [m.value for m in Method] == ["deconvnet", "guided-backprop", "gradient"]


def test_export_name_carries_the_method_unless_it_is_the_paper_s() -> None:
    ref = FeatureRef(3, 6)
    assert export_name("clip", ref, Mode.CHOI) == "clip_L3_F6_choi.wav"
    assert export_name("clip", ref, "residual", method="gradient") == "clip_L3_F6_residual_gradient.wav"
    with pytest.raises(ValueError):
        export_name("clip", ref, "loud")


def test_member_or_falls_back_on_a_stale_setting() -> None:
    assert member_or(Loudness, "peak", Loudness.NONE) is Loudness.PEAK
    assert member_or(Loudness, "louder", Loudness.NONE) is Loudness.NONE
    assert member_or(Mode, None, Mode.CHOI) is Mode.CHOI


def test_records_round_trip_through_json() -> None:
    tag = SuggestedTag("onset detector", "change.onset_corr", float("nan"), 0.2, ">=", "d", support=2, of=3)
    data = json.loads(json.dumps(tag.to_dict()))
    assert data["value"] is None and SuggestedTag.from_dict(data).threshold == 0.2
    assert tag.text() == "onset detector: onset correlation change n/a ≥ +0.20 (2 of 3 clips)"
    assert set(FIGURE_WORDS) >= {tag.figure}
    result = AbxResult(1, 4, "ab" * 32, "clip", 7, 2, -3.0, answers=(AbxAnswer(Choice.A, Choice.A),) * 2)
    assert result.ref == FeatureRef(1, 4) and result.correct == 2 and result.p_value == 0.25
    assert result.to_dict()["answers"] == [{"x": "A", "answer": "A", "seconds": None}] * 2
