#!/usr/bin/python3
"""Peak memory and time of one pass of the reference (NVIDIA Cosmos-Tokenizer, PyTorch, CPU,
float32) at the official CV4x8x8 config with random weights, beside `cosmos encode` /
`cosmos decode` of the same clip size under `/usr/bin/time -v` (the README's streaming figures).

Set-up as ../shared/reference-bench/README.md says (Debian's python3-torch, the reference's
cosmos_tokenizer package extracted into REF_DIR, the shims there for einops and loguru).

usage: THREADS=2 /usr/bin/time -v /usr/bin/python3 src/bench/reference_memory.py REF_DIR SHIMS_DIR enc|dec 1x3xTxHxW
  enc encodes a random clip of that shape; dec decodes a random latent of the clip's latent
  shape [1, 16, 1 + (T - 1) / 4, H / 8, W / 8]. Prints the pass's seconds, ms per frame and the
  process's peak RSS (ru_maxrss).
"""
import copy, os, resource, sys, time

import torch

ref_dir, shims, mode, shape = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sys.path.insert(0, shims)
sys.path.insert(0, ref_dir)
from cosmos_tokenizer.networks import TokenizerConfigs, TokenizerModels  # noqa: E402

b, c, t, h, w = [int(x) for x in shape.split("x")]
cfg = copy.deepcopy(TokenizerConfigs["CV"].value)
cfg["temporal_compression"], cfg["spatial_compression"] = 4, 8
torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
torch.manual_seed(0)
model = TokenizerModels["CV"].value(**cfg).eval()
with torch.no_grad():
    if mode == "enc":
        net = model.encoder_jit().eval()
        del model
        x = torch.rand(b, c, t, h, w) * 2 - 1
        t0 = time.perf_counter()
        out = net(x)[0]
    else:
        net = model.decoder_jit().eval()
        del model
        z = torch.randn(b, 16, 1 + (t - 1) // 4, h // 8, w // 8)
        t0 = time.perf_counter()
        out = net(z)
    dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{mode} {shape} -> {tuple(out.shape)}: {dt:.1f} s, {dt / t * 1e3:.0f} ms/frame, maxrss {rss:.0f} MiB")
