"""Train the bundled models from rendered MIDI and write them as Aurascope model files.

    PYTHONPATH=. python models/training/train.py choi2015 --out models/choi2015-genre.safetensors
    PYTHONPATH=. python models/training/train.py mel-tagger --out models/mel-tagger.safetensors
    ... add --smoke for a tiny set and one epoch (seconds; used by the tests)

The network is an ``nn.Module`` whose parameter names are the model file's tensor names (``body.{i}.weight``,
batch-norm ``body.{i}.running_mean`` ..., ``head.{j}.weight``), so ``save_model`` folds batch-norm and writes it
as it is. Inputs go through the app's own ``FrontEnd.stft`` and ``input_from_stft``: what is trained is what is
auralised. Augmentation (gain, spectral tilt) multiplies the complex STFT before ``input_from_stft``, which is
the same as filtering the audio. After writing, the file is read back with ``load_model`` and its outputs
must equal the trained module's (or the script fails).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.architecture import BatchNorm2d, Block, Conv2d, Flatten, GlobalPool, Linear, MaxPool2d, ReLU
from app.core.frontend import Compression, FrontEnd, Scale
from app.core.model import ModelSpec, choi2015_spec, load_model, save_model
from models.training import datagen
from models.training.evaluate import accuracy, macro_roc_auc, model_scores, per_tag_auc

# Seeds of the data sets: training, and the two held-out sets; the tests use seeds from TEST_SEED up.
TRAIN_SEED = 20150
HELDOUT_FLUIDR3_SEED = 31000
HELDOUT_MUSESCORE_SEED = 32000
TEST_SEED = 40000


@dataclass(frozen=True)
class Recipe:
    """One bundled model: its front end, body, data and schedule."""

    name: str
    task: str
    kind: str  # "styles" (softmax over datagen.STYLES) | "tags" (sigmoid over datagen.TAGS)
    front_end: FrontEnd
    n_maps: int
    n_layers: int
    pool: str  # the head's global pool
    clip_seconds: float  # what the head sees (head_input_frames)
    render_seconds: float  # rendered length; the spare is for random time shifts
    n_train: int  # clips per style ("styles") or mixtures ("tags"), before the validation split
    n_heldout: int  # per style or mixtures, for each soundfont
    epochs: int
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.1
    gain_db: float = 10.0  # random gain, uniform in +-gain_db
    tilt_db: float = 4.0  # random spectral tilt, uniform in +-tilt_db per octave (around 1 kHz)
    dropout: float = 0.3
    label_smoothing: float = 0.05

    @property
    def head_frames(self) -> int:
        return self.front_end.n_frames(round(self.clip_seconds * self.front_end.sample_rate))

    def smoke(self) -> Recipe:
        """A tiny version: a handful of clips, one epoch."""
        return replace(
            self,
            n_train=2 if self.kind == "styles" else 16,
            n_heldout=1 if self.kind == "styles" else 8,
            epochs=1,
            batch_size=8,
        )


RECIPES: dict[str, Recipe] = {
    "choi2015": Recipe(
        name="choi2015-genre",
        task="music style (genre) classification of 4 s clips",
        kind="styles",
        front_end=FrontEnd(sample_rate=11025, n_fft=512, hop_length=256),
        n_maps=64,
        n_layers=5,
        pool="max",
        clip_seconds=4.0,
        render_seconds=4.5,
        n_train=160,
        n_heldout=25,
        epochs=12,
    ),
    "mel-tagger": Recipe(
        name="mel-tagger",
        task="instrument tagging (multi-label) of 4 s mixtures",
        kind="tags",
        front_end=FrontEnd(
            sample_rate=22050,
            n_fft=1024,
            hop_length=512,
            scale=Scale.MEL,
            n_mels=96,
            compression=Compression.DB,
            db_top_db=80.0,
        ),
        n_maps=48,
        n_layers=4,
        pool="avgmax",
        clip_seconds=4.0,
        render_seconds=4.5,
        n_train=2400,
        n_heldout=200,
        epochs=12,
        label_smoothing=0.0,
    ),
}


# --- the network -----------------------------------------------------------------------------------
class GlobalPoolLayer(nn.Module):
    """``GlobalPool`` of the model format: max, mean or both (mean first) over (freq, time)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.mode == "max":
            return h.amax(dim=(-2, -1))
        if self.mode == "avg":
            return h.mean(dim=(-2, -1))
        return torch.cat([h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1))], dim=1)


