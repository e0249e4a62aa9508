"""The parsed form of one edit step, and the per-call state the operations share."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.core.errors import InstructionError
from tasks.imaging.tokens import quote

__all__ = ["GEOMETRY", "MAX_PIXELS", "MAX_SIDE", "REGIONS", "Context", "Operation", "step_error"]

#: Largest output side any step may produce; keeps a typo ("scale 10000%") from eating the memory.
MAX_SIDE = 16384
#: Largest output area (64 Mpx, about 200 MB as RGB): a long thin image may not dodge MAX_SIDE's purpose.
MAX_PIXELS = 64 * 1024 * 1024

#: Where a step applies: the whole image, only inside the mask (white), or only outside it.
REGIONS = ("all", "inside", "outside")

#: Operations that move pixels around; the mask (when there is one) is moved with the image.
GEOMETRY = frozenset({"rotate", "flip", "mirror", "crop", "random_crop", "resize", "fit", "scale", "pad"})


@dataclass(frozen=True)
class Operation:
    """One step of an edit prompt, e.g. ``Operation("blur", (2.0,))``.

    Attributes:
        name: canonical operation name (``blur``, ``crop``, ``random_crop``, ...).
        args: the step's parsed arguments, in the order the operation expects them.
        region: ``all``, ``inside`` (only where the mask is white) or ``outside``.
        text: the words the step was read from, quoted in errors found while applying it.
    """

    name: str
    args: tuple[Any, ...] = ()
    region: str = "all"
    text: str = field(default="", compare=False)

    @property
    def needs_mask(self) -> bool:
        """Whether the step can only run when a mask is given."""
        return self.region != "all" or self.name == "inpaint"


class Context:
    """Randomness for one call: created per call from the seed, so a seed reproduces the output.

    Each generator is made on first use: most prompts draw nothing, and seeding both costs more than a
    thumbnail's whole edit.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng: random.Random | None = None
        self._np_rng: np.random.Generator | None = None

    @classmethod
    def from_seed(cls, seed: int) -> Context:
        """Build both generators from one seed (any int; negative seeds differ from positive ones)."""
        # numpy rejects negative seeds and random.Random(-n) equals random.Random(n); fold into 64 bits.
        return cls(seed % 2**64)

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    @property
    def np_rng(self) -> np.random.Generator:
        if self._np_rng is None:
            self._np_rng = np.random.default_rng(self._seed)
        return self._np_rng


def step_error(operation: Operation, problem: str) -> InstructionError:
    """An InstructionError for a step that parsed but cannot run on this image (e.g. crop too large)."""
    return InstructionError(f"step {quote(operation.text)}: {problem}", step=operation.text)
