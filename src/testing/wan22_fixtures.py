#!/usr/bin/python3
"""Fixtures of the Wan2.2 video VAE (test/fixtures/wan22/): the reference's chunked encode
(frame 0, then 4 frames a chunk) and per-latent-frame decode (github:Wan-Video/Wan2.2
wan/modules/vae2_2.py, `WanVAE_`, imported from a copy the user fetched, never committed) on
seeded random weights at reduced widths (encoder 8, decoder 4: the two differ, as 160 and 256
do in Wan2.2), with Wan2.2's 48 latent channels and its 2x2 patchify.

usage: /usr/bin/python3 src/testing/wan22_fixtures.py VAE_PY_DIR SHIMS_DIR CONVERT_PY OUT_DIR
  VAE_PY_DIR holds vae2_2.py; SHIMS_DIR the einops stand-in (../shared/reference-bench/shims);
  CONVERT_PY is diffusers' scripts/convert_wan_to_diffusers.py (github:huggingface/diffusers),
  whose convert_vae_22 renames the weights to diffusers' AutoencoderKLWan names.

Written to OUT_DIR:
- weights.pth: the state_dict by torch.save, the reference's names, F32 (as Wan2.2_VAE.pth).
- diffusers/config.json, diffusers/diffusion_pytorch_model.safetensors: the same weights under
  diffusers' names (convert_vae_22 run on weights.pth, its model class replaced by a catcher).
- case_<T>x<H>x<W>.safetensors: `input` [1, 3, T, H, W] in [-1, 1]; `patched`, the input after
  patchify (space to channel, what the encoder's conv1 reads); `mu` [1, 48, t, h, w], the
  encoder's mean (WanVAE_.encode with scale (0, 1)); `log_var`; `mu_normalized` (Wan2.2's
  latent mean and 1 / std); `reconstruction`, WanVAE_.decode of `mu`, not clamped.
  `__metadata__`: the statistics and the reference's feat_cache bytes after its last chunk.

The reference runs in float32 on the CPU (PyTorch 1.13.1), with a stand-in for
F.scaled_dot_product_attention (softmax(q k^T / sqrt(d)) v), which torch 1.13 lacks.
"""
import ast, contextlib, json, math, os, struct, sys

import torch
import torch.nn.functional as F

vae_dir, shims, convert_py, out_dir = sys.argv[1:5]
sys.path.insert(0, shims)
sys.path.insert(0, vae_dir)


def attention_stand_in(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
    assert attn_mask is None and dropout_p == 0.0 and not is_causal
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1) @ v


if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = attention_stand_in

import vae2_2  # noqa: E402

# Wan2.2's configuration (Wan2_2_VAE) at reduced widths.
CONFIG = dict(dim=8, dec_dim=4, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
              attn_scales=[], temperal_downsample=[False, True, True], dropout=0.0)
CASES = [(1, 32, 32), (1, 32, 48), (5, 32, 32), (9, 32, 32)]


def stats_of(module_text):
    """Wan2.2's latent mean and std, read from the two tensor literals of Wan2_2_VAE."""
    tree = ast.parse(module_text)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Wan2_2_VAE")
    found = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("mean", "std") and isinstance(node.value, ast.Call):
                found[name] = [float(v) for v in ast.literal_eval(node.value.args[0])]
    return found["mean"], found["std"]


