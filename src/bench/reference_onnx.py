#!/usr/bin/python3
"""Exports the reference's encoder and decoder (official config, seed-0 random weights, float32,
traced on an input of SHAPE) to ONNX for the ONNX Runtime columns of `deno task bench --compare`.
Batch, time, height and width are dynamic axes, so one export runs every input size: traced on
1x3x9x64x64 and run on 1x3x17x64x96, the video export's latent and reconstruction matched the
reference's to 1.3e-6 and 2.5e-5 (absolute, of 0.53 and 5.9), and traced on 1x3x64x64 the image
export timed the same as one traced at 256x256 (443 + 1166 against 442 + 1149 ms).

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
    # Batch, time, height and width are dynamic: an export traced on a small SHAPE runs any size.
    axes = {0: "n", 2: "h", 3: "w"} if len(shape) == 4 else {0: "n", 2: "t", 3: "h", 4: "w"}
    torch.onnx.export(First(enc), (x,), os.path.join(out, "encoder.onnx"), opset_version=17,
                      input_names=["x"], output_names=["z"], dynamic_axes={"x": axes, "z": axes})
    torch.onnx.export(dec, (z,), os.path.join(out, "decoder.onnx"), opset_version=17,
                      input_names=["z"], output_names=["y"], dynamic_axes={"z": axes, "y": axes})
print("exported", name, shape_arg, "latent", "x".join(str(v) for v in z.shape))
