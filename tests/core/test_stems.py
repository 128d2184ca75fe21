"""Stem shares of a map's auralisation: exact decomposition, known-band networks, real stems, the selector tag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from app.core.analysis import Analysis
from app.core.architecture import Conv2d, ReLU
from app.core.audio import load_audio
from app.core.characterise import SOURCE_EMPHASIS_DB, SOURCE_SHARE, characterise, source_tags
from app.core.frontend import FrontEnd
from app.core.model import Model, ModelSpec, load_model, save_model
from app.core.stems import StemProjection, StemsError, find_stems, load_stems, stem_shares

SR = 11025
DUR = 3.0
ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "resources" / "demo" / "real"


def stems_of_a_mix() -> dict[str, np.ndarray]:
    """Three sources in three bands: decaying 60 Hz thumps, a 600-1200 Hz melody, 3-5 kHz noise bursts."""
    rng = np.random.default_rng(7)
    n = int(DUR * SR)
    t = np.arange(n) / SR
    beat = (t % 0.5) / 0.5
    low = 0.8 * np.sin(2 * np.pi * 60 * t) * np.exp(-beat * 6)
    melody_f = np.where((t // 0.25) % 2 == 0, 660.0, 880.0)
    mid = 0.3 * np.sin(2 * np.pi * np.cumsum(melody_f) / SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spectrum[(freqs < 3000) | (freqs > 5000)] = 0
    high = np.fft.irfft(spectrum, n) * 0.1 * np.exp(-((t + 0.25) % 0.5) * 10)
    return {"kick": low.astype(np.float32), "melody": mid.astype(np.float32), "hats": high.astype(np.float32)}


def band_network(*bands: tuple[float, float]) -> Model:
    """One layer of full-height kernels, each 1 on the bins of a band: its map's mask keeps that band."""
    freqs = FrontEnd().bin_frequencies()
    kernels = torch.stack(
        [torch.tensor([[1.0] if lo <= f < hi else [0.0] for f in freqs], dtype=torch.float32) for lo, hi in bands]
    )
    return Model(
        ModelSpec(front_end=FrontEnd(), body=(Conv2d(1, len(bands), tuple(kernels.shape[1:]), (1, 1), (0, 0)), ReLU())),
        {"body.0.weight": kernels[:, None], "body.0.bias": torch.zeros(len(bands))},
    )


def write_mix(folder: Path, stems: dict[str, np.ndarray], *, scale: float = 1.0) -> Path:
    mix = sum(stems.values())
    path = folder / "mix.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    for name, samples in stems.items():
        sf.write(folder / f"mix.{name}.wav", samples * scale, SR, subtype="FLOAT")
    return path


def test_band_networks_select_the_stem_in_their_band(tmp_path: Path) -> None:
    stems = stems_of_a_mix()
    path = write_mix(tmp_path, stems)
    clip = load_audio(path, SR)
    found = find_stems(path)
    assert sorted(found) == ["hats", "kick", "melody"]
    loaded = load_stems(clip.samples, path, found, SR)
    assert loaded.mismatch_db < -100
    analysis = Analysis(clip, band_network((0, 150), (500, 1500), (2800, 5200)), device="cpu")
    shares = stem_shares(analysis, loaded, 1, [0, 1, 2])
    assert np.allclose(shares.maps.sum(axis=1), 1.0, atol=1e-6)
    assert np.isclose(shares.mix.sum(), 1.0, atol=1e-6)
    column = {name: i for i, name in enumerate(shares.names)}
    for row, stem in enumerate(("kick", "melody", "hats")):
        assert shares.maps[row, column[stem]] > 0.97, (stem, shares.maps[row])
    # the mix shares are the stems' energy shares (they hardly overlap in time-frequency)
    energy = {k: float(np.sum(v.astype(np.float64) ** 2)) for k, v in stems.items()}
    total = sum(energy.values())
    for name, i in column.items():
        assert abs(shares.mix[i] - energy[name] / total) < 0.02


def test_shares_equal_the_time_domain_split_of_the_rendering(tmp_path: Path) -> None:
    """y = ISTFT(X·M) = Σ ISTFT(S_i·M): the share is <y_i, y>/<y, y> up to the ISTFT's own weighting."""
    stems = stems_of_a_mix()
    path = write_mix(tmp_path, stems)
    clip = load_audio(path, SR)
    loaded = load_stems(clip.samples, path, find_stems(path), SR)
    analysis = Analysis(clip, band_network((0, 2000)), device="cpu")
    fe = analysis.model.front_end
    mask = fe.mask_to_linear(analysis.deconv(1, [0]))[0]
    y = fe.istft(analysis.spectrum * mask, clip.samples.shape[-1]).double()
    parts = [fe.istft(fe.stft(torch.from_numpy(s)) * mask, clip.samples.shape[-1]).double() for s in loaded.samples]
    assert float((sum(parts) - y).abs().max() / y.abs().max()) < 1e-5  # the rendering splits exactly
    time_domain = np.array([float(torch.dot(p, y) / torch.dot(y, y)) for p in parts])
    shares = StemProjection(analysis, loaded).shares(mask[None]).maps[0]
    assert np.abs(time_domain - shares).max() < 0.01, (time_domain, shares)


