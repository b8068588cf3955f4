"""StyleGAN2 checkpoint formats: rosinality/stylegan2-pytorch `.pt` and NVlabs stylegan2-ada-pytorch `.pkl`.

Both store the same tensors under different names and shapes (NVlabs' up-conv weights were flipped from
TF the same way rosinality's were), so each format is one key table plus reshapes. Widths, resolution,
mapping depth and W size are read from tensor shapes; a file never runs code (see models/generators/safe_pickle.py).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.generators.safe_pickle import EasyDict, Persistent, child, dump_nvlabs, flatten, load_restricted
from models.generators.stylegan2 import StyleGAN2, StyleGAN2Config, fir_kernel
from models.weights import (
    CheckpointError,
    check_tensors,
    existing_file,
    model_id,
    torch_load,
    whole_pickle_globals,
)

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # pickled torch.save magic number
_LAYER = ("weight", "bias", "affine.weight", "affine.bias", "noise_const", "noise_strength")
_NV_SRC = "from training.networks import *  # resolved in a stylegan2-ada-pytorch checkout\n"


def _rosinality_keys(cfg: StyleGAN2Config) -> dict[str, str]:
    """Our state-dict key -> rosinality key."""
    keys = {f"fcs.{i}.{p}": f"style.{i + 1}.{p}" for i in range(cfg.n_mlp) for p in ("weight", "bias")}
    keys["const"] = "input.input"
    for j in range(2 * len(cfg.channels) - 1):
        name = "conv1" if j == 0 else f"convs.{j - 1}"
        keys.update({f"convs.{j}.weight": f"{name}.conv.weight", f"convs.{j}.bias": f"{name}.activate.bias",
                     f"convs.{j}.affine.weight": f"{name}.conv.modulation.weight",
                     f"convs.{j}.affine.bias": f"{name}.conv.modulation.bias",
                     f"convs.{j}.noise_strength": f"{name}.noise.weight",
                     f"convs.{j}.noise_const": f"noises.noise_{j}"})
    for k in range(len(cfg.channels)):
        name = "to_rgb1" if k == 0 else f"to_rgbs.{k - 1}"
        keys.update({f"to_rgbs.{k}.weight": f"{name}.conv.weight", f"to_rgbs.{k}.bias": f"{name}.bias",
                     f"to_rgbs.{k}.affine.weight": f"{name}.conv.modulation.weight",
                     f"to_rgbs.{k}.affine.bias": f"{name}.conv.modulation.bias"})
    return keys


def _rosinality_filters(cfg: StyleGAN2Config) -> set[str]:
    """rosinality's stored FIR kernels: one per upsampling conv's blur and per upsampling ToRGB."""
    n = len(cfg.channels)
    return {f"convs.{j}.conv.blur.kernel" for j in range(0, 2 * n - 2, 2)} | {f"to_rgbs.{k}.upsample.kernel" for k in range(n - 1)}


def _nvlabs_keys(cfg: StyleGAN2Config) -> dict[str, str]:
    """Our state-dict key -> NVlabs G_ema key."""
    keys = {f"fcs.{i}.{p}": f"mapping.fc{i}.{p}" for i in range(cfg.n_mlp) for p in ("weight", "bias")}
    keys.update({"w_avg": "mapping.w_avg", "const": "synthesis.b4.const"})
    keys.update({f"convs.0.{p}": f"synthesis.b4.conv1.{p}" for p in _LAYER})
    for k, (res, _) in enumerate(cfg.channels):
        keys.update({f"to_rgbs.{k}.{p}": f"synthesis.b{res}.torgb.{p}" for p in _LAYER[:4]})
        if k:
            keys.update({f"convs.{2 * k - 1}.{p}": f"synthesis.b{res}.conv0.{p}" for p in _LAYER})
            keys.update({f"convs.{2 * k}.{p}": f"synthesis.b{res}.conv1.{p}" for p in _LAYER})
    return keys


def _nvlabs_filters(cfg: StyleGAN2Config) -> set[str]:
    """NVlabs' stored FIR filters: one per synthesis block and one per synthesis layer."""
    names = {f"synthesis.b{res}.{layer}resample_filter" for res, _ in cfg.channels for layer in ("", "conv1.")}
    return names | {f"synthesis.b{res}.conv0.resample_filter" for res, _ in cfg.channels[1:]}


