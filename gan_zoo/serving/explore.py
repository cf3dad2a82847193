"""gan-zoo explore --export_dir=export/maxout_cgan [--port=8000]   (or --pretrained=NAME; python -m gan_zoo explore)

The latent explorer (the LFW DCGAN tutorial's slider page, made safe): one page with a slider per noise
dimension, extra sliders along the first principal directions of the generator's output, a
class selector for label models, a random button and a copy-able vector; the image updates
as the sliders move. An img2img export shows an upload box instead.

The server binds 127.0.0.1 unless --host says otherwise (with a warning naming who can reach
it then) and answers four requests only (a query string is ignored):
  GET  /           the page
  GET  /info       the model's metadata and the slider set-up (JSON)
  POST /render     {"noise": [noise_dim floats], "label": int}  ->  PNG
  POST /translate  an image file (img2img exports)                ->  PNG
Every request is validated (size, JSON, count and range of values, label range, image
decodes); a bad one gets a 4xx with {"error": "..."} and the server stays up. A client that
stalls mid-request is closed after REQUEST_TIMEOUT seconds; past MAX_CONNECTIONS open
connections a new one gets a 503 at once. Load and fuzz figures: bench/explore_load.py.
"""
import http.server
import ipaddress
import json
import math
import os
import signal
import sys
import threading

import numpy as np
import tensorflow as tf

from gan_zoo.data import resize_uint8
from gan_zoo.core.noise import numpy_noise
from gan_zoo.errors import UserError

MAX_JSON_BYTES = 64 * 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024
NOISE_LIMIT = 10.0  # |value| a noise entry may take (N(0, 1) draws stay within about 5)
DIRECTION_SAMPLES = 256
REQUEST_TIMEOUT = 10.0  # seconds a client may take to send a request (a stalled one is closed)
MAX_CONNECTIONS = 64  # open connections served at once; more get a 503 straight away