def _module_for(block: Block) -> nn.Module:
    if isinstance(block, Conv2d):
        return nn.Conv2d(block.in_channels, block.out_channels, block.kernel_size, block.stride, block.padding)
    if isinstance(block, BatchNorm2d):
        return nn.BatchNorm2d(block.num_features, eps=block.eps)
    if isinstance(block, ReLU):
        return nn.ReLU()
    if isinstance(block, MaxPool2d):
        return nn.MaxPool2d(block.kernel_size, block.stride)
    if isinstance(block, GlobalPool):
        return GlobalPoolLayer(block.mode)
    if isinstance(block, Flatten):
        return nn.Flatten()
    if isinstance(block, Linear):
        return nn.Linear(block.in_features, block.out_features)
    raise ValueError(f"no torch module for block {block.type}")


class SpecNet(nn.Module):
    """A trainable network built from a ``ModelSpec`` (with batch-norm); state-dict names = file tensor names.

    ``dropout`` acts on the head's input during training only (identity in eval, so the file needs nothing).
    """

    def __init__(self, spec: ModelSpec, dropout: float = 0.0) -> None:
        super().__init__()
        self.spec = spec
        self.body = nn.Sequential(*[_module_for(b) for b in spec.body])
        self.head = nn.Sequential(*[_module_for(b) for b in spec.head])
        self.dropout = dropout
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        for block in self.head:
            if isinstance(block, nn.Linear) and self.dropout:
                h = F.dropout(h, self.dropout, self.training)
            h = block(h)
        return h

    def file_weights(self) -> dict[str, torch.Tensor]:
        """The tensors ``save_model`` expects (batch-norm still separate; its step counter dropped)."""
        return {
            k: v.detach().contiguous().clone()
            for k, v in self.state_dict().items()
            if not k.endswith("num_batches_tracked")
        }


def build_spec(recipe: Recipe, labels: tuple[str, ...], front_end: FrontEnd) -> ModelSpec:
    """The recipe's spec with batch-norm (folded by ``save_model``)."""
    spec = choi2015_spec(
        n_maps=recipe.n_maps,
        n_layers=recipe.n_layers,
        labels=labels,
        head_input_frames=recipe.head_frames,
        batchnorm=True,
        front_end=front_end,
    )
    head = (GlobalPool(recipe.pool), Linear(recipe.n_maps * (2 if recipe.pool == "avgmax" else 1), len(labels)))
    return replace(
        spec, head=head, name=recipe.name, task=recipe.task, output="softmax" if recipe.kind == "styles" else "sigmoid"
    )


