#!/usr/bin/python3
"""Fixtures of the Wan2.1 video VAE (test/fixtures/wan/): the reference's own chunked encode and
per-latent-frame decode (github:Wan-Video/Wan2.1 wan/modules/vae.py, imported from a copy the
user fetched, never committed) on seeded random weights at a reduced base width.

usage: /usr/bin/python3 src/testing/wan_fixtures.py VAE_PY_DIR SHIMS_DIR CONVERT_PY OUT_DIR
  VAE_PY_DIR holds vae.py; SHIMS_DIR the einops stand-in (../shared/reference-bench/shims);
  CONVERT_PY is diffusers' scripts/convert_wan_to_diffusers.py (github:huggingface/diffusers).

Written to OUT_DIR:
- weights.pth: the state_dict by torch.save (a zip of a pickle, as Wan2.1_VAE.pth is), the
  reference's names (`encoder.conv1.weight`, ...), F32.
- diffusers/config.json, diffusers/diffusion_pytorch_model.safetensors: the same weights under
  diffusers' AutoencoderKLWan names, renamed by diffusers' own `convert_vae` (run here with the
  hub download pointed at weights.pth and the model class replaced by a catcher of its
  state_dict: the script's other imports, transformers and accelerate, are not needed).
- case_<T>x<H>x<W>.safetensors: `input` [1, 3, T, H, W] in [-1, 1]; `mu` [1, 16, t, h, w], the
  encoder's mean before normalisation (WanVAE_.encode with scale (0, 1)); `log_var`, the other
  half of conv1's output; `mu_normalized`, encode with the Wan2.1 latent mean and 1 / std;
  `reconstruction`, WanVAE_.decode of `mu` (scale (0, 1)), not clamped. `__metadata__`:
  the latent statistics, and `encoder_cache_bytes` / `decoder_cache_bytes`, the bytes of the
  reference's feat_cache after its last chunk (what a stream carries between steps).
- not_tensors.pth: a torch.save of a dict holding a number beside a tensor (a loader's refusal).

The reference runs in float32 on the CPU (PyTorch 1.13.1). Debian's torch lacks
F.scaled_dot_product_attention (torch >= 2.0), so a stand-in with the same maths
(softmax(q k^T / sqrt(d)) v, no mask) is installed before vae.py is imported.
"""
import ast, contextlib, json, math, os, struct, sys

import torch
import torch.nn.functional as F

vae_dir, shims, convert_py, out_dir = sys.argv[1:5]
sys.path.insert(0, shims)
sys.path.insert(0, vae_dir)


def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
    assert attn_mask is None and dropout_p == 0.0 and not is_causal
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.softmax(dim=-1) @ v


if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = sdpa

import vae  # noqa: E402

CONFIG = dict(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
              temperal_downsample=[False, True, True], dropout=0.0)
# Wan2.1's latent statistics (WanVAE in vae.py), what the diffusion models normalise with.
MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
       3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]
CASES = [(1, 16, 16), (1, 32, 48), (5, 16, 16), (9, 32, 32), (33, 16, 16)]


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def randomise(model, gen):
    """Every parameter random: weights with variance 1 / fan_in (activations keep their scale
    through the depth), biases small, RMS norm gains near 1 (the reference zeroes the attention
    projection and sets gains to 1: a test would not see them)."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("gamma"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def smooth_input(gen, t, h, w):
    """Smooth random content in [-1, 1]: a coarse random grid upsampled, so the downsampled
    levels see structure rather than noise."""
    coarse = torch.rand((1, 3, t, max(1, h // 4), max(1, w // 4)), generator=gen) * 2 - 1
    x = F.interpolate(coarse, size=(t, h, w), mode="trilinear", align_corners=False)
    return (x + 0.05 * (torch.rand(x.shape, generator=gen) * 2 - 1)).clamp(-1, 1)


def encode_both(model, x):
    """mu and log_var of WanVAE_.encode (its chunk loop: frame 0, then 4 at a time)."""
    model.clear_cache()
    outs = []
    for i in range(1 + (x.shape[2] - 1) // 4):
        model._enc_conv_idx = [0]
        chunk = x[:, :, :1] if i == 0 else x[:, :, 1 + 4 * (i - 1):1 + 4 * i]
        outs.append(model.encoder(chunk, feat_cache=model._enc_feat_map,
                                  feat_idx=model._enc_conv_idx))
    mu, log_var = model.conv1(torch.cat(outs, 2)).chunk(2, dim=1)
    model.clear_cache()
    return mu, log_var


def diffusers_state_dict(pth):
    """diffusers' convert_vae on `pth`: its function alone, out of the conversion script."""
    tree = ast.parse(open(convert_py).read())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "convert_vae")
    caught = {}

    class Catcher:
        def load_state_dict(self, state, strict, assign):
            caught.update(state)

    scope = {"torch": torch, "hf_hub_download": lambda repo, name: pth,
             "init_empty_weights": contextlib.nullcontext, "AutoencoderKLWan": Catcher}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), convert_py, "exec"), scope)
    scope["convert_vae"]()
    return caught


