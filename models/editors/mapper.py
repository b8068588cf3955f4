"""The Latent-To-Latent mapper (Khodadadeh et al., WACV 2022): w' = w + sum_k gain * delta_k * D_k(w, a, delta).

The network outputs one latent direction field D_k per attribute and the edit is their sum weighted by the
requested change (in fractions of each attribute's range): delta = 0 returns w exactly (the paper's identity
loss holds by construction), small requests move w proportionally, and multi-attribute requests compose.
A plain residual w + f(...) sat at a tiny edit under the same critic (it had to learn to stay still at
delta = 0 and to move at delta != 0 from the same weights)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.weights import CheckpointError, check_tensors, existing_file, fetch

FORMAT = "latent2latent-mapper/2"  # /1 was the plain residual w + f(w, a, delta): retrain those


@dataclass(frozen=True)
class MapperConfig:
    """Architecture of the mapper; everything needed to rebuild it from its export."""

    latent_shape: tuple[int, ...]  # (w_dim,) for W and the DCGAN's z, (num_ws, w_dim) for W+
    attributes: tuple[str, ...]  # attribute names, in the order of a and delta_a
    attr_scale: tuple[float, ...] = ()  # a and delta_a are divided by these (attribute ranges); () = 1
    hidden: int = 512  # width of the hidden layers
    depth: int = 4  # number of linear layers (>= 2)
    gain: float = 10.0  # latent step per unit of requested change (a fraction of the range) at init scale

    def __post_init__(self) -> None:
        if len(self.latent_shape) not in (1, 2) or min(self.latent_shape) < 1:
            raise ValueError(f"latent_shape must be (w_dim,) or (num_ws, w_dim), got {self.latent_shape}")
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"attributes must be non-empty and unique, got {self.attributes}")
        if self.attr_scale and (len(self.attr_scale) != len(self.attributes) or min(self.attr_scale) <= 0):
            raise ValueError(f"attr_scale needs one positive value per attribute, got {self.attr_scale}")
        if self.gain <= 0:
            raise ValueError(f"gain must be positive, got {self.gain}")
        if self.depth < 2 or self.hidden < 1:
            raise ValueError(f"need depth >= 2 and hidden >= 1, got depth={self.depth} hidden={self.hidden}")

    @property
    def latent_size(self) -> int:
        return int(torch.Size(self.latent_shape).numel())


class Mapper(nn.Module):
    """Fully connected on [flatten(w), a, delta_a] -> one direction field per attribute, scaled by delta_a.

    The last layer starts at zero, so an untrained mapper is the identity for every delta_a.
    """

    def __init__(self, cfg: MapperConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k = len(cfg.attributes)
        sizes = [cfg.latent_size + 2 * k] + [cfg.hidden] * (cfg.depth - 1) + [k * cfg.latent_size]
        layers: list[nn.Module] = []
        for cin, cout in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(cin, cout), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers[:-1])
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("scale", torch.tensor(cfg.attr_scale or (1.0,) * k, dtype=torch.float32), persistent=False)

    def forward(self, w: torch.Tensor, attrs: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        n, k = w.shape[0], len(self.cfg.attributes)
        if tuple(w.shape[1:]) != self.cfg.latent_shape:
            raise ValueError(f"mapper expects latents of shape (N, {', '.join(map(str, self.cfg.latent_shape))}), got {tuple(w.shape)}")
        if attrs.shape != (n, k) or delta.shape != (n, k):
            raise ValueError(f"mapper expects attributes and delta of shape ({n}, {k}), got {tuple(attrs.shape)} and {tuple(delta.shape)}")
        step = delta.to(w.dtype) / self.scale  # fractions of each attribute's range
        x = torch.cat([w.reshape(n, -1), attrs.to(w.dtype) / self.scale, step], dim=1)
        fields = self.net(x).view(n, k, -1)
        return w + self.cfg.gain * (step.unsqueeze(2) * fields).sum(1).view_as(w)


def save_mapper(mapper: Mapper, out_dir: str | Path, metadata: dict) -> Path:
    """Write mapper.safetensors + mapper.json (architecture + provenance) atomically into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = dataclasses.asdict(mapper.cfg)
    doc = {"format": FORMAT, "architecture": arch, **metadata}
    tmp_w, tmp_j = out / ".mapper.safetensors.tmp", out / ".mapper.json.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in mapper.state_dict().items()}, str(tmp_w))
    tmp_j.write_text(json.dumps(doc, indent=2, sort_keys=True))
    tmp_w.chmod(tmp_j.stat().st_mode & 0o777)  # safetensors writes 0600; an export is shared like the rest
    tmp_w.replace(out / "mapper.safetensors")
    tmp_j.replace(out / "mapper.json")  # the JSON last: it is what makes the export exist
    return out


