#!/usr/bin/python3
"""Encode and decode times of the reference (NVIDIA Cosmos-Tokenizer, PyTorch, CPU, float32) at an
official config with seed-0 random weights: the PyTorch column of `deno task bench --compare`.

usage: THREADS=N /usr/bin/python3 src/bench/reference_speed.py REF_DIR SHIMS_DIR VARIANT SHAPE REPEATS [WARMUPS]
  REF_DIR holds the reference's cosmos_tokenizer package, SHIMS_DIR stands in for einops and
  loguru; VARIANT is CI8x8, CV4x8x8, ...; SHAPE 1x3xHxW or 1x3xTxHxW. WARMUPS untimed passes
  (default 1), then REPEATS timed passes. Prints one line: RESULT <encode ms> <decode ms> <peak RSS KiB> <threads>
  (the minimum of the repeats; RSS is ru_maxrss of this process).
"""
import copy, os, resource, sys, time

import torch

ref_dir, shims, name, shape_arg, reps = sys.argv[1:6]
warmups = int(sys.argv[6]) if len(sys.argv) > 6 else 1
sys.path.insert(0, shims)
sys.path.insert(0, ref_dir)
from cosmos_tokenizer.networks import TokenizerConfigs, TokenizerModels  # noqa: E402

shape = [int(v) for v in shape_arg.split("x")]
cfg = copy.deepcopy(TokenizerConfigs[name[:2]].value)
dims = [int(v) for v in name[2:].split("x")]
if name[1] == "I":
    cfg["spatial_compression"] = dims[0]
else:
    cfg["temporal_compression"], cfg["spatial_compression"] = dims[0], dims[1]
torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
torch.manual_seed(0)
model = TokenizerModels[name[:2]].value(**cfg).eval()
if hasattr(model, "quantizer"):
    model.quantizer.dtype = torch.float32
enc, dec = model.encoder_jit().eval(), model.decoder_jit().eval()
x = torch.rand(*shape) * 2 - 1
te, td = [], []
with torch.no_grad():
    for r in range(warmups + int(reps)):
        t0 = time.perf_counter()
        z = enc(x)[0]
        t1 = time.perf_counter()
        dec(z)
        t2 = time.perf_counter()
        if r >= warmups:
            te.append(t1 - t0)
            td.append(t2 - t1)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"RESULT {min(te) * 1e3:.1f} {min(td) * 1e3:.1f} {rss} {torch.get_num_threads()}")
