"""Runs an ONNX model once with OpenCV's DNN module, for cross-engine tests.

Usage: opencv_forward.py MODEL.onnx INPUT.f32 N H W C
INPUT.f32 holds N×H×W×C little-endian float32 values (NHWC, what our exported graphs take). Prints one JSON
object {"opencv": version, "probabilities": [[...] per image]}. Needs Debian's python3-opencv.
"""
import json
import sys

import cv2
import numpy as np

model, data, n, h, w, c = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
x = np.fromfile(data, dtype="<f4").reshape(n, h, w, c)
net = cv2.dnn.readNetFromONNX(model)
net.setInput(x)
y = net.forward()
print(json.dumps({"opencv": cv2.__version__, "probabilities": y.reshape(n, -1).astype(float).tolist()}))
