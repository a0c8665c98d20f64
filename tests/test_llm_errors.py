"""Bad input is a one-line `BridgeError` (a `ValueError`) that says what is wrong — never a
traceback from deep inside, never a silently wrong model, never an unpickled file."""

import json
import pickle
import shutil

import gguf
import numpy as np
import pytest
from llm_helpers import make_tiny

import llm_bridge as lb
from llm_bridge.weights._load import _smollm2


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and message, message
    assert isinstance(err.value, lb.BridgeError) and isinstance(err.value, ValueError)
    return message


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    make_tiny("llama", folder)
    return folder


def _copy_with_config(src, dst, **changes):
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_unknown_architecture(tiny_folder, tmp_path):
    folder = _copy_with_config(tiny_folder, tmp_path / "m", model_type="gpt2")
    with pytest.raises(lb.UnknownArchitectureError) as err:
        lb.load(folder)
    message = _one_line(err)
    assert "'gpt2'" in message and "llama" in message and "gemma3_text" in message


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0}), ["rope_type", "yarn", "llama3"]),
        (dict(hidden_act="relu"), ["hidden_act", "relu", "silu"]),
        (dict(some_new_feature=3), ["some_new_feature"]),
        (dict(quantization_config={"quant_method": "bitsandbytes"}), ["quantization_config"]),
    ],
)
def test_unsupported_config_attribute(tiny_folder, tmp_path, changes, words):
    folder = _copy_with_config(tiny_folder, tmp_path / "m", **changes)
    with pytest.raises(lb.UnsupportedConfigError) as err:
        lb.load(folder)
    message = _one_line(err)
    assert all(w in message for w in words), message


def test_unsupported_attribute_of_another_family():
    config = {"model_type": "gemma3_text", "use_bidirectional_attention": True}
    with pytest.raises(lb.UnsupportedConfigError) as err:
        lb.config_from_hf(config)
    assert "use_bidirectional_attention" in _one_line(err)


def test_corrupt_safetensors(tiny_folder, tmp_path):
    folder = _copy_with_config(tiny_folder, tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(folder)
    assert "model.safetensors" in _one_line(err)
    weights.write_bytes(b"\xff" * 64)  # garbage header
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(folder)
    assert "corrupt" in _one_line(err)


def test_weights_not_matching_config(tiny_folder, tmp_path):
    folder = _copy_with_config(tiny_folder, tmp_path / "m", num_hidden_layers=4)
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(folder)
    assert "missing weights" in _one_line(err)
    folder = _copy_with_config(tiny_folder, tmp_path / "n", intermediate_size=80)
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(folder)
    assert "shape" in _one_line(err)


class _Bomb:
    """Unpickling this object would create a file: the proof that nothing was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "model.ckpt"])
def test_pickle_checkpoints_refused(tiny_folder, tmp_path, name):
    marker = tmp_path / "unpickled"
    folder = _copy_with_config(tiny_folder, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / name).write_bytes(pickle.dumps(_Bomb(marker)))
    for target in (folder, folder / name):
        with pytest.raises(lb.UnsafeCheckpointError) as err:
            lb.load(target)
        message = _one_line(err)
        assert name in message and "arbitrary code" in message and "safetensors" in message
    assert not marker.exists()


def test_missing_files_and_unknown_names(tmp_path):
    with pytest.raises(lb.UnknownModelError) as err:
        lb.load("no-such-model")
    assert "smollm2" in _one_line(err)
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(tmp_path / "nowhere" / "model.gguf")
    assert "no such file" in _one_line(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(tmp_path / "empty")
    assert "config.json" in _one_line(err)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(lb.WeightFileError):
        lb.load(tmp_path / "notes.txt")


def test_truncated_and_corrupt_gguf(tmp_path):
    data = _smollm2().read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 3])  # the header survives, the tensor data does not
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(cut)
    assert "truncated" in _one_line(err)
    cut.write_bytes(data[:5000])  # cut inside the vocabulary
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(cut)
    assert "corrupt or truncated GGUF header" in _one_line(err)
    cut.write_bytes(b"NOPE" + data[4:5000])
    with pytest.raises(lb.WeightFileError) as err:
        lb.load(cut)
    assert "bad magic" in _one_line(err)


def _minimal_gguf(path, arch="llama", qtype=None):
    """A 1-layer GGUF whose token embedding is stored as `qtype` (raw bytes) or F32."""
    d, v = 256, 4
    w = gguf.GGUFWriter(str(path), arch)
    for key, value in dict(block_count=1, context_length=32, embedding_length=d, feed_forward_length=8,
                           **{"attention.head_count": 2, "attention.head_count_kv": 2}).items():
        w.add_uint32(f"{arch}.{key}", value)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_uint32(f"{arch}.vocab_size", v)
    if qtype is None:
        w.add_tensor("token_embd.weight", np.zeros((v, d), np.float32))
    else:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        w.add_tensor("token_embd.weight", np.zeros((v, d // block * size), np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_unsupported_quantization(tmp_path):
    path = _minimal_gguf(tmp_path / "iq.gguf", qtype=gguf.GGMLQuantizationType.IQ2_XXS)
    with pytest.raises(lb.UnsupportedQuantizationError) as err:
        lb.load(path)
    message = _one_line(err)
    assert "IQ2_XXS" in message and "Q4_K" in message and "Q8_0" in message


def test_unknown_gguf_architecture(tmp_path):
    path = _minimal_gguf(tmp_path / "mamba.gguf", arch="mamba")
    with pytest.raises(lb.UnknownArchitectureError) as err:
        lb.load(path)
    assert "'mamba'" in _one_line(err) and "gemma3" in str(err.value)


def test_bad_prompts(tiny_folder):
    m = lb.load(tiny_folder)
    context = m.config.max_position_embeddings
    with pytest.raises(lb.PromptTooLongError) as err:
        m.logits(np.zeros(context + 1, np.int32))
    assert str(context) in _one_line(err)
    with pytest.raises(lb.PromptTooLongError):
        m.generate(np.zeros(context - 2, np.int32), max_new_tokens=5)
    with pytest.raises(lb.PromptError) as err:
        m.logits(np.zeros(0, np.int32))
    assert "empty" in _one_line(err)
    with pytest.raises(lb.PromptError):
        m.logits(np.array([1, m.config.vocab_size]))
    with pytest.raises(lb.PromptError):
        m.logits(np.zeros((2, 3), np.int32))
    assert m.logits(np.zeros(context, np.int32)).shape == (context, m.config.vocab_size)


def test_folder_without_tokenizer(tiny_folder):
    m = lb.load(tiny_folder)  # the weights load; the tokenizer is only needed for text
    with pytest.raises(lb.WeightFileError) as err:
        m.tokenize("hello")
    assert "tokenizer.json" in _one_line(err)


def test_bad_dtypes(tiny_folder):
    with pytest.raises(lb.BridgeError) as err:
        lb.load(tiny_folder, dtype="float16")
    assert "float16" in _one_line(err) and "bfloat16" in str(err.value)
    with pytest.raises(lb.BridgeError) as err:
        lb.load(tiny_folder, dtype="float64")  # jax_enable_x64 is off here
    assert "jax_enable_x64" in _one_line(err)
