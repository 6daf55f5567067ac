"""The int8 ONNX backend: the local sentence-transformers model exported once, quantized, cached, run by onnxruntime.

On a 2-core CPU the embedding model is what limits a build. Quantizing the weights of the transformer's
matrix products to int8 (per output channel) makes it several times faster and keeps the vectors close to
PyTorch's (SciFact chunks: mean cosine 0.995; per-tensor int8 fell to 0.944, so per-channel it is). The
embedding tables stay float: they cost nothing to look up, and quantizing them too moved SciFact dense
nDCG@10 from 0.670 to 0.663 (PyTorch: 0.669). The export needs torch and onnx and runs once per model;
afterwards encoding needs only onnxruntime and the `tokenizers` library, so a query process starts
without importing torch or transformers.

Only models laid out as Transformer -> mean Pooling [-> Normalize] (as all-MiniLM-L6-v2) are supported;
mean pooling and L2 normalization are part of the exported graph, so its first output is the sentence vector.
Its second output is the transformer's vector for each word piece, which the answer scoring matches
token by token (`qa.answer`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa.errors import QAError

logger = logging.getLogger(__name__)

# Bump when the exported graph changes: older cached files are then not reused. (3: word-piece vectors added
# as a second output; the sentence vectors are computed as in 2.)
EXPORT_VERSION = 3
# Bump when the sentence vectors change: indexes built with older ones (their model id carries this) are
# then rebuilt rather than mixed with the new vectors.
VECTORS_VERSION = 2
# Appended to the model id in the index manifest: vectors from this backend are never mixed with PyTorch ones.
ONNX_TAG = f"+onnx-int8-v{VECTORS_VERSION}"
OUTPUTS = ("sentence_embedding", "token_embeddings")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_cache_dir() -> Path:
    """Where exported models are kept: $QA_CACHE_DIR, else $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def model_layout(source: Path) -> tuple[int, int]:
    """(dimension, max_seq_length) of a mean-pooled sentence-transformers folder; QAError for other layouts."""
    if not source.exists():
        raise QAError(f"no model folder at {source}: give the path of a sentence-transformers model folder, or leave "
                      "--model out for the bundled all-MiniLM-L6-v2 (nothing is downloaded at run time)")
    try:
        modules = json.loads((source / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((source / pooling_dir / "config.json").read_text())
        window = json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"]
    except (OSError, ValueError, KeyError, StopIteration) as error:
        raise QAError(f"the onnx backend needs a local sentence-transformers model folder ({error}); "
                      f"use backend 'torch' for {source}") from None
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        value for key, value in pooling.items() if key.startswith("pooling_mode_") and key != "pooling_mode_mean_tokens"
    )
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or not mean_only:
        raise QAError(f"the onnx backend supports Transformer + mean Pooling models, not {kinds} in {source}; "
                      "use backend 'torch'")
    if not (source / "tokenizer.json").is_file():
        raise QAError(f"the onnx backend needs {source / 'tokenizer.json'}; use backend 'torch'")
    return int(pooling["word_embedding_dimension"]), int(window)


def cached_export(source: Path, cache_dir: Path) -> Path:
    """The int8 ONNX file for the model in `source`, exported into `cache_dir` the first time.

    The cache key is the model folder's path and its weight files' sizes and times, so a changed model is
    exported again. The file is written under a temporary name and renamed, so a killed export leaves nothing.
    """
    weights = sorted(p for p in source.iterdir() if p.suffix in (".safetensors", ".bin"))
    identity = [str(source.resolve()), EXPORT_VERSION] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                                          for p in weights]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    target = cache_dir / "onnx" / f"{source.name}-{key}" / "model-int8.onnx"
    if not target.is_file():
        logger.info("exporting %s to int8 ONNX in %s (once)", source, target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        export_int8(source, target)
    return target


def export_int8(source: Path, target: Path) -> None:
    """Export the transformer (sentence vector and word-piece vectors) to ONNX, then quantize its weights to int8.

    Dynamic quantization (int8 weights per output channel, activations quantized at run time) needs no
    calibration data. Uses torch, transformers and onnx, which are needed only here.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class MeanPooled(torch.nn.Module):
        """The transformer's token vectors and their mean under the attention mask, L2-normalized."""

        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1), tokens

    model = MeanPooled(AutoModel.from_pretrained(str(source)).eval())
    # two texts of different lengths, so neither the batch nor the sequence axis is traced as a constant
    example = AutoTokenizer.from_pretrained(str(source))(["a short one", "a somewhat longer example text"],
                                                         padding=True, return_tensors="pt")
    write_int8_onnx(model, tuple(example[name] for name in INPUTS), target,
                    {OUTPUTS[0]: {0: "batch"}, OUTPUTS[1]: {0: "batch", 1: "tokens"}})


