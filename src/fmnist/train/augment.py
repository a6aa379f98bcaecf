"""Random training-time augmentation of image batches: mirror, shift, erase; all seeded."""

import torch


class FlipShift:
    """Mirror each image left-right with probability 1/2 and shift it by up to `shift` pixels
    (Fashion-MNIST items are centred and upright: vertical flips would not be plausible)."""

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


class RandomErasing:
    """Random erasing (Zhong et al., 2020): with probability `p`, a rectangle of U(`area`) of the
    image, aspect log-uniform in `ratio`, becomes noise: no region (a collar) can be relied on."""

    def __init__(self, p: float = 0.5, area: tuple[float, float] = (0.02, 0.25),
                 ratio: tuple[float, float] = (0.3, 3.3),
                 generator: torch.Generator | None = None) -> None:
        if not 0.0 <= p <= 1.0 or not 0.0 < area[0] <= area[1] <= 1.0:
            raise ValueError(f"RandomErasing: need 0 <= p <= 1 and 0 < area <= 1, got p={p}, "
                             f"area={area}")
        self.p, self.area, self.ratio, self.generator = p, area, ratio, generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Erase in a batch [N, C, H, W]; a new random draw each call."""
        if self.p == 0:
            return x
        n, _, h, w = x.shape
        g = self.generator
        area = torch.empty(n).uniform_(*self.area, generator=g) * (h * w)  # (N,) pixels
        aspect = torch.empty(n).uniform_(*torch.tensor(self.ratio).log().tolist(), generator=g)
        tall = (area * aspect.exp()).sqrt().round().clamp(1, h).long()  # (N,) rectangle height
        wide = (area / aspect.exp()).sqrt().round().clamp(1, w).long()  # (N,) rectangle width
        top = (torch.rand(n, generator=g) * (h - tall + 1)).long()
        left = (torch.rand(n, generator=g) * (w - wide + 1)).long()
        on = torch.rand(n, generator=g) < self.p
        rows, cols = torch.arange(h), torch.arange(w)
        inside_rows = (rows >= top[:, None]) & (rows < (top + tall)[:, None])  # (N, H)
        inside_cols = (cols >= left[:, None]) & (cols < (left + wide)[:, None])  # (N, W)
        mask = inside_rows[:, :, None] & inside_cols[:, None, :] & on[:, None, None]  # (N, H, W)
        noise = torch.rand(x.shape, generator=g)
        return torch.where(mask[:, None].to(x.device), noise.to(x.device, x.dtype), x)

