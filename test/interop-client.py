"""A gRPC client for inference.v1.InferenceService in another language (Python, C-core grpcio).

Nothing is generated: the request is encoded and the response decoded by hand from the protobuf wire
format, using only the field numbers in proto/inference/v1/inference.proto, and the call goes through
grpcio's generic channel.unary_unary. Usage: interop-client.py TARGET IMAGE [TOP_K]; prints JSON.
"""
import json
import struct
import sys

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def parse(buf):
    """Yields (field number, wire type, value) for one message."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = read_varint(buf, i)
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = read_varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, val


def read_varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def main():
    target, image_path = sys.argv[1], sys.argv[2]
    top_k = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with open(image_path, "rb") as f:
        image = f.read()
    # ClassifyRequest: image = 1 (bytes), top_k = 2 (uint32), request_id = 3 (string)
    request = field_bytes(1, image) + varint(2 << 3 | 0) + varint(top_k) + field_bytes(3, b"python-1")
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