def save_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def randomise(model, gen):
    """Weights of variance 1 / fan_in, small biases, RMS gains near 1 (the reference's own
    initialisation zeroes some layers, which a test would then not see)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))


def smooth_input(gen, t, h, w):
    """Random content in [-1, 1] with structure at the coarse levels (a random 1/4 grid,
    trilinearly upsampled, plus a little noise)."""
    coarse = torch.rand((1, 3, t, h // 4, w // 4), generator=gen) * 2 - 1
    x = F.interpolate(coarse, size=(t, h, w), mode="trilinear", align_corners=False)
    return (x + 0.05 * (torch.rand(x.shape, generator=gen) * 2 - 1)).clamp(-1, 1)


def run_encoder(model, x):
    """WanVAE_.encode's loop on patchified `x`, leaving the cache filled; the conv1 output."""
    model.clear_cache()
    outs = []
    for i in range(1 + (x.shape[2] - 1) // 4):
        model._enc_conv_idx = [0]
        chunk = x[:, :, :1] if i == 0 else x[:, :, 1 + 4 * (i - 1):1 + 4 * i]
        outs.append(model.encoder(chunk, feat_cache=model._enc_feat_map,
                                  feat_idx=model._enc_conv_idx))
    return model.conv1(torch.cat(outs, 2))


def cache_bytes(cache):
    return sum(t.numel() * 4 for t in cache if isinstance(t, torch.Tensor))


def diffusers_names(pth):
    """diffusers' convert_vae_22 on `pth`, the function alone out of the conversion script."""
    tree = ast.parse(open(convert_py).read())
    keep = [n for n in tree.body if (isinstance(n, ast.FunctionDef) and n.name == "convert_vae_22")
            or (isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") ==
                "vae22_diffusers_config")]
    caught = {}

    class Catcher:
        def __init__(self, **config):
            pass

        def load_state_dict(self, state, strict, assign):
            caught.update(state)

    scope = {"torch": torch, "hf_hub_download": lambda repo, name: pth,
             "init_empty_weights": contextlib.nullcontext, "AutoencoderKLWan": Catcher}
    exec(compile(ast.Module(body=keep, type_ignores=[]), convert_py, "exec"), scope)
    scope["convert_vae_22"]()
    return caught


def main():
    mean, std = stats_of(open(os.path.join(vae_dir, "vae2_2.py")).read())
    assert len(mean) == len(std) == CONFIG["z_dim"]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(22)
    model = vae2_2.WanVAE_(**CONFIG).eval()
    randomise(model, gen)
    os.makedirs(os.path.join(out_dir, "diffusers"), exist_ok=True)
    state = model.state_dict()
    pth = os.path.join(out_dir, "weights.pth")
    torch.save(state, pth)
    renamed = diffusers_names(pth)
    assert len(renamed) == len(state)
    save_safetensors(os.path.join(out_dir, "diffusers", "diffusion_pytorch_model.safetensors"),
                     renamed, {"format": "pt"})
    config = {"_class_name": "AutoencoderKLWan", "base_dim": CONFIG["dim"],
              "decoder_base_dim": CONFIG["dec_dim"], "z_dim": CONFIG["z_dim"],
              "dim_mult": CONFIG["dim_mult"], "num_res_blocks": CONFIG["num_res_blocks"],
              "attn_scales": [], "temperal_downsample": CONFIG["temperal_downsample"],
              "dropout": 0.0, "is_residual": True, "in_channels": 12, "out_channels": 12,
              "patch_size": 2, "scale_factor_temporal": 4, "scale_factor_spatial": 16,
              "latents_mean": mean, "latents_std": std, "clip_output": False}
    with open(os.path.join(out_dir, "diffusers", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    scale = [torch.tensor(mean), 1 / torch.tensor(std)]
    summary = {}
    with torch.no_grad():
        for t, h, w in CASES:
            x = smooth_input(gen, t, h, w)
            patched = vae2_2.patchify(x, patch_size=2)
            mu, log_var = run_encoder(model, patched).chunk(2, dim=1)
            enc_cache = cache_bytes(model._enc_feat_map)
            assert torch.equal(mu, model.encode(x, [0.0, 1.0])), "run_encoder is WanVAE_.encode"
            mu_norm = model.encode(x, scale)
            recon = model.decode(mu, [0.0, 1.0])
            # decode clears its cache at the end: run its loop again for the cache's size.
            model.clear_cache()
            z = model.conv2(mu)
            for i in range(z.shape[2]):
                model._conv_idx = [0]
                model.decoder(z[:, :, i:i + 1], feat_cache=model._feat_map,
                              feat_idx=model._conv_idx, first_chunk=i == 0)
            dec_cache = cache_bytes(model._feat_map)
            model.clear_cache()
            name = f"case_{t}x{h}x{w}"
            save_safetensors(os.path.join(out_dir, name + ".safetensors"), {
                "input": x, "patched": patched, "mu": mu, "log_var": log_var,
                "mu_normalized": mu_norm, "reconstruction": recon,
            }, {"mean": json.dumps(mean), "std": json.dumps(std),
                "encoder_cache_bytes": str(enc_cache), "decoder_cache_bytes": str(dec_cache)})
            summary[name] = {"mu": list(mu.shape), "reconstruction": list(recon.shape),
                             "max|mu|": float(mu.abs().max()),
                             "max|recon|": float(recon.abs().max())}
    print(json.dumps(summary, indent=1))


main()
