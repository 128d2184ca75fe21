"""The report's top excerpts when the corpus has moved on: a clip gone or changed since the atlas was built keeps its
row with the reason, the others stay playable; the report is written whole either way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import soundfile as sf

from app.core.analysis import Analysis
from app.core.atlas import ScanSettings
from app.core.atlas.build import build_atlas
from app.core.atlas.store import AtlasFile
from app.core.audio import load_audio
from app.core.report import write_report

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_gone_and_changed_clips_are_named_and_the_rest_play(tmp_path: Path, small_model) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("piano.wav", "kick_walking_bass.wav", "full_band.wav"):
        shutil.copy(DEMO / name, corpus / name)
    atlas_path = tmp_path / "c.atlas"
    build_atlas(atlas_path, [corpus], small_model, ScanSettings.for_network(small_model, k=2))
    with AtlasFile(atlas_path) as atlas:
        names = {c.sha256: Path(c.path).name for c in atlas.clips()}
        tops = {(layer, k): [names[h.clip] for h in atlas.hits(layer, k)] for layer, k, _ in atlas.maps()}
    refs, covered = [], set()
    for ref, clips in tops.items():  # a few maps whose top excerpts reach all three clips
        if not set(clips) <= covered:
            refs.append(ref)
            covered |= set(clips)
    assert covered == {"piano.wav", "kick_walking_bass.wav", "full_band.wav"}

    (corpus / "piano.wav").unlink()
    audio, rate = sf.read(corpus / "kick_walking_bass.wav", dtype="float32")
    sf.write(corpus / "kick_walking_bass.wav", audio * 0.5, rate, subtype="PCM_16")
    analysis = Analysis(load_audio(DEMO / "piano_vocal.wav", 11025), small_model, device="cpu")
    report = write_report(tmp_path / "report", analysis, refs, atlas=atlas_path, excerpts=2)

    doc = json.loads(report.json.read_text())
    rows = [e for x in doc["layers"] for m in x["maps"] for e in m["excerpts"]]
    assert len(rows) == 2 * len(refs) and report.excerpts == sum(1 for e in rows if e["name"] == "full_band.wav")
    for e in rows:
        if e["name"] == "piano.wav":
            assert "piano.wav" in e["unavailable"] and "no such file" in e["unavailable"]
        elif e["name"] == "kick_walking_bass.wav":
            assert "changed since the atlas was built" in e["unavailable"]
        else:
            assert e["unavailable"] is None
            assert sf.info(report.folder / e["feature_wav"]).frames > 0
    page = report.index.read_text()
    assert page.count("not playable:") == sum(1 for e in rows if e["unavailable"])
    assert sorted(p.name for p in (report.folder / "audio" / "atlas").iterdir()) == sorted(
        Path(e[key]).name for e in rows if e["unavailable"] is None for key in ("original_wav", "feature_wav")
    )
