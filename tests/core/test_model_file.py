"""Model files: write -> read -> same outputs; batch-norm folding; malformed files give specific errors."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from app.core.architecture import Affine, BatchNorm2d, Conv2d, MaxPool2d, ReLU
from app.core.errors import ModelFormatError
from app.core.model import (
    FileKind,
    Model,
    ModelSpec,
    choi2015_spec,
    load_model,
    random_weights,
    save_model,
    sniff_model_file,
)


def test_write_read_gives_the_same_outputs(tmp_path: Path, small_model: Model) -> None:
    path = save_model(tmp_path / "m.safetensors", small_model.spec, small_model.weights)
    loaded = load_model(path)
    x = torch.rand(2, 1, 257, 87)
    assert torch.equal(loaded.logits(x), small_model.logits(x))
    assert loaded.spec == small_model.spec
    assert len(loaded.sha256) == 64 and loaded.path == path.resolve()


def test_batchnorm_is_folded_at_write_with_the_same_outputs(tmp_path: Path) -> None:
    spec = choi2015_spec(n_maps=4, n_layers=3, labels=("a", "b"), head_input_frames=None, batchnorm=True)
    gen = torch.Generator().manual_seed(5)
    weights = {}
    for i, block in enumerate(spec.body):
        if block.type == "conv2d":
            weights[f"body.{i}.weight"] = torch.randn(block.out_channels, block.in_channels, 3, 3, generator=gen)
            weights[f"body.{i}.bias"] = torch.randn(block.out_channels, generator=gen)
        elif isinstance(block, BatchNorm2d):
            n = block.num_features
            weights[f"body.{i}.weight"] = torch.rand(n, generator=gen) + 0.5
            weights[f"body.{i}.bias"] = torch.randn(n, generator=gen)
            weights[f"body.{i}.running_mean"] = torch.randn(n, generator=gen)
            weights[f"body.{i}.running_var"] = torch.rand(n, generator=gen) + 0.1
    head_index = 0
    weights[f"head.{head_index + 1}.weight"] = torch.randn(2, 4, generator=gen)
    weights[f"head.{head_index + 1}.bias"] = torch.randn(2, generator=gen)
    reference = torch.nn.Sequential()
    for i, block in enumerate(spec.body):
        if block.type == "conv2d":
            conv = torch.nn.Conv2d(block.in_channels, block.out_channels, 3, padding=1)
            conv.weight.data, conv.bias.data = weights[f"body.{i}.weight"], weights[f"body.{i}.bias"]
            reference.append(conv)
        elif isinstance(block, BatchNorm2d):
            bn = torch.nn.BatchNorm2d(block.num_features).eval()
            bn.weight.data, bn.bias.data = weights[f"body.{i}.weight"], weights[f"body.{i}.bias"]
            bn.running_mean, bn.running_var = weights[f"body.{i}.running_mean"], weights[f"body.{i}.running_var"]
            reference.append(bn)
        elif block.type == "relu":
            reference.append(torch.nn.ReLU())
        else:
            reference.append(torch.nn.MaxPool2d(2))
    loaded = load_model(save_model(tmp_path / "bn.safetensors", spec, weights))
    assert not any(isinstance(b, BatchNorm2d) for b in loaded.spec.body)
    x = torch.rand(1, 1, 257, 64)
    with torch.no_grad():
        expected = reference(x)
    assert float((loaded.body(x) - expected).abs().max()) < 1e-4


def test_batchnorm_after_relu_is_written_as_an_affine_block_with_the_same_outputs(tmp_path: Path) -> None:
    """conv -> ReLU -> BN -> pool (musicnn's order): the BN cannot fold into the conv, so it is stored as
    ``affine`` and the file computes what torch's eval-mode batch-norm computes (negative gammas included)."""
    body = (Conv2d(1, 3, (3, 3), (1, 1), (1, 1)), ReLU(), BatchNorm2d(3, eps=1e-3), MaxPool2d((1, 4), (2, 2)))
    spec = ModelSpec(front_end=choi2015_spec().front_end, body=body)
    gen = torch.Generator().manual_seed(9)
    weights = {
        "body.0.weight": torch.randn(3, 1, 3, 3, generator=gen),
        "body.0.bias": torch.randn(3, generator=gen),
        "body.2.weight": torch.tensor([1.5, -0.7, 0.01]),
        "body.2.bias": torch.randn(3, generator=gen),
        "body.2.running_mean": torch.rand(3, generator=gen),
        "body.2.running_var": torch.tensor([0.5, 2.0, 1e-36]),
    }
    loaded = load_model(save_model(tmp_path / "affine.safetensors", spec, weights))
    assert [type(b) for b in loaded.spec.body] == [Conv2d, ReLU, Affine, MaxPool2d]
    assert json.loads(loaded.spec.to_json())["architecture"]["body"][2] == {"type": "affine", "num_features": 3}
    conv = torch.nn.Conv2d(1, 3, 3, padding=1)
    conv.weight.data, conv.bias.data = weights["body.0.weight"], weights["body.0.bias"]
    bn = torch.nn.BatchNorm2d(3, eps=1e-3).eval()
    bn.weight.data, bn.bias.data = weights["body.2.weight"], weights["body.2.bias"]
    bn.running_mean, bn.running_var = weights["body.2.running_mean"], weights["body.2.running_var"]
    reference = torch.nn.Sequential(conv, torch.nn.ReLU(), bn, torch.nn.MaxPool2d((1, 4), (2, 2)))
    x = torch.rand(1, 1, 20, 33, generator=gen)
    with torch.no_grad():
        expected = reference(x)
    assert float((loaded.body(x) - expected).abs().max()) < 1e-5 * float(expected.abs().max())


def test_affine_block_with_the_wrong_channel_count_is_refused_naming_it(tmp_path: Path) -> None:
    body = (Conv2d(1, 3, (3, 3), (1, 1), (1, 1)), ReLU(), Affine(4))
    spec = ModelSpec(front_end=choi2015_spec().front_end, body=body)
    path = write_raw(tmp_path / "bad.safetensors", {"aurascope": spec.to_json()}, {"x": torch.zeros(1)})
    with pytest.raises(ModelFormatError, match="4 channels, the block before gives 3") as info:
        load_model(path)
    assert info.value.field == "architecture.body[2].num_features"
    assert "bad.safetensors" in str(info.value)


def write_raw(path: Path, metadata: dict | None, tensors: dict[str, torch.Tensor]) -> Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


def valid_meta_and_weights(model: Model) -> tuple[dict, dict]:
    return json.loads(model.spec.to_json()), dict(model.weights)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda m, w: m.update(format="other"), "format"),
        (lambda m, w: m.update(format_version=99), "format_version"),
        (lambda m, w: m["front_end"].update(n_fft=-4), "front_end.n_fft"),
        (lambda m, w: m["architecture"]["body"][0].update(type="lstm"), "architecture.body[0]"),
        (lambda m, w: m["architecture"]["body"][0].update(kernel_size=[3]), "architecture.body[0].kernel_size"),
        (lambda m, w: m["architecture"]["body"][3].update(in_channels=5), "architecture.body[3].in_channels"),
        (lambda m, w: m["architecture"]["head"][1].update(in_features=7), "architecture.head[1].in_features"),
        (lambda m, w: m.update(labels=["only-one"]), "labels"),
        (lambda m, w: m["architecture"].update(output="relu"), "architecture.output"),
        (lambda m, w: w.pop("body.0.bias"), "weights"),
        (lambda m, w: w.update({"body.0.weight": torch.zeros(8, 1, 5, 5)}), "weights.body.0.weight"),
        (lambda m, w: w.update({"extra": torch.zeros(1)}), "weights"),
        (lambda m, w: w.update({"body.0.bias": torch.full((8,), float("nan"))}), "weights.body.0.bias"),
    ],
)
def test_malformed_files_name_the_file_and_field(tmp_path: Path, small_model: Model, mutate, field: str) -> None:
    meta, weights = valid_meta_and_weights(small_model)
    mutate(meta, weights)
    path = write_raw(tmp_path / "bad.safetensors", {"aurascope": json.dumps(meta)}, weights)
    with pytest.raises(ModelFormatError) as err:
        load_model(path)
    assert err.value.field == field
    assert "bad.safetensors" in str(err.value) and f"'{field}'" in str(err.value)


