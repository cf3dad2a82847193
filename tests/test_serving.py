"""Every family's export as TF Serving users meet it: the versioned layout, `saved_model_cli
run`, PredictRequest protos from tensorflow-serving-api, and the README's REST body."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

import tf_serving
from conftest import ROOT, run_cli
from gan_zoo.serving import export


def _serve(base, inputs, signature="serving_default"):
    loaded, _ = export.load(base)
    return loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()


FAMILIES = ("label", "unconditional", "img2img")


@pytest.mark.parametrize("family", FAMILIES)
def test_versioned_layout_and_metadata_inside_the_savedmodel(exports, family):
    base, metadata, _ = exports[family]
    assert os.listdir(base) == ["1"] and os.path.exists(os.path.join(base, "1", "saved_model.pb"))
    loaded = tf.saved_model.load(os.path.join(base, "1"))
    inside = json.loads(loaded.metadata().numpy())
    assert inside == metadata
    assert inside["step"] > 0 and inside["image_shape"] and inside["signatures"][0] == "serving_default"
    assert {"Gen_loss", "Dis_loss"} <= set(inside["metrics"])
    if family == "label":
        assert inside["num_classes"] == 10 and len(inside["class_names"]) == 10 and inside["noise_dim"] == 100
    if family == "img2img":
        assert {"L1", "PSNR", "SSIM"} <= set(inside["metrics"]) and inside["inference_mode"] == "eval"


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_model_cli_run_gives_the_signatures_images(exports, family, tmp_path):
    base, _, inputs = exports[family]
    files = []
    for name, value in inputs.items():
        np.save(tmp_path / f"{name}.npy", value)
        files.append(f"{name}={tmp_path / f'{name}.npy'}")
    result = run_cli("tensorflow.python.tools.saved_model_cli", "run", "--dir",
                     os.path.join(base, "1"), "--tag_set", "serve", "--signature_def",
                     "serving_default", "--inputs", ";".join(files), "--outdir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    images = np.load(tmp_path / "out" / "images.npy")
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, _serve(base, inputs))


def _readme_request_bodies():
    with open(os.path.join(ROOT, "README.md")) as fh:
        text = fh.read()
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", text, flags=re.S)]


def test_readme_rest_bodies_are_what_the_signatures_take(exports, sessions):
    """Each `curl -d '{...}'` body in the README, posted to TF Serving's REST API as
    tests/tf_serving.py reads it, is answered with images of the export's shape."""
    bodies = _readme_request_bodies()
    assert len(bodies) >= 2
    answered = set()
    for body in bodies:
        for family, (_, metadata, _) in exports.items():
            status, reply = sessions[family].rest(json.dumps(body))
            if status != 200:
                continue
            images = np.array(reply.get("predictions", reply.get("outputs")))
            if isinstance(reply.get("outputs"), dict) or images.dtype == object:
                continue  # a PNG or several outputs: shapes are checked elsewhere
            assert images.shape[1:] == tuple(metadata["image_shape"])
            answered.add(family)
    assert answered >= {"label", "unconditional"}


@pytest.mark.parametrize("family", ("label", "unconditional"))
def test_png_signature_returns_the_seed_signatures_images_as_png(exports, family):
    """generate_png takes generate_from_seed's inputs and answers `png_bytes` (a name ending in
    _bytes, so TF Serving's REST API sends it base64-encoded): one PNG per image, the same
    pixels."""
    loaded, metadata = export.load(exports[family][0])
    assert export.PNG_SIGNATURE in metadata["signatures"]
    inputs = ({"labels": tf.constant([3, 3, 7], tf.int32)} if family == "label"
              else {"count": tf.constant(3, tf.int32)})
    seed = {"seed": tf.constant(42, tf.int64)}
    images = loaded.signatures[export.SEED_SIGNATURE](**inputs, **seed)["images"].numpy()
    pngs = loaded.signatures[export.PNG_SIGNATURE](**inputs, **seed)["png_bytes"].numpy()
    assert len(pngs) == 3 and all(p.startswith(b"\x89PNG") for p in pngs)
    decoded = np.stack([tf.io.decode_png(p, channels=images.shape[-1]).numpy() for p in pngs])
    assert np.array_equal(decoded, images)
    if family == "label":
        with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be in"):
            loaded.signatures[export.PNG_SIGNATURE](labels=tf.constant([10], tf.int32), **seed)


