"""Convert musicnn's ``MTT_vgg`` TensorFlow checkpoint into ``models/musicnn-mtt-vgg.safetensors``.

Source: the registry package ``musicnn==0.1.0`` (ISC licence, Jordi Pons, Music Technology Group, UPF), fetched
with ``pip download --no-deps musicnn==0.1.0`` (a wheel; nothing is installed and TensorFlow is not needed: the
checkpoint is read by :mod:`models.tf_checkpoint`). The wheel is checked against its SHA-256 and the
checkpoint's own CRC-32C checksums. The same wheel always gives the same file, byte for byte
(``tests/models/test_musicnn.py`` holds the committed file to that).

The graph (``musicnn/models.py``, ``vgg(x, is_training, 50, 128)``), input ``(batch, time 187, mel 96)``::

    BN(input) -> 5 x [conv 3x3 'same', 128, ReLU -> BN -> max-pool] -> flatten -> dense 50 -> sigmoid
    pools (time x freq): 4x1 stride 2x2, 2x2, 2x2, 2x2, 4x4 stride 4x4; batch-norm epsilon 1e-3 (TF default)

What this converter does with it (our input is ``(freq, time)``, so every 2-D size is swapped):

- the input batch-norm, ``gamma·(x - mean)/sqrt(var + eps) + beta``, is exactly ``(x - m)/s`` with
  ``s = sqrt(var + eps)/gamma`` and ``m = mean - beta·s``: the front end's ``norm_mean``/``norm_std``. Folding it
  into conv1 instead would not be exact (TF pads the *normalised* input with zeros);
- conv kernels ``(time, freq, in, out)`` become ``(out, in, freq, time)``;
- each batch-norm after a ReLU becomes an exact per-channel affine block (``save_model`` does that);
- the first pool, 4 (time) x 1 (freq) with stride 2 x 2, becomes ``maxpool2d`` kernel (1, 4), stride (2, 2);
- the dense layer reads the flattened ``(time 2, freq 1, channel 128)`` pool-5 output in TF's order; ours
  flattens ``(channel, freq, time)``, so its 256 input rows are permuted to match.

Usage (from the repository root)::

    python models/convert_musicnn.py --out models/musicnn-mtt-vgg.safetensors            # fetches the wheel
    python models/convert_musicnn.py --wheel path/to/musicnn-0.1.0-py3-none-any.whl --out out.safetensors
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.tf_checkpoint import CheckpointError, read_index, read_tensor  # noqa: E402

PACKAGE = "musicnn==0.1.0"
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
CHECKPOINT = "musicnn/MTT_vgg/"  # the checkpoint prefix is the directory itself: files ".index", ".data-..."
DEFAULT_CACHE = ROOT / ".cache" / "registry"
DEFAULT_OUT = ROOT / "models" / "musicnn-mtt-vgg.safetensors"

N_FRAMES = 187  # musicnn's 3 s patch at 16 kHz, hop 256 (config.json "n_frames")
N_MAPS = 128
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default epsilon
# (freq, time) kernel and stride of each layer's max-pool: TF's [4, 1] / [2, 2] ... swapped
POOLS = (((1, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))
DEAD_VARIANCE = 1e-12  # dead maps: their running variance decayed to ~1e-36 (the next smallest is 3.6e-7)


class ConversionError(RuntimeError):
    """The wheel or its checkpoint is not the one this converter knows: names the file and the reason."""


@dataclass(frozen=True)
class MusicnnPackage:
    """What the converter takes from the wheel (all read, nothing executed)."""

    arrays: dict[str, np.ndarray]
    labels: tuple[str, ...]
    licence: str
    experiment_result: str
    config: str
    wheel_sha256: str


def fetch_wheel(cache: Path = DEFAULT_CACHE) -> Path:
    """The wheel in ``cache``, downloaded there first with ``pip download --no-deps`` when it is not there."""
    wheel = cache / WHEEL_NAME
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", str(cache)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wheel.is_file():
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel was written"]
            raise ConversionError(f"pip download {PACKAGE} failed: {reason[0]}")
    return wheel


def read_package(wheel: Path) -> MusicnnPackage:
    """Read the MTT_vgg checkpoint, the tag names, the licence and the held-out result from the wheel."""
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise ConversionError(f"{wheel}: SHA-256 {digest}, expected {WHEEL_SHA256} (not the published {PACKAGE})")
    with zipfile.ZipFile(wheel) as archive:
        index = archive.read(CHECKPOINT + ".index")
        shard = archive.read(CHECKPOINT + ".data-00000-of-00001")
        configuration = archive.read("musicnn/configuration.py").decode("utf-8")
        licence = archive.read("musicnn-0.1.0.dist-info/LICENSE.md").decode("utf-8").strip()
        result = archive.read(CHECKPOINT + "experiment.result").decode("utf-8").strip()
        config = archive.read(CHECKPOINT + "config.json").decode("utf-8").strip()
    try:
        entries = read_index(index, f"{wheel.name}:{CHECKPOINT}.index")
        wanted = {name: entry for name, entry in entries.items() if "Adam" not in name and "power" not in name}
        arrays = {
            name: read_tensor(entry, shard, f"{wheel.name}:{CHECKPOINT}.data-00000-of-00001")
            for name, entry in wanted.items()
        }
    except CheckpointError as err:
        raise ConversionError(str(err)) from None
    return MusicnnPackage(arrays, _mtt_labels(configuration), licence, result, config, digest)


def _mtt_labels(source: str) -> tuple[str, ...]:
    """``MTT_LABELS`` from ``configuration.py``, read as a literal (the module is never run)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MTT_LABELS" for t in node.targets):
            labels = ast.literal_eval(node.value)
            if isinstance(labels, list) and len(labels) == 50 and all(isinstance(s, str) for s in labels):
                return tuple(labels)
    raise ConversionError("musicnn/configuration.py: no list of 50 MTT_LABELS")


