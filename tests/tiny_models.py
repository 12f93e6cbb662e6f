"""Tiny super-resolution models with fixed weights, built in the tests (no download)."""

from __future__ import annotations


def make_compact(scale: int = 2, num_conv: int = 2, num_feat: int = 8, seed: int = 0):
    """A small SRVGGNetCompact with fixed random weights (receptive radius: num_conv + 2 input pixels)."""
    import torch
    from spandrel import ModelLoader
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    net = Compact(num_feat=num_feat, num_conv=num_conv, upscale=scale)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return ModelLoader().load_from_state_dict(net.state_dict())
