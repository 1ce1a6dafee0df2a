#!/usr/bin/python3
"""Writes testdata/imagefolder/: a small folder of images (one sub-folder per class) and
expected.json, the values torchvision's pipeline gives for it, for folder_test.go.

Run from data/ with Debian's python3 (python3-pil, python3-numpy, python3-torch):

    /usr/bin/python3 testdata/imagefolder.py

The images are made here, deterministically, in the formats ReadImageFolder meets: RGB, RGBA
(alpha dropped), grey, palette, 16-bit-free PNG, a JPEG, an upper-case extension, a nested
folder, and hidden files and folders that are skipped. torchvision itself is not installed
here; its ImageFolder is reproduced by what it does: classes are the sorted sub-folders, files
come in sorted(os.walk(...)) order, the loader is Image.open(f).convert("RGB"), Grayscale() is
convert("L"), ToTensor() divides by 255, and Resize((h, w), antialias=False) on a tensor is
torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False).
"""
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image

H, W = 4, 5
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagefolder")
TREE = os.path.join(ROOT, "tree")
EXTENSIONS = (".png", ".jpg", ".jpeg")


def pattern(seed):
    """A deterministic H x W x 3 uint8 image with saturated and mixed colours."""
    y, x = np.mgrid[0:H, 0:W]
    r = (37 * x + 61 * y + 13 * seed) % 256
    g = (91 * x * y + 29 * seed + 7) % 256
    b = (255 - 53 * x - 17 * y * seed) % 256
    img = np.stack([r, g, b], axis=-1).astype(np.uint8)
    img[0, 0] = (255, 0, 0)
    img[0, 1] = (0, 255, 0)
    img[1, 0] = (0, 0, 255)
    return img


def write_tree():
    shutil.rmtree(TREE, ignore_errors=True)
    for d in ["ants", "bees/sub", "bees/.hidden", ".thumbnails"]:
        os.makedirs(os.path.join(TREE, d))
    Image.fromarray(pattern(1), "RGB").save(os.path.join(TREE, "ants/rgb.png"))
    rgba = np.concatenate([pattern(2), np.zeros((H, W, 1), np.uint8)], axis=-1)
    rgba[..., 3] = (np.arange(H * W).reshape(H, W) * 13) % 256  # alpha 0 included
    Image.fromarray(rgba, "RGBA").save(os.path.join(TREE, "ants/rgba.png"))
    Image.fromarray(pattern(3)[..., 1], "L").save(os.path.join(TREE, "ants/grey.png"))
    Image.fromarray(pattern(4), "RGB").quantize(colors=7, method=Image.Quantize.MEDIANCUT).save(
        os.path.join(TREE, "ants/palette.png"))
    Image.fromarray(pattern(5), "RGB").save(os.path.join(TREE, "ants/photo.jpg"), quality=95, subsampling=0)
    Image.fromarray(pattern(6), "RGB").save(os.path.join(TREE, "bees/bee.PNG"))
    Image.fromarray(pattern(7), "RGB").save(os.path.join(TREE, "bees/sub/deep.png"))
    with open(os.path.join(TREE, "bees/.DS_Store"), "wb") as f:
        f.write(b"\x00\x00\x00\x01Bud1")
    with open(os.path.join(TREE, "bees/.hidden/notes.txt"), "w") as f:
        f.write("hidden folders are skipped\n")
    Image.fromarray(pattern(8), "RGB").save(os.path.join(TREE, ".thumbnails/skipped.png"))
    with open(os.path.join(TREE, "README.txt"), "w") as f:
        f.write("files directly in the folder are not classes\n")


def image_folder():
    """torchvision.datasets.ImageFolder's classes and samples (with its default filter), but
    without hidden folders, which ReadImageFolder skips and torchvision would read."""
    classes = sorted(e.name for e in os.scandir(TREE) if e.is_dir() and not e.name.startswith("."))
    samples = []
    for label, c in enumerate(classes):
        for root, _, fnames in sorted(os.walk(os.path.join(TREE, c), followlinks=True)):
            if "/." in root[len(TREE):]:
                continue  # a hidden folder
            for fname in sorted(fnames):
                if fname.lower().endswith(EXTENSIONS):
                    samples.append((os.path.relpath(os.path.join(root, fname), TREE), label))
    return classes, samples


def to_tensor(img):
    """ToTensor(): (C, H, W) values v/255, in float64 here."""
    a = np.asarray(img, dtype=np.float64) / 255
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return a


def resize(chw, h, w):
    t = torch.tensor(chw.astype(np.float32), dtype=torch.float64)[None]
    out = torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
    return out[0].numpy()


def main():
    write_tree()
    classes, samples = image_folder()
    out = {"classes": classes, "files": [f for f, _ in samples], "labels": [l for _, l in samples],
           "rgb": [], "grey": [], "rgb_3x7": [], "grey_8x2": []}
    for f, _ in samples:
        rgb = Image.open(os.path.join(TREE, f)).convert("RGB")  # ImageFolder's loader
        grey = rgb.convert("L")  # transforms.Grayscale() on a PIL image
        out["rgb"].append(to_tensor(rgb).ravel().tolist())
        out["grey"].append(to_tensor(grey).ravel().tolist())
        out["rgb_3x7"].append(resize(to_tensor(rgb), 3, 7).ravel().tolist())
        out["grey_8x2"].append(resize(to_tensor(grey), 8, 2).ravel().tolist())
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", len(samples), "images of", len(classes), "classes to", ROOT)


if __name__ == "__main__":
    main()
