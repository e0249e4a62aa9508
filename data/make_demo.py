"""Make the demo catalog: 20 small synthetic product shots, a few masks, and catalog.parquet.

Run `python data/make_demo.py`; the output is committed so the demo needs no network and no script run.
Deterministic: the same script always writes the same pixels.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).parent / "demo"
SIZE = (192, 144)
PRODUCTS = [
    ("mug", "circle"),
    ("sneaker", "blob"),
    ("lamp", "triangle"),
    ("vase", "ellipse"),
    ("watch", "ring"),
    ("bag", "rect"),
    ("hat", "ellipse"),
    ("chair", "rect"),
    ("bottle", "rect"),
    ("plant", "blob"),
    ("clock", "ring"),
    ("bowl", "ellipse"),
    ("shirt", "rect"),
    ("cap", "triangle"),
    ("kettle", "circle"),
    ("glasses", "ring"),
    ("book", "rect"),
    ("candle", "triangle"),
    ("scarf", "blob"),
    ("headphones", "ring"),
]
INSTRUCTIONS = [
    "brighten 20%, then saturation 1.4",
    "contrast +30%",
    "sharpen, then brightness 1.1",
    "blur 1.5",
    "sepia",
    "saturation -40%",
    "posterize 3",
    "mirror",
    "brighten 10%, then contrast 1.2",
    "grayscale",
]


def product_image(index: int, shape: str) -> Image.Image:
    rng = random.Random(index)
    top = tuple(rng.randint(180, 250) for _ in range(3))
    bottom = tuple(max(0, c - rng.randint(30, 80)) for c in top)
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(SIZE[1]):  # a vertical studio-backdrop gradient
        t = y / (SIZE[1] - 1)
        draw.line([(0, y), (SIZE[0], y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=False)))
    color = tuple(rng.randint(20, 220) for _ in range(3))
    box = (56, 28, 136, 116)
    shapes = {
        "circle": lambda: draw.ellipse(box, fill=color),
        "ellipse": lambda: draw.ellipse((46, 40, 146, 104), fill=color),
        "rect": lambda: draw.rounded_rectangle(box, radius=10, fill=color),
        "triangle": lambda: draw.polygon([(96, 24), (140, 118), (52, 118)], fill=color),
        "ring": lambda: (draw.ellipse(box, fill=color), draw.ellipse((76, 48, 116, 96), fill=top)),
        "blob": lambda: draw.chord((40, 30, 150, 120), 20, 300, fill=color),
    }
    shapes[shape]()
    draw.ellipse((70, 112, 122, 124), fill=tuple(max(0, c - 60) for c in bottom))  # a soft shadow
    return image.filter(ImageFilter.SMOOTH)


def centre_mask() -> Image.Image:
    mask = Image.new("L", SIZE, 0)
    ImageDraw.Draw(mask).ellipse((56, 28, 136, 116), fill=255)
    return mask


def main() -> None:
    images = HERE / "images"
    images.mkdir(parents=True, exist_ok=True)
    centre_mask().save(images / "mask-centre.png", optimize=True)
    rows = []
    for index, (name, shape) in enumerate(PRODUCTS):
        sku = f"SKU-{1000 + index}"
        suffix = "jpg" if index % 3 == 2 else "png"
        path = images / f"{sku.lower()}.{suffix}"
        image = product_image(index, shape)
        image.save(path, quality=88) if suffix == "jpg" else image.save(path, optimize=True)
        rows.append(
            {
                "sku": sku,
                "src": f"images/{path.name}",
                "instruction": INSTRUCTIONS[index % len(INSTRUCTIONS)],
                "title": f"Demo {name}",
                "category": "home" if index % 2 else "apparel",
                "price": round(9.5 + index * 3.25, 2),
                "mask": "images/mask-centre.png" if index % 5 == 0 else None,
            }
        )
    pl.DataFrame(rows).write_parquet(HERE / "catalog.parquet")
    print(f"wrote {len(rows)} rows to {HERE / 'catalog.parquet'}")


if __name__ == "__main__":
    main()