class RequestError(Exception):
    """A bad request: its HTTP status and a message naming what is wrong."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Explorer:
    """What the page asks for, independent of HTTP (so it is tested without a server)."""

    def __init__(self, model, metadata, directions=8, seed=0):
        self.model, self.metadata = model, metadata
        self.serve = model.signatures["serving_default"]
        self.paired = bool(metadata.get("paired"))
        self.noise_dim = 0 if self.paired else int(metadata["noise_dim"])
        self.num_classes = int(metadata.get("num_classes", 0))
        self.tags = list(metadata.get("condition_names", ()))
        self.directions = [] if self.paired else self._principal_directions(directions, seed)

    def info(self):
        return {"model": self.metadata["model"], "paired": self.paired,
                "image_shape": self.metadata["image_shape"],
                "input_shape": self.metadata.get("input_shape", []), "noise_dim": self.noise_dim,
                "noise": self.metadata.get("noise", "normal"), "class_names": self._class_names(),
                "tags": self.tags, "directions": [list(map(float, d)) for d in self.directions],
                "noise_limit": NOISE_LIMIT, "step": self.metadata.get("step")}

    def _class_names(self):
        names = list(self.metadata.get("class_names", ()))
        return names if len(names) == self.num_classes else [str(i) for i in range(self.num_classes)]

    # --- requests ----------------------------------------------------------------------------
    def render(self, body):
        """PNG bytes for a parsed /render body, or a RequestError saying what is wrong."""
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object like {\"noise\": [...], \"label\": 0}")
        if self.paired:
            raise RequestError(400, "this is an image-to-image model: POST an image to /translate")
        allowed = {"noise", "label"} if self.num_classes else {"noise", "condition"} if self.tags else {"noise"}
        unknown = set(body) - allowed
        if unknown:
            raise RequestError(400, f"unknown field(s) {sorted(unknown)}; this model takes {sorted(allowed)}")
        noise = self._noise(body.get("noise"))
        inputs = {"noise": tf.constant(noise[None])}
        if self.num_classes:
            inputs["labels"] = tf.constant([self._label(body.get("label"))], tf.int32)
        elif self.tags:
            inputs["condition"] = tf.constant(self._condition(body.get("condition"))[None])
        return _png(self.serve(**inputs)["images"].numpy()[0])

    def translate(self, data):
        """PNG bytes of the img2img model's output for an uploaded image file."""
        if not self.paired:
            raise RequestError(400, "this model draws from noise: POST {\"noise\": [...]} to /render")
        height, width, channels = self.metadata["input_shape"]
        try:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        except (tf.errors.InvalidArgumentError, ValueError):
            raise RequestError(400, "the upload is not a PNG, JPEG, GIF or BMP image") from None
        image = resize_uint8(image, height, width)
        return _png(self.serve(images=image[None])["images"].numpy()[0])

    def _noise(self, values):
        if not isinstance(values, list) or len(values) != self.noise_dim:
            got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
            raise RequestError(400, f"noise must be a list of {self.noise_dim} numbers; got {got}")
        if not all(_is_number(v) and math.isfinite(v) and abs(v) <= NOISE_LIMIT for v in values):
            raise RequestError(400, f"noise values must be finite numbers in [-{NOISE_LIMIT:g}, "
                                    f"{NOISE_LIMIT:g}]")
        return np.asarray(values, np.float32)

    def _label(self, value):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.num_classes:
            raise RequestError(400, f"label must be an integer in 0..{self.num_classes - 1}; got {value!r}")
        return value

    def _condition(self, values):
        if (not isinstance(values, list) or len(values) != len(self.tags)
                or not all(_is_number(v) and 0.0 <= v <= 1.0 for v in values)):
            raise RequestError(400, f"condition must be a list of {len(self.tags)} numbers in [0, 1] "
                                    f"(one per tag: {', '.join(self.tags)})")
        return np.asarray(values, np.float32)

    # --- sliders beyond the noise dimensions ------------------------------------------------
    def _principal_directions(self, count, seed):
        """Unit noise-space directions that move the output along its first `count` principal
        components (PCA of DIRECTION_SAMPLES images; each component's scores regressed back
        onto the noise that made them), for models whose noise has too many dimensions to
        explore one by one."""
        if count <= 0:
            return []
        rng = np.random.default_rng(seed)
        noise = numpy_noise(rng, DIRECTION_SAMPLES, self.noise_dim, self.metadata.get("noise"))
        inputs = {"noise": tf.constant(noise)}
        if self.num_classes:
            inputs["labels"] = tf.zeros([DIRECTION_SAMPLES], tf.int32)
        elif self.tags:
            inputs["condition"] = tf.zeros([DIRECTION_SAMPLES, len(self.tags)])
        images = self.serve(**inputs)["images"].numpy().reshape(DIRECTION_SAMPLES, -1).astype(np.float64)
        images -= images.mean(axis=0)
        u, s, _ = np.linalg.svd(images, full_matrices=False)
        scores = u[:, :count] * s[:count]
        directions, *_ = np.linalg.lstsq(scores, noise - noise.mean(axis=0), rcond=None)
        return directions / np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-12)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _png(image):
    return tf.io.encode_png(image).numpy()


def _reject_constant(name):  # NaN, Infinity: Python's json accepts them, JSON does not
    raise RequestError(400, f"{name} is not a JSON number")