def test_safetensors_without_our_metadata(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "plain.safetensors", None, {"w": torch.zeros(2)})
    with pytest.raises(ModelFormatError, match="without Aurascope metadata"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"abc", b"\x00" * 64, b"not a model at all, just text\n" * 10])
def test_non_model_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match="x.safetensors"):
        load_model(path)


def test_damaged_header_json(tmp_path: Path, model_file: Path) -> None:
    data = bytearray(model_file.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    data[8 + header_len // 2] = ord("{")
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="damaged.safetensors"):
        load_model(path)


class _WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.mark.parametrize("as_torch_zip", [False, True])
def test_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path: Path, as_torch_zip: bool) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pt"
    if as_torch_zip:
        torch.save({"state": _WritesMarker(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(_WritesMarker(marker)))
    assert not marker.exists()
    with pytest.raises(ModelFormatError, match="pickled PyTorch checkpoint"):
        load_model(path)
    assert not marker.exists()
    # the same file with the extension we expect is refused the same way
    renamed = path.rename(tmp_path / "evil.safetensors")
    with pytest.raises(ModelFormatError, match="never unpickles"):
        load_model(renamed)
    assert not marker.exists()


def test_random_weights_round_trip_every_layer(tmp_path: Path) -> None:
    spec = choi2015_spec(n_maps=64, labels=tuple("abcdefgh"))
    path = save_model(tmp_path / "big.safetensors", spec, random_weights(spec))
    model = load_model(path)
    assert [layer.n_maps for layer in model.layers] == [64] * 5
    assert [layer.number for layer in model.layers] == [1, 2, 3, 4, 5]


# --- telling safetensors from pickles by structure (issue 11.2) and floating weights only (11.5) -------------
def _tiny_model_file(tmp_path: Path) -> tuple[Path, Model]:
    spec = choi2015_spec(n_maps=2, n_layers=1, labels=("a", "b"), head_input_frames=None)
    path = save_model(tmp_path / "tiny.safetensors", spec, random_weights(spec, seed=1))
    return path, load_model(path)


def _with_header_length(data: bytes, length: int) -> bytes | None:
    """The same safetensors file with its JSON header padded with spaces to ``length`` bytes (None if too short)."""
    old = struct.unpack("<Q", data[:8])[0]
    header = data[8 : 8 + old].rstrip(b" ")
    if len(header) > length:
        return None
    return struct.pack("<Q", length) + header + b" " * (length - len(header)) + data[8 + old :]


def _shortest_header(data: bytes) -> int:
    return len(data[8 : 8 + struct.unpack("<Q", data[:8])[0]].rstrip(b" "))


def _plain_safetensors(tmp_path: Path) -> bytes:
    save_file({"w": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    return (tmp_path / "plain.safetensors").read_bytes()


def _load_with_header_length(tmp_path: Path, model_bytes: bytes, plain: bytes, length: int) -> str:
    """``loaded`` when our model file padded to ``length`` loads; else the refusal (for lengths too short for it)."""
    path = tmp_path / f"h{length}.safetensors"
    data = _with_header_length(model_bytes, length)
    if data is None:  # too short for our metadata: a plain safetensors file, or a bare '{' header, of that length
        data = _with_header_length(plain, length) or struct.pack("<Q", length) + (b"{" + b" " * length)[:length]
    path.write_bytes(data)
    if length >= 1:
        assert sniff_model_file(data[:16], len(data)) is FileKind.SAFETENSORS or length < 2
    try:
        load_model(path)
    except ModelFormatError as err:
        return str(err)
    finally:
        path.unlink()
    return "loaded"


def test_header_lengths_ending_in_0x80_are_safetensors_not_pickles(tmp_path: Path) -> None:
    """The 1-in-32 case: a header length whose low byte is 0x80 makes the file start with the pickle PROTO byte."""
    model_path, _ = _tiny_model_file(tmp_path)
    model_bytes, plain = model_path.read_bytes(), _plain_safetensors(tmp_path)
    own = _shortest_header(model_bytes)
    lengths = [n for n in range(0x80, 4097, 0x100) if n >= own]
    assert lengths, own
    for length in lengths:
        assert _with_header_length(model_bytes, length)[:1] == b"\x80"
        assert _load_with_header_length(tmp_path, model_bytes, plain, length) == "loaded", length


@pytest.mark.slow
def test_every_header_length_from_0_to_4096(tmp_path: Path) -> None:
    """Our own model file, padded to every header length it fits in, loads; shorter lengths are plain safetensors
    files (refused for lacking our metadata) or bare headers: never once taken for a pickle."""
    model_path, reference = _tiny_model_file(tmp_path)
    model_bytes, plain = model_path.read_bytes(), _plain_safetensors(tmp_path)
    own, plain_own = _shortest_header(model_bytes), _shortest_header(plain)
    outcomes = {n: _load_with_header_length(tmp_path, model_bytes, plain, n) for n in range(4097)}
    assert not [n for n, text in outcomes.items() if "pickle" in text]
    assert [n for n, text in outcomes.items() if text == "loaded"] == list(range(own, 4097))
    assert all("without Aurascope metadata" in outcomes[n] for n in range(plain_own, own))
    assert all("ModelFormatError" not in outcomes[n] and outcomes[n] != "loaded" for n in range(plain_own))
    # and one padded file loads with the very same weights
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(_with_header_length(model_bytes, 0xF80))
    assert padded.read_bytes()[:1] == b"\x80"
    assert torch.equal(load_model(padded).weights["body.0.weight"], reference.weights["body.0.weight"])


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_real_pickles_of_every_protocol_are_still_refused(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "state.safetensors"
    path.write_bytes(pickle.dumps({"body.0.weight": [[1.0, 2.0]], "note": "x" * 300}, protocol=protocol))
    with pytest.raises(ModelFormatError, match="never unpickles"):
        load_model(path)


def test_legacy_torch_save_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "legacy.safetensors"
    torch.save({"w": torch.zeros(3)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelFormatError, match="never unpickles"):
        load_model(path)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64, torch.bool])
def test_integer_and_bool_weights_are_refused_not_cast(tmp_path: Path, small_model: Model, dtype) -> None:
    meta, weights = valid_meta_and_weights(small_model)
    weights["body.0.weight"] = (weights["body.0.weight"] * 10).to(dtype)
    path = write_raw(tmp_path / "ints.safetensors", {"aurascope": json.dumps(meta)}, weights)
    with pytest.raises(ModelFormatError, match="not floating point") as err:
        load_model(path)
    assert err.value.field == "weights.body.0.weight" and "ints.safetensors" in str(err.value)
    with pytest.raises(ModelFormatError, match="not floating point"):
        Model(small_model.spec, weights)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_floating_weights_load(tmp_path: Path, small_model: Model, dtype) -> None:
    meta, weights = valid_meta_and_weights(small_model)
    weights = {k: v.to(dtype) for k, v in weights.items()}
    model = load_model(write_raw(tmp_path / "f.safetensors", {"aurascope": json.dumps(meta)}, weights))
    assert model.weights["body.0.weight"].dtype == torch.float32
    assert torch.allclose(model.weights["body.0.weight"], small_model.weights["body.0.weight"], atol=2e-2)


def test_float64_weights_beyond_float32_are_refused(tmp_path: Path, small_model: Model) -> None:
    meta, weights = valid_meta_and_weights(small_model)
    weights["body.0.bias"] = torch.full((8,), 1e300, dtype=torch.float64)
    path = write_raw(tmp_path / "huge.safetensors", {"aurascope": json.dumps(meta)}, weights)
    with pytest.raises(ModelFormatError, match="NaN or infinite") as err:
        load_model(path)
    assert err.value.field == "weights.body.0.bias"
