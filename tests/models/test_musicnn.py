"""The bundled ``musicnn-mtt-vgg``: rebuilt byte for byte from the registry package, the graph musicnn published
(checked against an independent numpy implementation on real recordings), the fast deconvnet route equal to
the autograd one on every layer, and the card's figures.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import musicnn_reference as reference
import numpy as np
import pytest
import torch
from needs import missing, real_material

from app.core.architecture import Affine, Conv2d, Flatten, Linear, MaxPool2d, ReLU
from app.core.audio import load_audio
from app.core.deconv import deconvolve, deconvolve_autograd
from app.core.frontend import Compression, PadMode, Scale
from app.core.model import Model, load_model
from models.convert_musicnn import (
    DEFAULT_CACHE,
    WHEEL_NAME,
    ConversionError,
    MusicnnPackage,
    dead_maps,
    fetch_wheel,
    read_package,
)
from models.tf_checkpoint import CheckpointError, crc32c, read_index

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "musicnn-mtt-vgg.safetensors"
CARDS = ROOT / "models" / "README.md"
SONGS = [
    "Hungarian_Dance_number_5.hq.ogg",
    "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
    "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
    "sorohanro_-_solo-trumpet-06.hq.ogg",
]
MAX_PATCHES = 10  # 30 s of each song (all of the shorter ones): the full songs are bench/musicnn_tags.py's
TAG_TOLERANCE = 1e-4


@pytest.fixture(scope="session")
def wheel() -> Path:
    """The registry package (``pip download --no-deps musicnn==0.1.0`` into .cache/registry; setup.sh does it)."""
    try:
        return fetch_wheel(DEFAULT_CACHE)
    except ConversionError as err:
        missing(f"{err} (PyPI unreachable?)")


@pytest.fixture(scope="session")
def package(wheel: Path) -> MusicnnPackage:
    return read_package(wheel)


@pytest.fixture(scope="session")
def model() -> Model:
    return load_model(MODEL)


def song_samples(name: str) -> np.ndarray:
    return np.asarray(load_audio(real_material("songs", name), 16000).samples, dtype=np.float32)


# --- the file is what the converter makes of the registry package -------------------------------------------
def test_converter_run_on_the_registry_package_rebuilds_the_committed_file_byte_for_byte(
    wheel: Path, tmp_path: Path
) -> None:
    out = tmp_path / "musicnn-mtt-vgg.safetensors"
    command = [sys.executable, str(ROOT / "models" / "convert_musicnn.py"), "--wheel", str(wheel), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size == MODEL.stat().st_size
    assert out.read_bytes() == MODEL.read_bytes()


def test_converter_refuses_a_wheel_that_is_not_the_published_one(wheel: Path, tmp_path: Path) -> None:
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed = tmp_path / WHEEL_NAME
    changed.write_bytes(bytes(data))
    out = tmp_path / "out.safetensors"
    command = [sys.executable, str(ROOT / "models" / "convert_musicnn.py"), "--wheel", str(changed), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2
    assert str(changed) in result.stderr and "SHA-256" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_checkpoint_reader_checks_every_checksum(package: MusicnnPackage, wheel: Path) -> None:
    import zipfile

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    with zipfile.ZipFile(wheel) as archive:
        index = archive.read("musicnn/MTT_vgg/.index")
    entries = read_index(index)
    assert entries["2CNN/kernel"].shape == (3, 3, 128, 128) and entries["dense/kernel"].shape == (256, 50)
    damaged = bytearray(index)
    damaged[100] ^= 0x01  # inside the data block
    with pytest.raises(CheckpointError, match="CRC-32C"):
        read_index(bytes(damaged), "damaged.index")
    with pytest.raises(CheckpointError, match="no SSTable magic"):
        read_index(index[:-1] + b"\x00", "cut.index")
    assert set(package.arrays) >= {"1CNN/kernel", "batch_normalization_5/moving_variance", "dense/bias"}


# --- the file says what it is -------------------------------------------------------------------------------
def test_model_has_musicnns_graph_in_our_layout(model: Model) -> None:
    spec = model.spec
    assert [type(b) for b in spec.body] == [Conv2d, ReLU, Affine, MaxPool2d] * 5
    convs = [b for b in spec.body if isinstance(b, Conv2d)]
    assert all(c.out_channels == 128 and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    pools = [(b.kernel_size, b.stride) for b in spec.body if isinstance(b, MaxPool2d)]
    assert pools == [((1, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))]
    assert isinstance(spec.head[0], Flatten) and spec.head[1] == Linear(256, 50)
    assert spec.head_input_frames == 187 and spec.output == "sigmoid" and len(spec.labels) == 50
    fe = spec.front_end
    assert (fe.sample_rate, fe.n_fft, fe.hop_length, fe.n_mels, fe.power) == (16000, 512, 256, 96, 2.0)
    assert fe.scale is Scale.MEL and fe.pad_mode is PadMode.REFLECT
    assert fe.compression is Compression.LOG10_1P and fe.log1p_factor == 10000.0


def test_input_batchnorm_is_the_front_ends_normalisation(model: Model, package: MusicnnPackage) -> None:
    a = {k: v.astype(np.float64) for k, v in package.arrays.items()}
    x = np.linspace(0.0, 4.0, 101)
    bn = (x - a["batch_normalization/moving_mean"]) / np.sqrt(a["batch_normalization/moving_variance"] + 1e-3)
    bn = bn * a["batch_normalization/gamma"] + a["batch_normalization/beta"]
    fe = model.front_end
    assert np.abs((x - fe.norm_mean) / fe.norm_std - bn).max() < 1e-12


def test_file_and_card_carry_licence_provenance_dead_maps_and_heldout_figure(
    model: Model, package: MusicnnPackage
) -> None:
    provenance = model.spec.provenance
    assert provenance["licence"] == "ISC"
    assert provenance["licence_text"] == package.licence
    assert "Permission to use, copy, modify, and/or distribute this software" in package.licence
    assert package.wheel_sha256 in provenance["source"]
    assert provenance["heldout"]["roc_auc"] == pytest.approx(0.9030268990308291, abs=1e-15)
    dead = dead_maps(package.arrays)
    assert provenance["dead_maps"] == dead
    assert [len(dead[f"conv{n}"]) for n in range(1, 6)] == [37, 40, 16, 14, 0]
    card = CARDS.read_text(encoding="utf-8")
    section = card[card.index("## `musicnn-mtt-vgg`") :]
    section = section[: section.index("\n## ", 4)]
    assert package.licence.splitlines()[0] in section and "ISC" in section
    assert "**0.903**" in section
    row = re.search(r"dead maps[^|\n]*\|([^\n]+)", section)
    assert row is not None
    assert [int(n) for n in re.findall(r"\d+", row.group(1))] == [37, 40, 16, 14, 0]


# --- equal to the published graph ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("song", SONGS)
def test_tags_on_real_recordings_equal_the_published_graph(model: Model, package: MusicnnPackage, song: str) -> None:
    """Same 16 kHz samples into both: musicnn's pipeline in numpy, and our front end + model file."""
    y = song_samples(song)
    expected_batch = reference.patches(reference.log_mel(y))[:MAX_PATCHES]
    expected = reference.taggram(package.arrays, expected_batch)  # (patches, 50)
    fe = model.front_end
    x = fe.input_from_stft(fe.stft(torch.from_numpy(y)))
    windows = torch.stack([x[:, i * 187 : (i + 1) * 187] for i in range(expected.shape[0])]).unsqueeze(1)
    got = model.activate(model.logits(windows)).double().numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TAG_TOLERANCE
    # the song's tags as musicnn ranks them (mean over patches): same order at the top
    assert np.argsort(-got.mean(0))[:5].tolist() == np.argsort(-expected.mean(0))[:5].tolist()


