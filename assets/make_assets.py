#!/usr/bin/env python3
"""Builds the sample models and data in assets/ and the unusual test models in tests/data/.

Everything comes from data sets that ship inside scikit-learn (no downloads), so anyone can
rerun this and get the same files:

    python3 -m pip install scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 onnxruntime==1.31.1 numpy
    python3 assets/make_assets.py

assets/
  logreg.onnx  + breast_cancer.npz / breast_cancer.csv   logistic regression, 30 features
  forest.onnx  + breast_cancer.npz                       random forest (ai.onnx.ml TreeEnsembleClassifier)
  mlp.onnx     + digits.npz                              MLP 64-256-256-10
  cnn.onnx     + digits_images.npz                       small CNN on 1x8x8 digit images
tests/data/    hand-built graphs that exercise what real-world files do (see each builder)
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from skl2onnx import to_onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "assets")
TESTDATA = os.path.join(ROOT, "tests", "data")
SEED = 7
OPSET = {"": 17, "ai.onnx.ml": 3}


def save(model, path):
    # onnx 1.23 stamps IR 14, newer than ONNX Runtime 1.31 reads; opset 17 needs only IR 8.
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    model.producer_name = model.producer_name or "inferscope-assets"
    onnx.save(model, path)
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


def sklearn_models():
    bc = load_breast_cancer()
    x = bc.data.astype(np.float32)
    y = bc.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)

    # Train on standardized features, then fold the scaling into the coefficients so the
    # exported graph is a single LinearClassifier (tract has no Scaler op).
    scaler = StandardScaler().fit(xtr)
    logreg = LogisticRegression(max_iter=2000).fit(scaler.transform(xtr), ytr)
    logreg.intercept_ = logreg.intercept_ - (logreg.coef_ * scaler.mean_ / scaler.scale_).sum(1)
    logreg.coef_ = logreg.coef_ / scaler.scale_
    print("logreg test accuracy", logreg.score(xte, yte))
    save(to_onnx(logreg, xtr[:1], options={id(logreg): {"zipmap": False}}, target_opset=OPSET,
                 final_types=None), os.path.join(ASSETS, "logreg.onnx"))

    forest = RandomForestClassifier(n_estimators=40, max_depth=8, random_state=SEED).fit(xtr, ytr)
    print("forest test accuracy", forest.score(xte, yte))
    save(to_onnx(forest, xtr[:1], options={id(forest): {"zipmap": False}}, target_opset=OPSET),
         os.path.join(ASSETS, "forest.onnx"))

    np.savez(os.path.join(ASSETS, "breast_cancer.npz"), X=xte, labels=yte)
    header = ",".join(n.replace(" ", "_") for n in bc.feature_names) + ",label"
    np.savetxt(os.path.join(ASSETS, "breast_cancer.csv"), np.hstack([xte, yte[:, None]]),
               delimiter=",", header=header, comments="", fmt="%.6g")

    dg = load_digits()
    xd = (dg.data / 16.0).astype(np.float32)
    yd = dg.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(xd, yd, test_size=0.3, random_state=SEED, stratify=yd)
    mlp = MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=SEED).fit(xtr, ytr)
    print("mlp test accuracy", mlp.score(xte, yte))
    save(to_onnx(mlp, xtr[:1], options={id(mlp): {"zipmap": False}}, target_opset=OPSET),
         os.path.join(ASSETS, "mlp.onnx"))
    np.savez(os.path.join(ASSETS, "digits.npz"), X=xte, labels=yte)
    return xtr, ytr, xte, yte


def cnn(xtr, ytr, xte, yte):
    """Random convolutional features with a trained linear head: a real CNN graph that classifies."""
    import onnxruntime as ort

    rng = np.random.default_rng(SEED)
    w1 = rng.normal(0, 0.5, (16, 1, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 16).astype(np.float32)
    w2 = rng.normal(0, 0.25, (32, 16, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 32).astype(np.float32)
    feat_nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["features"], axis=1, name="flatten"),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])
    feats_out = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 512])
    feat_model = helper.make_model(helper.make_graph(feat_nodes, "features", [image], [feats_out], inits),
                                   opset_imports=[helper.make_opsetid("", 17)])
    feat_model.ir_version = 8
    sess = ort.InferenceSession(feat_model.SerializeToString(), providers=["CPUExecutionProvider"])
    ftr = sess.run(None, {"image": xtr.reshape(-1, 1, 8, 8)})[0]
    fte = sess.run(None, {"image": xte.reshape(-1, 1, 8, 8)})[0]
    mean, std = ftr.mean(0), ftr.std(0) + 1e-6
    head = LogisticRegression(max_iter=3000, C=0.5).fit((ftr - mean) / std, ytr)
    print("cnn test accuracy", head.score((fte - mean) / std, yte))
    # Fold the standardisation into the Gemm: ((f - mean) / std) @ W^T + b
    w = (head.coef_ / std).astype(np.float32)  # [10, 512]
    b = (head.intercept_ - (head.coef_ * mean / std).sum(1)).astype(np.float32)
    nodes = feat_nodes + [
        helper.make_node("Gemm", ["features", "fc_w", "fc_b"], ["logits"], transB=1, name="fc"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="softmax"),
    ]
    inits += [numpy_helper.from_array(w, "fc_w"), numpy_helper.from_array(b, "fc_b")]
    probs = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])
    model = helper.make_model(helper.make_graph(nodes, "digits_cnn", [image], [probs], inits),
                              opset_imports=[helper.make_opsetid("", 17)], producer_name="inferscope-assets")
    save(model, os.path.join(ASSETS, "cnn.onnx"))
    np.savez(os.path.join(ASSETS, "digits_images.npz"), image=xte.reshape(-1, 1, 8, 8), labels=yte)


def model(nodes, inputs, outputs, inits=(), opset=17, extra_opsets=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(g, opset_imports=ops, producer_name="inferscope-tests")


def const(name, arr):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name + "_value"),
                            name=name)


def unusual_models():
    rng = np.random.default_rng(SEED)
    vi = helper.make_tensor_value_info

    # Token ids (int64), a bool mask, a float scalar; embedding weights in a Constant node;
    # two outputs; symbolic dims with arbitrary names.
    emb = rng.normal(0, 1, (50, 4)).astype(np.float32)
    save(model(
        [const("embedding", emb),
         helper.make_node("Gather", ["embedding", "token_ids"], ["e"], axis=0),
         helper.make_node("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["mf", "axes"], ["mf3"]),
         helper.make_node("Mul", ["e", "mf3"], ["em"]),
         helper.make_node("Mul", ["em", "temperature"], ["hidden"]),
         helper.make_node("ReduceSum", ["hidden", "axes1"], ["pooled"], keepdims=0)],
        [vi("token_ids", TensorProto.INT64, ["n_docs", "doc len"]),
         vi("mask", TensorProto.BOOL, ["n_docs", "doc len"]),
         vi("temperature", TensorProto.FLOAT, [])],
        [vi("hidden", TensorProto.FLOAT, ["n_docs", "doc len", 4]),
         vi("pooled", TensorProto.FLOAT, ["n_docs", 4])],
        [numpy_helper.from_array(np.array([2], np.int64), "axes"),
         numpy_helper.from_array(np.array([1], np.int64), "axes1")]),
        os.path.join(TESTDATA, "multi_io.onnx"))

    # Weights inside If branches (Constant nodes in subgraphs); int32 input.
    wa = rng.normal(0, 1, (8, 3)).astype(np.float32)
    wb = rng.normal(0, 1, (8, 3)).astype(np.float32)
    then_g = helper.make_graph([const("wa", wa), helper.make_node("MatMul", ["x", "wa"], ["ya"])], "then", [],
                               [vi("ya", TensorProto.FLOAT, ["batch", 3])])
    else_g = helper.make_graph([const("wb", wb), helper.make_node("MatMul", ["x", "wb"], ["yb"])], "else", [],
                               [vi("yb", TensorProto.FLOAT, ["batch", 3])])
    save(model(
        [helper.make_node("Cast", ["mode"], ["cond"], to=TensorProto.BOOL),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        [vi("x", TensorProto.FLOAT, ["batch", 8]), vi("mode", TensorProto.INT32, [])],
        [vi("y", TensorProto.FLOAT, ["batch", 3])]),
        os.path.join(TESTDATA, "if_subgraph.onnx"))

    # A recurrent cell: the state input has no batch axis of its own name and is fed whole.
    wx = rng.normal(0, 0.3, (6, 16)).astype(np.float32)
    wh = rng.normal(0, 0.3, (16, 16)).astype(np.float32)
    save(model(
        [helper.make_node("MatMul", ["x", "wx"], ["a"]),
         helper.make_node("MatMul", ["state", "wh"], ["b"]),
         helper.make_node("Add", ["a", "b"], ["s"]),
         helper.make_node("Tanh", ["s"], ["new_state"])],
        [vi("x", TensorProto.FLOAT, ["batch", 6]), vi("state", TensorProto.FLOAT, [1, 16])],
        [vi("new_state", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(wx, "wx"), numpy_helper.from_array(wh, "wh")]),
        os.path.join(TESTDATA, "recurrent.onnx"))

    # A sequence output next to a tensor output.
    save(model(
        [helper.make_node("Relu", ["x"], ["y"]),
         helper.make_node("SequenceConstruct", ["x", "y"], ["both"])],
        [vi("x", TensorProto.FLOAT, ["batch", 4])],
        [vi("y", TensorProto.FLOAT, ["batch", 4]),
         helper.make_value_info("both", helper.make_sequence_type_proto(
             helper.make_tensor_type_proto(TensorProto.FLOAT, ["batch", 4])))]),
        os.path.join(TESTDATA, "sequence_output.onnx"))

    # A fixed batch dimension of 1.
    w = rng.normal(0, 1, (4, 2)).astype(np.float32)
    save(model([helper.make_node("MatMul", ["x", "w"], ["y"])],
               [vi("x", TensorProto.FLOAT, [1, 4])], [vi("y", TensorProto.FLOAT, [1, 2])],
               [numpy_helper.from_array(w, "w")]),
         os.path.join(TESTDATA, "fixed_batch.onnx"))

    # An op tract does not implement (Det, a matrix determinant): ONNX Runtime runs it.
    save(model([helper.make_node("Det", ["x"], ["y"])],
               [vi("x", TensorProto.FLOAT, ["batch", 3, 3])], [vi("y", TensorProto.FLOAT, ["batch"])]),
         os.path.join(TESTDATA, "tract_unsupported.onnx"))


if __name__ == "__main__":
    os.makedirs(ASSETS, exist_ok=True)
    os.makedirs(TESTDATA, exist_ok=True)
    xtr, ytr, xte, yte = sklearn_models()
    cnn(xtr, ytr, xte, yte)
    unusual_models()
