"""Safe, human-readable names inside an export, derived from row id, variant and seed — never from a catalog path."""

from __future__ import annotations

import hashlib
import json
import re

__all__ = ["sample_key", "source_name"]

# Letters, digits and '-' only: '/' and '..' cannot occur, and no '.' either, because WebDataset reads
# everything after a member name's first dot as the field name ("KEY.src.png" → key, "src.png").
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_PART_CHARS = 48  # each part is capped, so a key stays short whatever the row id holds
_HASH_CHARS = 10  # 40 bits: only names whose readable parts collide need it to differ


def _clean(text: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("-", text).strip("-")[:_PART_CHARS].strip("-")
    return cleaned or fallback


def _digest(*parts: object) -> str:
    # JSON keeps the parts apart: ("a_b", "c") and ("a", "b_c") hash differently.
    text = json.dumps(parts, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]


def sample_key(row_id: str, variant: str, seed: int | None, output_index: int | None) -> str:
    """The key of one exported edit, e.g. `SKU-1014_mono_s1_0_3fa9c2d1e0`.

    The readable part is sanitised and length-capped; the hash of the exact (row id, variant, seed,
    index) keeps two edits whose readable parts look alike apart.

    Args:
        row_id: the catalog row id (any text).
        variant: the edit variant's name.
        seed: the job's seed (None for providers without one).
        output_index: which output of the request (None for a job without an output).

    Returns:
        A name of letters, digits, '-' and '_' only, at most ~170 characters.
    """
    seed_part = "sx" if seed is None else f"s{seed}"
    index_part = "x" if output_index is None else str(output_index)
    readable = "_".join((_clean(row_id, "row"), _clean(variant, "variant"), seed_part, index_part))
    return f"{readable}_{_digest(row_id, variant, seed, output_index)}"


def source_name(row_id: str) -> str:
    """The file-name stem of a row's source image, e.g. `SKU-1014_src_5be1c0a7d2`."""
    return f"{_clean(row_id, 'row')}_src_{_digest(row_id)}"