@pytest.mark.slow
def test_every_layers_output_equals_the_published_graph(model: Model, package: MusicnnPackage) -> None:
    y = song_samples(SONGS[3])[16000 * 10 :]
    batch = reference.patches(reference.log_mel(y))[:1]
    _, pools = reference.vgg_logits(package.arrays, batch)
    fe = model.front_end
    x = fe.input_from_stft(fe.stft(torch.from_numpy(y)))[:, :187][None, None]
    record = model.forward_record(x)
    for layer, expected in enumerate(pools, 1):
        got = model.layer_output(record, layer)[0].permute(2, 1, 0).double().numpy()  # (time, freq, channel)
        assert got.shape == expected.shape[1:], layer
        assert np.abs(got - expected[0]).max() < 1e-4 * np.abs(expected).max(), layer


# --- the fast route ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("layer", [1, 2, 3, 4, 5])
def test_explicit_deconvnet_equals_autograd_route_on_a_real_recording(model: Model, layer: int) -> None:
    """Overlapping first pool and batch-norm after every ReLU: the explicit route is exact (dead maps included)."""
    y = torch.from_numpy(song_samples(SONGS[3])[16000 * 10 : 16000 * 16])
    fe = model.front_end
    x = fe.input_from_stft(fe.stft(y))[None, None]
    live = [k for k in range(128) if k not in model.spec.provenance["dead_maps"][f"conv{layer}"]]
    features = [live[0], live[len(live) // 2], live[-1], 127]
    explicit = deconvolve(model, model.forward_record(x), layer, features)
    autograd = deconvolve_autograd(model, x, layer, features)
    assert int((autograd.abs().amax(dim=(1, 2)) > 0).sum()) >= 2  # not a comparison of zeros
    error = float((explicit - autograd).abs().max() / autograd.abs().max())
    assert error < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("layer", [2, 5])
def test_windowed_rendering_equals_the_whole_clip_with_overlapping_pools(model: Model, layer: int) -> None:
    """The window renders a crop with its context: exact here too (the first pool overlaps in time)."""
    from app.core.analysis import Analysis

    analysis = Analysis(load_audio(ROOT / "resources" / "demo" / "real" / "band.flac", 16000), model)
    whole = analysis.deconv(layer, [0, 40])
    for frames in [(0, 100), (333, 500), (whole.shape[-1] - 120, whole.shape[-1])]:
        window = analysis.deconv_frames(layer, [0, 40], frames)
        expected = whole[..., frames[0] : frames[1]]
        assert float(expected.abs().max()) > 0
        assert float((window - expected).abs().max() / expected.abs().max()) < 1e-5