# --- bad requests, as TF Serving's Session meets them (tests/tf_serving.py) ------------------
@pytest.fixture(scope="module")
def sessions(exports, tmp_path_factory):
    """{family: ServingSession}: the three exports, and an untrained tag model's export (its
    `condition` signatures; input checks need no training)."""
    from gan_zoo.settings import config
    from gan_zoo import models
    from gan_zoo.data.spec import DataSpec
    spec = DataSpec(image_shape=(28, 28, 1), condition_dim=4, condition_names=("a", "b", "c", "d"),
                    grid_conditions=((1, 0, 0, 0),), grid_names=("a",))
    cfg = config.resolve(model="maxout_cgan", noise_dim=8)
    generator, _ = models.builder("maxout_cgan").build(spec, cfg)
    module, signatures = export.serving_module(generator, cfg, spec)
    tag_dir = str(tmp_path_factory.mktemp("tag_export"))
    tf.saved_model.save(module, tag_dir, signatures=signatures)
    made = {family: tf_serving.ServingSession(tf_serving.version_dir(base))
            for family, (base, _, _) in exports.items()}
    made["tags"] = tf_serving.ServingSession(tag_dir)
    return made


def _request(signature, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "m", signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request.SerializeToString()


def _shape_error(name):
    """What the graph's EnsureShape says of a tensor of the wrong shape, naming the input."""
    return rf"Shape of tensor \S*{name}\S* \[[-\d,]*\] is not compatible with expected shape"


NOISE = np.zeros((2, 100), np.float32)
LABELS = np.array([1, 7], np.int32)
SEED = np.array(3, np.int64)
BAD_GRPC_REQUESTS = [  # (family, signature, inputs, what the error names)
    ("label", "serving_default", dict(labels=np.array([1, 10], np.int32), noise=NOISE), "labels must be in"),
    ("label", "serving_default", dict(labels=np.array([-1, 2], np.int32), noise=NOISE), "labels must be in"),
    ("label", "serving_default", dict(labels=np.array([1.0, 7.0], np.float32), noise=NOISE), "int32"),
    ("label", "serving_default", dict(labels=np.array([[1], [7]], np.int32), noise=NOISE), _shape_error("labels")),
    ("label", "serving_default", dict(labels=LABELS, noise=np.zeros((2, 50), np.float32)), _shape_error("noise")),
    ("label", "serving_default", dict(labels=LABELS, noise=np.zeros(100, np.float32)), _shape_error("noise")),
    ("label", "serving_default", dict(labels=LABELS, noise=np.zeros((2, 100), np.float64)), "float"),
    ("label", "serving_default", dict(labels=LABELS, noise=np.full((2, 100), np.nan, np.float32)), "noise values must be finite"),
    ("label", "serving_default", dict(labels=LABELS, noise=np.full((2, 100), np.inf, np.float32)), "noise values must be finite"),
    ("label", "serving_default", dict(labels=LABELS, noise=np.zeros((3, 100), np.float32)), "same batch size"),
    ("label", "generate_from_seed", dict(labels=np.array([12], np.int32), seed=SEED), "labels must be in"),
    ("label", "generate_from_seed", dict(labels=LABELS, seed=np.array([3, 4], np.int64)), _shape_error("seed")),
    ("label", "generate_from_seed", dict(labels=LABELS, seed=np.array(3, np.int32)), "int64"),
    ("label", "generate_png", dict(labels=np.array([[1]], np.int32), seed=SEED), _shape_error("labels")),
    ("unconditional", "generate_from_seed", dict(count=np.array(0, np.int32), seed=SEED), "count must be positive"),
    ("unconditional", "generate_from_seed", dict(count=np.array(-5, np.int32), seed=SEED), "count must be positive"),
    ("unconditional", "generate_from_seed", dict(count=np.array(2**30, np.int32), seed=SEED), "count must be at most 4096"),
    ("unconditional", "generate_png", dict(count=np.array([3], np.int32), seed=SEED), _shape_error("count")),
    ("unconditional", "serving_default", dict(noise=np.zeros((2, 99), np.float32)), _shape_error("noise")),
    ("img2img", "serving_default", dict(images=np.zeros((1, 16, 16, 3), np.uint8)), _shape_error("images")),
    ("img2img", "serving_default", dict(images=np.zeros((1, 32, 32, 1), np.uint8)), _shape_error("images")),
    ("img2img", "serving_default", dict(images=np.zeros((1, 32, 32, 3), np.float32)), "uint8"),
    ("tags", "serving_default", dict(condition=np.zeros((2, 5), np.float32), noise=np.zeros((2, 8), np.float32)), _shape_error("condition")),
    ("tags", "serving_default", dict(condition=np.full((2, 4), np.nan, np.float32), noise=np.zeros((2, 8), np.float32)), "condition values must be finite"),
    ("tags", "generate_from_seed", dict(condition=np.full((1, 4), -np.inf, np.float32), seed=SEED), "condition values must be finite"),
]


def test_bad_grpc_requests_are_refused_with_invalid_argument_naming_the_input(sessions):
    """Each request goes through the Session as TF Serving runs it, where nothing checks a
    tensor's shape against the signature: the graph's own checks refuse it."""
    wrong = []
    for family, signature, inputs, names in BAD_GRPC_REQUESTS:
        try:
            sessions[family].predict(_request(signature, **inputs))
            wrong.append((family, signature, "answered"))
        except tf.errors.InvalidArgumentError as e:
            if not re.search(names, e.message):
                wrong.append((family, signature, e.message.splitlines()[0]))
    assert not wrong


def test_good_grpc_and_rest_requests_give_the_python_signatures_images(exports, sessions):
    for family, (base, _, inputs) in exports.items():
        response = predict_pb2.PredictResponse.FromString(
            sessions[family].predict(_request("serving_default", **inputs)))
        np.testing.assert_array_equal(tf.make_ndarray(response.outputs["images"]), _serve(base, inputs))
    base, _, inputs = exports["label"]
    body = json.dumps({"instances": [{"labels": int(l), "noise": n.tolist()}
                                     for l, n in zip(inputs["labels"], inputs["noise"])]})
    status, reply = sessions["label"].rest(body)
    assert status == 200, reply
    np.testing.assert_array_equal(np.array(reply["predictions"], np.uint8), _serve(base, inputs))


BAD_REST_BODIES = [  # (family, JSON body, what the error names)
    ("label", {"instances": [{"labels": 10, "noise": [0.0] * 100}]}, "labels must be in"),
    ("label", {"instances": [{"labels": 1.5, "noise": [0.0] * 100}]}, "not int32 formatted"),
    ("label", {"instances": [{"labels": "shirt", "noise": [0.0] * 100}]}, "not int32 formatted"),
    ("label", {"instances": [{"labels": 1, "noise": [0.0] * 7}]}, _shape_error("noise")),
    ("label", {"instances": [{"labels": 1, "noise": [float("nan")] * 100}]}, "noise values must be finite"),
    ("label", {"instances": [{"labels": 1, "noise": [float("inf")] * 100}]}, "noise values must be finite"),
    ("label", {"inputs": {"labels": [1, 2], "noise": [[0.0] * 100]}}, "same batch size"),
    ("label", {"inputs": {"labels": [1], "noise": [[0.0] * 100, [0.0] * 99]}}, "ragged"),
    ("label", {"signature_name": "generate_from_seed", "inputs": {"labels": [[1, 2]], "seed": 1}}, _shape_error("labels")),
    ("unconditional", {"signature_name": "generate_png", "inputs": {"count": 100000, "seed": 1}}, "count must be at most"),
    ("unconditional", {"signature_name": "generate_png", "inputs": {"count": -1, "seed": 1}}, "count must be positive"),
    ("unconditional", {"signature_name": "generate_png", "inputs": {"count": 2, "seed": 2**70}}, "out of range"),
    ("img2img", {"instances": [[[[0, 0, 300]] * 32] * 32]}, "out of range"),
    ("img2img", {"instances": [[[[0, 0, 0]] * 16] * 16]}, _shape_error("images")),
    ("tags", {"instances": [{"condition": [1, 0, 0], "noise": [0.0] * 8}]}, _shape_error("condition")),
    ("tags", {"instances": [{"condition": [float("nan"), 0, 0, 1], "noise": [0.0] * 8}]}, "condition values must be finite"),
]


def test_bad_rest_bodies_answer_400_naming_the_problem(sessions):
    wrong = []
    for family, body, names in BAD_REST_BODIES:
        status, reply = sessions[family].rest(json.dumps(body))
        if status != 400 or not re.search(names, reply.get("error", "")):
            wrong.append((family, status, str(reply)[:300]))
    assert not wrong


_KERAS_LOADER = """
import json, sys
import numpy as np
{imports}
out = {{}}
for name, path in json.loads(sys.argv[1]).items():
    model = keras.saving.load_model(path, safe_mode=True)  # no custom_objects
    with np.load(path + ".inputs.npz") as stored:
        args = [stored[k] for k in sorted(stored.files)]
    out[name] = np.asarray(model(args if len(args) > 1 else args[0], training=False))
np.savez(sys.argv[2], **out)
"""


def test_every_export_and_shipped_generator_is_a_keras_file_that_loads_in_safe_mode(exports, tmp_path):
    """Each export's generator.keras, and each shipped generator saved from
    gan_zoo.load(...).keras_model, reloads in a fresh process with keras.saving.load_model in
    safe mode after `import gan_zoo` (before or after Keras) and draws the served images."""
    import gan_zoo
    from gan_zoo.data import scale_images, to_uint8
    from gan_zoo.serving import pretrained
    files, expected = {}, {}

    def add(name, path, inputs, served):
        np.savez(path + ".inputs.npz", **{f"{i}_{k}": v for i, (k, v) in enumerate(inputs)})
        files[name], expected[name] = path, served

    rng = np.random.default_rng(0)
    for family, (base, metadata, request) in exports.items():
        path = os.path.join(base, "1", export.KERAS_FILE)
        assert os.path.exists(path) and isinstance(gan_zoo.load(base).keras_model, tf.keras.Model)
        if family == "label":
            inputs = [("noise", request["noise"]), ("condition", np.eye(10, dtype=np.float32)[request["labels"]])]
        elif family == "unconditional":
            inputs = [("noise", request["noise"])]
        else:
            inputs = [("condition", scale_images(request["images"]).numpy())]
        add(family, path, inputs, _serve(base, request))
    for name in pretrained.names():
        generator = gan_zoo.load(pretrained=name)
        path = str(tmp_path / (name.replace("/", "_") + ".keras"))
        generator.keras_model.save(path)
        served, metadata = pretrained.served(name)
        request = {"noise": rng.normal(size=(4, metadata["noise_dim"])).astype(np.float32)}
        inputs = [("noise", request["noise"])]
        if metadata.get("num_classes"):
            request["labels"] = np.array([0, 1, 2, 3], np.int32)
            inputs.append(("condition", np.eye(metadata["num_classes"], dtype=np.float32)[request["labels"]]))
        images = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in request.items()})
        add(name, path, inputs, images["images"].numpy())
    assert len(files) >= 3 + 5
    for imports in ("import gan_zoo\nimport keras", "import keras\nimport gan_zoo"):
        out = str(tmp_path / "out.npz")
        script = tmp_path / "load.py"
        script.write_text(_KERAS_LOADER.format(imports=imports))
        done = subprocess.run([sys.executable, str(script), json.dumps(files), out], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(out) as drawn:
            for name, served in expected.items():
                mine = to_uint8(drawn[name]).numpy().astype(int)
                # the SavedModel's graph and Keras' call round alike but for a rare last bit
                assert np.abs(mine - served).max() <= 1 and np.mean(mine == served) > 0.99, name
