"""The anchor: the design this project replaces, rebuilt as a peer to measure against.

A Flask app on Werkzeug's threaded server (what `app.run(threaded=True)` runs: one thread per connection,
HTTP/1.1 keep-alive), classifying one image per request on the CPU with OpenCV's DNN module:

    POST /classify[?top_k=K]   body = the encoded image bytes (JPEG, PNG, ...)
        200 {"predictions": [{"class_index": i, "label": "...", "probability": p}, ...]}   (K, default 5)
        400 {"error": "..."}   empty body, not a decodable image, bad top_k
        413 {"error": "..."}   body over --max-body-bytes
    GET /healthz               200 {"status": "ok", "nets_loaded": N}

Per request: cv2.imdecode → cv2.dnn.blobFromImage (resize, channel order, normalisation, NCHW) → transpose
to the graph's NHWC input → net.forward. It loads the SAME .onnx file our server runs (the tfjs export in
.cache/onnx) and feeds it with the same semantics as src/models/preprocess.ts for --normalize and --resize:

    signed  x/127.5 − 1, RGB      unit  x/255, RGB      none  x, RGB      caffe  BGR minus the ImageNet means
    fill    plain resize to the input size, bilinear    crop  shorter side to the input size, centre crop

Differences from our server that do not touch a JPEG benchmark: OpenCV's bilinear resize is not libvips'
(JPEG shrink-on-load), and alpha is dropped (IMREAD_COLOR) instead of flattened onto white.

Prints one JSON line {"msg": "ready", "port": N, ...} on stdout once it listens (127.0.0.1 only; --port 0
picks a free port), then serves until killed. Run with Debian's /usr/bin/python3 (python3-flask,
python3-opencv). Usage:

    flask_opencv_server.py MODEL.onnx --input-size 224 --normalize signed [--resize fill|crop] [--port 0]
                           [--labels FILE] [--shared-net] [--max-body-bytes N] [--max-input-pixels N]
"""
import argparse
import json
import logging
import os
import sys
import threading

sys.dont_write_bytecode = True

# Same pixel limit as our server (DEFAULT_MAX_INPUT_PIXELS in src/models/preprocess.ts).
DEFAULT_MAX_INPUT_PIXELS = 50_000_000
NORMALIZATIONS = ("signed", "unit", "none", "caffe")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="the .onnx file (NHWC float input, softmax output)")
    ap.add_argument("--input-size", type=int, required=True)
    ap.add_argument("--normalize", choices=NORMALIZATIONS, required=True)
    ap.add_argument("--resize", choices=["fill", "crop"], default="fill")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--labels", help="one label per line; default 'class N'")
    ap.add_argument("--shared-net", action="store_true", help="one net behind a lock instead of a pool")
    ap.add_argument("--max-body-bytes", type=int, default=64 * 1024 * 1024)
    ap.add_argument("--max-input-pixels", type=int, default=DEFAULT_MAX_INPUT_PIXELS)
    a = ap.parse_args(argv)
    if a.input_size < 1 or a.max_body_bytes < 1 or a.max_input_pixels < 1:
        ap.error("--input-size, --max-body-bytes and --max-input-pixels must be positive")
    return a


if __name__ == "__main__":
    ARGS = parse_args(sys.argv[1:])
    # OpenCV reads this once, when the library loads (so before `import cv2`), and then refuses larger images
    # from their header instead of allocating gigabytes for a decompression bomb.
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(ARGS.max_input_pixels)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# normalize → (scalefactor, mean, swapRB) for blobFromImage, which computes (pixel − mean) · scalefactor after
# the optional BGR→RGB swap; imdecode gives BGR, so swapRB=True yields RGB like our server, False keeps BGR.
BLOB_PARAMS = {
    "signed": (1 / 127.5, (127.5, 127.5, 127.5), True),
    "unit": (1 / 255.0, (0.0, 0.0, 0.0), True),
    "none": (1.0, (0.0, 0.0, 0.0), True),
    "caffe": (1.0, CAFFE_MEAN_BGR, False),
}


class BadImage(Exception):
    """The request's image cannot be used; answered with 400 and the message."""