def make_server(explorer, host="127.0.0.1", port=8000, request_timeout=REQUEST_TIMEOUT,
                max_connections=MAX_CONNECTIONS):
    """A threading HTTP server for `explorer` (port 0: any free port; see server_address)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "explore_page.html"),
              "rb") as fh:
        page = fh.read()
    lock = threading.Lock()  # one model call at a time

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "gan_zoo-explore"
        timeout = request_timeout  # the socket's: a stalled client is closed, not waited on

        def log_message(self, *args):  # quiet: errors are answered, not logged to stderr
            pass

        def send_error(self, code, message=None, explain=None):
            # http.server's answers to a bad request line: an unknown method (501) or HTTP
            # version (505) is the client's mistake, a 4xx like every other bad request
            super().send_error({501: 405, 505: 400}.get(code, code), message, explain)

        def _route(self):  # the path without its query (urlsplit raises on "//[": not that)
            return self.path.split("?", 1)[0].split("#", 1)[0]

        def do_GET(self):
            route = self._route()
            if route == "/":
                return self._send(200, page, "text/html; charset=utf-8")
            if route == "/info":
                return self._json(200, explorer.info())
            if route in ("/render", "/translate"):
                return self._json(405, {"error": f"{route} takes POST"})
            return self._json(404, {"error": f"no such page: {route[:100]}"})

        def do_POST(self):
            route = self._route()
            try:
                if route not in ("/render", "/translate"):
                    raise RequestError(404, f"no such endpoint: {route[:100]}")
                limit = MAX_JSON_BYTES if route == "/render" else MAX_IMAGE_BYTES
                data = self._body(limit)
                with lock:
                    if route == "/render":
                        png = explorer.render(_parse_json(data))
                    else:
                        png = explorer.translate(data)
                self._send(200, png, "image/png")
            except RequestError as e:
                self._json(e.status, {"error": str(e)})
            except Exception as e:  # a bug, answered rather than dropped (the fuzz bench finds them)
                self._json(500, {"error": f"{type(e).__name__}: {str(e)[:200]}"})

        def _body(self, limit):
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                raise RequestError(411, "a Content-Length header is required") from None
            if length < 0 or length > limit:
                self.close_connection = True  # the unread body must not be parsed as a request
                raise RequestError(413, f"the body is {length} bytes; at most {limit} are accepted")
            data = self.rfile.read(length)
            if len(data) < length:  # the client closed before sending it all
                self.close_connection = True
                raise RequestError(400, f"the body ended after {len(data)} of {length} bytes")
            return data

        def _json(self, status, obj):
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _send(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return _BoundedServer((host, port), Handler, max_connections)


class _BoundedServer(http.server.ThreadingHTTPServer):
    """At most `max_connections` connections served at once (a thread each); a client past
    that gets a 503 and is closed, so a flood of idle connections cannot exhaust threads.
    Each answer closes its connection (HTTP/1.0), so the listen backlog is deep enough for
    many clients reconnecting at once (socketserver's default of 5 resets some of them)."""
    request_queue_size = 128

    def __init__(self, address, handler, max_connections):
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            body = b'{"error": "too many open connections; try again"}'
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json"
                                b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def reachable_by(host):
    """Who can open the page when the server binds `host`: None for loopback only."""
    if host in ("localhost", ""):
        return None if host == "localhost" else "anyone who can reach this machine"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"anyone who can reach {host}"
    if address.is_loopback:
        return None
    if address.is_unspecified:
        return "anyone who can reach this machine, on every network interface"
    return f"anyone who can reach {host} (its network)"


def _parse_json(data):
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(400, f"the body is not JSON ({e})") from None
    except RecursionError:
        raise RequestError(400, "the body's JSON nests too deeply") from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    from absl import flags

    from gan_zoo.serving import pretrained
    FLAGS = flags.FLAGS
    model, metadata = pretrained.open_model(FLAGS.export_dir, FLAGS.pretrained)
    explorer = Explorer(model, metadata, directions=FLAGS.directions)
    try:
        server = make_server(explorer, FLAGS.host, FLAGS.port)
    except OSError as e:  # the port taken or reserved, or an address not on this machine
        raise UserError(f"Cannot listen on {FLAGS.host}:{FLAGS.port} ({e.strerror}): pass another "
                        "--port (0: any free one), or a --host of this machine.") from None
    host, port = server.server_address[:2]
    who = reachable_by(FLAGS.host)
    if who:
        print(f"warning: --host={FLAGS.host}: {who} can open this page on port {port}; it has "
              "no login. Leave --host out to keep it on this machine (127.0.0.1).", file=sys.stderr)
    # Ctrl-C and `kill` both stop it cleanly, even where SIGINT was ignored by whoever started
    # this process (a background job of a non-interactive shell inherits SIGINT ignored).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    print(f"Serving the latent explorer of {metadata['model']} at http://{host}:{port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def command(argv=None):
    """The command line: its flags, then main (gan-zoo explore, python -m gan_zoo explore)."""
    from absl import flags

    from gan_zoo.cli import options as cli
    cli.define_generator_flags()
    flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 127.0.0.1 keeps the page on this "
                        "machine (0.0.0.0 opens it to the network).")
    flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port).")
    flags.DEFINE_integer("directions", 8, "Extra sliders along the first principal directions "
                         "of the generator's output (0: none).")
    cli.start(main, __doc__, argv=argv)


if __name__ == "__main__":
    command()
