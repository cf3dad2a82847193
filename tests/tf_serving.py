"""What TF Serving does with a request, short of running its server (not installable here).

TF Serving loads a SavedModel with the TF1 loader and runs a signature through the C++
Session: the request's tensors are fed as they come, so the Session checks their dtype against
the signature and nothing checks their shape. `ServingSession` does the same: the TF1 loader,
then a Session callable fed straight from the request (`_make_callable_from_options` skips the
shape checks and casts that Python's `Session.run` adds; TF Serving has neither).

`predict` takes a PredictRequest (the gRPC form, serialized as sent); `rest` takes the JSON body
of TF Serving's REST API (`instances`, rows; or `inputs`, columns) and parses it as TF Serving's
json_tensor does: integer inputs take JSON integers only, float inputs any number (NaN and
Infinity included), every row the same keys and every list rectangular. Errors come back as
REST does: (400, {"error": message}).
"""
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow_serving.apis import predict_pb2


class ServingSession:
    def __init__(self, version_dir):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], version_dir)
        self.signatures = meta_graph.signature_def

    def _run(self, signature_name, arrays):
        if signature_name not in self.signatures:
            raise tf.errors.NotFoundError(None, None, f"Serving signature name: \"{signature_name}\" not found in signature def")
        signature = self.signatures[signature_name]
        unknown = set(arrays) - set(signature.inputs)
        missing = set(signature.inputs) - set(arrays)
        if unknown or missing:  # TF Serving checks the aliases before it runs anything
            raise tf.errors.InvalidArgumentError(
                None, None, f"input tensor alias not found in signature: {sorted(unknown or missing)}. "
                f"Inputs expected to be in the set {sorted(signature.inputs)}.")
        names = sorted(arrays)
        options = config_pb2.CallableOptions()
        options.feed.extend(signature.inputs[n].name for n in names)
        outputs = sorted(signature.outputs)
        options.fetch.extend(signature.outputs[n].name for n in outputs)
        run = self.session._make_callable_from_options(options)
        return dict(zip(outputs, run(*[arrays[n] for n in names])))

    def predict(self, request_bytes):
        """A serialized PredictRequest -> a serialized PredictResponse (raises OpError)."""
        request = predict_pb2.PredictRequest.FromString(request_bytes)
        arrays = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        results = self._run(request.model_spec.signature_name or "serving_default", arrays)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for name, value in results.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response.SerializeToString()

    def rest(self, body_text, signature_name=None):
        """POST /v1/models/NAME:predict with `body_text` -> (HTTP status, JSON reply)."""
        try:
            body = json.loads(body_text)
            name = signature_name or body.get("signature_name", "serving_default")
            if name not in self.signatures:
                return 404, {"error": f"Serving signature name: \"{name}\" not found in signature def"}
            specs = self.signatures[name].inputs
            rows = "instances" in body
            if rows:
                instances = body["instances"]
                if not isinstance(instances, list) or not instances:
                    raise ValueError("'instances' must be a non-empty list")
                if not all(isinstance(r, dict) for r in instances):
                    if len(specs) != 1:
                        raise ValueError("instances without names need a one-input signature")
                    instances = [{next(iter(specs)): r} for r in instances]
                keys = set(instances[0])
                if any(set(r) != keys for r in instances):
                    raise ValueError("every instance must have the same named inputs")
                columns = {k: [r[k] for r in instances] for k in keys}
            else:
                columns = body["inputs"]
                if not isinstance(columns, dict):
                    columns = {next(iter(specs)): columns}
            arrays = {k: _json_tensor(v, specs[k].dtype, k) if k in specs else np.asarray(v)
                      for k, v in columns.items()}
            results = self._run(name, arrays)
        except (ValueError, KeyError, TypeError) as e:
            return 400, {"error": f"JSON Parse error: {e}"}
        except tf.errors.OpError as e:
            return 400, {"error": e.message}
        as_lists = {k: _jsonable(v) for k, v in results.items()}
        if rows:
            return 200, {"predictions": [dict(zip(as_lists, r)) for r in zip(*as_lists.values())]
                         if len(as_lists) > 1 else next(iter(as_lists.values()))}
        return 200, {"outputs": as_lists if len(as_lists) > 1 else next(iter(as_lists.values()))}


INTEGER_TYPES = {tf.int32.as_datatype_enum: np.int32, tf.int64.as_datatype_enum: np.int64,
                 tf.uint8.as_datatype_enum: np.uint8}
FLOAT_TYPES = {tf.float32.as_datatype_enum: np.float32, tf.float64.as_datatype_enum: np.float64}


def _json_tensor(value, dtype, name):
    flat, shape = _flatten(value)
    if dtype in INTEGER_TYPES:
        bad = [v for v in flat if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            raise ValueError(f"JSON Value: {bad[0]!r} not {tf.as_dtype(dtype).name} formatted (input {name})")
        info = np.iinfo(INTEGER_TYPES[dtype])
        if any(not info.min <= v <= info.max for v in flat):
            raise ValueError(f"JSON Value out of range for {tf.as_dtype(dtype).name} (input {name})")
        return np.array(flat, INTEGER_TYPES[dtype]).reshape(shape)
    if dtype in FLOAT_TYPES:
        bad = [v for v in flat if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ValueError(f"JSON Value: {bad[0]!r} is not a number (input {name})")
        return np.array(flat, FLOAT_TYPES[dtype]).reshape(shape)
    raise ValueError(f"input {name}: dtype {tf.as_dtype(dtype).name} is not handled here")


def _flatten(value):
    """(flat values, shape) of nested lists, refusing ragged ones as TF Serving does."""
    if not isinstance(value, list):
        return [value], ()
    if not value:
        return [], (0,)
    parts = [_flatten(v) for v in value]
    shapes = {s for _, s in parts}
    if len(shapes) != 1:
        raise ValueError("a list is ragged: every element of a tensor's list must have the same shape")
    return [x for flat, _ in parts for x in flat], (len(value), *shapes.pop())


def _jsonable(array):
    if array.dtype == object:  # bytes: base64 in REST, as {"b64": ...}
        import base64
        return [{"b64": base64.b64encode(b).decode()} for b in array.reshape(-1)]
    return array.tolist()


def version_dir(export_base):
    versions = sorted(int(d) for d in os.listdir(export_base) if d.isdigit())
    return os.path.join(export_base, str(versions[-1]))
