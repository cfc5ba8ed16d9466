#!/usr/bin/python3
"""The Wan2.1 VAE's reference (github:Wan-Video/Wan2.1 wan/modules/vae.py, PyTorch, CPU, float32)
timed per frame on a random clip, and a full-width random checkpoint for `src/bench/wan.ts` to
time the same weights on the WebAssembly backend.

usage: THREADS=2 /usr/bin/python3 src/bench/wan_reference.py VAE_PY_DIR SHIMS_DIR PTH TxHxW
  VAE_PY_DIR holds vae.py (a copy fetched by the user, never committed); SHIMS_DIR the einops
  stand-in (../shared/reference-bench/shims). PTH is read if it exists, else written first:
  Wan2.1's architecture (base width 96, z 16) with seeded random weights, 508 MB.
  Prints encode and decode milliseconds per frame and the process's peak RSS. The reference's
  own loop runs: encode frame 0 then 4 frames at a time, decode one latent frame at a time.
"""
import math, os, resource, sys, time

import torch
import torch.nn.functional as F

vae_dir, shims, pth, shape = sys.argv[1:5]
t, h, w = (int(v) for v in shape.split("x"))
sys.path.insert(0, shims)
sys.path.insert(0, vae_dir)


def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
    # torch 1.13 lacks F.scaled_dot_product_attention: the same maths, no mask.
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v


if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = sdpa

import vae  # noqa: E402

torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
model = vae.WanVAE_(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                    temperal_downsample=[False, True, True]).eval()
if os.path.exists(pth):
    model.load_state_dict(torch.load(pth))
else:
    gen = torch.Generator().manual_seed(21)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))
    torch.save(model.state_dict(), pth)
x = torch.rand((1, 3, t, h, w), generator=torch.Generator().manual_seed(1)) * 2 - 1
with torch.no_grad():
    t0 = time.time()
    mu = model.encode(x, [0.0, 1.0])
    t1 = time.time()
    model.decode(mu, [0.0, 1.0])
    t2 = time.time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
print(f"reference {shape}: encode {1e3 * (t1 - t0) / t:.0f} ms/frame, "
      f"decode {1e3 * (t2 - t1) / t:.0f} ms/frame, peak RSS {rss:.0f} MB")