def load_mapper(export_dir: str | Path) -> tuple[Mapper, dict]:
    """Rebuild a mapper from its export (a directory or a URI such as s3://...); returns (mapper in eval mode, the
    JSON document)."""
    d = fetch(export_dir, "mapper export")
    meta_path = existing_file(d / "mapper.json", "mapper export (mapper.json)")
    weights = existing_file(d / "mapper.safetensors", "mapper weights (mapper.safetensors)")
    try:
        doc = json.loads(meta_path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, this code reads {FORMAT!r} (retrain the mapper)")
        arch = doc["architecture"]
        cfg = MapperConfig(
            latent_shape=tuple(arch["latent_shape"]), attributes=tuple(arch["attributes"]),
            attr_scale=tuple(arch.get("attr_scale", ())), hidden=int(arch["hidden"]), depth=int(arch["depth"]),
            gain=float(arch["gain"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{meta_path} is not a mapper export: {e}") from None
    mapper = Mapper(cfg)
    try:
        state = load_file(str(weights))
    except Exception as e:
        raise CheckpointError(f"cannot load {weights}: {str(e).splitlines()[0]}") from None
    check_tensors(state, weights)  # a NaN weight would turn every edit into NaN; an integer one would be cast silently
    try:
        mapper.load_state_dict(state)
    except Exception as e:
        raise CheckpointError(f"cannot load {weights}: {str(e).splitlines()[0]}") from None
    return mapper.eval(), doc


def request(mapper: Mapper, n: int, changes: dict[str, float]) -> torch.Tensor:
    """(n, k) delta for `changes` {attribute: change in its units}; unknown names are a one-line error."""
    unknown = sorted(set(changes) - set(mapper.cfg.attributes))
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r} for this mapper (it edits: {', '.join(mapper.cfg.attributes)})")
    return torch.tensor([[changes.get(a, 0.0) for a in mapper.cfg.attributes]] * n, dtype=torch.float32)


@torch.no_grad()
def edit_in_passes(mapper: Mapper, w: torch.Tensor, attrs: torch.Tensor, delta: torch.Tensor, passes: int,
                   read: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """passes = 1 is the paper's one forward pass. More passes re-read the attributes with `read` (latents ->
    (N, k) in the mapper's order) and ask each time for what is left of the requested change."""
    if passes < 1 or (passes > 1 and read is None):
        raise ValueError(f"passes must be >= 1 (and > 1 needs a reader), got {passes}")
    from models.attributes import attribute

    spans = [attribute(a) for a in mapper.cfg.attributes]
    low, high = (torch.tensor([getattr(s, k) for s in spans], dtype=attrs.dtype) for k in ("low", "high"))
    target, asked = torch.minimum(torch.maximum(attrs + delta, low), high), delta != 0
    w1 = mapper(w, attrs, delta)
    for _ in range(passes - 1):
        now = read(w1)
        w1 = mapper(w1, now, torch.where(asked, target - now, torch.zeros_like(now)))
    return w1