def test_stems_that_do_not_add_up_are_refused_naming_the_clip(tmp_path: Path) -> None:
    stems = stems_of_a_mix()
    path = write_mix(tmp_path, stems, scale=0.5)
    clip = load_audio(path, SR)
    with pytest.raises(StemsError, match="mix.wav.*add up"):
        load_stems(clip.samples, path, find_stems(path), SR)
    with pytest.raises(StemsError, match="at least two"):
        load_stems(clip.samples, path, {"kick": tmp_path / "mix.kick.wav"}, SR)
    sf.write(tmp_path / "short.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(StemsError, match="lasts 1.00 s"):
        load_stems(clip.samples, path, {"a": tmp_path / "short.wav", "b": tmp_path / "mix.kick.wav"}, SR)


def test_source_tag_needs_both_share_and_emphasis() -> None:
    names = ("drums", "bass")
    assert source_tags(names, [0.9, 0.1], [0.5, 0.5])[0].tag == "source selector: drums"
    # dominant but not favoured: the drums were 85 % of the mix already (+2.0 dB)
    assert source_tags(names, [0.9, 0.1], [0.85, 0.15]) == ()
    # favoured but not dominant: 40 % from a stem that was 5 % (+11 dB) is not a selector
    assert source_tags(names, [0.6, 0.4], [0.95, 0.05]) == ()
    tag = source_tags(names, [0.3, 0.7], [0.8, 0.2])[0]
    assert tag.tag == "source selector: bass" and tag.value == pytest.approx(0.7)
    assert f"{SOURCE_SHARE:.2f}" in tag.detail and f"{SOURCE_EMPHASIS_DB:+.1f} dB" in tag.detail


def test_characterise_tags_source_selectors_on_known_bands(tmp_path: Path) -> None:
    path = write_mix(tmp_path, stems_of_a_mix())
    clip = load_audio(path, SR)
    loaded = load_stems(clip.samples, path, find_stems(path), SR)
    analysis = Analysis(clip, band_network((0, 150), (500, 1500), (2800, 5200)), device="cpu")
    result = characterise([analysis], stems=[loaded])
    tags = {m.index: [t.tag for t in m.tags if t.tag.startswith("source")] for m in result.maps}
    assert tags == {0: ["source selector: kick"], 1: ["source selector: melody"], 2: ["source selector: hats"]}
    doc = result.to_dict()
    assert doc["maps"][0]["sources"]["kick"] > 0.97
    assert abs(sum(doc["clips"][0]["sources"].values()) - 1) < 1e-5


@pytest.mark.slow
def test_real_groove_stems_on_the_bundled_2015_model() -> None:
    """The CC0 groove's stems add up to it at the model's rate; shares of every layer-1 map add up to 1."""
    model = load_model(ROOT / "models" / "choi2015-genre.safetensors")
    mix = REAL / "groove.flac"
    clip = load_audio(mix, model.front_end.sample_rate)
    loaded = load_stems(clip.samples, mix, find_stems(mix), clip.sample_rate)
    assert loaded.names == ("bass", "choir", "drums", "piano") and loaded.mismatch_db < -100
    analysis = Analysis(clip, model, device="cpu")
    shares = stem_shares(analysis, loaded, 1, list(range(model.layer(1).n_maps)))
    assert np.abs(shares.maps.sum(axis=1) - 1).max() < 1e-6
    drums = shares.names.index("drums")
    assert 0.45 < shares.mix[drums] < 0.65  # the drums are about half the mix's energy
    assert shares.maps[:, drums].max() > 0.8  # and some layer-1 map is mostly drums


def test_clip_without_stems_finds_none(tmp_path: Path) -> None:
    y = np.zeros(SR, np.float32)
    sf.write(tmp_path / "alone.wav", y, SR)
    sf.write(tmp_path / "alone.notes.txt", y, SR, format="WAV")  # not an audio suffix
    assert find_stems(tmp_path / "alone.wav") == {}


def test_cli_characterise_and_report_find_stems_beside_the_clip(tmp_path: Path) -> None:
    """The real CLI: stems beside the clip give shares and tags in --json and in report.json; --stems none not."""
    import json

    from cli_process import run

    path = write_mix(tmp_path, stems_of_a_mix())
    network = band_network((0, 150), (500, 1500), (2800, 5200))
    save_model(tmp_path / "bands.safetensors", network.spec, network.weights)
    common = ["-m", str(tmp_path / "bands.safetensors"), "-a", str(path)]
    done = run("characterise", *common, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    tags = {m["index"]: [t["tag"] for t in m["tags"] if t["tag"].startswith("source")] for m in doc["maps"]}
    assert tags == {0: ["source selector: kick"], 1: ["source selector: melody"], 2: ["source selector: hats"]}
    plain = run("characterise", *common, "--json", "--stems", "none")
    assert all(m["sources"] == {} for m in json.loads(plain.stdout)["maps"])
    report = run("report", *common, "--layer", "1", "--features", "0", "--out", str(tmp_path / "report"), "-q")
    assert report.returncode == 0, report.stderr
    cell = json.loads((tmp_path / "report" / "report.json").read_text())
    text = json.dumps(cell)
    assert "source selector: kick" in text and '"sources"' in text
    # stems that do not add up: a warning naming the clip, and the measurement goes on without them
    sf.write(tmp_path / "mix.kick.wav", np.zeros(int(DUR * SR), np.float32), SR, subtype="FLOAT")
    broken = run("characterise", *common, "--json")
    assert broken.returncode == 0 and "mix.wav" in broken.stderr and "add up" in broken.stderr
    assert "Traceback" not in broken.stderr
