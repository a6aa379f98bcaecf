"""The report's prose: explanations, with every finding in them taken from the numbers given."""

def commutativity_explanation(pool_diff: float, conv_diff: float) -> str:
    """Why pooling and ReLU commute and a convolution does not, set against what was measured."""
    pool = ("the difference map of the experiment is exactly zero." if pool_diff == 0 else
            f"yet the experiment's orders differ by up to {pool_diff:.3g}: one of our layers "
            "does not compute what it should.")
    conv = (f"The experiment's two orders differ by up to {conv_diff:.3g}." if conv_diff else
            "On this input the two orders happen to agree; other inputs or weights tell them "
            "apart.")
    return f"""\
**Why max-pooling and ReLU commute.** ReLU, `r(v) = max(v, 0)`, is monotone non-decreasing:
`a <= b` implies `r(a) <= r(b)`. Such a function passes through a maximum, `max_i r(v_i) =
r(max_i v_i)`: the largest value of a window stays the largest after ReLU (ReLU can only add
ties at zero, and tied values are equal). Both orders merely select and clamp values that are
already there, with no arithmetic, so pool-then-ReLU and ReLU-then-pool should agree bit for bit:
{pool}

**Why a convolution and ReLU do not.** A convolution is a weighted sum `sum_i w_i v_i + b` with
weights of both signs, and ReLU does not pass through sums: `r(a + b) != r(a) + r(b)` when `a`
and `b` differ in sign, and `r(-a) != -r(a)`. Applied first, ReLU throws away the negative
inputs that a negative weight would have turned into positive contributions; applied after, it
clamps the finished sum. {conv}

**Consequence for network design.** Since the order of max-pooling and ReLU does not change the
result, take the cheaper one: pool first, so ReLU (and its backward) runs on the pooled map --
with a 3x3, stride-2 pool, 12x12 instead of 26x26 values, 4.7x fewer. The assignment network
does this (Conv2d -> MaxPool2d -> ReLU). For a convolution the order is a modelling choice, not
an optimisation: moving ReLU across it changes the function the network computes. (The same
holds for average pooling, which is linear.)"""


BASELINE_NOTE = (" (the hand-picked baseline enqueued as trial 0: no configuration drawn by the "
                 "sampler beat it within this budget)")

UPPER_BODY = {"T-shirt/top", "Pullover", "Coat", "Shirt", "Dress"}
UPPER_BODY_NOTE = (" These are upper-body garments of the same outline: at 28x28 grey levels what "
                   "tells them apart is collars, buttons, sleeve length and texture, details a "
                   "few pixels wide, which downsampling in the network blurs first.")

def differences(backend: str, device: str) -> str:
    """What differs between the two trainings: only the arithmetic of `backend` on `device`."""
    return ("Both networks start from the same weights (the custom one receives a copy of the "
            "torch one's initial parameters) and see the same batches in the same order (one "
            "seeded generator shuffles each epoch). What remains is the order in which each "
            f"implementation sums its products on the {device}: unfold + matrix multiply in ours, "
            f"{backend} in PyTorch's, each rounding differently at about 1e-7 relative per "
            "operation.")


def speed_note(timings: str) -> str:
    """Where the seconds are, since the report leaves them out; `timings` relative to it."""
    return ("Speed is not part of this report, since it varies from run to run and machine to "
            "machine: each training run writes its seconds per epoch to the untracked "
            f"[`timings/`]({timings}/) folder, and `make bench` times both implementations step "
            "for step (`benchmarks/results/ops.json`).")
