"""Random training-time augmentation of image batches: mirror and shift, seeded."""

from __future__ import annotations

import torch


class FlipShift:
    """Mirror each image left-right with probability 1/2 and shift it by up to `shift` pixels.

    Fashion-MNIST items are centred and upright, so small shifts and left-right mirrors give
    plausible new samples; vertical flips would not.
    """

    def __init__(self, shift: int = 2, generator: torch.Generator | None = None) -> None:
        self.shift = shift
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch [N, C, H, W]; a new random draw each call."""
        n, _, h, w = x.shape
        flip = torch.rand(n, generator=self.generator).to(x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if self.shift == 0:
            return x
        s = self.shift
        padded = torch.nn.functional.pad(x, (s, s, s, s))  # (N, C, H+2s, W+2s), zero background
        dy, dx = torch.randint(0, 2 * s + 1, (2, n), generator=self.generator).to(x.device)
        rows = dy[:, None] + torch.arange(h, device=x.device)  # (N, H)
        cols = dx[:, None] + torch.arange(w, device=x.device)  # (N, W)
        batch = torch.arange(n, device=x.device)[:, None, None]  # (N, 1, 1)
        # advanced indexing puts the indexed dims first: (N, H, W, C) -> (N, C, H, W)
        return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(
            0, 3, 1, 2)