def _layers(sd: dict[str, torch.Tensor], *names: str, start: int) -> int:
    """How many consecutive layers from index `start` hold every tensor of `names` (formatted with the index): a
    layer with only some of them is not counted, so its tensors are reported as unexpected, not others as missing."""
    n = start
    while all(name.format(n) in sd for name in names):
        n += 1
    return n - start


def _dim(sd: dict[str, torch.Tensor], key: str, axis: int, path: Path) -> int:
    """A size read from a tensor's shape; a tensor without that axis is a one-line CheckpointError."""
    if key not in sd:
        raise CheckpointError(f"{path}: tensor {key!r} is missing")
    if sd[key].ndim <= axis:
        raise CheckpointError(f"{path}: tensor {key!r} has shape {tuple(sd[key].shape)}, which has no axis {axis}")
    return int(sd[key].shape[axis])


def _same_names(theirs: dict[str, torch.Tensor], expected: set[str], path: Path, cfg: StyleGAN2Config) -> None:
    """Exactly the tensors this network has, as rosinality's strict load_state_dict demands: one missing or one
    extra (a layer the config does not have, or a stray tensor) is a one-line CheckpointError naming it."""
    missing, extra = sorted(expected - set(theirs)), sorted(set(theirs) - expected, key=str)
    more = lambda names: f" (and {len(names) - 1} more)" if len(names) > 1 else ""  # noqa: E731
    if missing:
        raise CheckpointError(f"{path}: tensor {missing[0]!r} is missing{more(missing)}")
    if extra:
        raise CheckpointError(f"{path}: unexpected tensor {extra[0]!r}{more(extra)}: not part of a StyleGAN2 of {cfg.resolution} px "
                              f"with {cfg.n_mlp} mapping layers")


def _build(cfg: StyleGAN2Config, theirs: dict[str, torch.Tensor], keys: dict[str, str], path: Path) -> StyleGAN2:
    """A frozen eval-mode generator whose tensors are `theirs` renamed by `keys` and reshaped to ours."""
    gen = StyleGAN2(cfg, generator_id=model_id(StyleGAN2.name, path))
    ours = gen.state_dict()
    for key, their_key in keys.items():
        t = theirs[their_key]
        if _core(t.shape) != _core(ours[key].shape):  # a transposed weight has the right size but renders garbage
            raise CheckpointError(f"{path}: tensor {their_key!r} has shape {tuple(t.shape)}, expected {tuple(ours[key].shape)}")
        ours[key] = t.reshape(ours[key].shape).float()
    gen.load_state_dict(ours)
    return gen.eval().requires_grad_(False)


def _core(shape: torch.Size) -> tuple[int, ...]:
    """A shape without its singleton axes: the formats differ from ours only there ((1, out, in, k, k) conv
    weights, (1, C, 1, 1) biases), so anything else is a wrong tensor."""
    return tuple(d for d in shape if d != 1)


def _config(path: Path, **fields: object) -> StyleGAN2Config:
    """The config the tensor shapes imply; an impossible one is a CheckpointError naming the file."""
    try:
        return StyleGAN2Config(**fields)
    except ValueError as e:
        raise CheckpointError(f"{path}: tensor shapes do not form a StyleGAN2 ({e})") from None


def _check_blur(taps: tuple[int, ...], found: torch.Tensor, gain: float, path: Path) -> None:
    """The checkpoint's stored FIR filter must be the one this network applies (no silent substitution)."""
    want = fir_kernel(taps, gain)
    if found.shape != want.shape or not torch.allclose(found.float(), want, atol=1e-6):
        raise CheckpointError(f"{path}: resampling filter is not {taps} (unsupported)")


