"""The instruction language: steps, fillers, amounts, scopes and the errors it gives."""

from __future__ import annotations

import pickle

import pytest

from tasks.core.errors import InstructionError
from tasks.imaging import KNOWN_WORDS, Operation, parse_instructions


def names(prompt: str) -> list[str]:
    return [operation.name for operation in parse_instructions(prompt)]


def only(prompt: str) -> Operation:
    (operation,) = parse_instructions(prompt)
    return operation


def test_steps_chain_on_commas_semicolons_then_and_sentences() -> None:
    prompt = "Grayscale, then rotate 90; blur 3 and invert. Sepia"
    assert names(prompt) == ["grayscale", "rotate", "blur", "invert", "sepia"]


def test_case_and_filler_words_are_tolerated() -> None:
    assert names("Please make the image Black and White") == ["grayscale"]
    assert names("apply a sepia filter") == ["sepia"]
    assert names("black & white & invert") == ["grayscale", "invert"]
    assert only("resize to 64\u00d748") == Operation("resize", (64, 48))
    assert names("add some gaussian noise") == ["noise"]
    assert only("scale the image by 50%") == Operation("scale", (0.5,))


def test_words_before_the_operation_word_are_its_arguments() -> None:
    assert only("add a 20px red border") == Operation(
        "pad", ("px", 20, ("left", "top", "right", "bottom"), (255, 0, 0, 255))
    )
    assert only("5px blur") == Operation("blur", (5.0,))
    with pytest.raises(InstructionError, match='step "increase the blur": could not read "increase"'):
        parse_instructions("increase the blur")


def test_commas_inside_a_crop_box_do_not_split_steps() -> None:
    assert parse_instructions("crop 10, 5, 50, 40, then invert") == [
        Operation("crop", ("box", 10, 5, 50, 40)),
        Operation("invert"),
    ]


@pytest.mark.parametrize(
    ("prompt", "factor"),
    [
        ("brightness 1.3", 1.3),
        ("brightness +30%", 1.3),
        ("brightness -20%", 0.8),
        ("brightness 130%", 1.3),
        ("brightness +0.3", 1.3),
        ("brighten", 1.2),
        ("make it darker", 0.8),
        ("darken 50%", 0.5),
        ("increase the brightness by 30%", 1.3),
        ("reduce contrast by 20%", 0.8),
        ("more saturation", 1.2),
        ("contrast higher", 1.2),
        ("sharpen", 2.0),
        ("sharpen 50%", 1.5),
    ],
)
def test_amounts_read_as_factors(prompt: str, factor: float) -> None:
    assert only(prompt).args[0] == pytest.approx(factor)


@pytest.mark.parametrize(
    ("prompt", "degrees"),
    [
        ("rotate 90", 90),
        ("rotate -90", 270),
        ("rotate 90 degrees clockwise", 270),
        ("rotate left", 90),
        ("rotate right", 270),
        ("rotate 45°", 45),
        ("rotate 180", 180),
    ],
)
def test_rotate_angles_are_counter_clockwise_in_0_to_360(prompt: str, degrees: float) -> None:
    assert only(prompt) == Operation("rotate", (degrees,))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("flip", Operation("flip")),
        ("flip vertically", Operation("flip")),
        ("flip horizontal", Operation("mirror")),
        ("mirror", Operation("mirror")),
        ("crop center 32x24", Operation("crop", ("size", 32, 24))),
        ("crop to 32 x 24", Operation("crop", ("size", 32, 24))),
        ("crop 50%", Operation("crop", ("percent", 50.0))),
        ("random crop 32x24", Operation("random_crop", ("size", 32, 24))),
        ("resize to 20 by 30", Operation("resize", (20, 30))),
        ("resize 50%", Operation("scale", (0.5,))),
        ("fit 32x32", Operation("fit", (32, 32))),
        ("scale 2x", Operation("scale", (2.0,))),
        ("posterize 2", Operation("posterize", (2,))),
        ("posterize to 4 levels", Operation("posterize", (2,))),
        ("blur", Operation("blur", (2.0,))),
        ("gaussian blur 3px", Operation("blur", (3.0,))),
        ("noise 5", Operation("noise", (5.0,))),
        ("random color", Operation("jitter", (0.2,))),
        ("jitter 30%", Operation("jitter", (0.3,))),
    ],
)
def test_step_forms(prompt: str, expected: Operation) -> None:
    assert only(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "args"),
    [
        ("pad 10px", ("px", 10, ("left", "top", "right", "bottom"), (255, 255, 255, 255))),
        ("pad left and right 20 pixels with red", ("px", 20, ("left", "right"), (255, 0, 0, 255))),
        ("extend the image by 10% on top with mirror fill", ("%", 10.0, ("top",), "mirror")),
        ("outpaint to 128x96 with blur", ("to", (128, 96), ("left", "top", "right", "bottom"), "blur")),
        ("pad 4 vertically #00ff00", ("px", 4, ("top", "bottom"), (0, 255, 0, 255))),
        ("pad 3px transparent", ("px", 3, ("left", "top", "right", "bottom"), (0, 0, 0, 0))),
        ("pad 3px edge", ("px", 3, ("left", "top", "right", "bottom"), "edge")),
    ],
)
def test_pad_forms(prompt: str, args: tuple[object, ...]) -> None:
    assert only(prompt) == Operation("pad", args)