class NetPool:
    """One cv2.dnn.Net per request being served at once, reused by whichever thread serves next.

    cv2.dnn.Net is not thread-safe (setInput/forward share the net's blobs), so concurrent requests need
    their own nets or a lock. A lock would serialise every forward pass: a threaded Flask app whose
    requests queue for one net. Separate nets let the threads run forward passes side by side (OpenCV
    releases the GIL inside forward), the generous reading of the old design, so the comparison flatters
    the anchor rather than us. A pool rather than threading.local because Werkzeug's threads live for one
    connection and it closes every connection after one response: a per-thread net would be parsed again
    for every request (20-70 ms for GoogLeNet here, as much as an inference). The pool never holds more
    nets than requests ever ran at once. --shared-net selects the lock instead.
    """

    def __init__(self, onnx_path, shared):
        self._path = onnx_path
        self._shared = shared
        self._lock = threading.Lock()
        self._idle = [self._load()]  # loaded now: a broken model fails at start-up, not on the first request
        self.loaded = 1

    def _load(self):
        return cv2.dnn.readNetFromONNX(self._path)

    def forward(self, x):
        if self._shared:
            with self._lock:
                net = self._idle[0]
                net.setInput(x)
                return net.forward()
        with self._lock:
            net = self._idle.pop() if self._idle else None
        if net is None:
            net = self._load()
            with self._lock:
                self.loaded += 1
        try:
            net.setInput(x)
            return net.forward()
        finally:
            with self._lock:
                self._idle.append(net)


def preprocess(data, input_size, normalize, resize):
    """Encoded image bytes → float32 NHWC [1, H, W, 3] in the model's convention."""
    if len(data) == 0:
        raise BadImage("image is empty (0 bytes)")
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. the pixel limit, checked on the header
        raise BadImage(f"image refused by OpenCV: {str(e).strip().splitlines()[-1]}") from e
    if img is None or img.size == 0:
        raise BadImage(f"image could not be decoded ({len(data)} bytes): not an image OpenCV reads, or corrupt")
    scale, mean, swap_rb = BLOB_PARAMS[normalize]
    blob = cv2.dnn.blobFromImage(img, scalefactor=scale, size=(input_size, input_size), mean=mean,
                                 swapRB=swap_rb, crop=(resize == "crop"))
    # blobFromImage makes NCHW; the exported graph takes NHWC and transposes to NCHW itself.
    return np.ascontiguousarray(blob.transpose(0, 2, 3, 1))


def top_k(probabilities, k, labels):
    p = probabilities.reshape(-1)
    order = np.argsort(-p, kind="stable")[:k]
    return [{"class_index": int(i), "label": labels[i] if labels else f"class {int(i)}", "probability": float(p[i])}
            for i in order]


def create_app(pool, input_size, normalize, resize, labels, max_body_bytes, classes):
    app = Flask("anchor")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.errorhandler(HTTPException)
    def http_error(e):
        return jsonify(error=f"{e.name}: {e.description}"), e.code

    @app.errorhandler(Exception)
    def internal_error(e):
        return jsonify(error=f"internal error: {type(e).__name__}: {e}"), 500

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", nets_loaded=pool.loaded)

    @app.post("/classify")
    def classify():
        k_arg = request.args.get("top_k", "5")
        if not k_arg.isdigit() or not 1 <= int(k_arg) <= classes:
            return jsonify(error=f"top_k must be an integer from 1 to {classes}, got {k_arg!r}"), 400
        try:
            x = preprocess(request.get_data(cache=False), input_size, normalize, resize)
        except BadImage as e:
            return jsonify(error=str(e)), 400
        probabilities = pool.forward(x)
        return jsonify(predictions=top_k(probabilities, int(k_arg), labels))

    return app


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        labels = f.read().rstrip("\n").split("\n")
    if any(not label.strip() for label in labels):
        raise SystemExit(f"labels file {path}: blank line inside the list (it would shift every later label)")
    return labels


def main(a):
    try:
        pool = NetPool(a.model, a.shared_net)
    except cv2.error as e:
        raise SystemExit(f"OpenCV cannot load {a.model}: {str(e).strip().splitlines()[-1]}")
    probe = pool.forward(np.zeros((1, a.input_size, a.input_size, 3), np.float32))
    classes = int(probe.size)
    labels = read_labels(a.labels) if a.labels else None
    if labels is not None and len(labels) != classes:
        raise SystemExit(f"labels file {a.labels} has {len(labels)} labels, the model {classes} outputs")

    # No access log (one stderr line a request otherwise): generous to the anchor, as the net pool is.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(pool, a.input_size, a.normalize, a.resize, labels, a.max_body_bytes, classes)
    server = make_server("127.0.0.1", a.port, app, threaded=True)
    print(json.dumps({"msg": "ready", "port": server.server_port, "opencv": cv2.__version__,
                      "opencv_threads": cv2.getNumThreads(), "nets": "shared" if a.shared_net else "pool",
                      "classes": classes}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(ARGS)
