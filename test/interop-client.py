"""A gRPC client for inference.v1.InferenceService in another language (Python, C-core grpcio).

Nothing is generated: the request is encoded and the response decoded by hand from the protobuf wire
format, using only the field numbers in proto/inference/v1/inference.proto, and the call goes through
grpcio's generic channel.unary_unary. Usage: interop-client.py TARGET IMAGE [TOP_K]; prints JSON.
"""
import json
import os
import struct
import sys

import grpc

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
from proto_wire import field_bytes, field_varint, parse  # noqa: E402


def main():
    target, image_path = sys.argv[1], sys.argv[2]
    top_k = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with open(image_path, "rb") as f:
        image = f.read()
    # ClassifyRequest: image = 1 (bytes), top_k = 2 (uint32), request_id = 3 (string)
    request = field_bytes(1, image) + field_varint(2, top_k) + field_bytes(3, b"python-1")
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        call = channel.unary_unary("/inference.v1.InferenceService/Classify",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            response = call(request, timeout=30)
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "details": e.details()}))
            return
    out = {"request_id": None, "predictions": [], "model": None}
    for num, _, val in parse(response):
        if num == 1:
            out["request_id"] = val.decode()
        elif num == 2:  # Prediction: class_index = 1, label = 2, probability = 3 (float)
            p = {}
            for n2, _, v2 in parse(val):
                if n2 == 1:
                    p["class_index"] = v2
                elif n2 == 2:
                    p["label"] = v2.decode()
                elif n2 == 3:
                    p["probability"] = struct.unpack("<f", v2)[0]
            p.setdefault("class_index", 0)
            out["predictions"].append(p)
        elif num == 3:  # ModelRef: name = 1
            out["model"] = next((v.decode() for n2, _, v in parse(val) if n2 == 1), None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
