#!/usr/bin/env python3
"""The ONNX Runtime all-MiniLM-L6-v2 peer: what users of fastembed-style libraries run.

  minilm_onnx.py MODEL_DIR [--batch 32] [--n 64] [--threads 2] [--rounds 3] [--check]

The graph is built here with the `onnx` package from the same model.safetensors our encoder loads
(BERT: embeddings, six post-LayerNorm encoder layers with 12 heads and erf GELU, mean pooling over the
attention mask, L2 normalisation), then run by onnxruntime with every graph optimisation on and
`--threads` intra-op threads (the benchmark passes its own core count). Tokenization is `tokenizers`'
batch encoder (truncation at 256, padding to the longest text of the batch), and it is timed with the
model: the clock starts at the texts and stops at the normalised vectors.

Needs: pip install numpy safetensors tokenizers onnx onnxruntime.
Prints {"peer":"onnxruntime-minilm","tokens":T,"texts_per_s":X} for T in 16, 128, 256: the best of
--rounds passes over --n identical texts. --check compares its vectors with the numpy peer's
(minilm_np.py) on a few texts and exits.
"""
import json, math, os, sys, time
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HIDDEN, HEADS, LAYERS, MAX_TOKENS = 384, 12, 6, 256


def build_graph(weights):
    """The encoder as an ONNX model: inputs input_ids (int64 [B, T]) and attention_mask (float [B, T])."""
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(array, prefix="c"):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(op, inputs, **attrs):
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def w(key):
        return const(weights[key].astype(np.float32), key.replace(".", "_"))

    def linear(x, prefix):
        wt = const(np.ascontiguousarray(weights[prefix + ".weight"].astype(np.float32).T), prefix.replace(".", "_") + "_wT")
        return node("Add", [node("MatMul", [x, wt]), w(prefix + ".bias")])

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, w(prefix + ".weight"), w(prefix + ".bias")], axis=-1, epsilon=1e-12)

    # Embeddings: word + position + token type 0, then LayerNorm.
    word = node("Gather", [w("embeddings.word_embeddings.weight"), "input_ids"])
    length = node("Gather", [node("Shape", ["input_ids"]), const(np.array(1, np.int64))], axis=0)
    positions = node("Range", [const(np.array(0, np.int64)), length, const(np.array(1, np.int64))])
    position = node("Gather", [w("embeddings.position_embeddings.weight"), positions])
    token_type = const(weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32))
    x = layer_norm(node("Add", [node("Add", [word, position]), token_type]), "embeddings.LayerNorm")

    # Additive attention bias: 0 where the mask is 1, -1e9 where it is 0; [B, 1, 1, T].
    inverted = node("Sub", [const(np.array(1.0, np.float32)), "attention_mask"])
    bias = node("Unsqueeze", [node("Mul", [inverted, const(np.array(-1e9, np.float32))]), const(np.array([1, 2], np.int64))])
    heads_shape = const(np.array([0, 0, HEADS, HIDDEN // HEADS], np.int64))
    hidden_shape = const(np.array([0, 0, HIDDEN], np.int64))
    scale = const(np.array(1.0 / math.sqrt(HIDDEN // HEADS), np.float32))
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        q = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.query"), heads_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.key"), heads_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.value"), heads_shape])], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), bias])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), hidden_shape])
        x = layer_norm(node("Add", [x, linear(context, p + "attention.output.dense")]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        erf = node("Erf", [node("Div", [h, const(np.array(math.sqrt(2.0), np.float32))])])
        h = node("Mul", [node("Mul", [h, const(np.array(0.5, np.float32))]), node("Add", [erf, const(np.array(1.0, np.float32))])])
        x = layer_norm(node("Add", [x, linear(h, p + "output.dense")]), p + "output.LayerNorm")

    # Mean pooling over the mask, then L2 normalisation.
    mask3 = node("Unsqueeze", ["attention_mask", const(np.array([2], np.int64))])
    summed = node("ReduceSum", [node("Mul", [x, mask3]), const(np.array([1], np.int64))], keepdims=0)
    count = node("ReduceSum", ["attention_mask", const(np.array([1], np.int64))], keepdims=1)
    pooled = node("Div", [summed, count])
    norm = node("ReduceL2", [pooled, const(np.array([1], np.int64))], keepdims=1)
    nodes.append(helper.make_node("Div", [pooled, norm], ["embeddings"]))

    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "tokens"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", HIDDEN])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return model


class OnnxMiniLM:
    def __init__(self, directory, threads):
        weights = load_file(os.path.join(directory, "model.safetensors"))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(build_graph(weights).SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts, batch=32):
        out = []
        for start in range(0, len(texts), batch):
            encodings = self.tokenizer.encode_batch(texts[start:start + batch])
            ids = np.array([e.ids for e in encodings], np.int64)
            mask = np.array([e.attention_mask for e in encodings], np.float32)
            out.append(self.session.run(["embeddings"], {"input_ids": ids, "attention_mask": mask})[0])
        return np.concatenate(out)


def text_of(tokenizer, tokens):
    """"token0 token1 …" with at most `tokens` ids, built as the other peer and ours build it."""
    def count(t):
        return len(tokenizer.encode(t).ids)
    words, t = [], ""
    while count(t) < tokens:
        words.append("token%d" % len(words)); t = " ".join(words)
    while count(t) > tokens:
        words.pop(); t = " ".join(words)
    return t


def arg(flag, default):
    return type(default)(sys.argv[sys.argv.index(flag) + 1]) if flag in sys.argv else default


if __name__ == "__main__":
    directory = sys.argv[1]
    batch, n, threads, rounds = arg("--batch", 32), arg("--n", 64), arg("--threads", os.cpu_count() or 1), arg("--rounds", 3)
    model = OnnxMiniLM(directory, threads)
    plain = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    plain.no_padding(); plain.enable_truncation(MAX_TOKENS)  # counts ids as ours does: truncated at 256
    if "--check" in sys.argv:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from minilm_np import MiniLM
        texts = ["func handle(request: Request) async throws -> Response", "a database queue serialises writes",
                 text_of(plain, 200), "short"]
        a, b = model.embed(texts), MiniLM(directory).embed(texts)
        cosines = (a * b).sum(1)
        print(json.dumps({"check": "onnxruntime-vs-numpy", "min_cosine": float(cosines.min())}))
        sys.exit(0 if cosines.min() > 0.9999 else 1)
    for tokens in (16, 128, 256):
        texts = [text_of(plain, tokens)] * n
        model.embed(texts[:batch], batch)  # warm up
        best = 0.0
        for _ in range(max(1, rounds)):
            started = time.perf_counter()
            model.embed(texts, batch)
            best = max(best, n / (time.perf_counter() - started))
        print(json.dumps({"peer": "onnxruntime-minilm", "tokens": len(plain.encode(texts[0]).ids), "batch": batch,
                          "threads": threads, "texts_per_s": best}), flush=True)