def write_int8_onnx(model: Any, example: tuple, target: Path, outputs: dict[str, dict[int, str]],
                    quantize: tuple[str, ...] = ("MatMul",)) -> None:
    """Export a torch module taking INPUTS to ONNX, quantize the weights of the `quantize` ops to int8 (per output
    channel), and move the file to `target` atomically. `outputs` names each output with its dynamic axes."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        plain = Path(tmp) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(model, example, str(plain), input_names=list(INPUTS), output_names=list(outputs),
                              dynamic_axes={**axes, **outputs}, opset_version=17, dynamo=False)
        quantized = Path(tmp) / "model-int8.onnx"
        root = logging.getLogger()
        root.addFilter(_quiet_quantizer)
        try:
            quantize_dynamic(str(plain), str(quantized), per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=list(quantize))
        finally:
            root.removeFilter(_quiet_quantizer)
        os.replace(quantized, target)


Item, Result = TypeVar("Item"), TypeVar("Result")


def side_by_side() -> int:
    """How many model runs go at once (`run_each`): QA_THREADS when set (parallel ingest workers share the cores
    between them, qa.indexer), else the cores this process may use."""
    if os.environ.get("QA_THREADS", "").isdigit():
        return max(1, int(os.environ["QA_THREADS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_each(run: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """`run` of each item, in order, `side_by_side()` at a time. A run of one short text cannot keep two cores
    busy (its matrix products are too small to split well), so each session computes on one thread and runs go
    side by side (onnxruntime lets go of the GIL): on 2 cores the answer model's 39 sentences of a question took
    130 ms instead of 223, and 20 passages' word-piece vectors 301 ms instead of 383, with the same outputs."""
    return list(_runners().map(run, items))


@cache
def _runners() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=side_by_side(), thread_name_prefix="qa-onnx")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads: it starts its own
    os.register_at_fork(after_in_child=_runners.cache_clear)


def open_session(path: Path) -> Any:
    """An onnxruntime CPU session for the file at `path`, logging errors only, computing each run on one thread
    (runs go side by side instead: `run_each`)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    # Idle worker threads spinning for more work steal the core from whatever runs next: with spinning on,
    # a query embedding took 7.5-10.8 ms instead of 3.7-4.1 ms and the FAISS scan right after it doubled,
    # and encoding on a shared 2-core machine fell from 45 to 33 chunks/s.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if int8_saturates():  # exact int16 products: the same scores as on a VNNI CPU, at about half the speed
        options.add_session_config_entry("session.x64quantprecision", "1")
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def int8_saturates(machine: str = platform.machine(), cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether onnxruntime's int8 matrix products may saturate on this CPU: x86-64 without VNNI instructions
    sums pairs of products in 16 bits. There the shipped models scored differently (the browser test's seed
    answer flipped to another sentence: 0.886 -> 0.865 for the right one, 0.797 -> 0.842 for the wrong one), so
    `open_session` asks for exact products instead. An x86-64 CPU whose flags cannot be read counts as one."""
    if machine.lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return True
    return re.search(r"\b(avx512_vnni|avx_vnni)\b", flags) is None


def _quiet_quantizer(record: logging.LogRecord) -> bool:
    """Drop the quantizer's notes, which it logs on the root logger (a line per tensor, and advice to pre-process
    the model first: tried, pre-processing changed neither speed nor vectors). Errors still pass."""
    return record.name != "root" or record.levelno >= logging.ERROR


class OnnxEncoder:
    """Run the int8 graph on one tokenized text at a time: its sentence vector and its word-piece vectors.

    One text per run, not batches: dynamic quantization scales activations per run, so in a batch a text's
    vector depended on its batch-mates (cosine down to 0.990 against the same text alone), and single runs
    were also faster here (int8, 2 cores: 78 texts/s one at a time, 46/s in batches of 32; no padding, and
    the activations stay in cache). A text's vector is the same however it is embedded.
    """

    def __init__(self, path: Path) -> None:
        self.session = open_session(path)
        self.inputs = [node.name for node in self.session.get_inputs()]

    def run(self, encoding: Any) -> tuple[np.ndarray, np.ndarray]:
        """One tokenized text (a `tokenizers.Encoding`) through the graph: (sentence vector, token vectors)."""
        feed = {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        sentence, tokens = self.session.run(list(OUTPUTS), {name: feed[name] for name in self.inputs})
        return sentence[0], tokens[0]