def load_rosinality(path: str | Path) -> StyleGAN2:
    """rosinality/stylegan2-pytorch `.pt`: {"g_ema": state dict, optional "latent_avg"}; any size and widths.

    Without `latent_avg`, w_avg is estimated deterministically (StyleGAN2.estimate_w_avg, 4096 z, seed 0).
    lr_mlp is not stored in these files; rosinality's default 0.01 is assumed.
    """
    path = existing_file(path, "StyleGAN2 checkpoint")
    ckpt = torch_load(path, "torch checkpoint", safe=(argparse.Namespace,))  # training checkpoints hold `args`
    sd = ckpt.get("g_ema") if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or "style.1.weight" not in sd:
        keys = sorted(map(str, ckpt))[:6] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a rosinality StyleGAN2 checkpoint (no 'g_ema' generator; found {keys})")
    check_tensors(sd, path)
    avg = ckpt.get("latent_avg")
    if avg is not None:  # the truncation centre: a NaN one blackens every face drawn with psi < 1
        check_tensors({"latent_avg": avg}, path)
    n_mlp = _layers(sd, "style.{}.weight", "style.{}.bias", start=1)
    n_rgb = 1 + _layers(sd, "to_rgbs.{}.conv.weight", start=0)
    if not n_mlp:
        raise CheckpointError(f"{path}: g_ema lacks 'style.1.bias' (its first mapping layer is incomplete)")
    widths = [_dim(sd, "input.input", 1, path)] + [_dim(sd, f"to_rgbs.{k}.conv.weight", 2, path) for k in range(n_rgb - 1)]
    cfg = _config(path, resolution=2 ** (n_rgb + 1), z_dim=_dim(sd, "style.1.weight", 1, path),
                  w_dim=_dim(sd, f"style.{n_mlp}.weight", 0, path), n_mlp=n_mlp,
                  channels=tuple((2 ** (k + 2), int(c)) for k, c in enumerate(widths)))
    _same_names(sd, set(_rosinality_keys(cfg).values()) | _rosinality_filters(cfg), path, cfg)
    for key in _rosinality_filters(cfg):
        _check_blur(cfg.blur_kernel, sd[key], 4.0, path)
    if avg is not None and avg.numel() != cfg.w_dim:
        raise CheckpointError(f"{path}: latent_avg has shape {tuple(avg.shape)}, expected ({cfg.w_dim},)")
    gen = _build(cfg, sd, _rosinality_keys(cfg), path)
    if avg is None:
        gen.estimate_w_avg()
    else:
        gen.w_avg.copy_(avg.reshape(-1).float())
        gen.w_avg_source = "checkpoint latent_avg"
    return gen


def _attr(obj: Persistent, name: str, default: object) -> object:
    value = obj.state.get(name, default)
    return value.item() if isinstance(value, np.generic) else value


def load_nvlabs_pkl(path: str | Path) -> StyleGAN2:
    """NVlabs stylegan2-ada-pytorch network pickle (uses G_ema), read without running any code in it."""
    path = existing_file(path, "StyleGAN2 checkpoint")
    data = load_restricted(path)
    g = data.get("G_ema") if isinstance(data, dict) else None
    if not isinstance(g, Persistent):
        found = sorted(map(str, data))[:6] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path} is not an NVlabs network pickle (no 'G_ema' network; found {found})")
    sd = flatten(g)
    check_tensors(sd, path)  # w_avg included: the truncation centre
    if "mapping.embed.weight" in sd or _attr(g, "img_channels", 3) != 3:
        raise CheckpointError(f"{path}: conditional or non-RGB generators are not supported")
    n_mlp = _layers(sd, "mapping.fc{}.weight", "mapping.fc{}.bias", start=0)
    res = sorted(int(m[1]) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k)))
    if not n_mlp or not res or "synthesis.b4.resample_filter" not in sd:
        raise CheckpointError(f"{path}: G_ema is not a StyleGAN2 (no mapping.fc* / synthesis.b*.conv1; StyleGAN3 is unsupported)")
    if _attr(child(g, "synthesis.b4"), "architecture", "skip") != "skip":
        raise CheckpointError(f"{path}: only the 'skip' synthesis architecture (config F) is supported")
    layer_clamp = _attr(child(g, "synthesis.b4.conv1"), "conv_clamp", None)
    clamp = ((_attr(g, "_init_kwargs", None) or {}).get("synthesis_kwargs") or {}).get("conv_clamp", layer_clamp)
    cfg = _config(path, resolution=res[-1], z_dim=_dim(sd, "mapping.fc0.weight", 1, path),
                  w_dim=_dim(sd, f"mapping.fc{n_mlp - 1}.weight", 0, path), n_mlp=n_mlp,
                  lr_mlp=float(_attr(child(g, "mapping.fc0"), "bias_gain", 0.01)),
                  channels=tuple((r, _dim(sd, f"synthesis.b{r}.conv1.weight", 0, path)) for r in res),
                  conv_clamp=None if clamp is None else float(clamp))
    keys = _nvlabs_keys(cfg)
    if "mapping.w_avg" not in sd:  # trained with w_avg_beta=None: no tracked average
        del keys["w_avg"]
    _same_names(sd, set(keys.values()) | _nvlabs_filters(cfg), path, cfg)
    for key in _nvlabs_filters(cfg):
        _check_blur(cfg.blur_kernel, sd[key], 1.0, path)
    gen = _build(cfg, sd, keys, path)
    if "w_avg" in keys:
        gen.w_avg_source = "checkpoint mapping.w_avg"
    else:
        gen.estimate_w_avg()
    return gen