# --- data ------------------------------------------------------------------------------------------
def render(recipe: Recipe, n: int, seed: int, soundfont: Path, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    sr = recipe.front_end.sample_rate
    workers = 2 if n * (8 if recipe.kind == "styles" else 1) >= 100 else 1  # spawning costs ~2 s
    if recipe.kind == "styles":
        x, y = datagen.style_dataset(n, seed, soundfont, sr, seconds, workers=workers)
    else:
        x, y = datagen.mixture_dataset(n, seed, soundfont, sr, seconds, workers=workers)
    return np.ascontiguousarray(x, dtype=np.float32), np.asarray(y)


def batch_input(
    fe: FrontEnd, audio: np.ndarray, frames: int, rng: np.random.Generator | None, recipe: Recipe
) -> torch.Tensor:
    """``(B, 1, n_bins, frames)`` network inputs; with ``rng``: random time shift, gain and spectral tilt."""
    n = round(recipe.clip_seconds * fe.sample_rate)
    if rng is None:
        y = torch.from_numpy(audio[:, :n])
    else:
        starts = rng.integers(0, audio.shape[1] - n + 1, size=len(audio))
        y = torch.from_numpy(np.stack([a[s : s + n] for a, s in zip(audio, starts, strict=True)]))
    spec = fe.stft(y)
    if rng is not None:
        freqs = torch.from_numpy(np.linspace(0, fe.sample_rate / 2, fe.n_freq)).float()
        octaves = torch.log2(torch.clamp(freqs, min=62.5) / 1000.0)
        gain_db = torch.from_numpy(rng.uniform(-recipe.gain_db, recipe.gain_db, size=(len(audio), 1))).float()
        tilt = torch.from_numpy(rng.uniform(-recipe.tilt_db, recipe.tilt_db, size=(len(audio), 1))).float()
        spec = spec * (10.0 ** ((gain_db + tilt * octaves[None]) / 20.0))[..., None]
    return fe.input_from_stft(spec)[:, None, :, :frames]


def input_statistics(fe: FrontEnd, audio: np.ndarray, recipe: Recipe) -> tuple[float, float]:
    """Mean and standard deviation of the un-normalised input over (a sample of) the training clips."""
    raw = replace(fe, norm_mean=0.0, norm_std=1.0)
    x = torch.cat(
        [
            batch_input(raw, audio[i : i + 64], recipe.head_frames, None, recipe)
            for i in range(0, min(len(audio), 512), 64)
        ]
    )
    return float(x.mean()), float(x.std())


# --- training --------------------------------------------------------------------------------------
def _metric(recipe: Recipe, logits: torch.Tensor, target: torch.Tensor) -> float:
    """Accuracy: of the best class (styles) or of every tag at 0.5 (tags)."""
    if recipe.kind == "styles":
        return float((logits.argmax(1) == target).float().mean())
    return float(((logits > 0) == (target > 0.5)).float().mean())


def _loss(recipe: Recipe, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if recipe.kind == "styles":
        return F.cross_entropy(logits, target, label_smoothing=recipe.label_smoothing)
    return F.binary_cross_entropy_with_logits(logits, target)


@torch.no_grad()
def _evaluate(net: SpecNet, recipe: Recipe, audio: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    net.eval()
    fe = net.spec.front_end
    out = [
        net(
            batch_input(fe, audio[i : i + 64], recipe.head_frames, None, recipe).contiguous(
                memory_format=torch.channels_last
            )
        )
        for i in range(0, len(audio), 64)
    ]
    logits = torch.cat(out)
    return _metric(recipe, logits, torch.from_numpy(target)), logits.numpy()


def train(recipe: Recipe, out: Path, *, seed: int = TRAIN_SEED, soundfont: Path | None = None, log=print) -> dict:
    """Render, train, write ``out``, check the written file; returns the provenance written into it."""
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    soundfont = Path(soundfont or datagen.FLUIDR3)
    labels = tuple(datagen.STYLES if recipe.kind == "styles" else datagen.TAGS)
    started = time.perf_counter()

    audio, target = render(recipe, recipe.n_train, seed, soundfont, recipe.render_seconds)
    render_s = time.perf_counter() - started
    log(f"rendered {len(audio)} training clips from {soundfont.name} in {render_s:.1f} s")
    order = rng.permutation(len(audio))
    n_val = max(1, round(recipe.val_fraction * len(audio)))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    x_train, y_train = audio[train_idx], target[train_idx]
    x_val, y_val = audio[val_idx], target[val_idx]
    target_dtype = torch.long if recipe.kind == "styles" else torch.float32

    mean, std = input_statistics(recipe.front_end, x_train, recipe)
    fe = replace(recipe.front_end, norm_mean=round(mean, 6), norm_std=round(std, 6))
    spec = build_spec(recipe, labels, fe)
    net = SpecNet(spec, recipe.dropout).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.2
    )
    train_started = time.perf_counter()
    history = []
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        perm = rng.permutation(len(x_train))
        loss_sum = metric_sum = 0.0
        seen = 0
        for b in range(steps_per_epoch):
            idx = np.sort(perm[b * recipe.batch_size : (b + 1) * recipe.batch_size])
            x = batch_input(fe, x_train[idx], recipe.head_frames, rng, recipe).contiguous(
                memory_format=torch.channels_last
            )
            t = torch.as_tensor(y_train[idx], dtype=target_dtype)
            logits = net(x)
            loss = _loss(recipe, logits, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            metric_sum += _metric(recipe, logits.detach(), t) * len(idx)
            seen += len(idx)
        val_metric, val_logits = _evaluate(net, recipe, x_val, y_val)
        row = {
            "epoch": epoch,
            "loss": loss_sum / seen,
            "train_acc": metric_sum / seen,
            "val_acc": val_metric,
            "seconds": time.perf_counter() - t0,
        }
        if recipe.kind == "tags":
            row["val_auc"] = macro_roc_auc(val_logits, y_val)
        history.append(row)
        log(
            f"epoch {epoch:2d}/{recipe.epochs}  loss {row['loss']:.4f}  train acc {row['train_acc']:.3f}  "
            f"val acc {row['val_acc']:.3f}"
            + (f"  val auc {row['val_auc']:.3f}" if "val_auc" in row else "")
            + f"  {row['seconds']:.1f} s"
        )
    train_s = time.perf_counter() - train_started

    net.eval()
    heldout = {}
    provenance = {
        "generator": "models/training/datagen.py",
        "generator_seed": seed,
        "soundfont": soundfont.name,
        "train_clips": len(x_train),
        "val_clips": len(x_val),
        "clip_seconds": recipe.clip_seconds,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "optimizer": f"AdamW lr {recipe.lr} (one-cycle), weight decay {recipe.weight_decay}",
        "augmentation": f"time shift 0-{recipe.render_seconds - recipe.clip_seconds:g} s, "
        f"gain +-{recipe.gain_db:g} dB, spectral tilt +-{recipe.tilt_db:g} dB/octave",
        "val_acc": round(history[-1]["val_acc"], 4),
        "render_seconds": round(render_s, 1),
        "train_seconds": round(train_s, 1),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "trained_by": "models/training/train.py " + ("choi2015" if recipe.kind == "styles" else "mel-tagger"),
    }
    spec = replace(spec, provenance=provenance)
    save_model(out, spec, net.file_weights())
    model = load_model(out)
    for name, font, hseed in (
        ("fluidr3", datagen.FLUIDR3, HELDOUT_FLUIDR3_SEED),
        ("musescore", datagen.MUSESCORE, HELDOUT_MUSESCORE_SEED),
    ):
        t0 = time.perf_counter()
        x_h, y_h = render(recipe, recipe.n_heldout, hseed, Path(font), recipe.clip_seconds)
        scores = model_scores(model, x_h)
        if name == "fluidr3":
            check_reload(net, model, x_h, recipe)
        if recipe.kind == "styles":
            heldout[name] = {"seed": hseed, "clips": len(x_h), "accuracy": round(accuracy(scores, y_h), 4)}
        else:
            aucs = per_tag_auc(scores, y_h)
            heldout[name] = {
                "seed": hseed,
                "clips": len(x_h),
                "macro_roc_auc": round(macro_roc_auc(scores, y_h), 4),
                "roc_auc": {
                    t: (round(float(a), 4) if np.isfinite(a) else None) for t, a in zip(labels, aucs, strict=True)
                },
            }
        log(
            f"held-out {name} ({Path(font).name}, seed {hseed}, {len(x_h)} clips): "
            + ", ".join(f"{k} {v}" for k, v in heldout[name].items() if k in ("accuracy", "macro_roc_auc"))
            + f"  ({time.perf_counter() - t0:.1f} s)"
        )
    provenance["heldout"] = heldout
    provenance["total_seconds"] = round(time.perf_counter() - started, 1)
    spec = replace(spec, provenance=provenance)
    save_model(out, spec, net.file_weights())
    check_reload(net, load_model(out), x_val[:16], recipe)
    log(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {provenance['total_seconds']:.0f} s total; "
        "reloaded outputs equal the trained network's"
    )
    return provenance


@torch.no_grad()
def check_reload(net: SpecNet, model, audio: np.ndarray, recipe: Recipe) -> None:
    """The file's outputs (BN folded, app forward) must equal the trained module's eval outputs."""
    net.eval()
    x = batch_input(model.front_end, audio, recipe.head_frames, None, recipe)
    ours = torch.softmax(net(x), -1) if recipe.kind == "styles" else torch.sigmoid(net(x))
    theirs = model.activate(model.logits(x))
    err = float((ours - theirs).abs().max())
    if not err <= 1e-4:
        raise AssertionError(f"reloaded model differs from the trained network by {err:.2e} (> 1e-4)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="tiny set, one epoch: checks the pipeline in seconds")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    args = parser.parse_args(argv)
    recipe = RECIPES[args.recipe]
    if args.smoke:
        recipe = recipe.smoke()
    train(recipe, args.out, seed=args.seed, log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
