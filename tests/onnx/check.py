"""check.py — the ONNX files tests/test_onnx.c wrote, against onnx itself.

    /usr/bin/python3 tests/onnx/check.py DIR

DIR/manifest.json lists each file with its inputs' and outputs' names and
shapes (for 8 images). For each file: onnx.checker.check_model with
full_check, shape inference in strict mode, IR 7 or 8, opset 13 of the
default domain, producer "vae", the graph's inputs and outputs exactly the
listed names, float, of shape (N, ...) with N a free dimension named "N",
every value inferred a float shape whose dimensions after the batch are
known, no Reshape that leaves its input's shape, and node names given and
distinct. Prints "ok FILE" or "FAIL FILE: why" for each, and exits 1 if
any failed (2 when onnx cannot be imported or the manifest read).
"""
import json
import os
import sys

try:
    import onnx
    from onnx import TensorProto, checker, shape_inference
except ImportError as e:
    print("FAIL: cannot import onnx (apt-get install python3-onnx): %s" % e)
    sys.exit(2)


def dims(value):
    """The shape of a ValueInfoProto: ints, "N"-like names, or None where unknown."""
    t = value.type.tensor_type
    if t.elem_type != TensorProto.FLOAT:
        raise ValueError("%s is not float but type %d" % (value.name, t.elem_type))
    if not t.HasField("shape"):
        raise ValueError("%s has no shape" % value.name)
    out = []
    for d in t.shape.dim:
        kind = d.WhichOneof("value")
        out.append(d.dim_value if kind == "dim_value" else d.dim_param if kind == "dim_param" else None)
    return out


def check_values(what, values, listed):
    names = [v.name for v in values]
    want = [v["name"] for v in listed]
    if names != want:
        raise ValueError("%s are %s, not %s" % (what, names, want))
    for v, spec in zip(values, listed):
        shape, want_shape = dims(v), ["N"] + spec["shape"][1:]
        if shape != want_shape:
            raise ValueError("%s %s has shape %s, not %s" % (what, v.name, shape, want_shape))


def check_file(path, entry):
    model = onnx.load(path)
    checker.check_model(model, full_check=True)
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    if model.ir_version not in (7, 8):
        raise ValueError("IR version %d" % model.ir_version)
    opsets = [(o.domain, o.version) for o in model.opset_import]
    if opsets != [("", 13)]:
        raise ValueError("opset imports %s, not [('', 13)]" % opsets)
    if model.producer_name != "vae":
        raise ValueError("producer %r" % model.producer_name)
    g = inferred.graph
    check_values("inputs", g.input, entry["inputs"])
    check_values("outputs", g.output, entry["outputs"])
    outputs = set(o for n in g.node for o in n.output) - set(v.name for v in g.output)
    shapes = {v.name: v for v in g.value_info}
    for name in sorted(outputs):
        if name not in shapes:
            raise ValueError("no shape inferred for %s" % name)
        shape = dims(shapes[name])
        if len(shape) not in (2, 4) or any(not isinstance(d, int) or d < 1 for d in shape[1:]):
            raise ValueError("%s inferred as %s" % (name, shape))
    shapes.update({v.name: v for v in list(g.input) + list(g.output)})
    for n in g.node:  # a Reshape to the shape its input has is a node too many
        if n.op_type == "Reshape" and dims(shapes[n.input[0]])[1:] == dims(shapes[n.output[0]])[1:]:
            raise ValueError("%s reshapes %s to the shape it has" % (n.name, n.input[0]))
    names = [n.name for n in g.node]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ValueError("node names missing or repeated: %s" % names)
    return "%d nodes, %d initializers" % (len(g.node), len(g.initializer))


def main():
    if len(sys.argv) != 2:
        print("usage: check.py DIR")
        return 2
    folder = sys.argv[1]
    try:
        with open(os.path.join(folder, "manifest.json")) as f:
            models = json.load(f)["models"]
    except (OSError, ValueError, KeyError) as e:
        print("FAIL: manifest: %s" % e)
        return 2
    failed = 0
    for entry in models:
        try:
            print("ok %s (onnx %s: %s)" % (entry["file"], onnx.__version__,
                                           check_file(os.path.join(folder, entry["file"]), entry)))
        except Exception as e:  # the checker's own errors and ours alike
            print("FAIL %s: %s" % (entry["file"], str(e).strip().replace("\n", " ")))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