def load_generator(path: str | Path) -> StyleGAN2:
    """Either format, told apart by content: a torch file (zip or legacy) or an NVlabs pickle."""
    path = existing_file(path, "StyleGAN2 checkpoint")
    with open(path, "rb") as f:
        head = f.read(len(LEGACY_TORCH_MAGIC))
    if head.startswith(ZIP_MAGIC) or head == LEGACY_TORCH_MAGIC:
        return load_rosinality(path)
    if head[:1] == b"\x80" or _protocol0_pickle(path):
        return load_nvlabs_pkl(path)
    raise CheckpointError(f"{path} is neither a torch checkpoint nor a pickle (starts with {head[:4]!r})")


def _protocol0_pickle(path: Path) -> bool:
    """Whether the file opens with a whole pickle in protocols 0-1 (text opcodes, no PROTO byte to tell them by)."""
    with open(path, "rb") as f:
        return whole_pickle_globals(f) is not None


def save_rosinality(gen: StyleGAN2, path: str | Path) -> Path:
    """Write rosinality's layout {"g_ema", "latent_avg"}; rosinality's Generator loads it strictly."""
    cfg, ours = gen.cfg, {k: v.detach().cpu() for k, v in gen.state_dict().items()}
    sd = {their: ours[key] for key, their in _rosinality_keys(cfg).items()}
    for key in list(sd):
        t = sd[key]
        if key.endswith("conv.weight") or key == "input.input":
            sd[key] = t.unsqueeze(0)
        elif key.endswith("noise.weight"):
            sd[key] = t.reshape(1)
        elif key.startswith("noises."):
            sd[key] = t.reshape(1, 1, *t.shape)
        elif re.fullmatch(r"to_rgb(1|s\.\d+)\.bias", key):
            sd[key] = t.reshape(1, 3, 1, 1)
    kernel = fir_kernel(cfg.blur_kernel, 4.0)
    for key in sorted(_rosinality_filters(cfg)):
        sd[key] = kernel.clone()
    path = Path(path)
    torch.save({"g_ema": sd, "latent_avg": gen.w_avg.detach().cpu().clone()}, path)
    return path


def _module(class_name: str, attrs: dict, params: dict, buffers: dict, modules: dict, init: dict) -> Persistent:
    """An nn.Module __dict__ as NVlabs' persistent classes pickle it."""
    state = dict(nn.Module().__dict__, training=False, _init_args=(), _init_kwargs=init, **attrs)  # fresh containers
    state["_parameters"].update({k: nn.Parameter(v.detach().cpu().clone(), requires_grad=False) for k, v in params.items()})
    state["_buffers"].update({k: v.detach().cpu().clone() for k, v in buffers.items()})
    state["_modules"].update(modules)
    return Persistent(class_name, state, module_src=_NV_SRC)


def _fc(fc: nn.Module, act: str, lr: float, bias_init: float = 0.0) -> Persistent:
    d_out, d_in = fc.weight.shape
    attrs = dict(activation=act, weight_gain=lr / math.sqrt(d_in), bias_gain=lr)
    init = dict(in_features=d_in, out_features=d_out, activation=act, lr_multiplier=lr, bias_init=bias_init)
    return _module("FullyConnectedLayer", attrs, dict(weight=fc.weight, bias=fc.bias), {}, {}, init)


