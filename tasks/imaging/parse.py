"""Read an edit prompt ("grayscale, then rotate 90") into a list of operations."""

from __future__ import annotations

import functools

from tasks.core.errors import InstructionError
from tasks.imaging.grammar import PARSERS
from tasks.imaging.operation import GEOMETRY, MAX_SIDE, Operation
from tasks.imaging.steps import Step, split_steps
from tasks.imaging.tokens import Tokens, quote, tokenize
from tasks.imaging.words import FILLERS, KNOWN_WORDS, PHRASES, USAGE

__all__ = ["parse_instructions"]

_LONGEST_PHRASE = max(len(phrase) for phrase in PHRASES)
_PROMPTS = 256  # prompts whose operations a process keeps: a catalog repeats a few prompts over many rows


def parse_instructions(prompt: str) -> list[Operation]:
    """Parse a prompt into operations, without touching any image.

    Cheap enough to validate every prompt of a catalog before any work starts.

    Args:
        prompt: steps chained by commas, semicolons, sentence ends, "then" or "and".

    Returns:
        One operation per step, in order.

    Raises:
        InstructionError: a step could not be read (the message quotes it and lists the known
            words), an argument is out of range (the message gives the accepted range), or a
            size-changing step is limited to the mask.
    """
    return list(_parsed(prompt))  # a list of its own: the operations are frozen, the list is the caller's


@functools.lru_cache(maxsize=_PROMPTS)
def _parsed(prompt: str) -> tuple[Operation, ...]:
    """The prompt's operations, parsed once per process (a prompt that fails is not kept: it fails again)."""
    steps = split_steps(prompt)
    if not steps:
        raise InstructionError(
            f"prompt {quote(prompt)} has no edit steps; known words: {', '.join(KNOWN_WORDS)}",
            prompt=prompt,
        )
    return tuple(_read_step(step, prompt) for step in steps)


def _read_step(step: Step, prompt: str) -> Operation:
    words = [word for word in tokenize(step.text) if word not in FILLERS]
    found = _match_phrase(words)
    if found is None:
        raise _unreadable(step, prompt)
    start, length, name, direction = found
    # Words before the operation word are read as its arguments too: "20px white border",
    # "increase the contrast" (amount steps take "increase"/"reduce" as a direction).
    tokens = Tokens(words[:start] + words[start + length :], step.text, USAGE[name], MAX_SIDE)
    name, args = PARSERS[name](tokens, direction)
    operation = Operation(name, args, step.region, step.text)
    if step.region != "all" and not _keeps_size(operation):
        raise InstructionError(
            f"step {quote(step.text)}: {name} changes the image size, so it cannot be limited to the "
            "mask; move it before or after the masked steps (the mask follows size changes)",
            step=step.text,
        )
    return operation


def _match_phrase(words: list[str]) -> tuple[int, int, str, int] | None:
    """The first operation phrase in the words, longest at its place: (start, length, operation, direction)."""
    for start in range(len(words)):
        for length in range(min(_LONGEST_PHRASE, len(words) - start), 0, -1):
            found = PHRASES.get(tuple(words[start : start + length]))
            if found is not None:
                return start, length, found[0], found[1]
    return None


def _keeps_size(operation: Operation) -> bool:
    if operation.name == "rotate":
        return bool(operation.args[0] % 180 == 0)
    return operation.name not in GEOMETRY or operation.name in ("flip", "mirror")


def _unreadable(step: Step, prompt: str) -> InstructionError:
    return InstructionError(
        f"could not read {quote(step.text)} in prompt {quote(prompt)}; known words: {', '.join(KNOWN_WORDS)}",
        step=step.text,
        prompt=prompt,
    )
