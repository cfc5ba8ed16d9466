#!/usr/bin/python3
"""Exports the reference's encoder and decoder (official config, seed-0 random weights, float32,
fixed input shape) to ONNX for the ONNX Runtime columns of `deno task bench --compare`.

usage: /usr/bin/python3 src/bench/reference_onnx.py REF_DIR SHIMS_DIR VARIANT SHAPE OUT_DIR
  Writes OUT_DIR/encoder.onnx (input x, output z: the first of the encoder's outputs) and
  OUT_DIR/decoder.onnx (input z, output y).

The export runs on a temporary copy of the reference in which the Haar filters' channel count is
a Python integer rather than a traced tensor (the exporter cannot size a traced one), and with
Tensor.repeat_interleave by an integer done as unsqueeze, expand and reshape (the same values):
as exported by torch 1.13 it becomes Splits that ONNX Runtime refuses in the video decoder
("Split size 1 exceeds the remaining size of the selected axis, 0").
"""
import copy, os, shutil, sys, tempfile

import torch

ref_dir, shims, name, shape_arg, out = sys.argv[1:6]
src = os.path.join(tempfile.mkdtemp(), "ref")
shutil.copytree(os.path.join(ref_dir, "cosmos_tokenizer"), os.path.join(src, "cosmos_tokenizer"))


def patch(rel, old, new):
    path = os.path.join(src, "cosmos_tokenizer", "modules", rel)
    text = open(path).read()
    if old not in text:
        sys.exit(f"Cannot export {name}: {rel} has no '{old}' to make exportable (another reference version?)")
    open(path, "w").write(text.replace(old, new))


patch("patching.py", "g = x.shape[1]", "g = int(x.shape[1])")
_repeat_interleave = torch.Tensor.repeat_interleave


def repeat_interleave(self, repeats, dim=None, **kwargs):
    """x.repeat_interleave(k, dim) for an integer k without the exporter's Splits."""
    if not isinstance(repeats, int) or dim is None or kwargs:
        return _repeat_interleave(self, repeats, dim=dim, **kwargs)
    d = dim % self.dim()
    shape = list(self.shape)
    wide = self.unsqueeze(d + 1).expand(*shape[: d + 1], repeats, *shape[d + 1 :])
    return wide.reshape(*shape[:d], shape[d] * repeats, *shape[d + 1 :])


torch.Tensor.repeat_interleave = repeat_interleave
sys.path.insert(0, shims)
sys.path.insert(0, src)
from cosmos_tokenizer.networks import TokenizerConfigs, TokenizerModels  # noqa: E402

shape = [int(v) for v in shape_arg.split("x")]
cfg = copy.deepcopy(TokenizerConfigs[name[:2]].value)
dims = [int(v) for v in name[2:].split("x")]
if name[1] == "I":
    cfg["spatial_compression"] = dims[0]
else:
    cfg["temporal_compression"], cfg["spatial_compression"] = dims[0], dims[1]
torch.manual_seed(0)
model = TokenizerModels[name[:2]].value(**cfg).eval()
if hasattr(model, "quantizer"):
    model.quantizer.dtype = torch.float32
enc, dec = model.encoder_jit().eval(), model.decoder_jit().eval()


class First(torch.nn.Module):
    """The encoder's first output (the latent or the indices) alone."""

    def __init__(self, e):
        super().__init__()
        self.e = e

    def forward(self, x):
        return self.e(x)[0]


x = torch.rand(*shape) * 2 - 1
os.makedirs(out, exist_ok=True)
with torch.no_grad():
    z = enc(x)[0]
    torch.onnx.export(First(enc), (x,), os.path.join(out, "encoder.onnx"), opset_version=17,
                      input_names=["x"], output_names=["z"])
    torch.onnx.export(dec, (z,), os.path.join(out, "decoder.onnx"), opset_version=17,
                      input_names=["z"], output_names=["y"])
print("exported", name, shape_arg, "latent", "x".join(str(v) for v in z.shape))
