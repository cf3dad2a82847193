"""Every family's export as TF Serving users meet it: the versioned layout, `saved_model_cli
run`, PredictRequest protos from tensorflow-serving-api, and the README's REST body."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from conftest import ROOT, run_cli
from gan_zoo import export


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


def answer(loaded, request):
    """What TF Serving's Predict does with a PredictRequest: tensors in, the signature, tensors out."""
    signature = loaded.signatures[request.model_spec.signature_name or "serving_default"]
    outputs = signature(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response


def test_predict_request_protos_from_numpy(exports):
    for family in FAMILIES:
        base, metadata, inputs = exports[family]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = family
        request.model_spec.signature_name = "serving_default"
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        wire = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # as sent
        loaded, _ = export.load(base)
        response = predict_pb2.PredictResponse.FromString(answer(loaded, wire).SerializeToString())
        images = tf.make_ndarray(response.outputs["images"])
        assert images.dtype == np.uint8 and images.shape[1:] == tuple(metadata["image_shape"])
        np.testing.assert_array_equal(images, _serve(base, inputs))
    # a label out of range fails the request, as it fails in TF Serving
    request = predict_pb2.PredictRequest()
    request.inputs["labels"].CopyFrom(tf.make_tensor_proto(np.array([10], np.int32)))
    request.inputs["noise"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 100), np.float32)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be in"):
        answer(export.load(exports["label"][0])[0], request)


def _readme_request_bodies():
    with open(os.path.join(ROOT, "README.md")) as fh:
        text = fh.read()
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", text, flags=re.S)]


def test_readme_rest_bodies_are_what_the_signatures_take(exports):
    """Each `curl -d '{...}'` body in the README, read as TF Serving's REST API reads it:
    `inputs` (columnar: one value per input, scalars allowed) or `instances` (rows: one dict
    per example, stacked), cast to the signature's dtypes."""
    bodies = _readme_request_bodies()
    assert len(bodies) >= 2
    answered = set()
    for body in bodies:
        name = body.get("signature_name", "serving_default")
        columns = body.get("inputs") or {k: [row[k] for row in body["instances"]]
                                         for k in body["instances"][0]}
        for family, (base, metadata, _) in exports.items():
            signature = export.load(base)[0].signatures.get(name)
            specs = signature.structured_input_signature[1] if signature is not None else {}
            if set(specs) != set(columns):
                continue
            images = signature(**{k: tf.constant(np.array(v), specs[k].dtype)
                                  for k, v in columns.items()})["images"].numpy()
            assert images.dtype == np.uint8 and images.shape[1:] == tuple(metadata["image_shape"])
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