def _layer(conv: nn.Module, cfg: StyleGAN2Config, res: int, up: int, flt: torch.Tensor) -> Persistent:
    c_out, c_in = conv.weight.shape[:2]
    attrs = dict(resolution=res, up=up, use_noise=True, activation="lrelu", conv_clamp=cfg.conv_clamp,
                 padding=1, act_gain=math.sqrt(2.0))
    params = dict(weight=conv.weight, noise_strength=conv.noise_strength, bias=conv.bias)
    init = dict(in_channels=c_in, out_channels=c_out, w_dim=cfg.w_dim, resolution=res, up=up,
                resample_filter=list(cfg.blur_kernel), conv_clamp=cfg.conv_clamp, channels_last=False)
    buffers = dict(resample_filter=flt, noise_const=conv.noise_const)
    return _module("SynthesisLayer", attrs, params, buffers, dict(affine=_fc(conv.affine, "linear", 1.0, 1.0)), init)


def _block(gen: StyleGAN2, k: int, res: int, c_in: int, flt: torch.Tensor) -> Persistent:
    cfg, rgb = gen.cfg, gen.to_rgbs[k]
    c_out = rgb.weight.shape[1]
    torgb = _module("ToRGBLayer", dict(conv_clamp=cfg.conv_clamp, weight_gain=1 / math.sqrt(c_out)),
                    dict(weight=rgb.weight, bias=rgb.bias), {}, dict(affine=_fc(rgb.affine, "linear", 1.0, 1.0)),
                    dict(in_channels=c_out, out_channels=3, w_dim=cfg.w_dim, conv_clamp=cfg.conv_clamp))
    mods = {"conv1": _layer(gen.convs[2 * k], cfg, res, 1, flt), "torgb": torgb}
    if k:
        mods = {"conv0": _layer(gen.convs[2 * k - 1], cfg, res, 2, flt), **mods}
    attrs = dict(in_channels=c_in, w_dim=cfg.w_dim, resolution=res, img_channels=3, is_last=res == cfg.resolution,
                 architecture="skip", use_fp16=False, channels_last=False, num_conv=2 if k else 1, num_torgb=1)
    init = dict(in_channels=c_in, out_channels=c_out, w_dim=cfg.w_dim, resolution=res, img_channels=3,
                is_last=res == cfg.resolution, conv_clamp=cfg.conv_clamp, resample_filter=list(cfg.blur_kernel))
    return _module("SynthesisBlock", attrs, dict(const=gen.const) if not k else {}, dict(resample_filter=flt), mods, init)


def save_nvlabs_pkl(gen: StyleGAN2, path: str | Path) -> Path:
    """Write {"G", "G_ema"} (the same network; no discriminator) as NVlabs' persistent-class pickle."""
    cfg, flt = gen.cfg, fir_kernel(gen.cfg.blur_kernel, 1.0)
    log2 = int(math.log2(cfg.resolution))
    blocks = {f"b{r}": _block(gen, k, r, 0 if not k else dict(cfg.channels)[r // 2], flt)
              for k, (r, _) in enumerate(cfg.channels)}
    synthesis = _module("SynthesisNetwork", dict(w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_resolution_log2=log2,
                        img_channels=3, block_resolutions=[r for r, _ in cfg.channels], num_ws=cfg.num_ws), {}, {}, blocks,
                        dict(w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=3))
    mkw = dict(num_layers=cfg.n_mlp, lr_multiplier=cfg.lr_mlp)
    mapping = _module("MappingNetwork", dict(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, num_ws=cfg.num_ws,
                      num_layers=cfg.n_mlp, w_avg_beta=0.995), {}, dict(w_avg=gen.w_avg),
                      {f"fc{i}": _fc(fc, "lrelu", cfg.lr_mlp) for i, fc in enumerate(gen.fcs)},
                      dict(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, num_ws=cfg.num_ws, **mkw))
    top, width = cfg.channels[-1]
    skw = EasyDict(channel_base=top * width, channel_max=max(c for _, c in cfg.channels), num_fp16_res=0,
                   conv_clamp=cfg.conv_clamp)
    init = dict(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=3,
                mapping_kwargs=EasyDict(mkw), synthesis_kwargs=skw)
    g = _module("Generator", dict(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
                img_channels=3, num_ws=cfg.num_ws), {}, {}, dict(synthesis=synthesis, mapping=mapping), init)
    path = Path(path)
    dump_nvlabs({"G": g, "G_ema": g, "augment_pipe": None, "training_set_kwargs": None}, path)
    return path