def heldout_roc_auc(experiment_result: str) -> float:
    """The first ``AUC:`` line of ``experiment.result``: the test-set ROC-AUC the package reports."""
    for line in experiment_result.splitlines():
        if line.startswith("AUC:"):
            return float(line.split(":", 1)[1])
    raise ConversionError(f"experiment.result has no AUC line: {experiment_result!r}")


def dead_maps(arrays: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """Per layer, the maps whose batch-norm running variance is ~0: their ReLU output never varied in training."""
    return {
        f"conv{layer}": np.flatnonzero(arrays[f"batch_normalization_{layer}/moving_variance"] < DEAD_VARIANCE).tolist()
        for layer in range(1, 6)
    }


def convert(package: MusicnnPackage, out: Path) -> Path:
    """Write the Aurascope model file; returns its path."""
    import torch

    from app.core.architecture import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU
    from app.core.frontend import PRESETS
    from app.core.model import ModelSpec, save_model

    a = package.arrays
    gamma, beta = float(a["batch_normalization/gamma"][0]), float(a["batch_normalization/beta"][0])
    mean, var = float(a["batch_normalization/moving_mean"][0]), float(a["batch_normalization/moving_variance"][0])
    norm_std = float(np.sqrt(np.float64(var) + BN_EPS)) / gamma
    norm_mean = mean - beta * norm_std
    front_end = replace(PRESETS["musicnn"], norm_mean=norm_mean, norm_std=norm_std)

    body: list = []
    weights: dict[str, torch.Tensor] = {}
    channels = 1
    for layer, (kernel, stride) in enumerate(POOLS, 1):
        i = len(body)
        body += [Conv2d(channels, N_MAPS, (3, 3), (1, 1), (1, 1)), ReLU(), BatchNorm2d(N_MAPS, eps=BN_EPS)]
        body.append(MaxPool2d(kernel, stride))
        tf_kernel = a[f"{layer}CNN/kernel"]  # (time, freq, in, out)
        weights[f"body.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(tf_kernel.transpose(3, 2, 1, 0)))
        weights[f"body.{i}.bias"] = torch.from_numpy(a[f"{layer}CNN/bias"])
        bn = f"batch_normalization_{layer}/"
        weights[f"body.{i + 2}.weight"] = torch.from_numpy(a[bn + "gamma"])
        weights[f"body.{i + 2}.bias"] = torch.from_numpy(a[bn + "beta"])
        weights[f"body.{i + 2}.running_mean"] = torch.from_numpy(a[bn + "moving_mean"])
        weights[f"body.{i + 2}.running_var"] = torch.from_numpy(a[bn + "moving_variance"])
        channels = N_MAPS

    # pool5 is (time 2, freq 1, channel 128); TF flattens it as t·128 + c, we flatten (c, f, t) as c·2 + t
    dense = a["dense/kernel"]  # (256, 50)
    n_time = dense.shape[0] // N_MAPS
    dense_ours = dense.reshape(n_time, N_MAPS, -1).transpose(2, 1, 0).reshape(dense.shape[1], -1)
    weights["head.1.weight"] = torch.from_numpy(np.ascontiguousarray(dense_ours))
    weights["head.1.bias"] = torch.from_numpy(a["dense/bias"])
    head = (Flatten(), Linear(dense.shape[0], dense.shape[1]))

    roc_auc = heldout_roc_auc(package.experiment_result)
    dead = dead_maps(a)
    spec = ModelSpec(
        front_end=front_end,
        body=tuple(body),
        head=head,
        head_input_frames=N_FRAMES,
        output="sigmoid",
        labels=package.labels,
        task="MagnaTagATune top-50 tags of a 3 s clip (multi-label, sigmoid per tag)",
        name="musicnn-mtt-vgg",
        provenance={
            "source": f"PyPI {PACKAGE}, {WHEEL_NAME} (sha256 {package.wheel_sha256}), checkpoint {CHECKPOINT}",
            "authors": "Jordi Pons and Xavier Serra, Music Technology Group, Universitat Pompeu Fabra",
            "reference": "Pons & Serra, musicnn: pre-trained convolutional neural networks for music audio tagging, "
            "ISMIR 2019 late-breaking demo; https://github.com/jordipons/musicnn",
            "licence": "ISC",
            "licence_text": package.licence,
            "trained_on": "MagnaTagATune (MTT), top-50 tags, 3 s patches (187 frames), its training split",
            "heldout": {
                "roc_auc": roc_auc,
                "set": "MagnaTagATune test split, as musicnn/MTT_vgg/experiment.result reports it",
                "experiment_result": package.experiment_result,
            },
            "training_config": package.config,
            "dead_maps": dead,
            "dead_map_rule": f"batch-norm running variance below {DEAD_VARIANCE:g}",
            "converted_by": "models/convert_musicnn.py (TF checkpoint read without TensorFlow)",
            "conversion": "input batch-norm -> front-end norm_mean/norm_std; batch-norm after each ReLU -> affine "
            "block; (time, freq) -> (freq, time); dense rows permuted to our flatten order",
        },
    )
    return save_model(out, spec, weights)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"{WHEEL_NAME} (default: fetched into --cache)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the wheel is downloaded")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        wheel = args.wheel or fetch_wheel(args.cache)
        if not wheel.is_file():
            raise ConversionError(f"{wheel}: no such file")
        path = convert(read_package(wheel), args.out)
    except (ConversionError, OSError, zipfile.BadZipFile, KeyError) as err:
        print(f"convert_musicnn: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size} bytes, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