def cache_bytes(model, x, mu):
    """Bytes of tensors in the reference's feat_cache after its last chunk: what a stream
    carries from one step to the next (encoder: frame 0, then 4 frames a step; decoder: one
    latent frame a step)."""
    model.clear_cache()
    for i in range(1 + (x.shape[2] - 1) // 4):
        model._enc_conv_idx = [0]
        chunk = x[:, :, :1] if i == 0 else x[:, :, 1 + 4 * (i - 1):1 + 4 * i]
        model.encoder(chunk, feat_cache=model._enc_feat_map, feat_idx=model._enc_conv_idx)
    z = model.conv2(mu)
    for i in range(z.shape[2]):
        model._conv_idx = [0]
        model.decoder(z[:, :, i:i + 1], feat_cache=model._feat_map, feat_idx=model._conv_idx)
    size = lambda cache: sum(t.numel() * 4 for t in cache if isinstance(t, torch.Tensor))
    out = size(model._enc_feat_map), size(model._feat_map)
    model.clear_cache()
    return out


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(19)
    model = vae.WanVAE_(**CONFIG).eval()
    randomise(model, gen)
    os.makedirs(out_dir, exist_ok=True)
    state = model.state_dict()
    pth = os.path.join(out_dir, "weights.pth")
    torch.save(state, pth)
    renamed = diffusers_state_dict(pth)
    assert len(renamed) == len(state)
    os.makedirs(os.path.join(out_dir, "diffusers"), exist_ok=True)
    write_safetensors(os.path.join(out_dir, "diffusers", "diffusion_pytorch_model.safetensors"),
                      renamed, {"format": "pt"})
    config = {"_class_name": "AutoencoderKLWan", "base_dim": CONFIG["dim"],
              "z_dim": CONFIG["z_dim"], "dim_mult": CONFIG["dim_mult"],
              "num_res_blocks": CONFIG["num_res_blocks"], "attn_scales": [],
              "temperal_downsample": CONFIG["temperal_downsample"], "dropout": 0.0,
              "latents_mean": MEAN, "latents_std": STD}
    with open(os.path.join(out_dir, "diffusers", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    torch.save({"encoder.conv1.bias": torch.zeros(2), "step": 411000},
               os.path.join(out_dir, "not_tensors.pth"))
    mean, inv_std = torch.tensor(MEAN), 1 / torch.tensor(STD)
    summary = {}
    with torch.no_grad():
        for t, h, w in CASES:
            x = smooth_input(gen, t, h, w)
            mu, log_var = encode_both(model, x)
            mu_ref = model.encode(x, [0.0, 1.0])
            assert torch.equal(mu, mu_ref), "encode_both must be WanVAE_.encode"
            mu_norm = model.encode(x, [mean, inv_std])
            recon = model.decode(mu, [0.0, 1.0])
            name = f"case_{t}x{h}x{w}"
            enc_cache, dec_cache = cache_bytes(model, x, mu)
            write_safetensors(os.path.join(out_dir, name + ".safetensors"), {
                "input": x, "mu": mu, "log_var": log_var, "mu_normalized": mu_norm,
                "reconstruction": recon,
            }, {"mean": json.dumps(MEAN), "std": json.dumps(STD),
                "encoder_cache_bytes": str(enc_cache), "decoder_cache_bytes": str(dec_cache)})
            summary[name] = {"mu": list(mu.shape), "reconstruction": list(recon.shape),
                             "max|mu|": float(mu.abs().max()),
                             "max|recon|": float(recon.abs().max())}
    print(json.dumps(summary, indent=1))


main()