def test_mask_scopes() -> None:
    assert [op.region for op in parse_instructions("inside the mask: blur 4, then invert")] == ["inside"] * 2
    assert [op.region for op in parse_instructions("blur 2 in the mask, invert")] == ["inside", "all"]
    assert [op.region for op in parse_instructions("outside the mask: grayscale")] == ["outside"]
    scoped = parse_instructions("inside mask: invert; everywhere: blur")
    assert [op.region for op in scoped] == ["inside", "all"]
    assert only("remove the masked object") == Operation("inpaint", (3.0,), region="inside")
    assert only("erase").needs_mask and only("in the mask blur").needs_mask
    assert not only("blur").needs_mask


def test_size_changing_steps_cannot_be_limited_to_the_mask() -> None:
    with pytest.raises(InstructionError, match="changes the image size"):
        parse_instructions("inside the mask: rotate 90")
    assert only("inside the mask: rotate 180").region == "inside"


def test_unknown_text_is_quoted_with_the_known_words() -> None:
    with pytest.raises(InstructionError) as caught:
        parse_instructions("grayscale, then make it pop")
    message = str(caught.value)
    assert 'could not read "make it pop"' in message
    assert all(word in message for word in KNOWN_WORDS)
    assert caught.value.step == "make it pop"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("posterize 12", "from 1 to 8, got 12"),
        ("rotate abc", 'could not read "abc"'),
        ("rotate 400", "from -360 to 360"),
        ("blur -1", "from 0 to 100"),
        ("blur 3 quickly", 'could not read "quickly"'),
        ("scale 5000%", "from 1 to 1000"),
        ("resize 0x10", "from 1 to 16384"),
        ("brightness", "needs an amount"),
        ("darken 150%", "from 0 to 10"),
        ("pad red", "needs an amount"),
        ("the sky blur", 'could not read "sky"'),
        ("posterize 3 levels", "power of two"),
        ("inpaint 0", "from 1 to 50"),
    ],
)
def test_bad_arguments_name_the_step_and_the_range(prompt: str, expected: str) -> None:
    with pytest.raises(InstructionError, match="write it as") as caught:
        parse_instructions(prompt)
    assert f'step "{prompt}"' in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize("prompt", ["", "  ", ", ;", "please"])
def test_prompts_without_steps_are_refused(prompt: str) -> None:
    with pytest.raises(InstructionError, match="known words"):
        parse_instructions(prompt)


def test_known_words_are_sorted_op_words() -> None:
    assert list(KNOWN_WORDS) == sorted(KNOWN_WORDS)
    for word in ("grayscale", "sepia", "invert", "blur", "rotate", "crop", "random crop", "pad", "inpaint"):
        assert word in KNOWN_WORDS


def test_operations_compare_by_value_and_errors_pickle() -> None:
    assert parse_instructions("blur 3") == parse_instructions("BLUR 3px")
    with pytest.raises(InstructionError) as caught:
        parse_instructions("make it pop")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value) and copy.step == "make it pop"
