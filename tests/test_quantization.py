"""Per-word-piece activation scales: a small two-layer graph quantized by onnxruntime, then rewritten, run for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from qa.answer_model import MODEL_DIR, MODEL_FILE
from qa.quantization import scale_activations_per_row

RNG = np.random.default_rng(7)
W1, B1, W2 = (RNG.normal(size=(32, 48)).astype(np.float32), RNG.normal(size=48).astype(np.float32),
              RNG.normal(size=(48, 16)).astype(np.float32))


def float_outputs(x: np.ndarray) -> np.ndarray:
    """What the graph computes without quantization."""
    return np.maximum(x @ W1 + B1, 0) @ W2


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[onnxruntime.InferenceSession, onnxruntime.InferenceSession]:
    """(onnxruntime's dynamic int8 graph, the same graph with per-row scales), as sessions."""
    folder = tmp_path_factory.mktemp("quantization")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
         helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "two_layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "rows", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "rows", 16])],
        [numpy_helper.from_array(W1, "w1"), numpy_helper.from_array(B1, "b1"), numpy_helper.from_array(W2, "w2")])
    plain, per_run, per_row = folder / "plain.onnx", folder / "per-run.onnx", folder / "per-row.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(plain))
    quantize_dynamic(str(plain), str(per_run), per_channel=True, weight_type=QuantType.QInt8)
    shutil.copyfile(per_run, per_row)
    scale_activations_per_row(per_row)
    return tuple(onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                 for path in (per_run, per_row))


def run(session: onnxruntime.InferenceSession, rows: list[np.ndarray]) -> np.ndarray:
    return session.run(None, {"x": np.stack(rows)[None].astype(np.float32)})[0][0]


def test_a_rows_output_no_longer_depends_on_the_other_rows(models) -> None:
    per_run, per_row = models
    quiet, other = RNG.normal(size=32), RNG.normal(size=32)
    assert np.array_equal(run(per_row, [quiet, other])[0], run(per_row, [quiet, 100 * other])[0])
    assert not np.allclose(run(per_run, [quiet, other])[0], run(per_run, [quiet, 100 * other])[0])


def test_a_quiet_row_beside_a_loud_one_keeps_its_precision(models) -> None:
    per_run, per_row = models
    rows = [RNG.normal(size=32) * 0.05, RNG.normal(size=32) * 20, RNG.uniform(-3, 1, size=32)]
    truth = float_outputs(np.stack(rows).astype(np.float32))

    def errors(session: onnxruntime.InferenceSession) -> np.ndarray:
        return np.abs(run(session, rows) - truth).mean(axis=1) / np.abs(truth).mean(axis=1)

    per_row_errors, per_run_errors = errors(per_row), errors(per_run)
    assert per_row_errors.max() < 0.02
    assert per_row_errors[0] < per_run_errors[0] / 5  # the quiet row, which the loud one coarsened


def test_the_shipped_answer_model_scales_each_word_piece() -> None:
    graph = onnx.load(str(MODEL_DIR / MODEL_FILE), load_external_data=False).graph
    kinds = {node.op_type for node in graph.node}
    assert "MatMulInteger" in kinds and "DynamicQuantizeLinear" not in kinds


def test_an_export_with_row_scales_runs_close_to_torch(tmp_path: Path) -> None:
    """The answer model's export path (`write_int8_onnx(..., row_scales=True)`) on a small torch module."""
    import torch

    from qa.onnx_backend import write_int8_onnx

    class Small(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.embed, self.dense = torch.nn.Embedding(50, 32), torch.nn.Linear(32, 8)

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.dense(self.embed(input_ids) * attention_mask.unsqueeze(-1) + token_type_ids.unsqueeze(-1))

    model = Small().eval()
    ids = torch.tensor([[1, 7, 49, 3, 20]])
    example = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    target = tmp_path / "small.onnx"
    write_int8_onnx(model, example, target, {"out": {0: "batch", 1: "tokens"}}, row_scales=True)
    kinds = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert "MatMulInteger" in kinds and "DynamicQuantizeLinear" not in kinds
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: tensor.numpy() for name, tensor in
                             zip(("input_ids", "attention_mask", "token_type_ids"), example)})[0]
    with torch.no_grad():
        expected = model(*example).numpy()
    assert np.abs(got - expected).max() < 0.02 * np.abs(expected).max()
